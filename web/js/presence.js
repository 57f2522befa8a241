// Who is in a session ("user|role" → {user, role, name}), as the learner's page and the watch
// view keep it from snapshots and presence events.

import { h } from './dom.js';

const key = (p) => `${p.user}|${p.role}`;

export class Presence {
  constructor() {
    this.people = new Map();
  }

  load(list) {
    this.people.clear();
    for (const p of list || []) this.people.set(key(p), p);
  }

  clear() {
    this.people.clear();
  }

  /** Applies presence.join / presence.leave; false for any other kind. */
  apply(ev) {
    const d = ev.data || {};
    if (ev.kind === 'presence.join') this.people.set(key(d), d);
    else if (ev.kind === 'presence.leave') this.people.delete(key(d));
    else return false;
    return true;
  }

  all() {
    return [...this.people.values()];
  }

  learner() {
    return this.all().find((p) => p.role === 'learner');
  }

  /** The person behind an event's `by` ({user, role}), if they are here. */
  of(by) {
    return by ? this.people.get(key(by)) : undefined;
  }
}

/** One person's chip in a presence row. */
export function presenceChip(p, label) {
  return h('span', { class: `presence-chip role-${p.role}`, title: `${p.name} (${p.role})` }, `${label} · ${p.role}`);
}
