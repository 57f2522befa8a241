// The learner's progress page: the recommended next question and why, mastery by tag as a chart
// with its uncertainty, due reviews, the streak, past sessions with their replay, notifications
// and preferences. Without consent nothing of it is kept, and the page says what that costs.

import { api, ApiError } from './api.js';
import { h, clear } from './dom.js';
import { masteryChart } from './chart.js';
import { formatWhen } from './format.js';
import { preferenceFields } from './preferences.js';

export class ProgressPage {
  /**
   * @param {object} o
   * @param {HTMLElement} o.root
   * @param {(qid: string, button?: HTMLElement) => void} o.startQuestion
   * @param {(err: unknown) => boolean} o.onApiError  true when it handled the error (a 401)
   * @param {() => void} o.openAccount   the "Your data" panel, where consent is given
   * @param {() => void} o.onboard       go (back) to onboarding
   * @param {(unread: number) => void} o.onUnread
   */
  constructor({ root, startQuestion, onApiError, openAccount, onboard, onUnread }) {
    Object.assign(this, { root, startQuestion, onApiError, openAccount, onboard, onUnread });
    this.shown = false;
  }

  async show() {
    this.shown = true;
    clear(this.root).append(h('p', { class: 'muted' }, 'Loading your progress…'));
    const profile = await settled(api.profile());
    if (profile.status === 'rejected' && this.onApiError(profile.reason)) return;
    const me = profile.status === 'fulfilled' ? profile.value || {} : {};
    const [progress, next, notes] = await Promise.allSettled([api.progress(me.time_zone || 'UTC'), api.nextQuestion(me.languages || []), api.notifications()]);
    if (!this.shown) return;
    for (const r of [progress, next, notes]) if (r.status === 'rejected' && this.onApiError(r.reason)) return;
    const head = h('div', { class: 'progress-head' }, h('h1', {}, 'Your progress'));
    const grid = h('div', { class: 'progress-grid' });
    clear(this.root).append(head, grid);
    if (progress.status === 'fulfilled') {
      const p = progress.value || {};
      if (p.consent === false) grid.append(this._noConsent());
      else head.append(h('span', { class: 'streak', 'data-testid': 'streak' }, `${Number(p.streak) || 0}-day streak`));
    }
    if (profile.status === 'fulfilled' && profile.value && !profile.value.onboarded) {
      const start = h('button', { type: 'button', class: 'primary', onclick: () => this.onboard() }, 'Set up my learning path');
      grid.append(h('section', { class: 'card welcome-card' }, h('h2', {}, 'Start with a short diagnostic'), h('p', {}, 'Tell us your goal and answer about ten questions: your mastery chart and recommendations start from there.'), start));
    }
    grid.append(this._next(next));
    if (progress.status === 'fulfilled') {
      const p = progress.value || {};
      grid.append(this._reviews(p), this._mastery(p), this._sessions(p));
    } else {
      grid.append(this._unavailable('Mastery, reviews and sessions', progress.reason));
    }
    grid.append(this._notifications(notes));
    if (profile.status === 'fulfilled') grid.append(this._preferences(profile.value));
  }

  hide() {
    this.shown = false;
  }

  /** A notification arrived: redraw their card only (a half-edited form elsewhere stays). */
  async refreshNotifications() {
    const card = this.root.querySelector('#notifications-card');
    if (!this.shown || !card) return;
    const fresh = this._notifications((await Promise.allSettled([api.notifications()]))[0]);
    if (this.shown && card.isConnected) card.replaceWith(fresh);
  }

  _unavailable(what, err) {
    const text = err instanceof ApiError && err.status === 404 ? `${what}: not offered by this server.` : `Couldn't load ${what.toLowerCase()}: ${err?.message || 'unknown error'}`;
    return h('section', { class: 'card' }, h('p', { class: 'muted', role: 'status' }, text));
  }

  _noConsent() {
    const open = h('button', { type: 'button', class: 'link', 'data-testid': 'consent-open', onclick: () => this.openAccount() }, 'Keep my learning data');
    return h(
      'section',
      { class: 'card notice', role: 'note', 'data-testid': 'no-consent' },
      h('h2', {}, 'Your learning data is not kept'),
      h('p', {}, 'You chose not to keep learning data, so this page stays mostly empty: no mastery chart, no reviews scheduled for you, no streak, no past sessions to replay, and recommendations that cannot build on what you have already solved.'),
      h('p', {}, 'To get them, turn on ', open, ' in “Your data”. You can turn it off again at any time, and what was kept is then erased.'),
    );
  }

  _next(result) {
    const card = h('section', { class: 'card next-card', 'data-testid': 'next-question' }, h('h2', {}, 'Recommended next'));
    if (result.status === 'rejected') {
      card.append(h('p', { class: 'muted' }, result.reason instanceof ApiError && result.reason.status === 404 ? 'Nothing to recommend yet.' : `Couldn't load a recommendation: ${result.reason.message}`));
      return card;
    }
    const n = result.value;
    if (!n || !n.question_id) {
      card.append(h('p', { class: 'muted' }, 'Nothing to recommend yet.'));
      return card;
    }
    const start = h('button', { type: 'button', class: 'primary', 'data-testid': 'next-start' }, 'Start');
    start.addEventListener('click', () => this.startQuestion(n.question_id, start));
    card.append(h('p', { class: 'next-title', 'data-testid': 'next-title' }, n.title || n.question_id), h('p', { class: 'muted', 'data-testid': 'next-reason' }, n.reason || ''), start);
    return card;
  }

