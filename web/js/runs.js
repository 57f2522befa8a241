// The output pane (one block per run, streamed chunk by chunk) and the test
// verdict table of the most recent test run.

import { h, clear, nearBottom, scrollToBottom } from './dom.js';
import { formatArgs, formatDuration, formatKiB, formatLimit, formatLiteral, toDate } from './format.js';

export class RunsView {
  /**
   * @param {object} o
   * @param {HTMLElement} o.output       the output pane (scroll container)
   * @param {HTMLElement} o.testResults  container for the verdict table
   * @param {(activeRunId: string|null) => void} o.onActiveChange
   */
  constructor({ output, testResults, onActiveChange }) {
    this.outputEl = output;
    this.testsEl = testResults;
    this.onActiveChange = onActiveChange;
    /** run_id → {el, body, foot, mode, language, finished, tail, tailStream, count} */
    this.runs = new Map();
    this.counter = 0;
    this.latestTestRun = null;
    this.language = 'python'; // of the question: how test values are written
    this.reset();
  }

  reset() {
    this.runs.clear();
    this.counter = 0;
    this.latestTestRun = null;
    clear(this.outputEl).append(this._placeholder());
    clear(this.testsEl);
    this.testsEl.hidden = true;
    this.onActiveChange(null);
  }

  /** Most recent run that hasn't finished, if any. */
  get activeRunId() {
    let active = null;
    for (const [id, run] of this.runs) if (!run.finished) active = id;
    return active;
  }

  /** Rebuild from snapshot runs: [{run_id, mode, output: [{stream, chunk}], finished}] */
  load(runs) {
    this.reset();
    for (const r of runs || []) {
      const run = this.started({ run_id: r.run_id, mode: r.mode, language: r.language }, null, false);
      // The server keeps only the tail of long outputs in snapshots.
      if (r.truncated) run.body.before(h('div', { class: 'out-none' }, '(earlier output not shown)'));
      for (const piece of r.output || []) this.output({ run_id: r.run_id, ...piece }, false);
      if (r.finished) this.finished({ run_id: r.run_id, ...r.finished }, false);
    }
    scrollToBottom(this.outputEl);
    this.onActiveChange(this.activeRunId);
  }

  started({ run_id, mode, language }, ts, notify = true) {
    const stick = nearBottom(this.outputEl);
    let run = this.runs.get(run_id);
    if (!run) run = this._create(run_id, mode, language, ts);
    if (mode === 'test') {
      this.latestTestRun = run_id;
      this._renderTestsPending();
    }
    if (stick) scrollToBottom(this.outputEl);
    if (notify) this.onActiveChange(this.activeRunId);
    return run;
  }

  output({ run_id, stream, chunk }, follow = true) {
    if (!chunk) return;
    const stick = follow && nearBottom(this.outputEl);
    const run = this.runs.get(run_id) || this._create(run_id, null, null, null);
    const kind = stream === 'stderr' ? 'stderr' : 'stdout';
    // Merge consecutive chunks of the same stream into one Text node: the
    // pane stays a handful of nodes even for chatty programs.
    if (run.tail && run.tailStream === kind) {
      run.tail.firstChild.appendData(chunk);
    } else {
      run.tail = h('span', { class: `out-${kind}` }, chunk);
      run.tailStream = kind;
      run.body.append(run.tail);
    }
    run.count += chunk.length;
    if (stick) scrollToBottom(this.outputEl);
  }

  finished(data, notify = true) {
    const stick = nearBottom(this.outputEl);
    const run = this.runs.get(data.run_id) || this._create(data.run_id, null, null, null);
    run.finished = data;
    run.el.classList.remove('running');
    run.el.classList.toggle('failed', !!data.limit || (data.exit_code != null && data.exit_code !== 0));
    if (run.count === 0) run.body.append(h('span', { class: 'out-none' }, '(no output)'));
    clear(run.foot).append(...this._footer(data));
    // Only the newest test run owns the verdict table (an older one finishing
    // late must not overwrite it). A run whose start we never saw has no mode;
    // if it carries test results it is treated as a test run.
    const isTest = run.mode === 'test' || (!run.mode && data.tests && data.tests.length > 0);
    if (isTest && (this.latestTestRun === null || this.latestTestRun === data.run_id || !run.mode)) {
      this.latestTestRun = data.run_id;
      this._renderTests(data);
    }
    if (stick) scrollToBottom(this.outputEl);
    if (notify) this.onActiveChange(this.activeRunId);
  }

