// The admin's question bank page: list and filter questions, edit one as JSON (each save is a
// new draft version), preview its statement, publish or retire versions, import and export.

import { api, ApiError } from './api.js';
import { h, clear } from './dom.js';
import { difficultyBadge, tagList, renderStatement } from './question.js';
import { formatWhen } from './format.js';

const STATES = ['published', 'draft', 'retired'];

/** A blank question in the bank's format, for "New question". */
function blankQuestion() {
  return {
    id: 'new-question',
    title: 'New question',
    language: 'python',
    difficulty: 'easy',
    tags: ['arrays'],
    prerequisites: [],
    statement: 'Describe the task here.',
    function: 'solve',
    signature: 'def solve(nums):',
    starter: 'def solve(nums):\n    pass\n',
    compare: 'exact',
    visible: [{ name: 'example', args: [[1, 2]], expected: 3 }],
    hidden: [{ name: 'hidden case', args: [[]], expected: 0 }],
    hints: ['Level 1 hint', 'Level 2 hint', 'Level 3 hint', 'Level 4 hint', 'Level 5 hint'],
    lesson: { title: 'Lesson title', body: 'Lesson body.' },
    socratic: { focus: [], concepts: [], errors: {}, wrong_answer: [], complexity: '' },
  };
}

export class ContentPage {
  /**
   * @param {object} o
   * @param {HTMLElement} o.root        the (empty) view to build the page in
   * @param {(err: Error) => boolean} o.onApiError  true when the app handled it (signed out)
   */
  constructor({ root, onApiError }) {
    this.root = root;
    this.onApiError = onApiError;
    this.questions = [];
    this.selected = null; // the question id shown in the editor, or '' for a new one
    this.detail = null;
    this._build();
  }

  _build() {
    this.search = h('input', { type: 'search', class: 'filter', placeholder: 'Title or id', 'aria-label': 'Filter by title or id', 'data-testid': 'content-search' });
    this.tagFilter = h('select', { 'aria-label': 'Tag', 'data-testid': 'content-tag' });
    this.languageFilter = h('select', { 'aria-label': 'Language', 'data-testid': 'content-language' });
    this.stateFilter = h(
      'select',
      { 'aria-label': 'State', 'data-testid': 'content-state' },
      h('option', { value: '' }, 'Any state'),
      STATES.map((s) => h('option', { value: s }, s)),
    );
    for (const el of [this.search, this.tagFilter, this.languageFilter, this.stateFilter]) {
      el.addEventListener('input', () => this._renderList());
    }
    this.listStatus = h('p', { class: 'muted', role: 'status', 'data-testid': 'content-list-status' }, 'Loading…');
    this.list = h('ul', { class: 'content-list', 'data-testid': 'content-list' });
    this.importInput = h('input', { type: 'file', accept: 'application/json,.json', hidden: true, 'data-testid': 'content-import-file' });
    this.importInput.addEventListener('change', () => this._import());
    this.bankStatus = h('p', { class: 'panel-status', role: 'status', 'aria-live': 'polite', 'data-testid': 'content-bank-status' });

    this.heading = h('h2', { 'data-testid': 'content-editor-title' }, 'Pick a question');
    this.versions = h('ol', { class: 'content-versions', 'data-testid': 'content-versions' });
    this.json = h('textarea', { class: 'content-json', rows: 24, spellcheck: 'false', 'aria-label': 'Question as JSON', 'data-testid': 'content-json' });
    this.json.addEventListener('input', () => this._preview());
    this.errors = h('p', { class: 'form-error', role: 'alert', 'data-testid': 'content-error', hidden: true });
    this.saveStatus = h('p', { class: 'form-note', role: 'status', 'data-testid': 'content-saved', hidden: true });
    this.save = h('button', { type: 'button', class: 'primary', 'data-testid': 'content-save' }, 'Save as a new draft');
    this.save.addEventListener('click', () => this._save());
    this.previewPane = h('div', { class: 'panel statement-panel content-preview', 'data-testid': 'content-preview' });
    this.editor = h(
      'section',
      { class: 'card content-editor', hidden: true },
      h('div', { class: 'card-head' }, this.heading),
      h('h3', { class: 'section-title' }, 'Versions'),
      this.versions,
      h(
        'div',
        { class: 'content-edit-grid' },
        h('div', {}, h('h3', { class: 'section-title' }, 'Question (JSON)'), this.json, this.errors, this.saveStatus, h('div', { class: 'confirm-actions' }, this.save)),
        h('div', {}, h('h3', { class: 'section-title' }, 'Preview'), this.previewPane),
      ),
    );

    const newButton = h('button', { type: 'button', class: 'secondary', 'data-testid': 'content-new' }, 'New question');
    newButton.addEventListener('click', () => this._startNew());
    const exportButton = h('button', { type: 'button', class: 'ghost', 'data-testid': 'content-export' }, 'Export');
    exportButton.addEventListener('click', () => this._export());
    const importButton = h('button', { type: 'button', class: 'ghost', 'data-testid': 'content-import' }, 'Import…');
    importButton.addEventListener('click', () => this.importInput.click());
    const back = h('a', { href: '#/', class: 'link' }, '← Questions');

    clear(this.root).append(
      h(
        'div',
        { class: 'content-grid' },
        h(
          'section',
          { class: 'card content-bank' },
          h('div', { class: 'card-head' }, h('h1', {}, 'Question bank'), back),
          h('div', { class: 'content-filters' }, this.search, this.tagFilter, this.languageFilter, this.stateFilter),
          h('div', { class: 'confirm-actions' }, newButton, exportButton, importButton, this.importInput),
          this.bankStatus,
          this.listStatus,
          this.list,
        ),
        this.editor,
      ),
    );
  }

