// The "Your data" panel (header menu): consent to keep learning data, a copy of
// everything kept, and deleting the account. Each step that loses data is confirmed
// in the panel itself first.

import { api, updateStoredUser } from './api.js';
import { $ } from './dom.js';

const CONSENT_ON = 'Your session traces (code history, runs, tutor conversations) are kept so you can review them.';
const CONSENT_OFF = 'Your session traces are not kept: they are deleted when a session ends.';

function plural(n, one, many) {
  return `${n} ${n === 1 ? one : many}`;
}

/** "some message" → "Some message." (the server's messages are lower-case fragments). */
export function sentence(text) {
  const s = String(text || '').trim();
  if (!s) return s;
  const first = s[0].toUpperCase() + s.slice(1);
  return /[.!?]$/.test(first) ? first : `${first}.`;
}

export class AccountPanel {
  /**
   * @param {object} o
   * @param {(err: Error) => boolean} o.onApiError  true when it handled the error (e.g. signed out)
   * @param {() => Promise<void>} o.beforeDelete    stop what would take the account's closing socket for an expiry
   * @param {(ok: boolean) => void} o.afterDelete   the deletion worked (sign out here) or did not (resume)
   */
  constructor({ onApiError, beforeDelete, afterDelete }) {
    this.onApiError = onApiError;
    this.beforeDelete = beforeDelete;
    this.afterDelete = afterDelete;
    this.el = $('#account-panel');
    this.returnFocus = null;
    this.consent = null;

    $('#account-panel-close').addEventListener('click', () => this.close(true));
    this.el.addEventListener('keydown', (e) => {
      if (e.key === 'Escape') {
        e.preventDefault();
        this.close(true);
      }
    });

    const toggle = $('#consent-toggle');
    toggle.addEventListener('change', () => {
      if (toggle.checked) {
        this._hideConsentConfirm();
        this._setConsent(true);
      } else {
        // Nothing is erased before the learner says so below.
        toggle.checked = true;
        this._status('');
        $('#consent-confirm-box').hidden = false;
        $('#consent-confirm').focus();
      }
    });
    $('#consent-confirm').addEventListener('click', () => this._setConsent(false));
    $('#consent-cancel').addEventListener('click', () => {
      this._hideConsentConfirm();
      toggle.focus();
    });

    $('#export-data').addEventListener('click', () => this._export());

    $('#delete-account').addEventListener('click', () => {
      $('#delete-confirm-box').hidden = false;
      $('#delete-confirm-text').value = '';
      $('#delete-confirm').disabled = true;
      $('#delete-confirm-text').focus();
    });
    $('#delete-confirm-text').addEventListener('input', () => {
      $('#delete-confirm').disabled = $('#delete-confirm-text').value.trim() !== 'DELETE';
    });
    $('#delete-confirm-text').addEventListener('keydown', (e) => {
      if (e.key === 'Enter' && !$('#delete-confirm').disabled) {
        e.preventDefault();
        this._delete();
      }
    });
    $('#delete-confirm').addEventListener('click', () => this._delete());
    $('#delete-cancel').addEventListener('click', () => {
      this._hideDeleteConfirm();
      $('#delete-account').focus();
    });
  }

  get isOpen() {
    return !this.el.hidden;
  }

  async open(returnFocus = null) {
    this.returnFocus = returnFocus;
    this._hideConsentConfirm();
    this._hideDeleteConfirm();
    this._status('');
    $('#account-who').textContent = '';
    $('#consent-state').textContent = 'Loading…';
    $('#consent-toggle').disabled = true;
    this.el.hidden = false;
    this.el.focus();
    try {
      this._show(await api.me());
    } catch (err) {
      if (this.onApiError(err)) return;
      $('#consent-state').textContent = '';
      this._status(`Couldn't load your account: ${err.message}`, true);
    }
  }

  close(restoreFocus = false) {
    if (this.el.hidden) return;
    this.el.hidden = true;
    if (restoreFocus) this.returnFocus?.focus();
  }

  _show(account) {
    if (!account) return;
    $('#account-who').textContent = account.email ? `${account.name || 'Signed in'} · ${account.email}` : account.name || '';
    this.consent = !!account.consent;
    const toggle = $('#consent-toggle');
    toggle.checked = this.consent;
    toggle.disabled = false;
    $('#consent-state').textContent = this.consent ? CONSENT_ON : CONSENT_OFF;
    updateStoredUser({ consent: this.consent });
  }

  _status(text, error = false) {
    const el = $('#account-status');
    el.textContent = text;
    el.classList.toggle('error', error);
  }

  _hideConsentConfirm() {
    $('#consent-confirm-box').hidden = true;
  }

  _hideDeleteConfirm() {
    $('#delete-confirm-box').hidden = true;
    $('#delete-confirm-text').value = '';
    $('#delete-confirm').disabled = true;
  }

  async _setConsent(consent) {
    const toggle = $('#consent-toggle');
    toggle.disabled = true;
    $('#consent-confirm').disabled = true;
    this._status('');
    try {
      const answer = await api.setConsent(consent);
      this._hideConsentConfirm();
      this._show(answer);
      if (answer?.erased) {
        const { sessions = 0, events = 0 } = answer.erased;
        this._status(`Done: erased ${plural(sessions, 'session', 'sessions')} and ${plural(events, 'event', 'events')}. New sessions won't be kept.`);
      } else if (consent) {
        this._status('Your learning data will be kept from now on.');
      }
      toggle.focus();
    } catch (err) {
      if (this.onApiError(err)) return;
      toggle.checked = this.consent ?? !consent;
      this._status(`Couldn't change that: ${err.message}`, true);
    } finally {
      toggle.disabled = false;
      $('#consent-confirm').disabled = false;
    }
  }

  async _export() {
    const button = $('#export-data');
    button.disabled = true;
    this._status('Preparing your file…');
    try {
      const data = await api.exportData();
      const blob = new Blob([JSON.stringify(data, null, 2)], { type: 'application/json' });
      const url = URL.createObjectURL(blob);
      const day = new Date().toISOString().slice(0, 10);
      const a = document.createElement('a');
      a.href = url;
      a.download = `socraticwingman-data-${day}.json`;
      a.hidden = true;
      document.body.append(a);
      a.click();
      a.remove();
      // The download has its own copy by now; give slow browsers a moment anyway.
      setTimeout(() => URL.revokeObjectURL(url), 60_000);
      this._status('Your data was downloaded.');
    } catch (err) {
      if (this.onApiError(err)) return;
      this._status(`Couldn't download your data: ${err.message}`, true);
    } finally {
      button.disabled = false;
    }
  }

  async _delete() {
    const button = $('#delete-confirm');
    if (button.disabled || $('#delete-confirm-text').value.trim() !== 'DELETE') return;
    button.disabled = true;
    this._status('Deleting your account…');
    await this.beforeDelete();
    try {
      await api.deleteAccount();
    } catch (err) {
      button.disabled = false;
      if (this.onApiError(err)) return; // signed out already
      this._status(`Couldn't delete your account: ${err.message}`, true);
      this.afterDelete(false);
      return;
    }
    this._hideDeleteConfirm();
    this._status('');
    this.close();
    this.afterDelete(true);
  }
}