  /** Applies a run.started / run.output / run.finished event; false for any other kind. */
  apply(ev) {
    const d = ev.data || {};
    if (ev.kind === 'run.started') this.started(d, ev.ts);
    else if (ev.kind === 'run.output') this.output(d);
    else if (ev.kind === 'run.finished') this.finished(d);
    else return false;
    return true;
  }

  /** A local message in the pane (e.g. the run request failed). */
  notice(text) {
    const stick = nearBottom(this.outputEl);
    this.outputEl.querySelector('.output-empty')?.remove();
    this.outputEl.append(h('div', { class: 'output-notice', role: 'alert' }, text));
    if (stick) scrollToBottom(this.outputEl);
  }

  // --- internals --------------------------------------------------------------

  _placeholder() {
    return h('p', { class: 'output-empty' }, 'Output of Run and Test appears here.');
  }

  _create(run_id, mode, language, ts) {
    this.outputEl.querySelector('.output-empty')?.remove();
    this.counter++;
    const when = toDate(ts) || (ts === null ? null : new Date());
    const head = h(
      'div',
      { class: 'run-head' },
      h('span', { class: 'run-num' }, `#${this.counter}`),
      h('span', { class: 'run-mode' }, `▶ ${mode || 'run'}`),
      language ? ` · ${language}` : null,
      when ? ` · ${when.toLocaleTimeString()}` : null,
    );
    const body = h('pre', { class: 'run-body' });
    const foot = h('div', { class: 'run-foot' }, h('span', { class: 'run-running' }, 'running…'));
    const el = h('section', { class: 'run running', dataset: { runId: run_id, mode: mode || '' } }, head, body, foot);
    this.outputEl.append(el);
    const run = { el, body, foot, mode, language, finished: null, tail: null, tailStream: null, count: 0 };
    this.runs.set(run_id, run);
    return run;
  }

  _footer(d) {
    const parts = [
      h('span', { class: d.exit_code === 0 ? 'exit-ok' : 'exit-bad' }, `exit ${d.exit_code ?? '—'}`),
      ` · ${formatDuration(d.duration_ms)}`,
      ` · ${formatKiB(d.peak_memory_kib)} peak`,
    ];
    if (d.limit) parts.push(' · ', h('span', { class: 'limit' }, formatLimit(d.limit)));
    return parts;
  }

  _renderTestsPending() {
    this.testsEl.hidden = false;
    clear(this.testsEl).append(
      h('div', { class: 'tests-summary pending' }, 'Running tests…'),
    );
  }

  _renderTests(d) {
    const tests = d.tests || [];
    const passed = tests.filter((t) => t.passed).length;
    this.testsEl.hidden = false;
    const all = tests.length > 0 && passed === tests.length;
    const summary = h(
      'div',
      { class: `tests-summary ${all ? 'all-passed' : 'some-failed'}` },
      tests.length ? `${passed} of ${tests.length} tests passed` : 'No test results',
      d.limit ? h('span', { class: 'limit' }, ` — ${formatLimit(d.limit)}`) : null,
    );
    const rows = tests.map((t) => {
      const verdict = h('td', { class: 'verdict' }, t.passed ? '✓ pass' : '✗ fail');
      if (t.hidden) {
        return h(
          'tr',
          { class: `case hidden-case ${t.passed ? 'pass' : 'fail'}`, dataset: { passed: String(!!t.passed) } },
          verdict,
          h('td', { class: 'case-name' }, t.name),
          h('td', { class: 'muted', colspan: '3' }, 'hidden test'),
        );
      }
      return h(
        'tr',
        { class: `case ${t.passed ? 'pass' : 'fail'}`, dataset: { passed: String(!!t.passed) } },
        verdict,
        h('td', { class: 'case-name' }, t.name),
        h('td', {}, h('code', {}, formatArgs(t.input, this.language))),
        h('td', {}, h('code', {}, formatLiteral(t.expected, this.language))),
        h(
          'td',
          {},
          // got is null when the case raised or never ran; the error says why.
          t.got !== undefined && !(t.got === null && t.error) ? h('code', {}, formatLiteral(t.got, this.language)) : null,
          t.error ? h('div', { class: 'case-error' }, t.error) : null,
        ),
      );
    });
    const table = tests.length
      ? h(
          'table',
          { class: 'tests-table' },
          h(
            'thead',
            {},
            h('tr', {}, h('th', {}, ''), h('th', {}, 'Test'), h('th', {}, 'Input'), h('th', {}, 'Expected'), h('th', {}, 'Got')),
          ),
          h('tbody', {}, rows),
        )
      : null;
    clear(this.testsEl).append(summary, table || '');
  }
}
