// Onboarding for a new learner: their goal, experience and target date, their preferences, then
// the adaptive diagnostic (about ten questions), ending on the progress page.

import { api, ApiError } from './api.js';
import { h, clear } from './dom.js';
import { difficultyBadge, tagList } from './question.js';
import { preferenceFields } from './preferences.js';

const EXPERIENCE = [
  ['beginner', 'New to coding interviews', 'I know a language, but data structures and algorithms are new.'],
  ['intermediate', 'Some practice', 'I have solved a few interview questions before.'],
  ['advanced', 'Experienced', 'I have done many; I want to stay sharp.'],
];

const OUTCOMES = [
  ['solved', 'I solved it', 'primary'],
  ['partly', 'I got part of it', 'secondary'],
  ['unsolved', 'I could not solve it', 'secondary'],
  ['skipped', 'Skip this one', 'ghost'],
];

export class Onboarding {
  /**
   * @param {object} o
   * @param {HTMLElement} o.root                 the view to draw in
   * @param {(qid: string, button?: HTMLElement) => void} o.startQuestion
   * @param {(err: unknown) => boolean} o.onApiError  true when it handled the error (a 401)
   * @param {() => void} o.done                   onboarding is over: show the progress page
   */
  constructor({ root, startQuestion, onApiError, done }) {
    this.root = root;
    this.startQuestion = startQuestion;
    this.onApiError = onApiError;
    this.done = done;
    this.profile = null;
  }

  /** Start, or go on from where the learner left it (the diagnostic resumes on the server). */
  async show() {
    this._frame('Getting to know you', h('p', { class: 'muted' }, 'Loading…'));
    try {
      this.profile = await api.profile();
    } catch (err) {
      if (!this.onApiError(err)) this._error(`Couldn't load your profile: ${err.message}`);
      return;
    }
    if (this.profile.onboarded) return this.done();
    // Coming back (from a session opened in the diagnostic, say): the diagnostic resumes.
    if (!this.profile.experience) this._about();
    else this._diagnostic();
  }

  _frame(title, ...body) {
    const step = h('p', { class: 'muted step', 'data-testid': 'onboarding-step' });
    clear(this.root).append(h('section', { class: 'card onboarding-card', 'data-testid': 'onboarding' }, h('h1', {}, title), step, ...body));
    return step;
  }

  _error(message) {
    const box = this.root.querySelector('[data-testid="onboarding-error"]');
    if (box) {
      box.textContent = message;
      box.hidden = !message;
    } else {
      this.root.append(h('p', { class: 'form-error', role: 'alert', 'data-testid': 'onboarding-error' }, message));
    }
  }

  async _save(changes, button) {
    button.disabled = true;
    this._error('');
    try {
      this.profile = await api.saveProfile(changes);
      return true;
    } catch (err) {
      if (!this.onApiError(err)) this._error(err.message);
      return false;
    } finally {
      button.disabled = false;
    }
  }

