// Replay of a finished session from its stored trace (GET /api/sessions/{sid}/trace):
// code, runs and their output, tutor turns, hints and mentor notes, as they happened,
// at 1x to 16x, with idle stretches shortened so nothing is spent watching nothing.

import { h, clear } from './dom.js';

export const SPEEDS = [1, 2, 4, 8, 16];
// A pause longer than this (ms, at 1x) plays as this long: idle time is skipped.
export const IDLE_CAP_MS = 1500;
const PAGE = 5000;
const TICK_MS = 50;

/** Every stored event of the session, page by page, in seq order. */
export async function loadTrace(api, sid) {
  const events = [];
  let after = 0;
  let first = null;
  for (;;) {
    const page = await api.trace(sid, after, PAGE);
    first = first || page;
    events.push(...page.events);
    if (page.next_after == null) break;
    after = page.next_after;
  }
  return { info: first, events };
}

/** Playback times (ms from the start, at 1x) for events: real gaps, idle ones capped. */
export function timeline(events, cap = IDLE_CAP_MS) {
  const at = [];
  let t = 0;
  for (let i = 0; i < events.length; i++) {
    if (i > 0) t += Math.min(Math.max(events[i].ts - events[i - 1].ts, 0), cap);
    at.push(t);
  }
  return at;
}

/** The session as it stood after the first `count` events. */
export function foldEvents(events, count) {
  const state = { code: '', runs: [], turns: [], hints: [], notes: [], ended: null };
  const runs = new Map();
  const turns = new Map();
  for (let i = 0; i < count && i < events.length; i++) {
    const { kind, data = {}, ts, by } = events[i];
    switch (kind) {
      case 'code.updated':
        if (typeof data.code === 'string') state.code = data.code;
        break;
      case 'run.started': {
        const run = { id: data.run_id, mode: data.mode, output: [], finished: null, ts };
        runs.set(data.run_id, run);
        state.runs.push(run);
        break;
      }
      case 'run.output':
        runs.get(data.run_id)?.output.push({ stream: data.stream, text: String(data.chunk ?? '') });
        break;
      case 'run.finished': {
        const run = runs.get(data.run_id);
        if (run) run.finished = data;
        break;
      }
      case 'tutor.turn.start': {
        const turn = { id: data.turn_id, question: String(data.question ?? ''), answer: '', done: false };
        turns.set(data.turn_id, turn);
        state.turns.push(turn);
        break;
      }
      case 'tutor.delta': {
        const turn = turns.get(data.turn_id);
        if (turn) turn.answer += String(data.text ?? '');
        break;
      }
      case 'tutor.turn.end': {
        const turn = turns.get(data.turn_id);
        if (turn) turn.done = true;
        break;
      }
      case 'hint.given':
        state.hints.push({ level: data.level, text: String(data.text ?? '') });
        break;
      case 'mentor.note':
        if (!data.redacted) state.notes.push({ by: by?.user, text: String(data.text ?? '') });
        break;
      case 'session.ended':
        state.ended = String(data.reason ?? 'ended');
        break;
      default:
        break;
    }
  }
  return state;
}

function clock(ms) {
  const s = Math.floor(ms / 1000);
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
}

function runSummary(run) {
  const f = run.finished;
  if (!f) return 'running…';
  const tests = Array.isArray(f.tests) ? f.tests : [];
  const passed = tests.filter((t) => t.passed).length;
  const parts = [f.limit ? `stopped: ${f.limit}` : `exit ${f.exit_code ?? '?'}`, `${f.duration_ms ?? 0} ms`];
  if (tests.length) parts.push(`${passed}/${tests.length} tests passed`);
  return parts.join(' · ');
}

export class ReplayPlayer {
  /** root: the element the player fills; api: {trace(sid, after, limit)}; onClose: back. */
  constructor({ root, api, onClose }) {
    this.root = root;
    this.api = api;
    this.onClose = onClose;
    this.events = [];
    this.times = [];
    this.position = 0; // playback ms (1x) from the start
    this.shown = -1; // events currently shown
    this.speed = 1;
    this.timer = null;
    this.sid = null;
    this.build();
  }

