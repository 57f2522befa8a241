// WebSocket client for the wingman.v1 protocol.
//
// Responsibilities:
//  - connect, send {"type":"auth"} first, then report "connected";
//  - request(type, fields) → Promise matched to its reply by `ref`, 15 s timeout;
//  - requests made while (re)connecting are queued and sent once ready;
//  - reconnect with exponential backoff + jitter, except after a normal close
//    (1000) or "forbidden" (4403);
//  - on "not authenticated" (4401: the token expired or was revoked) try one
//    refresh, and reconnect with the new token if it worked; otherwise the app's
//    onAuthFailed sends the learner to the login form;
//  - renew(token) hands the open connection a fresh access token (another
//    `auth` frame) before the old one expires;
//  - after re-auth, run the app's onReady hook (it re-joins the session and
//    must finish before queued requests go out, so they land in the session);
//  - requests carrying an idempotency key are re-sent, with the same key, when
//    the connection dropped before their reply arrived: the server dedupes them,
//    so a run/ask/hint never happens twice and is never silently lost;
//  - a periodic ping detects half-open connections that never fire `close`.

export const PROTOCOL = 'wingman.v1';
const REQUEST_TIMEOUT_MS = 15_000;
const BACKOFF_MIN_MS = 500;
const BACKOFF_MAX_MS = 10_000;
const PING_INTERVAL_MS = 25_000;

/** A request that failed: the server's error (code, message, extra fields) or a local one. */
export class RequestError extends Error {
  constructor(code, message, details = {}) {
    super(message || code);
    this.name = 'RequestError';
    this.code = code;
    this.details = details; // the whole error object, e.g. {code, message, reason}
  }
}

