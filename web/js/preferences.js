// The preferences form (languages, daily goal, reminder time and zone, what to be told), used by
// onboarding and by the progress page. Values are checked again by the server, which names the
// field at fault; that message shows next to the form.

import { h } from './dom.js';

export const LANGUAGES = [
  ['python', 'Python'],
  ['javascript', 'JavaScript'],
];

/** The browser's own IANA zone, the natural default for a reminder's local time. */
export function browserZone() {
  try {
    return Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';
  } catch {
    return 'UTC';
  }
}

function zones() {
  try {
    return Intl.supportedValuesOf('timeZone');
  } catch {
    return [];
  }
}

let zoneListId = 0;

/**
 * Build the form's fields for a profile; `read()` gives the changes to PUT.
 * @returns {{element: HTMLElement, read: () => object}}
 */
export function preferenceFields(profile) {
  const listId = `zones-${++zoneListId}`;
  const languages = LANGUAGES.map(([value, label]) =>
    h('label', { class: 'check' }, h('input', { type: 'checkbox', value, 'data-testid': `pref-lang-${value}`, checked: (profile.languages || []).includes(value) }), h('span', {}, label)),
  );
  const daily = h('input', { type: 'number', min: 1, max: 20, value: profile.daily_goal || 1, 'data-testid': 'pref-daily-goal', id: `${listId}-daily` });
  const time = h('input', { type: 'time', value: profile.reminder_time || '', 'data-testid': 'pref-reminder-time', id: `${listId}-time` });
  const zone = h('input', {
    type: 'text',
    list: listId,
    value: profile.time_zone && profile.time_zone !== 'UTC' ? profile.time_zone : browserZone(),
    spellcheck: 'false',
    autocomplete: 'off',
    'data-testid': 'pref-time-zone',
    id: `${listId}-zone`,
  });
  const email = h('input', { type: 'checkbox', checked: profile.email_reminders !== false, 'data-testid': 'pref-email-reminders' });
  const app = h('input', { type: 'checkbox', checked: profile.app_notifications !== false, 'data-testid': 'pref-app-notifications' });
  const element = h(
    'div',
    { class: 'prefs' },
    h('fieldset', { class: 'field' }, h('legend', {}, 'Languages you want to practise'), h('div', { class: 'inline-checks' }, languages)),
    h('div', { class: 'field' }, h('label', { for: daily.id }, 'Daily goal (questions a day)'), daily),
    h(
      'div',
      { class: 'field-row' },
      h('div', { class: 'field' }, h('label', { for: time.id }, 'Remind me of due reviews at'), time),
      h('div', { class: 'field' }, h('label', { for: zone.id }, 'Time zone'), zone, h('datalist', { id: listId }, zones().map((z) => h('option', { value: z })))),
    ),
    h('label', { class: 'check' }, email, h('span', {}, 'Email me the reminder')),
    h('label', { class: 'check' }, app, h('span', {}, 'Show notifications in the app')),
  );
  const read = () => ({
    languages: languages.map((l) => l.querySelector('input')).filter((i) => i.checked).map((i) => i.value),
    daily_goal: Number.parseInt(daily.value, 10) || 1,
    reminder_time: time.value ? time.value.slice(0, 5) : null,
    time_zone: zone.value.trim() || 'UTC',
    email_reminders: email.checked,
    app_notifications: app.checked,
  });
  return { element, read };
}
