// The mentor's home: invitations waiting to be accepted, and the sessions one watches (live
// first, with the question, how long, the hint level and open moments); finished ones link to
// their replay.

import { h, clear, $ } from './dom.js';
import { humanize, formatWhen } from './format.js';
import { formatAge } from './monitor.js';

// The list is read again this often while it is on screen (and whenever the page is shown).
const REFRESH_MS = 10_000;

export class MentorPage {
  /**
   * @param {object} o
   * @param {import('./socket.js').WingmanSocket} o.socket
   * @param {(sid: string) => void} o.onOpen
   * @param {(msg: string) => void} o.toast
   */
  constructor({ socket, onOpen, toast }) {
    this.socket = socket;
    this.onOpen = onOpen;
    this.toast = toast;
    this.active = false;
    this.timer = null;
    this.el = { waiting: $('#invites-waiting'), sessions: $('#mentor-sessions'), updated: $('#mentor-updated') };
  }

  show() {
    this.active = true;
    clearInterval(this.timer);
    this.timer = setInterval(() => this.load(), REFRESH_MS);
    return this.load();
  }

  hide() {
    this.active = false;
    clearInterval(this.timer);
  }

  async load() {
    if (!this.active || !this.socket.ready) return;
    let data;
    try {
      data = await this.socket.request('mentor.invites');
    } catch (err) {
      if (!['disconnected', 'closed', 'offline'].includes(err.code)) this.toast(`Your invitations could not be read: ${err.message}`);
      return;
    }
    const invites = data.invites || [];
    const waiting = invites.filter((i) => !i.accepted);
    const watching = invites.filter((i) => i.accepted);
    clear(this.el.waiting).append(...waiting.map((i) => this._waiting(i)));
    if (!waiting.length) this.el.waiting.append(h('li', { class: 'muted' }, 'No invitation is waiting.'));
    clear(this.el.sessions).append(...watching.map((i) => this._session(i)));
    if (!watching.length) this.el.sessions.append(h('li', { class: 'muted' }, 'Accept an invitation to watch a learner’s session.'));
    this.el.updated.textContent = `updated ${formatWhen(Date.now())}`;
  }

  _waiting(i) {
    return h(
      'li',
      { class: `mentor-item${i.live ? ' live' : ''}`, 'data-testid': 'invite-item', dataset: { sid: i.sid } },
      h('span', { class: 'mi-title' }, i.question?.title || i.question?.id || 'A session'),
      h(
        'span',
        { class: 'mi-meta' },
        h('span', {}, `from ${i.learner?.name || 'a learner'}`),
        h('span', {}, formatWhen(i.created_at)),
        i.invisible ? h('span', {}, 'you may watch unseen') : null,
        i.live ? h('span', { class: 'badge live' }, 'live') : h('span', {}, 'finished'),
      ),
      h(
        'span',
        { class: 'mi-actions' },
        h('button', { type: 'button', class: 'primary', 'data-testid': 'accept-invite', onclick: (e) => this._accept(i, e.currentTarget) }, 'Accept'),
        h('button', { type: 'button', class: 'ghost', 'data-testid': 'decline-invite', onclick: (e) => this._decline(i, e.currentTarget) }, 'Decline'),
      ),
    );
  }

  _session(i) {
    const s = i.session || {};
    const moments = s.moments || [];
    const started = s.started_ms || i.created_at;
    return h(
      'li',
      { class: `mentor-item${i.live ? ' live' : ''}${i.live && moments.length ? ' has-moment' : ''}`, 'data-testid': 'mentor-session', dataset: { sid: i.sid, live: String(!!i.live) } },
      h('span', { class: 'mi-title' }, i.question?.title || i.question?.id || 'A session'),
      h(
        'span',
        { class: 'mi-meta' },
        h('span', {}, i.learner?.name || 'a learner'),
        i.live ? h('span', { class: 'badge live' }, 'live') : h('span', {}, 'finished'),
        i.live && started ? h('span', {}, formatAge(Date.now() - started)) : h('span', {}, formatWhen(i.created_at)),
        i.live && i.session ? h('span', {}, `hint level ${s.hint_level || 0}/5`) : null,
        i.live && i.session ? h('span', {}, `${s.runs || 0} runs`) : null,
        ...(i.live ? moments.slice(-3).map((m) => h('span', { class: 'moment-chip', title: m.detail || '' }, humanize(m.reason))) : []),
      ),
      h(
        'span',
        { class: 'mi-actions' },
        i.live
          ? h('button', { type: 'button', class: 'primary', 'data-testid': 'watch-session', onclick: () => this.onOpen(i.sid) }, 'Watch')
          : h('a', { class: 'button-link', href: `/#/replay/${encodeURIComponent(i.sid)}`, 'data-testid': 'replay-session' }, 'Replay'),
      ),
    );
  }

  async _decline(invite, button) {
    if (!window.confirm('Decline this invitation? The learner would have to invite you again.')) return;
    button.disabled = true;
    try {
      await this.socket.request('mentor.invite.revoke', { invite: invite.invite });
    } catch (err) {
      this.toast(`The invitation could not be declined: ${err.message}`);
    }
    await this.load();
  }

  async _accept(invite, button) {
    button.disabled = true;
    try {
      await this.socket.request('mentor.invite.accept', { invite: invite.invite }, { idempotent: true });
    } catch (err) {
      this.toast(`The invitation could not be accepted: ${err.message}`);
    }
    await this.load();
  }
}