/** Idempotency key. crypto.randomUUID only exists in secure contexts (https/localhost). */
export function newKey() {
  if (globalThis.crypto?.randomUUID) return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40; // version 4
  b[8] = (b[8] & 0x3f) | 0x80; // RFC 4122 variant
  const hex = Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

export function defaultUrl() {
  return (location.protocol === 'https:' ? 'wss' : 'ws') + '://' + location.host + '/ws';
}

/**
 * Status values passed to onStatus: 'connecting', 'connected', 'reconnecting',
 * 'offline' (stopped: not reconnecting until reconnectNow()).
 */
export class WingmanSocket {
  /**
   * @param {object} o
   * @param {() => Promise<string|null>} o.getToken      a usable access token (refreshed if need be);
   *        null: sign in again; rejects: a passing failure, try again later
   * @param {() => Promise<string|null>} [o.refreshToken] a new token even though ours looks valid
   *        (after a 4401); same contract as getToken
   * @param {() => boolean} [o.canConnect]  whether there is a login to connect with (for reconnectNow)
   * @param {(event: object) => void} o.onEvent        every {"type":"event"} frame
   * @param {(data: object) => void} [o.onNotification] every {"type":"notification"} frame's data
   * @param {(frame: object) => void} [o.onFrame]      every other frame (monitor)
   * @param {(status: string, detail?: object) => void} [o.onStatus]
   * @param {() => Promise<void>} [o.onReady]          after auth, before queued requests flush
   * @param {(err: RequestError) => void} [o.onAuthFailed]  bad token / 4401: go to login
   * @param {(reason: string) => void} [o.onForbidden] 4403
   * @param {string} [o.url]
   */
  constructor({ getToken, refreshToken, canConnect, onEvent, onNotification, onFrame, onStatus, onReady, onAuthFailed, onForbidden, url }) {
    this.getToken = getToken;
    this.refreshToken = refreshToken || getToken;
    this.canConnect = canConnect || (() => true);
    this.onEvent = onEvent;
    this.onNotification = onNotification;
    this.onFrame = onFrame || ((msg) => console.debug('unhandled frame', msg));
    this.onStatus = onStatus || (() => {});
    this.onReady = onReady || (async () => {});
    this.onAuthFailed = onAuthFailed || (() => {});
    this.onForbidden = onForbidden || (() => {});
    this.url = url || defaultUrl();

    this.status = 'offline';
    this.ready = false; // authenticated and onReady done: requests go straight out
    this._ws = null;
    this._gen = 0; // bumps per connection; stale handlers compare and bail out
    this._stopped = true;
    this._attempt = 0;
    this._reconnectTimer = null;
    this._pingTimer = null;
    this._nextRef = 1;
    this._connToken = null; // the token the server holds for this connection
    this._latestToken = null; // the newest token handed to renew()
    this._reauthTried = false; // a 4401 already cost us a refresh; the next one signs out
    this._waitingForToken = false; // a token is on its way; reconnectNow() has nothing to speed up
    /** ref → {ref, type, frame, resolve, reject, timer, retry, early, sent} */
    this._pending = new Map();

    window.addEventListener('online', () => this.reconnectNow());
    document.addEventListener('visibilitychange', () => {
      if (document.visibilityState === 'visible' && this.status === 'reconnecting') this.reconnectNow();
    });
  }

  /** Open the connection (no-op if already running). */
  start() {
    if (!this._stopped) return;
    this._stopped = false;
    this._attempt = 0;
    this._reauthTried = false;
    this._connect();
  }

  /** Close normally and stop reconnecting; pending requests fail with "closed". */
  stop() {
    this._stopped = true;
    this._waitingForToken = false;
    this._connToken = null;
    this._latestToken = null;
    clearTimeout(this._reconnectTimer);
    this._stopPing();
    this.ready = false;
    const ws = this._ws;
    this._ws = null;
    this._gen++;
    if (ws) {
      try {
        ws.close(1000, 'bye');
      } catch {
        /* already closing */
      }
    }
    for (const entry of this._pending.values()) this._fail(entry, 'closed', 'The connection was closed.');
    this._setStatus('offline');
  }

  /** Skip the backoff wait (user clicked "reconnect", or the browser came back online). */
  reconnectNow() {
    if (this._stopped) {
      if (this.canConnect()) this.start();
      return;
    }
    if (this.status === 'reconnecting' && !this._ws && !this._waitingForToken) {
      clearTimeout(this._reconnectTimer);
      this._connect();
    }
  }

  /**
   * Send a request; resolves with reply.data, rejects with RequestError.
   * @param {string} type
   * @param {object} [fields]
   * @param {object} [opts]
   * @param {boolean} [opts.idempotent]  add a `key` and re-send it after a reconnect
   * @param {boolean} [opts.early]       send now even though not "ready" (used by onReady)
   */
  request(type, fields = {}, { idempotent = false, early = false } = {}) {
    return new Promise((resolve, reject) => {
      const ref = this._nextRef++;
      const frame = { type, ref, ...fields };
      if (idempotent && !frame.key) frame.key = newKey();
      const entry = { ref, type, frame, resolve, reject, timer: null, retry: idempotent, early, sent: false };

      if (this._stopped) {
        reject(new RequestError('offline', 'Not connected to the server.'));
        return;
      }
      this._pending.set(ref, entry);
      if (early) {
        if (!this._transmit(entry)) this._fail(entry, 'disconnected', 'The connection dropped.');
        return;
      }
      if (this.ready) this._transmit(entry);
      else this._arm(entry); // queued: it still times out if we never get back online
    });
  }

  /**
   * Give the server a fresh access token for this connection (before the old one
   * expires). A connection still being set up picks the newest token up itself.
   */
  async renew(token) {
    this._latestToken = token;
    if (!this.ready || !token || token === this._connToken) return;
    const gen = this._gen;
    try {
      await this.request('auth', { token });
      if (gen === this._gen) this._connToken = token;
    } catch (err) {
      if (gen !== this._gen || this._stopped) return;
      if (err.code === 'timeout') this._drop('renewal timeout'); // reconnects with the new token
      else if (err.code === 'unauthenticated' || err.code === 'forbidden') {
        // A brand-new token refused: revoked (signed out everywhere) or someone else's.
        this.stop();
        this.onAuthFailed(err);
      }
      // disconnected/closed: the reconnect authenticates with the newest token.
    }
  }

  // --- internals ------------------------------------------------------------

  _setStatus(status, detail) {
    this.status = status;
    this.onStatus(status, detail);
  }

  async _connect() {
    const gen = ++this._gen;
    this.ready = false;
    this._setStatus(this._attempt === 0 ? 'connecting' : 'reconnecting');
    // Get the token before opening: the server allows 10 s for the auth frame.
    let token;
    this._waitingForToken = true;
    try {
      token = await this.getToken();
    } catch (err) {
      if (gen !== this._gen || this._stopped) return;
      console.warn('no access token for now', err);
      this._scheduleReconnect();
      return;
    } finally {
      if (gen === this._gen) this._waitingForToken = false;
    }
    if (gen !== this._gen || this._stopped) return;
    if (!token) {
      this.stop();
      this.onAuthFailed(new RequestError('not_authenticated', 'Please sign in.'));
      return;
    }
    let ws;
    try {
      ws = new WebSocket(this.url, PROTOCOL);
    } catch (err) {
      console.warn('websocket constructor failed', err);
      this._scheduleReconnect();
      return;
    }
    this._ws = ws;
    ws.addEventListener('open', () => gen === this._gen && this._authenticate(gen, token));
    ws.addEventListener('message', (e) => gen === this._gen && this._onMessage(e.data));
    ws.addEventListener('close', (e) => gen === this._gen && this._onClose(e.code, e.reason));
    // 'error' is always followed by 'close'; nothing to do here.
  }

  async _authenticate(gen, token) {
    try {
      await this.request('auth', { token }, { early: true });
    } catch (err) {
      if (gen !== this._gen) return;
      if (err.code === 'timeout') return this._drop('auth timeout');
      if (err.code === 'disconnected' || err.code === 'closed') return; // close handler reconnects
      // The server closes with 4401 right after; the close handler refreshes once.
      if (err.code === 'unauthenticated') return;
      this.stop();
      this.onAuthFailed(err);
      return;
    }
    if (gen !== this._gen) return;
    this._attempt = 0;
    this._reauthTried = false;
    this._connToken = token;
    try {
      await this.onReady();
    } catch (err) {
      console.warn('onReady failed', err);
    }
    if (gen !== this._gen) return;
    this.ready = true;
    this._setStatus('connected');
    // Flush queued (never sent, or to be re-sent) requests in the order they were made.
    const queued = [...this._pending.values()].filter((e) => !e.sent).sort((a, b) => a.ref - b.ref);
    for (const entry of queued) this._transmit(entry);
    this._startPing(gen);
    // A token refreshed while this connection was being set up.
    if (this._latestToken && this._latestToken !== token) this.renew(this._latestToken);
  }

  /** Send an entry; returns false if the socket isn't open. */
  _transmit(entry) {
    const ws = this._ws;
    if (!ws || ws.readyState !== WebSocket.OPEN) return false;
    try {
      ws.send(JSON.stringify(entry.frame));
    } catch (err) {
      console.warn('send failed', err);
      return false;
    }
    entry.sent = true;
    this._arm(entry);
    return true;
  }

  /** (Re)start the 15 s timeout of an entry. */
  _arm(entry) {
    clearTimeout(entry.timer);
    entry.timer = setTimeout(() => {
      if (this._pending.get(entry.ref) !== entry) return;
      this._fail(entry, 'timeout', 'The server did not answer in time.');
    }, REQUEST_TIMEOUT_MS);
  }

  _fail(entry, code, message) {
    clearTimeout(entry.timer);
    this._pending.delete(entry.ref);
    entry.reject(new RequestError(code, message));
  }

  _onMessage(text) {
    let msg;
    try {
      msg = JSON.parse(text);
    } catch {
      console.warn('non-JSON frame ignored');
      return;
    }
    if (!msg || typeof msg !== 'object') return;
    if (msg.type === 'reply') {
      const entry = this._pending.get(msg.ref);
      if (!entry) return; // timed out already, or a duplicate
      clearTimeout(entry.timer);
      this._pending.delete(msg.ref);
      if (msg.ok) entry.resolve(msg.data ?? {});
      else {
        const e = msg.error || {};
        entry.reject(new RequestError(e.code || 'error', e.message || 'Request failed.', e));
      }
    } else if (msg.type === 'event') {
      try {
        this.onEvent(msg);
      } catch (err) {
        console.error('event handler failed', err, msg);
      }
    } else if (msg.type === 'notification') {
      try {
        this.onNotification?.(msg.data || {});
      } catch (err) {
        console.error('notification handler failed', err, msg);
      }
    } else {
      try {
        this.onFrame(msg);
      } catch (err) {
        console.error('frame handler failed', err, msg);
      }
    }
  }

  _onClose(code, reason) {
    this._ws = null;
    this.ready = false;
    this._stopPing();
    // Replies for in-flight requests will never come on this connection.
    for (const entry of [...this._pending.values()]) {
      if (!entry.sent) continue; // still queued: goes out after reconnect
      if (entry.retry && code !== 1009) {
        // Same frame, same key after reconnect; the server dedupes by key.
        entry.sent = false;
        this._arm(entry);
      } else if (code === 1009) {
        this._fail(entry, 'too_large', 'That message was too large for the server.');
      } else {
        this._fail(entry, 'disconnected', 'The connection dropped before the server answered.');
      }
    }
    if (this._stopped) return;
    if (code === 4401) {
      this._reauth(reason);
      return;
    }
    if (code === 4403) {
      this.stop();
      this.onForbidden(reason || 'forbidden');
      return;
    }
    if (code === 1000) {
      // The server ended the connection on purpose; don't hammer it.
      this.stop();
      return;
    }
    this._scheduleReconnect();
  }

  /** Abandon a connection that looks dead (no 'close' event may ever come) and reconnect. */
  _drop(why) {
    const ws = this._ws;
    this._gen++; // ignore anything the old socket still emits
    if (ws) {
      try {
        ws.close(4000, why);
      } catch {
        /* ignore */
      }
    }
    this._onClose(4000, why);
  }

  /** After a 4401: one refresh, then reconnect; a second 4401 before success signs out. */
  async _reauth(reason) {
    const failed = () => {
      this.stop();
      this.onAuthFailed(new RequestError('not_authenticated', reason || 'Your login has expired.', { reason }));
    };
    if (this._reauthTried) return failed();
    this._reauthTried = true;
    const gen = ++this._gen;
    this._setStatus('reconnecting');
    let token;
    this._waitingForToken = true;
    try {
      token = await this.refreshToken();
    } catch (err) {
      // Could not ask (offline, server down): keep trying; _connect refreshes as needed.
      if (gen !== this._gen || this._stopped) return;
      console.warn('refresh after 4401 failed; retrying', err);
      this._reauthTried = false;
      this._scheduleReconnect();
      return;
    } finally {
      if (gen === this._gen) this._waitingForToken = false;
    }
    if (gen !== this._gen || this._stopped) return;
    if (!token) return failed();
    this._connect();
  }

  _scheduleReconnect() {
    clearTimeout(this._reconnectTimer);
    // Exponential backoff with "equal jitter": half fixed, half random, so a
    // server restart doesn't get every client back in the same millisecond.
    const ceiling = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** this._attempt);
    const delay = Math.max(BACKOFF_MIN_MS / 2, ceiling / 2 + Math.random() * (ceiling / 2));
    this._attempt++;
    this._setStatus('reconnecting', { delay });
    this._reconnectTimer = setTimeout(() => {
      if (!this._stopped) this._connect();
    }, delay);
  }

  _startPing(gen) {
    this._stopPing();
    this._pingTimer = setInterval(() => {
      if (!this.ready || gen !== this._gen) return;
      this.request('ping').catch((err) => {
        if (err.code === 'timeout' && gen === this._gen) this._drop('ping timeout');
      });
    }, PING_INTERVAL_MS);
  }

  _stopPing() {
    clearInterval(this._pingTimer);
    this._pingTimer = null;
  }
}
