// The learner's invitations for the open session: invite a mentor by email (optionally allowed
// to watch unseen), see whom one invited and who accepted, revoke.

import { h, clear, $ } from './dom.js';

export class InvitePanel {
  /**
   * @param {object} o
   * @param {import('./socket.js').WingmanSocket} o.socket
   * @param {() => string|null} o.sid    the open session
   * @param {() => boolean} o.ended      whether it has ended
   */
  constructor({ socket, sid, ended }) {
    this.socket = socket;
    this.sid = sid;
    this.ended = ended;
    this.shownFor = null;
    this.el = {
      open: $('#invite-open'),
      panel: $('#invite-panel'),
      form: $('#invite-form'),
      email: $('#invite-email'),
      invisible: $('#invite-invisible'),
      send: $('#invite-send'),
      status: $('#invite-status'),
      list: $('#invite-list'),
    };
    this.el.open.addEventListener('click', () => this.toggle());
    this.el.form.addEventListener('submit', (e) => {
      e.preventDefault();
      this.invite();
    });
  }

  toggle(open = this.el.panel.hidden) {
    this.el.panel.hidden = !open;
    this.el.open.setAttribute('aria-expanded', String(open));
    if (open) {
      if (this.shownFor !== this.sid()) {
        this.shownFor = this.sid();
        this._status('');
        clear(this.el.list);
      }
      this.el.email.focus();
      this.load();
    }
  }

  async load() {
    const sid = this.sid();
    if (!sid || !this.socket.ready) return;
    try {
      const data = await this.socket.request('mentor.invites', { sid });
      if (sid !== this.sid()) return;
      clear(this.el.list).append(...(data.invites || []).map((i) => this._item(i)));
    } catch (err) {
      this._status(`Your invitations could not be read: ${err.message}`, true);
    }
  }

  async invite() {
    const sid = this.sid();
    const mentor = this.el.email.value.trim();
    if (!sid || !mentor || this.ended()) return;
    this.el.send.disabled = true;
    try {
      await this.socket.request('mentor.invite', { sid, mentor, invisible: this.el.invisible.checked }, { idempotent: true });
      this._status(`Invited ${mentor}. They can watch once they accept.`);
      this.el.email.value = '';
      this.el.invisible.checked = false;
      await this.load();
    } catch (err) {
      this._status(err.message, true);
    } finally {
      this.el.send.disabled = false;
    }
  }

  async revoke(invite) {
    try {
      await this.socket.request('mentor.invite.revoke', { invite: invite.invite });
      this._status(`${invite.mentor?.name || 'The mentor'} can no longer watch this session.`);
    } catch (err) {
      this._status(err.message, true);
    }
    await this.load();
  }

  _item(i) {
    return h(
      'li',
      { class: 'invite-item', 'data-testid': 'invite-row' },
      h('span', { class: 'invite-name' }, i.mentor?.name || 'A mentor'),
      h('span', { class: 'muted' }, i.accepted ? 'accepted' : 'not accepted yet'),
      i.invisible ? h('span', { class: 'muted' }, 'may watch unseen') : null,
      h('button', { type: 'button', class: 'link', onclick: () => this.revoke(i) }, 'Revoke'),
    );
  }

  _status(text, error = false) {
    this.el.status.textContent = text;
    this.el.status.classList.toggle('error', error);
  }
}
