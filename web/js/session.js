// The session controller: joins a session, keeps the event stream exactly-once
// (by epoch/seq), rebuilds the view from snapshots and wires the session UI.
//
// Ordering rules (the subtle part):
//  - While a session.join is in flight, events for the session are buffered.
//    The join reply decides what they mean: after a snapshot only events with
//    seq > snapshot seq are applied; after a recovered (since=…) join they are
//    the replay of what we missed and are applied in seq order. This works
//    whichever order the server sends the reply and the replayed events in.
//  - Outside a join, an event is applied only if its seq is greater than the
//    last applied one (replays overlap, never duplicate). An event from a
//    different epoch means the server lost its history: we ask for a snapshot.
//  - Gaps in seq are normal (events not meant for learners are filtered out),
//    so they are not treated as errors.

import { h, clear, byTestId, $ } from './dom.js';
import { storedSid } from './api.js';
import { CodeSync, modeFor } from './editor.js';
import { RunsView } from './runs.js';
import { TutorView } from './tutor.js';
import { renderStatement } from './question.js';
import { humanize } from './format.js';
import { EventOrder } from './order.js';
import { Presence, presenceChip } from './presence.js';

const CONNECTION_ERRORS = new Set(['disconnected', 'closed', 'offline']);

export class SessionController {
  /**
   * @param {object} o
   * @param {import('./socket.js').WingmanSocket} o.socket
   * @param {object} o.editor     CodeMirror instance
   * @param {() => object|null} o.me   the logged-in user {id, name, roles}
   * @param {(msg: string) => void} o.toast
   * @param {() => void} o.onLeave    navigate back to the question list
   */
  constructor({ socket, editor, me, toast, onLeave }) {
    this.socket = socket;
    this.editor = editor;
    this.me = me;
    this.toast = toast;
    this.onLeave = onLeave;

    this.sid = null;
    this.order = new EventOrder();
    this.loaded = false; // the view shows this session (so local edits are worth keeping)
    this.ended = false;
    this.question = null;
    this.present = new Presence();
    this.runRequestPending = false;
    this.lastRunId = null; // from the code.run reply, in case run.started is still on its way

    this.el = {
      title: $('#session-title'),
      presence: $('#presence'),
      ended: $('#ended-banner'),
      endedText: $('#ended-text'),
      statement: $('#statement'),
      run: byTestId('run-button'),
      test: byTestId('test-button'),
      cancel: byTestId('cancel-button'),
      stdin: byTestId('stdin'),
      end: byTestId('end-session'),
      back: $('#back-to-questions'),
      endedBack: $('#ended-back'),
      askForm: $('#tutor-form'),
      askInput: byTestId('tutor-input'),
      askButton: byTestId('tutor-ask'),
    };

    this.runs = new RunsView({
      output: byTestId('output'),
      testResults: byTestId('test-results'),
      onActiveChange: () => this._renderControls(),
    });
    this.tutor = new TutorView({
      log: byTestId('tutor-log'),
      hintButton: byTestId('hint-button'),
      hintList: byTestId('hint-list'),
      hintError: byTestId('hint-error'),
    });
    this.sync = new CodeSync(
      editor,
      (code) => (this.sid && !this.ended && this.socket.ready ? this.socket.request('code.update', { sid: this.sid, code, cursor: this._cursor() }) : null),
      (err) => this.toast(`Your code couldn't be saved: ${err.message}`),
    );

    this._wire();
    this._renderControls();
  }

  // --- lifecycle --------------------------------------------------------------

  /** Make `sid` the current session (view is reset if it's a different one). */
  attach(sid) {
    if (sid !== this.sid) {
      this._resetView();
      this.sid = sid;
    }
    storedSid.set(sid);
  }

  /** Forget the current session (after leave/end or a failed join). */
  detach() {
    this.sid = null;
    storedSid.clear();
    this._resetView();
  }

  /**
   * Join (or re-join) the current session. The first join of a session (or
   * after an epoch change) asks for a snapshot; later joins pass `since` so
   * the server can replay just what we missed.
   * @param {{early?: boolean}} opts  early: called from the socket's onReady hook
   */
  async join({ early = false, _retried = false } = {}) {
    const sid = this.sid;
    if (!sid) return null;
    const fields = { sid, role: 'learner' };
    const since = this.order.since;
    if (since) fields.since = since;

    this.order.startJoin();
    let data;
    try {
      data = await this.socket.request('session.join', fields, { early });
    } catch (err) {
      if (sid === this.sid) this.order.endJoin();
      throw err;
    }
    if (sid !== this.sid) return null; // user navigated away meanwhile

    const buffered = this.order.endJoin();

    if (since && data.recovered && data.epoch === this.order.epoch) {
      // Missed events are (or will be) replayed as ordinary events.
      for (const ev of buffered) this._accept(ev);
    } else if (data.snapshot) {
      this._loadSnapshot(data.snapshot);
      this.order.settle(data.epoch, data.seq);
      for (const ev of buffered) this._accept(ev);
    } else if (!_retried) {
      // Not recoverable and no snapshot: ask again for a full snapshot.
      this.order.restart();
      return this.join({ early, _retried: true });
    } else {
      throw Object.assign(new Error('The server sent no session state.'), { code: 'no_snapshot' });
    }
    return data;
  }

