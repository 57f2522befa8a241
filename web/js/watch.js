// Watching a session as an observer (an invited mentor, or an admin): the learner's code as it
// changes with their cursor, runs with live output and verdicts, the tutor conversation as it
// streams, hints, who is here, complex moments; notes for mentors, "end" for admins.
// Events are applied exactly once by (epoch, seq), as on the learner's page.

import { h, clear, $ } from './dom.js';
import { modeFor } from './editor.js';
import { RunsView } from './runs.js';
import { TutorView } from './tutor.js';
import { humanize } from './format.js';
import { momentText } from './notices.js';
import { EventOrder } from './order.js';
import { Presence, presenceChip } from './presence.js';

const CONNECTION_ERRORS = new Set(['disconnected', 'closed', 'offline']);

export class WatchView {
  /**
   * @param {object} o
   * @param {import('./socket.js').WingmanSocket} o.socket
   * @param {() => object|null} o.me
   * @param {(msg: string) => void} o.toast
   * @param {() => void} o.onBack
   */
  constructor({ socket, me, toast, onBack }) {
    this.socket = socket;
    this.me = me;
    this.toast = toast;
    this.onBack = onBack;
    this.sid = null;
    this.order = new EventOrder();
    this.ended = false;
    this.present = new Presence();
    this.learner = null;
    this.cursorMark = null;
    this.el = {
      title: $('#watch-title'),
      learner: $('#watch-learner'),
      hint: $('#watch-hint'),
      presence: $('#watch-presence'),
      replay: $('#watch-replay'),
      end: $('#watch-end'),
      ended: $('#watch-ended'),
      moments: $('#watch-moments'),
      noteForm: $('#note-form'),
      noteText: $('#note-text'),
      notePrivate: $('#note-private'),
      noteSend: $('#note-send'),
    };
    this.editor = window.CodeMirror($('#watch-editor'), {
      value: '',
      mode: 'python',
      lineNumbers: true,
      readOnly: true,
      indentUnit: 4,
    });
    this.runs = new RunsView({ output: $('#watch-output'), testResults: $('#watch-tests'), onActiveChange: () => {} });
    this.tutor = new TutorView({
      log: $('#watch-log'),
      hintButton: $('#watch-hint-button'),
      hintList: $('#watch-hints'),
      hintError: $('#watch-hint-error'),
    });
    $('#watch-back').addEventListener('click', () => this.leave());
    this.el.end.addEventListener('click', () => this.end());
    this.el.noteForm.addEventListener('submit', (e) => {
      e.preventDefault();
      this.note();
    });
  }

  get isAdmin() {
    return (this.me()?.roles || []).includes('admin');
  }

  /** Start watching `sid` (the view is reset). */
  async open(sid) {
    if (sid !== this.sid) this._reset();
    this.sid = sid;
    this.el.end.hidden = !this.isAdmin;
    this.el.noteForm.hidden = this.isAdmin && !(this.me()?.roles || []).includes('mentor');
    this.editor.refresh();
    if (this.socket.ready) await this.join();
  }

  async join() {
    const sid = this.sid;
    if (!sid) return;
    const fields = { sid, role: 'observer' };
    const since = this.order.since;
    if (since) fields.since = since;
    this.order.startJoin();
    let data;
    try {
      data = await this.socket.request('session.join', fields);
    } catch (err) {
      this.order.endJoin();
      if (!CONNECTION_ERRORS.has(err.code)) {
        this.el.ended.hidden = false;
        this.el.ended.textContent = `You cannot watch this session: ${err.message}`;
      }
      return;
    }
    if (sid !== this.sid) return;
    const buffered = this.order.endJoin();
    if (data.snapshot) {
      this._load(data.snapshot);
      this.order.settle(data.epoch, data.seq);
    }
    for (const ev of buffered) this.onEvent(ev);
  }

  onEvent(ev) {
    if (!this.sid || ev.sid !== this.sid) return;
    this.order.deliver(
      ev,
      (e) => this._apply(e),
      () => {
        this.order.restart();
        this.join();
      },
    );
  }

  _apply(ev) {
    if (this.present.apply(ev)) {
      this._renderPresence();
      return;
    }
    if (this.runs.apply(ev) || this.tutor.apply(ev, this._name(ev.by))) return;
    const d = ev.data || {};
    switch (ev.kind) {
      case 'code.updated':
        this._setCode(d.code, d.cursor);
        break;
      case 'hint.given':
        this.tutor.addHint(d);
        this._renderHint(this.tutor.hintLevel);
        break;
      case 'mentor.note':
        if (d.redacted) this.tutor.note('a note only the learner can read', this._name(ev.by, 'A mentor'));
        else this.tutor.note(d.text, this._isMe(ev.by?.user) ? 'You' : this._name(ev.by, 'Mentor'), { private: d.private });
        break;
      case 'moment.detected':
        this._addMoment(d, true);
        break;
      case 'session.ended':
        this._setEnded(true, d.reason);
        break;
      default:
        break;
    }
  }

