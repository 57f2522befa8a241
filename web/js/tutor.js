// The tutor panel: the conversation (answers stream in delta by delta) and
// the hint ladder.

import { h, clear, nearBottom, scrollToBottom } from './dom.js';
import { humanize } from './format.js';
import { auditText } from './notices.js';

export const MAX_HINT_LEVEL = 5;

export class TutorView {
  /**
   * @param {object} o
   * @param {HTMLElement} o.log         conversation container (scrolls)
   * @param {HTMLButtonElement} o.hintButton
   * @param {HTMLElement} o.hintList
   * @param {HTMLElement} o.hintError
   */
  constructor({ log, hintButton, hintList, hintError }) {
    this.log = log;
    this.hintButton = hintButton;
    this.hintList = hintList;
    this.hintError = hintError;
    /** turn_id → {el, text (Text node), replyEl, done} */
    this.turns = new Map();
    /** level → text */
    this.hints = new Map();
    this.hintLevel = 0;
    this.hintBusy = false;
    this.disabled = false;
    this.reset();
  }

  reset() {
    this.turns.clear();
    this.hints.clear();
    this.hintLevel = 0;
    clear(this.log).append(this._intro());
    clear(this.hintList);
    this.clearHintError();
    this.renderHintButton();
  }

  // --- conversation -------------------------------------------------------------

  /** Rebuild from snapshot conversation: [{turn_id, question, answer, done}] */
  loadConversation(conversation, askerLabel = 'You') {
    for (const id of [...this.turns.keys()]) this.turns.get(id).el.remove();
    this.turns.clear();
    this.log.querySelectorAll('.note, .system').forEach((n) => n.remove());
    for (const t of conversation || []) {
      const turn = this.turnStart({ turn_id: t.turn_id, question: t.question }, askerLabel, false);
      if (t.answer) turn.text.appendData(t.answer);
      if (t.done) this.turnEnd({ turn_id: t.turn_id });
    }
    scrollToBottom(this.log);
  }

  turnStart({ turn_id, question }, askerLabel = 'You', follow = true) {
    const existing = this.turns.get(turn_id);
    if (existing) return existing;
    const stick = follow && nearBottom(this.log);
    this.log.querySelector('.tutor-intro')?.remove();
    const text = document.createTextNode('');
    const replyEl = h('div', { class: 'reply-text', 'data-testid': 'tutor-reply', 'aria-busy': 'true' }, text);
    const el = h(
      'article',
      { class: 'turn streaming', dataset: { turnId: turn_id } },
      h('div', { class: 'msg msg-learner' }, h('div', { class: 'who' }, askerLabel), h('div', { class: 'msg-text' }, question || '')),
      h('div', { class: 'msg msg-tutor' }, h('div', { class: 'who' }, 'Tutor'), replyEl),
    );
    this.log.append(el);
    const turn = { el, text, replyEl, done: false };
    this.turns.set(turn_id, turn);
    if (stick) scrollToBottom(this.log);
    return turn;
  }

  delta({ turn_id, text }) {
    if (!text) return;
    const stick = nearBottom(this.log);
    // A delta for a turn we never saw start (shouldn't happen after a proper
    // join, but never drop the tutor's words).
    const turn = this.turns.get(turn_id) || this.turnStart({ turn_id, question: '' }, '');
    turn.text.appendData(text);
    if (stick) scrollToBottom(this.log);
  }

  turnEnd({ turn_id }) {
    const turn = this.turns.get(turn_id);
    if (!turn || turn.done) return;
    turn.done = true;
    turn.el.classList.remove('streaming');
    turn.replyEl.removeAttribute('aria-busy');
    if (!turn.text.data) turn.replyEl.classList.add('empty');
  }