  /** The session view just became visible: show the newest output and messages. */
  revealed() {
    for (const el of [this.runs.outputEl, this.tutor.log]) el.scrollTop = el.scrollHeight;
  }

  /** Socket is ready again: push any edits made while offline. */
  onConnected() {
    if (this.sid && this.loaded && !this.ended) this.sync.flush();
  }

  /** Called for every event frame from the socket. */
  onEvent(ev) {
    this._accept(ev);
  }

  // --- events ---------------------------------------------------------------

  _accept(ev) {
    if (!this.sid || ev.sid !== this.sid) return;
    this.order.deliver(
      ev,
      (e) => this._apply(e),
      () => this._resync(),
    );
  }

  /** The server's history changed under us (new epoch): rebuild from a snapshot. */
  _resync() {
    if (this.order.joining) return;
    this.order.restart();
    this.join().catch((err) => {
      if (!CONNECTION_ERRORS.has(err.code)) this.toast(`Lost track of the session: ${err.message}`);
    });
  }

  _apply(ev) {
    if (this.present.apply(ev)) {
      this._renderPresence();
      return;
    }
    if (this.runs.apply(ev)) {
      if (ev.kind === 'run.started') this.tutor.clearHintError(); // "run your code first" is stale now
      return;
    }
    if (this.tutor.apply(ev, this._label(ev.by))) return;
    const d = ev.data || {};
    switch (ev.kind) {
      case 'code.updated':
        // Our own updates echo back; the editor already has them (or newer).
        if (ev.by && this._isMe(ev.by.user) && this.sync.isOwnEcho(d.code)) break;
        this.sync.applyRemote(d.code);
        break;
      case 'hint.given':
        this.tutor.addHint(d);
        break;
      case 'mentor.note':
        // A private note reaches us whole when it is for us; others see it redacted.
        if (!d.redacted) this.tutor.note(d.text, this._label(ev.by, 'Mentor'), { private: !!d.private });
        break;
      case 'moment.detected':
        // For mentors' dashboards; the learner view deliberately stays quiet.
        break;
      case 'session.ended':
        this._setEnded(true, d.reason);
        break;
      default:
        console.debug('unknown event kind', ev.kind);
    }
  }

  _loadSnapshot(snap) {
    const q = snap.question || {};
    if (!this.loaded || !this.question || this.question.id !== q.id) {
      renderStatement(this.el.statement, q);
      this.el.title.textContent = q.title || '';
      this.editor.setOption('mode', modeFor(q.language));
      this.runs.language = q.language || 'python';
    }
    this.question = q;

    // Keep edits typed while disconnected (they win over the server copy);
    // otherwise the snapshot is the truth.
    if (this.loaded && this.sync.dirty) this.sync.flush();
    else this.sync.load(snap.code ?? q.starter ?? '');

    this.runs.load(snap.runs);
    this.lastRunId = null; // the snapshot knows every run
    this.tutor.loadConversation(snap.conversation, 'You');
    this.tutor.setHints(snap.hints, snap.hint_level);
    this.present.load(snap.present);
    this._renderPresence();
    this._setEnded(!!snap.ended, snap.end_reason);
    this.loaded = true;
  }

  _resetView() {
    this.order.reset();
    this.loaded = false;
    this.question = null;
    this.present.clear();
    this.lastRunId = null;
    this.runRequestPending = false;
    this.sync.reset();
    this.runs.reset();
    this.tutor.reset();
    clear(this.el.statement).append(h('p', { class: 'muted' }, 'Loading…'));
    this.el.title.textContent = '';
    this._renderPresence();
    this._setEnded(false, null);
  }

  // --- actions ----------------------------------------------------------------

