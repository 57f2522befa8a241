// Keeps the access token fresh while the learner is signed in.
//
// Access tokens live minutes (15 by default). About 60 s before the stored one
// expires (half its lifetime for very short-lived ones) the keeper refreshes it
// through the refresh cookie; the app hears about every new token via
// onRefreshed() in api.js and hands it to the socket. Timers are unreliable in
// background tabs and across sleep, so the keeper also checks when the page
// becomes visible again or the browser comes back online.
//
// A refusal (the cookie is missing, expired, revoked or reused) ends the login:
// onLost is called. Anything else (no network, a timeout, a 5xx) is retried with
// a growing delay; if the token runs out meanwhile, the socket's own 4401
// handling takes over.

import { refreshAuth, peekAuth, isAuthRefusal, onRefreshed } from './api.js';

const LEAD_MS = 60_000;
const MIN_DELAY_MS = 1_000;
const RETRY_MS = [2_000, 5_000, 10_000, 20_000, 30_000];

export class TokenKeeper {
  /**
   * @param {object} o
   * @param {(err: Error) => void} o.onLost   the refresh was refused: sign in again
   */
  constructor({ onLost }) {
    this.onLost = onLost;
    this.running = false;
    this._timer = null;
    this._failures = 0;
    this._busy = false;

    // Any refresh, whoever made it, moves the next one.
    onRefreshed(() => {
      this._failures = 0;
      if (this.running) this._schedule();
    });
    const check = () => this.running && this._isDue() && this.refreshNow();
    document.addEventListener('visibilitychange', () => document.visibilityState === 'visible' && check());
    window.addEventListener('online', check);
    window.addEventListener('pageshow', check);
  }

  start() {
    this.running = true;
    this._failures = 0;
    this._schedule();
  }

  stop() {
    this.running = false;
    clearTimeout(this._timer);
    this._timer = null;
  }

  /** Milliseconds until the stored token should be refreshed (≤ 0: now). */
  dueIn() {
    const stored = peekAuth();
    if (!stored || !Number.isFinite(stored.expires)) return stored ? Infinity : 0;
    const left = stored.expires - Date.now();
    const lifetime = Math.max(0, stored.expires - stored.received);
    return left - Math.min(LEAD_MS, lifetime / 2);
  }

  _isDue() {
    return this.dueIn() <= MIN_DELAY_MS;
  }

  _schedule(delay = this.dueIn()) {
    clearTimeout(this._timer);
    if (!this.running || delay === Infinity) return;
    // setTimeout overflows past ~24.8 days; a long wait is simply re-checked.
    this._timer = setTimeout(() => this.refreshNow(), Math.min(Math.max(delay, MIN_DELAY_MS), 2 ** 30));
  }

  /** Refresh now (joins a refresh already in flight); reschedules itself either way. */
  async refreshNow() {
    if (!this.running || this._busy) return;
    this._busy = true;
    clearTimeout(this._timer);
    try {
      await refreshAuth(); // onRefreshed reschedules
    } catch (err) {
      if (!this.running) return;
      if (isAuthRefusal(err)) {
        this.stop();
        this.onLost(err);
        return;
      }
      console.warn('token refresh failed; retrying', err);
      const wait = RETRY_MS[Math.min(this._failures, RETRY_MS.length - 1)];
      this._failures++;
      this._schedule(wait * (0.75 + Math.random() * 0.5));
    } finally {
      this._busy = false;
    }
  }
}