  /** Load the bank and show it. */
  async show() {
    await this._load();
  }

  async _load() {
    this.listStatus.hidden = false;
    this.listStatus.textContent = 'Loading…';
    try {
      this.questions = await api.adminQuestions();
    } catch (err) {
      if (this.onApiError(err)) return;
      this.listStatus.textContent = err instanceof ApiError && err.status === 403 ? 'Only admins manage the question bank.' : `Couldn't load the bank: ${err.message}`;
      return;
    }
    this._fillFilters();
    this._renderList();
  }

  _fillFilters() {
    const refill = (select, label, values) => {
      const kept = select.value;
      clear(select).append(h('option', { value: '' }, label), ...[...values].sort().map((v) => h('option', { value: v }, v)));
      select.value = values.has(kept) ? kept : '';
    };
    refill(this.tagFilter, 'Any tag', new Set(this.questions.flatMap((q) => q.tags || [])));
    refill(this.languageFilter, 'Any language', new Set(this.questions.map((q) => q.language)));
  }

  _renderList() {
    const text = this.search.value.trim().toLowerCase();
    const tag = this.tagFilter.value;
    const language = this.languageFilter.value;
    const state = this.stateFilter.value;
    const shown = this.questions.filter(
      (q) =>
        (!text || q.title.toLowerCase().includes(text) || q.id.includes(text)) &&
        (!tag || (q.tags || []).includes(tag)) &&
        (!language || q.language === language) &&
        (!state || q.state === state),
    );
    this.listStatus.hidden = shown.length > 0;
    this.listStatus.textContent = this.questions.length ? 'No question matches these filters.' : 'The bank is empty.';
    clear(this.list).append(
      ...shown.map((q) => {
        const button = h(
          'button',
          { type: 'button', class: 'question-item', 'data-testid': 'content-item', dataset: { id: q.id }, 'aria-current': q.id === this.selected ? 'true' : null },
          h('span', { class: 'qi-title' }, q.title),
          h(
            'span',
            { class: 'qi-meta' },
            h('span', { class: `badge state-${q.state}`, 'data-testid': 'content-item-state' }, q.state),
            difficultyBadge(q.difficulty),
            h('span', { class: 'badge lang' }, q.language),
            h('span', { class: 'muted' }, `${q.id} · v${q.published ?? '–'} published · ${q.versions.length} version${q.versions.length === 1 ? '' : 's'}`),
            tagList(q.tags),
          ),
        );
        button.addEventListener('click', () => this.open(q.id));
        return h('li', {}, button);
      }),
    );
  }

  /** Show one question's versions, with its newest version in the editor. */
  async open(id, version = null) {
    this.selected = id;
    this._renderList();
    try {
      this.detail = await api.adminQuestion(id);
    } catch (err) {
      if (this.onApiError(err)) return;
      this._bank(`Couldn't load ${id}: ${err.message}`, true);
      return;
    }
    const versions = this.detail.versions;
    const shown = versions.find((v) => v.version === version) || versions[versions.length - 1];
    this.editor.hidden = false;
    this.heading.textContent = `${this.detail.title} (${id})`;
    this.save.textContent = 'Save as a new draft';
    this._renderVersions(shown.version);
    this._edit(shown.question);
  }