  build() {
    this.title = h('h1', { class: 'replay-title', 'data-testid': 'replay-title' }, 'Replay');
    this.status = h('p', { class: 'muted replay-status', 'data-testid': 'replay-status', role: 'status' });
    this.playButton = h('button', { type: 'button', class: 'primary', 'data-testid': 'replay-play' }, 'Play');
    this.playButton.addEventListener('click', () => (this.timer ? this.pause() : this.play()));
    this.speedSelect = h(
      'select',
      { 'data-testid': 'replay-speed', 'aria-label': 'Speed' },
      SPEEDS.map((s) => h('option', { value: String(s) }, `${s}×`)),
    );
    this.speedSelect.addEventListener('change', () => (this.speed = Number(this.speedSelect.value) || 1));
    this.slider = h('input', { type: 'range', min: '0', max: '0', step: '1', value: '0', class: 'replay-slider', 'data-testid': 'replay-position', 'aria-label': 'Position' });
    this.slider.addEventListener('input', () => this.seek(Number(this.slider.value)));
    this.time = h('span', { class: 'replay-time muted', 'data-testid': 'replay-time' }, '0:00 / 0:00');
    const back = h('button', { type: 'button', class: 'ghost', 'data-testid': 'replay-back' }, '← Back');
    back.addEventListener('click', () => this.onClose());

    this.code = h('pre', { class: 'replay-code', 'data-testid': 'replay-code' });
    this.output = h('div', { class: 'replay-output output', 'data-testid': 'replay-output', role: 'log' });
    this.tutor = h('div', { class: 'replay-tutor', 'data-testid': 'replay-tutor' });
    this.ended = h('p', { class: 'replay-ended muted', 'data-testid': 'replay-ended', hidden: true });

    clear(this.root).append(
      h('div', { class: 'session-bar' }, back, this.title),
      this.status,
      h('div', { class: 'replay-controls' }, this.playButton, this.speedSelect, this.slider, this.time),
      h(
        'div',
        { class: 'replay-grid' },
        h('section', { class: 'panel', 'aria-label': 'Code' }, h('h2', {}, 'Code'), this.code),
        h('section', { class: 'panel', 'aria-label': 'Runs' }, h('h2', {}, 'Runs'), this.output),
        h('aside', { class: 'panel', 'aria-label': 'Tutor' }, h('h2', {}, 'Tutor, hints and notes'), this.tutor),
      ),
      this.ended,
    );
  }

  async open(sid) {
    this.pause();
    this.sid = sid;
    this.events = [];
    this.times = [];
    this.position = 0;
    this.shown = -1;
    this.title.textContent = 'Replay';
    this.status.textContent = 'Loading the session…';
    this.status.hidden = false;
    this.render(true);
    try {
      const { info, events } = await loadTrace(this.api, sid);
      if (this.sid !== sid) return;
      this.events = events;
      this.times = timeline(events);
      this.title.textContent = `Replay: ${info.title || info.question_id || sid}`;
      this.status.hidden = events.length > 0;
      this.status.textContent = 'Nothing was stored for this session.';
      this.slider.max = String(this.duration());
      this.render(true);
    } catch (err) {
      if (this.sid !== sid) return;
      this.status.textContent = `Couldn't load this session: ${err.message}`;
    }
  }

  duration() {
    return this.times.length ? this.times[this.times.length - 1] : 0;
  }

  play() {
    if (!this.events.length) return;
    if (this.position >= this.duration()) this.seek(0);
    this.playButton.textContent = 'Pause';
    let last = performance.now();
    this.timer = setInterval(() => {
      const now = performance.now();
      this.position = Math.min(this.position + (now - last) * this.speed, this.duration());
      last = now;
      this.render(false);
      if (this.position >= this.duration()) this.pause();
    }, TICK_MS);
  }

  pause() {
    clearInterval(this.timer);
    this.timer = null;
    this.playButton.textContent = 'Play';
  }

  /** Stop playing (the view is left). */
  stop() {
    this.pause();
    this.sid = null;
  }

  seek(ms) {
    this.position = Math.max(0, Math.min(ms, this.duration()));
    this.render(true);
  }

  /** Events due at the current position: every one whose playback time has come. */
  due() {
    let n = 0;
    while (n < this.times.length && this.times[n] <= this.position) n++;
    return n;
  }

  render(force) {
    const count = this.due();
    this.slider.value = String(Math.round(this.position));
    this.time.textContent = `${clock(this.position)} / ${clock(this.duration())}`;
    if (count === this.shown && !force) return;
    this.shown = count;
    this.root.dataset.shown = String(count);
    const state = foldEvents(this.events, count);
    this.code.textContent = state.code;
    clear(this.output).append(
      ...state.runs.map((run) =>
        h(
          'div',
          { class: 'replay-run', 'data-testid': 'replay-run' },
          h('div', { class: 'replay-run-head' }, `${run.mode === 'test' ? 'Test' : 'Run'} — ${runSummary(run)}`),
          h('pre', { class: 'replay-run-output' }, run.output.map((o) => h('span', { class: o.stream === 'stderr' ? 'stderr' : 'stdout' }, o.text))),
        ),
      ),
    );
    clear(this.tutor).append(
      ...state.turns.map((t) =>
        h(
          'div',
          { class: 'replay-turn', 'data-testid': 'replay-turn' },
          h('p', { class: 'replay-asked' }, h('strong', {}, 'Asked: '), t.question),
          h('p', { class: 'replay-answer' }, t.answer, t.done ? null : '…'),
        ),
      ),
      ...state.hints.map((hint) => h('p', { class: 'replay-hint', 'data-testid': 'replay-hint' }, h('strong', {}, `Hint ${hint.level}: `), hint.text)),
      ...state.notes.map((note) => h('p', { class: 'replay-note', 'data-testid': 'replay-note' }, h('strong', {}, 'Mentor note: '), note.text)),
    );
    this.ended.hidden = state.ended == null;
    this.ended.textContent = state.ended == null ? '' : `The session ended (${state.ended}).`;
  }
}