  _wire() {
    this.el.run.addEventListener('click', () => this.run('run'));
    this.el.test.addEventListener('click', () => this.run('test'));
    this.el.cancel.addEventListener('click', () => this.cancel());
    this.el.end.addEventListener('click', () => this.end());
    this.el.back.addEventListener('click', () => this.leave());
    this.el.endedBack.addEventListener('click', () => this.leave());
    this.tutor.hintButton.addEventListener('click', () => this.hint());
    this.el.askForm.addEventListener('submit', (e) => {
      e.preventDefault();
      this.ask();
    });
    // Enter sends, Shift+Enter makes a new line (chat convention).
    this.el.askInput.addEventListener('keydown', (e) => {
      if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
        e.preventDefault();
        this.ask();
      }
    });
  }

  async run(mode) {
    if (!this.sid || this.ended || this._runActive()) return;
    this.sync.flush();
    const fields = { sid: this.sid, mode, code: this.editor.getValue() };
    const stdin = this.el.stdin.value;
    if (mode === 'run' && stdin) fields.stdin = stdin;
    this.runRequestPending = true;
    this.lastRunId = null;
    this._renderControls();
    try {
      const data = await this.socket.request('code.run', fields, { idempotent: true });
      this.lastRunId = data.run_id ?? null;
    } catch (err) {
      this.runs.notice(`Couldn't start the ${mode}: ${err.message}`);
    } finally {
      this.runRequestPending = false;
      this._renderControls();
    }
  }

  async cancel() {
    const runId = this.runs.activeRunId || this.lastRunId;
    if (!this.sid || !runId) return;
    this.el.cancel.disabled = true;
    try {
      await this.socket.request('run.cancel', { sid: this.sid, run_id: runId });
    } catch (err) {
      this.toast(`Couldn't cancel: ${err.message}`);
    } finally {
      this._renderControls();
    }
  }

  async ask() {
    const text = this.el.askInput.value.trim();
    if (!text || !this.sid || this.ended || this.el.askInput.readOnly) return;
    this.el.askInput.readOnly = true;
    this.el.askButton.disabled = true;
    try {
      await this.socket.request('tutor.ask', { sid: this.sid, text }, { idempotent: true });
      // Only clear once accepted, so a failed question isn't lost.
      if (this.el.askInput.value.trim() === text) this.el.askInput.value = '';
    } catch (err) {
      this.tutor.system(`Your question wasn't sent: ${err.message}`);
    } finally {
      this.el.askInput.readOnly = false;
      this._renderControls();
      this.el.askInput.focus();
    }
  }

  async hint() {
    if (!this.sid || this.ended || this.tutor.hintBusy) return;
    this.tutor.clearHintError();
    this.tutor.setHintBusy(true);
    try {
      const data = await this.socket.request('hint.request', { sid: this.sid }, { idempotent: true });
      if (data && data.text != null) this.tutor.addHint(data);
    } catch (err) {
      this.tutor.showHintError(err);
    } finally {
      this.tutor.setHintBusy(false);
    }
  }

  async end() {
    if (!this.sid || this.ended) return;
    this.el.end.disabled = true;
    try {
      await this.socket.request('session.end', { sid: this.sid });
      // session.ended normally arrives as an event too; don't wait for it.
      if (!this.ended) this._setEnded(true, 'ended by you');
    } catch (err) {
      this.toast(`Couldn't end the session: ${err.message}`);
      this._renderControls();
    }
  }

  /** Back to the question list without ending the session (it can be resumed). */
  leave() {
    const sid = this.sid;
    if (sid && this.loaded && this.sync.dirty) this.sync.flush(); // before leaving, so it's accepted
    if (sid && this.socket.ready) this.socket.request('session.leave', { sid }).catch(() => {});
    this.detach();
    this.onLeave();
  }

  // --- rendering --------------------------------------------------------------

  _setEnded(ended, reason) {
    this.ended = ended;
    this.el.ended.hidden = !ended;
    if (ended) {
      this.el.endedText.textContent = reason ? `This session has ended (${humanize(reason)}).` : 'This session has ended.';
      // A reload should land on the question list, not a finished session.
      if (storedSid.get() === this.sid) storedSid.clear();
    }
    this.editor.setOption('readOnly', ended);
    this._renderControls();
  }

  /** A run is in progress: requested, accepted but not yet started, or started and not finished. */
  _runActive() {
    if (!this.runs) return false;
    if (this.runRequestPending || this.runs.activeRunId) return true;
    return this.lastRunId != null && !this.runs.runs.get(this.lastRunId)?.finished;
  }

  _renderControls() {
    const active = this._runActive();
    const off = this.ended || !this.sid;
    this.el.run.disabled = off || active;
    this.el.test.disabled = off || active;
    this.el.cancel.hidden = !active || off;
    // Cancelling needs a run id: from run.started or from the code.run reply.
    this.el.cancel.disabled = !this.runs?.activeRunId && !this.lastRunId;
    this.el.stdin.disabled = off;
    this.el.end.disabled = off;
    this.el.askButton.disabled = off || this.el.askInput.readOnly;
    this.el.askInput.disabled = off;
    this.tutor?.setDisabled(off);
  }

  _renderPresence() {
    const others = this.present.all().filter((p) => !(this._isMe(p.user) && p.role === 'learner'));
    clear(this.el.presence).append(...others.map((p) => presenceChip(p, p.name || 'Someone')));
  }

  /** Where the learner's cursor is, for those watching ({line, ch}, as CodeMirror counts). */
  _cursor() {
    const { line, ch } = this.editor.getCursor();
    return { line, ch };
  }

  _isMe(userId) {
    const me = this.me();
    return !!me && userId != null && String(userId) === String(me.id);
  }

  _label(by, fallback = 'You') {
    if (!by || this._isMe(by.user)) return fallback;
    const p = this.present.of(by);
    return p?.name || humanize(by.role) || fallback;
  }
}