  /** Applies a tutor turn event or an audit notice; false for any other kind. */
  apply(ev, askerLabel) {
    const d = ev.data || {};
    if (ev.kind === 'tutor.turn.start') this.turnStart(d, askerLabel);
    else if (ev.kind === 'tutor.delta') this.delta(d);
    else if (ev.kind === 'tutor.turn.end') this.turnEnd(d);
    else if (ev.kind === 'audit') this.notice(auditText(d));
    else return false;
    return true;
  }

  /** A mentor's note, shown inline in the conversation; a private one looks different. */
  note(text, from = 'Mentor', { private: only = false } = {}) {
    this._line(only ? 'note private' : 'note', only ? `${from} (private note): ` : `${from}: `, text);
  }

  /** Something an admin did to the session, or another notice everyone in it should see. */
  notice(text) {
    this._line('audit', '', text);
  }

  /** A local error/status line (e.g. "couldn't send your question"). */
  system(text) {
    this._line('system', '', text);
  }

  _line(cls, label, text) {
    const stick = nearBottom(this.log);
    this.log.querySelector('.tutor-intro')?.remove();
    this.log.append(h('div', { class: cls, role: cls === 'system' ? 'alert' : cls === 'audit' ? 'status' : null, dataset: { kind: cls.split(' ')[0] } }, label ? h('strong', {}, label) : null, text));
    if (stick) scrollToBottom(this.log);
  }

  _intro() {
    return h(
      'p',
      { class: 'tutor-intro' },
      'Stuck or curious? Ask the tutor. It answers with questions that help you find the answer yourself.',
    );
  }

  // --- hints --------------------------------------------------------------------

  /** Snapshot hints: [{level, text}] plus the current level. */
  setHints(hints, level) {
    this.hints.clear();
    clear(this.hintList);
    for (const hint of hints || []) this.addHint(hint, false);
    this.hintLevel = Math.max(Number(level) || 0, this.hintLevel);
    this.renderHintButton();
  }

  /** From hint.given or the hint.request reply (whichever comes first; deduped by level). */
  addHint({ level, text }, render = true) {
    level = Number(level) || this.hints.size + 1;
    this.hintLevel = Math.max(this.hintLevel, level);
    if (!this.hints.has(level)) {
      this.hints.set(level, text);
      const item = h('li', { class: 'hint', dataset: { level: String(level) } }, h('span', { class: 'hint-level' }, `Level ${level}`), h('span', { class: 'hint-text' }, text));
      // Keep the list ordered by level even if events arrive out of order.
      const after = [...this.hintList.children].find((li) => Number(li.dataset.level) > level);
      this.hintList.insertBefore(item, after || null);
      this.clearHintError();
    }
    if (render) this.renderHintButton();
  }

  /** Show why a hint was refused (hint_locked carries `reason`). */
  showHintError(err) {
    const details = err.details || {};
    // The server's message is written for the learner ("Try something first: …");
    // the reason is a code (attempt_required, …), shown only if there's no message.
    const message = details.message || err.message || humanize(details.reason) || 'No hint right now.';
    this.hintError.textContent = message;
    this.hintError.dataset.reason = details.reason || err.code || '';
    this.hintError.hidden = false;
  }

  clearHintError() {
    clear(this.hintError);
    delete this.hintError.dataset.reason;
    this.hintError.hidden = true;
  }

  setHintBusy(busy) {
    this.hintBusy = busy;
    this.renderHintButton();
  }

  setDisabled(disabled) {
    this.disabled = disabled;
    this.renderHintButton();
  }

  /** "Hint (level N of 5)" names the level the next hint will be. */
  renderHintButton() {
    const b = this.hintButton;
    const exhausted = this.hintLevel >= MAX_HINT_LEVEL;
    b.textContent = exhausted
      ? `All hints used (${MAX_HINT_LEVEL} of ${MAX_HINT_LEVEL})`
      : `Hint (level ${this.hintLevel + 1} of ${MAX_HINT_LEVEL})`;
    b.disabled = exhausted || this.hintBusy || this.disabled;
    b.setAttribute('aria-busy', this.hintBusy ? 'true' : 'false');
  }
}
