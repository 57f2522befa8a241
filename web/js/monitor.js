// The admin live monitor: every live session on every node and every node's counts, from the
// reply to monitor.subscribe and then the monitor frames that follow (no polling). Sorting and
// filters are local; durations tick locally from each session's start.

import { h, clear, $ } from './dom.js';
import { humanize } from './format.js';

/** "4 min 05 s", "1 h 02 min": a session's age at a glance. */
export function formatAge(ms) {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 3600) return `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, '0')} s`;
  return `${Math.floor(s / 3600)} h ${String(Math.floor((s % 3600) / 60)).padStart(2, '0')} min`;
}

const SORTS = {
  learner: (s) => (s.learner?.name || '').toLowerCase(),
  question: (s) => (s.question?.title || '').toLowerCase(),
  node: (s) => s.node || '',
  duration: (s) => -(s.started_ms || 0),
  runs: (s) => s.runs || 0,
  hint: (s) => s.hint_level || 0,
  observers: (s) => (s.observers || []).length,
  moments: (s) => (s.moments || []).length,
};

// A moment is shown as new (flashing) for this long after it arrives.
const FRESH_MS = 15_000;
// Sessions that ended while the page was open stay listed (with their replay) up to this many.
const ENDED_KEPT = 20;

export class MonitorPage {
  /**
   * @param {object} o
   * @param {import('./socket.js').WingmanSocket} o.socket
   * @param {(sid: string) => void} o.onOpen   watch a session
   * @param {(msg: string) => void} o.toast
   */
  constructor({ socket, onOpen, toast }) {
    this.socket = socket;
    this.onOpen = onOpen;
    this.toast = toast;
    this.active = false;
    this.subscribed = false; // the page asked for the monitor (again after every reconnect)
    this.sessions = new Map();
    this.nodes = new Map();
    this.fresh = new Map(); // sid → when its newest moment arrived
    this.ended = new Map(); // sid → {session, at}: ended while this page was open
    this.sort = { key: 'duration', dir: 1 };
    this.el = {
      rows: $('#sessions'),
      empty: $('#sessions-empty'),
      nodes: $('#nodes'),
      totals: $('#monitor-totals'),
      text: $('#filter-text'),
      node: $('#filter-node'),
      moments: $('#filter-moments'),
      endedCard: $('#ended-card'),
      endedList: $('#ended-sessions'),
    };
    for (const button of document.querySelectorAll('button.sort')) {
      button.addEventListener('click', () => {
        const key = button.dataset.sort;
        this.sort = { key, dir: this.sort.key === key ? -this.sort.dir : 1 };
        this.render();
      });
    }
    for (const input of [this.el.text, this.el.node, this.el.moments]) input.addEventListener('input', () => this.render());
    setInterval(() => this.active && this._tick(), 1000);
  }

  /** (Re)subscribe: the reply replaces what we had; frames keep it current. */
  async subscribe() {
    this.active = true;
    try {
      const data = await this.socket.request('monitor.subscribe');
      this.sessions.clear();
      for (const s of data.sessions || []) this.sessions.set(s.sid, s);
      this.nodes.clear();
      for (const n of data.nodes || []) this.nodes.set(n.id, n);
      this.render();
    } catch (err) {
      if (!['disconnected', 'closed', 'offline'].includes(err.code)) this.toast(`The monitor is not available: ${err.message}`);
    }
  }

  /** A {"type": "monitor"} frame. */
  onFrame(msg) {
    if (msg.op === 'upsert' && msg.session?.sid) {
      const before = this.sessions.get(msg.session.sid);
      if ((msg.session.moments || []).length > (before?.moments || []).length) this.fresh.set(msg.session.sid, Date.now());
      if (msg.session.ended) this._ended(msg.session.sid);
      else this.sessions.set(msg.session.sid, msg.session);
    } else if (msg.op === 'remove' && msg.session?.sid) {
      this._ended(msg.session.sid);
    } else if (msg.op === 'node' && msg.node?.id) {
      this.nodes.set(msg.node.id, msg.node);
    } else {
      return;
    }
    if (this.active) this.render();
  }

  _ended(sid) {
    const session = this.sessions.get(sid);
    this.sessions.delete(sid);
    if (!session) return;
    this.ended.delete(sid);
    this.ended.set(sid, { session, at: Date.now() });
    while (this.ended.size > ENDED_KEPT) this.ended.delete(this.ended.keys().next().value);
  }

  render() {
    this._renderNodes();
    this._renderEnded();
    const rows = this._visible();
    clear(this.el.rows).append(...rows.map((s) => this._row(s)));
    this.el.empty.hidden = rows.length > 0;
    for (const button of document.querySelectorAll('button.sort')) {
      const on = button.dataset.sort === this.sort.key;
      if (on) button.setAttribute('aria-sort', this.sort.dir > 0 ? 'ascending' : 'descending');
      else button.removeAttribute('aria-sort');
    }
  }