  _mastery(p) {
    const card = h('section', { class: 'card mastery-card' }, h('h2', {}, 'Mastery by tag'));
    const rows = Array.isArray(p.mastery) ? p.mastery : [];
    if (!rows.length) {
      card.append(h('p', { class: 'muted', 'data-testid': 'mastery-empty' }, p.consent === false ? 'Not kept without consent.' : 'No evidence yet: take the diagnostic or solve a question.'));
      return card;
    }
    card.append(
      h('div', { class: 'chart-wrap' }, masteryChart(rows)),
      h('p', { class: 'help' }, 'The bar is our best estimate; the line across it is the range you are likely in. Fewer sessions on a tag mean a longer line.'),
    );
    return card;
  }

  _reviews(p) {
    const card = h('section', { class: 'card' }, h('h2', {}, 'Due reviews'));
    const due = Array.isArray(p.due) ? p.due : [];
    if (!due.length) {
      card.append(h('p', { class: 'muted', 'data-testid': 'reviews-empty' }, p.consent === false ? 'No reviews are scheduled without consent.' : 'Nothing is due. Well done.'));
      return card;
    }
    card.append(
      h(
        'ul',
        { class: 'plain-list', 'data-testid': 'due-reviews' },
        due.map((r) => {
          const start = h('button', { type: 'button', class: 'secondary', 'data-testid': 'review-start' }, 'Start review');
          start.addEventListener('click', () => this.startQuestion(r.question_id, start, { review: true }));
          return h('li', { class: 'row' }, h('span', {}, h('strong', {}, r.title || r.question_id), h('span', { class: 'muted' }, ` due ${formatWhen(r.due_at)}`)), start);
        }),
      ),
    );
    return card;
  }

  _sessions(p) {
    const card = h('section', { class: 'card' }, h('h2', {}, 'Past sessions'));
    const sessions = Array.isArray(p.sessions) ? p.sessions : [];
    if (!sessions.length) {
      card.append(h('p', { class: 'muted' }, p.consent === false ? 'Sessions are not kept without consent.' : 'No sessions yet.'));
      return card;
    }
    card.append(
      h(
        'ul',
        { class: 'plain-list', 'data-testid': 'past-sessions' },
        sessions.map((s) => {
          const verdict = s.passed === true ? h('span', { class: 'badge ok' }, 'passed') : s.passed === false ? h('span', { class: 'badge ended' }, 'not passed') : null;
          return h(
            'li',
            { class: 'row' },
            h('span', {}, h('strong', {}, s.title || s.question_id), ' ', verdict, h('span', { class: 'muted' }, ` ${formatWhen(s.started_at)}`)),
            h('a', { href: `#/replay/${encodeURIComponent(s.sid)}`, 'data-testid': 'replay-link' }, 'Replay'),
          );
        }),
      ),
    );
    return card;
  }

  _notifications(result) {
    const card = h('section', { class: 'card', id: 'notifications-card' }, h('h2', {}, 'Notifications'));
    if (result.status === 'rejected') {
      card.append(h('p', { class: 'muted' }, `Couldn't load notifications: ${result.reason.message}`));
      return card;
    }
    const list = result.value?.notifications || [];
    this.onUnread(Number(result.value?.unread) || 0);
    if (!list.length) {
      card.append(h('p', { class: 'muted', 'data-testid': 'notifications-empty' }, 'No notifications.'));
      return card;
    }
    const readAll = h('button', { type: 'button', class: 'ghost', 'data-testid': 'notifications-read' }, 'Mark all read');
    readAll.addEventListener('click', async () => {
      readAll.disabled = true;
      try {
        const answer = await api.readNotifications();
        this.onUnread(Number(answer?.unread) || 0);
        for (const li of card.querySelectorAll('li.unread')) li.classList.remove('unread');
      } catch (err) {
        readAll.disabled = false;
        this.onApiError(err);
      }
    });
    card.append(h('ul', { class: 'plain-list', 'data-testid': 'notifications' }, list.map((n) => h('li', { class: n.read_at ? 'notice-item' : 'notice-item unread' }, describe(n), h('span', { class: 'muted' }, ` ${formatWhen(n.created_at)}`)))), readAll);
    return card;
  }

  _preferences(profile) {
    const fields = preferenceFields(profile);
    const save = h('button', { type: 'submit', class: 'secondary', 'data-testid': 'prefs-save' }, 'Save preferences');
    const status = h('p', { class: 'help', role: 'status', 'data-testid': 'prefs-status' });
    const form = h('form', { class: 'card', novalidate: true }, h('h2', {}, 'Preferences'), fields.element, h('div', { class: 'actions' }, save), status);
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      save.disabled = true;
      status.textContent = '';
      try {
        await api.saveProfile(fields.read());
        status.textContent = 'Saved.';
      } catch (err) {
        if (!this.onApiError(err)) status.textContent = err.message;
      } finally {
        save.disabled = false;
      }
    });
    return form;
  }
}

async function settled(promise) {
  return (await Promise.allSettled([promise]))[0];
}

/** A notification as one sentence. */
export function describe(n) {
  const d = n?.data || {};
  if (n?.kind === 'reviews.due') return `${d.due} review${d.due === 1 ? ' is' : 's are'} due today${Array.isArray(d.titles) && d.titles.length ? `: ${d.titles.join(', ')}` : ''}.`;
  if (n?.kind === 'mentor.invite.revoked') return 'An invitation to watch a session was withdrawn.';
  if (n?.kind === 'mentor.invited') return `${d.learner || 'A learner'} invited you to watch their session on “${d.title || 'a question'}”.`;
  return String(n?.kind || 'notification');
}