  _renderVersions(current) {
    clear(this.versions).append(
      ...this.detail.versions.map((v) => {
        const load = h('button', { type: 'button', class: 'link', 'data-testid': 'content-version-load' }, v.version === current ? 'in the editor' : 'edit from this');
        load.disabled = v.version === current;
        load.addEventListener('click', () => this.open(this.detail.id, v.version));
        const actions = [];
        if (v.state !== 'published') {
          const publish = h('button', { type: 'button', class: 'secondary', 'data-testid': 'content-publish' }, 'Publish');
          publish.addEventListener('click', () => this._move(v.version, 'publish'));
          actions.push(publish);
        }
        if (v.state === 'published') {
          const retire = h('button', { type: 'button', class: 'danger-outline', 'data-testid': 'content-retire' }, 'Retire');
          retire.addEventListener('click', () => this._move(v.version, 'retire'));
          actions.push(retire);
        }
        return h(
          'li',
          { class: 'content-version', 'data-testid': 'content-version', dataset: { version: String(v.version), state: v.state } },
          h('strong', {}, `v${v.version}`),
          h('span', { class: `badge state-${v.state}` }, v.state),
          h('span', { class: 'muted' }, `${v.title} · ${formatWhen(v.changed_at)}`),
          load,
          ...actions,
        );
      }),
    );
  }

  _startNew() {
    this.selected = '';
    this.detail = null;
    this._renderList();
    this.editor.hidden = false;
    this.heading.textContent = 'New question';
    this.save.textContent = 'Create as a draft';
    clear(this.versions);
    this._edit(blankQuestion());
  }

  _edit(question) {
    const { version, ...body } = question; // the server numbers versions
    this.json.value = JSON.stringify(body, null, 2);
    this.errors.hidden = true;
    this.saveStatus.hidden = true;
    this._preview();
  }

  /** The editor's JSON, or null with the parse error shown. */
  _parsed() {
    try {
      const value = JSON.parse(this.json.value);
      if (!value || typeof value !== 'object' || Array.isArray(value)) throw new Error('a question is a JSON object');
      return value;
    } catch (err) {
      this._error(`Not valid JSON: ${err.message}`);
      return null;
    }
  }

  _preview() {
    let value = null;
    try {
      value = JSON.parse(this.json.value);
    } catch {
      return; // keep the last good preview while typing
    }
    if (value && typeof value === 'object') {
      this.errors.hidden = true;
      renderStatement(this.previewPane, value);
    }
  }

  _error(message) {
    this.errors.textContent = message;
    this.errors.hidden = false;
    this.saveStatus.hidden = true;
  }

  async _save() {
    const body = this._parsed();
    if (!body) return;
    this.save.disabled = true;
    try {
      const creating = !this.detail;
      const saved = creating ? await api.createQuestion(body) : await api.editQuestion(this.detail.id, body);
      await this._load();
      await this.open(saved.id, saved.version);
      this.saveStatus.textContent = `Saved as version ${saved.version} (a draft: publish it to offer it).`;
      this.saveStatus.hidden = false;
    } catch (err) {
      if (this.onApiError(err)) return;
      this._error(err.field ? `${err.field}: ${err.message}` : err.message);
    } finally {
      this.save.disabled = false;
    }
  }

  async _move(version, how) {
    const id = this.detail.id;
    try {
      await (how === 'publish' ? api.publishQuestion(id, version) : api.retireQuestion(id, version));
      this._bank(how === 'publish' ? `${id} v${version} is published: new sessions get it.` : `${id} v${version} is retired: no new sessions get it.`);
      await this._load();
      await this.open(id, version);
    } catch (err) {
      if (this.onApiError(err)) return;
      this._bank(`Couldn't ${how} ${id} v${version}: ${err.message}`, true);
    }
  }

  _bank(message, failed = false) {
    this.bankStatus.textContent = message;
    this.bankStatus.classList.toggle('error', failed);
  }

  async _export() {
    try {
      const bundle = await api.exportContent();
      const url = URL.createObjectURL(new Blob([JSON.stringify(bundle, null, 2)], { type: 'application/json' }));
      const a = h('a', { href: url, download: `wingman-content-${new Date().toISOString().slice(0, 10)}.json`, hidden: true });
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 60_000);
      this._bank(`Exported ${bundle.questions.length} question versions.`);
    } catch (err) {
      if (this.onApiError(err)) return;
      this._bank(`Couldn't export: ${err.message}`, true);
    }
  }

  async _import() {
    const file = this.importInput.files?.[0];
    this.importInput.value = '';
    if (!file) return;
    let bundle;
    try {
      bundle = JSON.parse(await file.text());
    } catch (err) {
      this._bank(`${file.name} is not JSON: ${err.message}`, true);
      return;
    }
    try {
      const done = await api.importContent(bundle);
      this._bank(`Imported ${file.name}: ${done.added} new versions, ${done.unchanged} unchanged, ${done.states_changed} changed state.`);
      await this._load();
    } catch (err) {
      if (this.onApiError(err)) return;
      this._bank(`Couldn't import ${file.name}: ${err.message}`, true);
    }
  }
}