  _about() {
    const p = this.profile;
    const goal = h('input', { type: 'text', id: 'onboarding-goal', maxlength: 300, value: p.goal || '', placeholder: 'e.g. pass the coding interviews for a backend job', 'data-testid': 'onboarding-goal' });
    const choices = EXPERIENCE.map(([value, title, help]) =>
      h(
        'label',
        { class: 'choice' },
        h('input', { type: 'radio', name: 'experience', value, checked: p.experience === value, 'data-testid': `experience-${value}` }),
        h('span', { class: 'choice-text' }, h('strong', {}, title), h('span', { class: 'muted' }, help)),
      ),
    );
    const target = h('input', { type: 'date', id: 'onboarding-target', value: p.target_date || '', 'data-testid': 'onboarding-target' });
    const next = h('button', { type: 'submit', class: 'primary', 'data-testid': 'onboarding-next' }, 'Next');
    const form = h(
      'form',
      { novalidate: true },
      h('div', { class: 'field' }, h('label', { for: 'onboarding-goal' }, 'What is your goal?'), goal),
      h('fieldset', { class: 'field' }, h('legend', {}, 'How much practice have you had?'), choices),
      h('div', { class: 'field' }, h('label', { for: 'onboarding-target' }, 'By when? (optional)'), target),
      h('p', { class: 'form-error', role: 'alert', 'data-testid': 'onboarding-error', hidden: true }),
      h('div', { class: 'actions' }, next),
    );
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      const experience = form.querySelector('input[name="experience"]:checked')?.value;
      if (!experience) return this._error('Please choose how much practice you have had.');
      if (await this._save({ goal: goal.value.trim(), experience, target_date: target.value || null }, next)) this._preferences();
    });
    this._frame('Welcome! What brings you here?', form).textContent = 'Step 1 of 3: your goal';
    goal.focus();
  }

  _preferences() {
    const fields = preferenceFields(this.profile);
    const next = h('button', { type: 'submit', class: 'primary', 'data-testid': 'onboarding-next' }, 'Next: the diagnostic');
    const back = h('button', { type: 'button', class: 'ghost', onclick: () => this._about() }, 'Back');
    const form = h('form', { novalidate: true }, fields.element, h('p', { class: 'form-error', role: 'alert', 'data-testid': 'onboarding-error', hidden: true }), h('div', { class: 'actions' }, back, next));
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      if (await this._save(fields.read(), next)) this._diagnostic();
    });
    this._frame('How do you want to practise?', form).textContent = 'Step 2 of 3: your preferences';
  }

  async _diagnostic() {
    const step = this._frame('A short diagnostic', h('p', { class: 'muted' }, 'Finding a first question…'));
    step.textContent = 'Step 3 of 3: about ten questions, to find where to start';
    let state;
    try {
      state = await api.startDiagnostic(this.profile.languages || []);
    } catch (err) {
      if (this.onApiError(err)) return;
      if (err instanceof ApiError && (err.status === 404 || err.status === 405)) return this._noDiagnostic();
      this._error(`Couldn't start the diagnostic: ${err.message}`);
      return;
    }
    this._showQuestion(state);
  }

  _noDiagnostic() {
    const go = h('button', { type: 'button', class: 'primary', 'data-testid': 'onboarding-finish' }, 'Go to my progress');
    go.addEventListener('click', () => this._finish(go));
    this._frame('A short diagnostic', h('p', {}, 'This server does not offer the diagnostic, so your mastery starts empty and fills in as you solve questions.'), h('div', { class: 'actions' }, go));
  }

  _showQuestion(state) {
    if (!state || state.finished || !state.question) return this._finished(state);
    const q = state.question;
    const asked = Number(state.asked) || 0;
    const length = Number(state.length) || 0;
    const meter = h('progress', { max: Math.max(1, length), value: Math.min(asked, length), 'aria-label': 'Diagnostic progress' });
    const open = h('button', { type: 'button', class: 'secondary', 'data-testid': 'diagnostic-open' }, 'Open it in a session');
    open.addEventListener('click', () => this.startQuestion(q.id, open));
    const buttons = OUTCOMES.map(([outcome, label, kind]) => {
      const b = h('button', { type: 'button', class: kind, 'data-testid': `diagnostic-${outcome}` }, label);
      b.addEventListener('click', () => this._answer(q.id, outcome, buttons));
      return b;
    });
    const card = h(
      'div',
      { class: 'diagnostic-question', 'data-testid': 'diagnostic-question', dataset: { id: String(q.id) } },
      h('h2', {}, q.title || q.id),
      h('p', { class: 'qi-meta' }, difficultyBadge(q.difficulty), q.language ? h('span', { class: 'badge lang' }, q.language) : null, tagList(q.tags)),
      state.why ? h('p', { class: 'muted', 'data-testid': 'diagnostic-why' }, state.why) : null,
      h('p', {}, 'Solve it in a session if you like, then tell us how it went. Honest answers give you a better starting point.'),
      h('div', { class: 'actions' }, open),
      h('div', { class: 'actions outcomes' }, buttons),
    );
    const step = this._frame('A short diagnostic', h('p', { class: 'diagnostic-count', 'data-testid': 'diagnostic-count' }, `Question ${asked + 1} of about ${length}`, meter), card, h('p', { class: 'form-error', role: 'alert', 'data-testid': 'onboarding-error', hidden: true }));
    step.textContent = 'Step 3 of 3: the diagnostic';
  }

  async _answer(questionId, outcome, buttons) {
    for (const b of buttons) b.disabled = true;
    try {
      this._showQuestion(await api.answerDiagnostic(questionId, outcome));
    } catch (err) {
      for (const b of buttons) b.disabled = false;
      if (!this.onApiError(err)) this._error(`Couldn't record that answer: ${err.message}`);
    }
  }

  _finished(state) {
    const go = h('button', { type: 'button', class: 'primary', 'data-testid': 'onboarding-finish' }, 'See my progress');
    go.addEventListener('click', () => this._finish(go));
    const why = state?.why ? h('p', { class: 'muted' }, state.why) : null;
    this._frame('Diagnostic done', h('p', { 'data-testid': 'diagnostic-done' }, 'Thank you! Your mastery by tag is filled in, and your first recommended question is ready.'), why, h('p', { class: 'form-error', role: 'alert', 'data-testid': 'onboarding-error', hidden: true }), h('div', { class: 'actions' }, go));
    go.focus();
  }

  async _finish(button) {
    if (await this._save({ onboarded: true }, button)) this.done();
  }
}
