// Words for session events that are notices rather than work: what an admin did, a moment.

import { humanize } from './format.js';

/** An `audit` event as the people in the session read it. */
export function auditText(d) {
  const who = d.name || 'An admin';
  switch (d.action) {
    case 'observe':
      return `${who} (admin) is observing this session.`;
    case 'end':
      return `${who} (admin) ended this session.`;
    case 'cancel_run':
      return `${who} (admin) cancelled the running program.`;
    default:
      return `${who} (admin): ${humanize(d.action || 'changed the session')}.`;
  }
}

/** A `moment.detected` event in one line. */
export function momentText(d) {
  const what = humanize(d.reason || 'moment');
  return `${what.charAt(0).toUpperCase()}${what.slice(1)}: ${d.detail || ''}`.trim();
}