  _visible() {
    const text = this.el.text.value.trim().toLowerCase();
    const node = this.el.node.value;
    const withMoments = this.el.moments.checked;
    const key = SORTS[this.sort.key] || SORTS.duration;
    return [...this.sessions.values()]
      .filter((s) => !node || s.node === node)
      .filter((s) => !withMoments || (s.moments || []).length > 0)
      .filter((s) => !text || `${s.learner?.name || ''} ${s.question?.title || ''} ${s.question?.id || ''}`.toLowerCase().includes(text))
      .sort((a, b) => {
        const x = key(a);
        const y = key(b);
        return (x < y ? -1 : x > y ? 1 : 0) * this.sort.dir || (a.sid < b.sid ? -1 : 1);
      });
  }

  _row(s) {
    const moments = s.moments || [];
    const fresh = Date.now() - (this.fresh.get(s.sid) || 0) < FRESH_MS;
    const classes = [moments.length ? 'has-moment' : '', fresh ? 'moment-new' : '', s.running ? 'running' : ''].filter(Boolean).join(' ');
    const last = moments[moments.length - 1];
    return h(
      'tr',
      { class: classes, dataset: { sid: s.sid }, 'data-testid': 'session-row' },
      h('td', {}, s.learner?.name || 'Learner', s.learner?.present ? null : h('span', { class: 'muted' }, ' (away)')),
      h('td', {}, s.question?.title || s.question?.id || ''),
      h('td', { 'data-testid': 'session-node' }, s.node || ''),
      h('td', { class: 'num age', dataset: { started: String(s.started_ms || 0) } }, formatAge(Date.now() - (s.started_ms || Date.now()))),
      h('td', { class: 'num runs-cell' }, String(s.runs || 0)),
      h('td', { class: 'num' }, `${s.hint_level || 0}/5`),
      h('td', {}, (s.observers || []).map((o) => o.name || humanize(o.role)).join(', ') || h('span', { class: 'muted' }, 'nobody')),
      h(
        'td',
        { 'data-testid': 'session-moments' },
        last ? h('span', { class: 'moment-chip', title: last.detail || '', dataset: { reason: last.reason } }, humanize(last.reason)) : '',
        moments.length > 1 ? h('span', { class: 'muted' }, ` +${moments.length - 1}`) : '',
      ),
      h('td', {}, h('button', { type: 'button', class: 'secondary', 'data-testid': 'open-session', onclick: () => this.onOpen(s.sid) }, 'Open')),
    );
  }

  _renderEnded() {
    const ended = [...this.ended.values()].reverse();
    this.el.endedCard.hidden = ended.length === 0;
    clear(this.el.endedList).append(
      ...ended.map(({ session: s, at }) =>
        h(
          'li',
          { class: 'mentor-item', 'data-testid': 'ended-row', dataset: { sid: s.sid } },
          h('span', { class: 'mi-title' }, `${s.learner?.name || 'Learner'} · ${s.question?.title || s.question?.id || ''}`),
          h('span', { class: 'mi-meta' }, h('span', {}, `ran ${formatAge(at - (s.started_ms || at))}`), h('span', {}, `${s.runs || 0} runs`), h('span', {}, `hint level ${s.hint_level || 0}/5`), ...(s.moments || []).slice(-3).map((m) => h('span', { class: 'moment-chip' }, humanize(m.reason)))),
          h('span', { class: 'mi-actions' }, h('a', { class: 'button-link', href: `/#/replay/${encodeURIComponent(s.sid)}`, 'data-testid': 'replay-session' }, 'Replay')),
        ),
      ),
    );
  }

  _renderNodes() {
    const nodes = [...this.nodes.values()].sort((a, b) => (a.id < b.id ? -1 : 1));
    const now = Date.now();
    clear(this.el.nodes).append(
      ...nodes.map((n) => {
        const age = Math.max(0, Math.round((now - (n.seen_ms || now)) / 1000));
        return h(
          'tr',
          { dataset: { node: n.id }, 'data-testid': 'node-row' },
          h('td', {}, n.id),
          h('td', { class: 'num', 'data-testid': 'node-connections' }, String(n.connections ?? 0)),
          h('td', { class: 'num' }, String(n.sessions ?? 0)),
          h('td', { class: 'num' }, String(n.events_per_second ?? 0)),
          h('td', { class: age > 10 ? 'node-stale' : 'muted' }, age <= 1 ? 'now' : `${age} s ago`),
        );
      }),
    );
    const known = new Set(nodes.map((n) => n.id));
    for (const s of this.sessions.values()) if (s.node) known.add(s.node);
    const chosen = this.el.node.value;
    clear(this.el.node).append(h('option', { value: '' }, 'all nodes'), ...[...known].sort().map((id) => h('option', { value: id }, id)));
    this.el.node.value = known.has(chosen) ? chosen : '';
    const connections = nodes.reduce((sum, n) => sum + (n.connections || 0), 0);
    this.el.totals.textContent = `${nodes.length} node${nodes.length === 1 ? '' : 's'}, ${connections} connections, ${this.sessions.size} live session${this.sessions.size === 1 ? '' : 's'}`;
  }

  _tick() {
    const now = Date.now();
    for (const cell of this.el.rows.querySelectorAll('td.age')) cell.textContent = formatAge(now - Number(cell.dataset.started || now));
    for (const row of this.el.rows.querySelectorAll('tr.moment-new')) {
      if (now - (this.fresh.get(row.dataset.sid) || 0) >= FRESH_MS) row.classList.remove('moment-new');
    }
  }
}
