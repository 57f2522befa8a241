// The CodeMirror 5 editor (vendored UMD global `CodeMirror`) and the
// code.update synchronisation that follows it.

const SYNC_DEBOUNCE_MS = 300;

const MODES = {
  python: 'python',
  python3: 'python',
  javascript: 'javascript',
  js: 'javascript',
  node: 'javascript',
  typescript: { name: 'javascript', typescript: true },
  json: { name: 'javascript', json: true },
};

/** CodeMirror mode for a question language; unknown languages get plain text. */
export function modeFor(language) {
  return MODES[String(language || '').toLowerCase()] ?? null;
}

/**
 * Create the editor inside `host`.
 * @param {HTMLElement} host
 * @param {{onRun: Function, onTest: Function}} keys  Ctrl/Cmd-Enter runs, +Shift tests
 */
export function createEditor(host, { onRun, onTest }) {
  if (typeof window.CodeMirror !== 'function') {
    throw new Error('CodeMirror failed to load (vendor/codemirror/lib/codemirror.js)');
  }
  const indent = (cm) => {
    if (cm.somethingSelected()) cm.indentSelection('add');
    // Spaces, not tabs: Python learners get "inconsistent use of tabs" otherwise.
    else cm.replaceSelection(' '.repeat(cm.getOption('indentUnit')), 'end', '+input');
  };
  return window.CodeMirror(host, {
    value: '',
    mode: 'python',
    lineNumbers: true,
    indentUnit: 4,
    tabSize: 4,
    indentWithTabs: false,
    smartIndent: true,
    matchBrackets: true,
    autoCloseBrackets: true,
    styleActiveLine: false,
    screenReaderLabel: 'Code editor',
    extraKeys: {
      Tab: indent,
      'Shift-Tab': (cm) => cm.indentSelection('subtract'),
      'Ctrl-Enter': () => onRun(),
      'Cmd-Enter': () => onRun(),
      'Shift-Ctrl-Enter': () => onTest(),
      'Shift-Cmd-Enter': () => onTest(),
      // Let keyboard users leave the editor (Tab is taken by indentation).
      Esc: (cm) => cm.getInputField().blur(),
    },
  });
}

/**
 * Keeps the server's copy of the code in step with the editor.
 *
 * Every local edit marks the code "dirty" and (300 ms after the last
 * keystroke) sends the full text as code.update. "dirty" only clears when
 * the server acknowledged exactly what is in the editor now, so after a
 * reconnect the controller can call flush() and nothing typed offline is lost.
 * Remote changes (snapshot, another participant's code.updated) go through
 * load()/applyRemote(), which don't count as local edits.
 */
export class CodeSync {
  /**
   * @param {object} editor  CodeMirror instance
   * @param {(code: string) => Promise|null} send  null = can't send right now
   * @param {(err: Error) => void} onError
   */
  constructor(editor, send, onError) {
    this.editor = editor;
    this.send = send;
    this.onError = onError;
    this.dirty = false;
    this.blocked = false; // last send was rejected as too large: wait for a new edit
    this._applying = false;
    this._timer = null;
    this._recent = []; // the last texts we sent, to recognise their echoes
    editor.on('changes', () => {
      if (this._applying) return;
      this.dirty = true;
      this.blocked = false;
      clearTimeout(this._timer);
      this._timer = setTimeout(() => this.flush(), SYNC_DEBOUNCE_MS);
    });
  }

  /** Send the current code now if it hasn't been acknowledged yet. */
  flush() {
    clearTimeout(this._timer);
    if (!this.dirty || this.blocked) return;
    const code = this.editor.getValue();
    const pending = this.send(code);
    if (!pending) return; // offline: stays dirty, re-sent after the rejoin
    this._recent.push(code);
    if (this._recent.length > 20) this._recent.shift();
    pending.then(
      () => {
        if (this.editor.getValue() === code) this.dirty = false;
      },
      (err) => {
        if (err.code === 'too_large' || err.code === 'payload_too_large') this.blocked = true;
        if (!['disconnected', 'closed', 'offline'].includes(err.code)) this.onError(err);
      },
    );
  }

  /**
   * Is this code.updated (sent under our own user id) just the echo of our
   * own edits? True for anything we sent recently, and while we have unsent
   * edits (ours win). Otherwise it came from another tab of ours: apply it.
   */
  isOwnEcho(code) {
    return this.dirty || this._recent.includes(code);
  }

  /** Replace the content for a newly opened session (no undo back into the old one). */
  load(code) {
    clearTimeout(this._timer);
    this._set(code ?? '');
    this.editor.clearHistory();
    this.dirty = false;
    this.blocked = false;
  }

  /** Apply someone else's edit, keeping our cursor and scroll position where possible. */
  applyRemote(code) {
    if (code == null || code === this.editor.getValue()) return;
    const cursor = this.editor.getCursor();
    const scroll = this.editor.getScrollInfo();
    this._set(code);
    this.editor.setCursor(cursor); // clipped to the new document by CodeMirror
    this.editor.scrollTo(scroll.left, scroll.top);
    this.dirty = false;
  }

  /** Forget any pending send (leaving the session). */
  reset() {
    clearTimeout(this._timer);
    this._recent = [];
    this.dirty = false;
    this.blocked = false;
  }

  _set(code) {
    this._applying = true;
    try {
      this.editor.setValue(code);
    } finally {
      this._applying = false;
    }
  }
}