  _load(snap) {
    const q = snap.question || {};
    this.el.title.textContent = q.title || 'Session';
    this.editor.setOption('mode', modeFor(q.language));
    this.runs.language = q.language || 'python';
    this.present.load(snap.present);
    this._setCode(snap.code ?? '', null);
    this.runs.load(snap.runs);
    this.tutor.loadConversation(snap.conversation, this._learnerName());
    this.tutor.setHints(snap.hints, snap.hint_level);
    this._renderHint(snap.hint_level || 0);
    clear(this.el.moments);
    for (const m of snap.moments || []) this._addMoment(m, false);
    this._renderPresence();
    this._setEnded(!!snap.ended, snap.end_reason);
  }

  _setCode(code, cursor) {
    if (code != null && code !== this.editor.getValue()) {
      const scroll = this.editor.getScrollInfo();
      this.editor.setValue(code);
      this.editor.scrollTo(scroll.left, scroll.top);
    }
    this.cursorMark?.clear();
    this.cursorMark = null;
    if (cursor && Number.isInteger(cursor.line) && Number.isInteger(cursor.ch)) {
      const widget = h('span', { class: 'remote-cursor', dataset: { name: this._learnerName() }, 'data-testid': 'remote-cursor' });
      this.cursorMark = this.editor.setBookmark({ line: cursor.line, ch: cursor.ch }, { widget, insertLeft: true });
    }
  }

  _addMoment(d, fresh) {
    const item = h('li', { dataset: { reason: d.reason || '' }, 'data-testid': 'moment' }, momentText(d));
    this.el.moments.append(item);
    if (fresh) this.tutor.notice(`Moment: ${momentText(d)}`);
  }

  _renderHint(level) {
    this.el.hint.textContent = `hint level ${level || 0} of 5`;
  }

  _renderPresence() {
    const learner = this.present.learner();
    this.el.learner.textContent = learner ? `${learner.name || 'The learner'} is here` : 'The learner is away';
    clear(this.el.presence).append(...this.present.all().map((p) => presenceChip(p, this._isMe(p.user) ? 'You' : p.name || 'Someone')));
  }

  _setEnded(ended, reason) {
    this.ended = ended;
    this.el.ended.hidden = !ended;
    if (ended) this.el.ended.textContent = reason ? `This session has ended (${humanize(reason)}).` : 'This session has ended.';
    this.el.replay.hidden = !ended;
    this.el.replay.href = `/#/replay/${encodeURIComponent(this.sid || '')}`;
    this.el.end.disabled = ended;
    this.el.noteSend.disabled = ended;
    this.el.noteText.disabled = ended;
  }

  async note() {
    const text = this.el.noteText.value.trim();
    if (!text || !this.sid || this.ended) return;
    this.el.noteSend.disabled = true;
    try {
      await this.socket.request('mentor.note', { sid: this.sid, text, private: this.el.notePrivate.checked }, { idempotent: true });
      if (this.el.noteText.value.trim() === text) this.el.noteText.value = '';
    } catch (err) {
      this.tutor.system(`Your note wasn't sent: ${err.message}`);
    } finally {
      this.el.noteSend.disabled = this.ended;
    }
  }

  async end() {
    if (!this.sid || this.ended) return;
    if (!window.confirm('End this session for everyone in it? The learner is told that an admin ended it.')) return;
    this.el.end.disabled = true;
    try {
      await this.socket.request('session.end', { sid: this.sid });
    } catch (err) {
      this.toast(`Couldn't end the session: ${err.message}`);
      this.el.end.disabled = false;
    }
  }

  leave() {
    const sid = this.sid;
    if (sid && this.socket.ready) this.socket.request('session.leave', { sid }).catch(() => {});
    this.sid = null;
    this._reset();
    this.onBack();
  }

  _reset() {
    this.order.reset();
    this.present.clear();
    this.cursorMark?.clear();
    this.cursorMark = null;
    this.editor.setValue('');
    this.runs.reset();
    this.tutor.reset();
    clear(this.el.moments);
    this.el.title.textContent = '';
    this.el.learner.textContent = '';
    this._renderHint(0);
    this._setEnded(false, null);
    clear(this.el.presence);
  }

  _learnerName() {
    return this.present.learner()?.name || 'Learner';
  }

  _isMe(userId) {
    const me = this.me();
    return !!me && userId != null && String(userId) === String(me.id);
  }

  _name(by, fallback = 'Learner') {
    return this.present.of(by)?.name || fallback;
  }
}
