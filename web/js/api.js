// HTTP API client and the stored login.
//
// The access token lives in sessionStorage (per tab, gone when the tab closes), as
// the product asks; the current session id is stored next to it so that a page
// reload rejoins the same session. What keeps a learner signed in across reloads
// and new tabs is the refresh token: an httpOnly cookie (Path=/auth) that this
// code never sees. POST /auth/refresh trades it for a new access token and
// rotates it.
//
// Refreshing is single-flight: every caller in a tab shares the one request in
// flight, and tabs take turns through a Web Lock, so two tabs never present the
// same cookie at once (the server would tolerate that for 10 s, but which rotated
// cookie the browser keeps would then depend on which answer arrives last).

const TOKEN_KEY = 'wingman.token';
const EXPIRES_KEY = 'wingman.expires_at'; // the server's expires_at (unix seconds)
const CLOCK_KEY = 'wingman.token_clock'; // {received, expires} in this browser's clock (ms)
const USER_KEY = 'wingman.user';
const SID_KEY = 'wingman.sid';
// localStorage (shared by the tabs, like the cookie): "this browser signed in and has not
// signed out since". The cookie itself is out of our reach (httpOnly); without this hint a
// first visit would ask /auth/refresh for nothing and log a 401 in the console.
const HINT_KEY = 'wingman.maybe_signed_in';
const REFRESH_LOCK = 'wingman.refresh';
const REFRESH_TIMEOUT_MS = 15_000;
// A token is treated as dead this long before it expires, so we don't race the server.
const EARLY_MS = 5_000;

/** An API failure with the server's error code and message (or a synthetic one). */
export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
  }
}

/**
 * True when the server refused (the learner has to sign in again), as opposed to
 * a failure worth retrying: no network, a timeout, 408, 429 or a 5xx.
 */
export function isAuthRefusal(err) {
  return err instanceof ApiError && err.status >= 400 && err.status < 500 && err.status !== 408 && err.status !== 429;
}

// --- clock ---------------------------------------------------------------------
//
// expires_at is in the server's clock. A learner's clock can be minutes off, so
// expiry is kept in this browser's clock, corrected by the skew seen in the HTTP
// Date header (whole seconds, so anything under 3 s is treated as no skew).

let skewMs = 0; // server clock minus ours

function noteServerDate(res) {
  const date = Date.parse(res.headers.get('Date') || '');
  if (Number.isNaN(date)) return;
  const skew = date - Date.now();
  skewMs = Math.abs(skew) < 3000 ? 0 : skew;
}

// --- stored login ---------------------------------------------------------

function storedClock() {
  try {
    const clock = JSON.parse(sessionStorage.getItem(CLOCK_KEY) || 'null');
    if (clock && Number.isFinite(clock.expires) && Number.isFinite(clock.received)) return clock;
  } catch {
    /* fall through */
  }
  const expiresAt = Number(sessionStorage.getItem(EXPIRES_KEY) || 0);
  return expiresAt ? { received: Date.now(), expires: expiresAt * 1000 } : null;
}

/**
 * The stored access token, expired or not: {token, expiresAt, expires, received, user}
 * (expires and received in this browser's clock, ms), or null.
 */
export function peekAuth() {
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (!token) return null;
  const clock = storedClock();
  return {
    token,
    expiresAt: Number(sessionStorage.getItem(EXPIRES_KEY) || 0),
    expires: clock ? clock.expires : Infinity,
    received: clock ? clock.received : Date.now(),
    user: storedUser(),
  };
}

/** The stored login when its access token is still good for a few seconds, else null. */
export function getAuth() {
  const stored = peekAuth();
  if (!stored || stored.expires < Date.now() + EARLY_MS) return null;
  return stored;
}

/** The signed-in user {id, name, roles, consent, email_verified}, kept while the access token is renewed. */
export function storedUser() {
  try {
    return JSON.parse(sessionStorage.getItem(USER_KEY) || 'null');
  } catch {
    return null;
  }
}

/** Whether the browser may hold a refresh cookie worth trying (see HINT_KEY). */
export function mayHaveLogin() {
  try {
    return localStorage.getItem(HINT_KEY) === '1';
  } catch {
    return true; // storage disabled: just try
  }
}

function setHint(on) {
  try {
    if (on) localStorage.setItem(HINT_KEY, '1');
    else localStorage.removeItem(HINT_KEY);
  } catch {
    /* storage disabled */
  }
}

export function saveAuth({ access_token, expires_at, user }) {
  const now = Date.now();
  setHint(true);
  sessionStorage.setItem(TOKEN_KEY, access_token);
  sessionStorage.setItem(EXPIRES_KEY, String(expires_at ?? ''));
  const expires = Number(expires_at) ? Number(expires_at) * 1000 - skewMs : Infinity;
  sessionStorage.setItem(CLOCK_KEY, JSON.stringify({ received: now, expires: Number.isFinite(expires) ? expires : null }));
  sessionStorage.setItem(USER_KEY, JSON.stringify(user ?? null));
}

/** Change fields of the stored user (e.g. consent after PATCH /api/me) until the next refresh. */
export function updateStoredUser(changes) {
  const user = storedUser();
  if (user) sessionStorage.setItem(USER_KEY, JSON.stringify({ ...user, ...changes }));
}

/**
 * About to leave for a sign-in provider: it sends the browser back to / with a refresh
 * cookie, so the next load must try /auth/refresh even if this browser never signed in.
 */
export function expectLogin() {
  setHint(true);
}

/** Forget the login in this tab (after a sign-out or a refused refresh: the cookie is gone too). */
export function clearAuth() {
  setHint(false);
  sessionStorage.removeItem(TOKEN_KEY);
  sessionStorage.removeItem(EXPIRES_KEY);
  sessionStorage.removeItem(CLOCK_KEY);
  sessionStorage.removeItem(USER_KEY);
  sessionStorage.removeItem(SID_KEY);
}

export const storedSid = {
  get: () => sessionStorage.getItem(SID_KEY),
  set: (sid) => sessionStorage.setItem(SID_KEY, sid),
  clear: () => sessionStorage.removeItem(SID_KEY),
};

// --- refreshing -----------------------------------------------------------------

const refreshListeners = new Set();

/**
 * Call fn({auth, previousUser}) after every successful refresh, whoever asked for it
 * (the timer, a request that met a 401, the socket). Returns an unsubscribe function.
 */
export function onRefreshed(fn) {
  refreshListeners.add(fn);
  return () => refreshListeners.delete(fn);
}

let refreshing = null;

/** Run fn holding the cross-tab refresh lock (or just run it where Web Locks don't exist). */
function withRefreshLock(fn) {
  if (!globalThis.navigator?.locks?.request) return fn();
  const opts = typeof AbortSignal.timeout === 'function' ? { signal: AbortSignal.timeout(REFRESH_TIMEOUT_MS * 2) } : {};
  return navigator.locks.request(REFRESH_LOCK, opts, fn).catch((err) => {
    if (err instanceof ApiError) throw err;
    // The lock wait timed out (another tab is stuck): nothing was sent.
    throw new ApiError(0, 'timeout', 'The server took too long to answer. Please try again.');
  });
}

/**
 * A new access token from the refresh cookie; stores it and tells the listeners.
 * Every caller in this tab shares the refresh in flight. Rejects with ApiError:
 * see isAuthRefusal() for "sign in again" versus "try again later".
 */
export function refreshAuth() {
  if (!refreshing) {
    refreshing = withRefreshLock(() => call('POST', '/auth/refresh', { auth: false, timeoutMs: REFRESH_TIMEOUT_MS }))
      .then((auth) => {
        if (!auth || typeof auth.access_token !== 'string') {
          throw new ApiError(0, 'bad_answer', 'The server gave an unexpected answer. Please try again.');
        }
        const previousUser = storedUser();
        saveAuth(auth);
        for (const fn of refreshListeners) {
          try {
            fn({ auth, previousUser });
          } catch (err) {
            console.error('refresh listener failed', err);
          }
        }
        return auth;
      })
      .catch((err) => {
        if (isAuthRefusal(err)) setHint(false);
        throw err;
      })
      .finally(() => {
        refreshing = null;
      });
  }
  return refreshing;
}

/** A usable access token: the stored one, or a fresh one when it is missing or about to expire. */
export async function accessToken() {
  const stored = getAuth();
  if (stored) return stored.token;
  return (await refreshAuth()).access_token;
}

// --- requests -------------------------------------------------------------

async function send(method, path, { body, token, timeoutMs }) {
  const headers = { Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (token) headers.Authorization = `Bearer ${token}`;
  const controller = timeoutMs ? new AbortController() : null;
  const timer = controller ? setTimeout(() => controller.abort(), timeoutMs) : null;
  try {
    const res = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: 'same-origin',
      cache: 'no-store',
      signal: controller?.signal,
    });
    noteServerDate(res);
    const text = await res.text();
    return { res, text };
  } catch {
    if (controller?.signal.aborted) {
      throw new ApiError(0, 'timeout', 'The server took too long to answer. Please try again.');
    }
    throw new ApiError(0, 'network', "Can't reach the server. Check your connection and try again.");
  } finally {
    clearTimeout(timer);
  }
}

/**
 * One API request. With auth (the default) it carries the access token, refreshing
 * it first when missing or about to expire, and once more if the server answers 401
 * (a token it no longer accepts); a refused refresh rejects with that 401.
 */
async function call(method, path, { body, auth = true, timeoutMs = 0 } = {}) {
  let { res, text } = await send(method, path, { body, timeoutMs, token: auth ? await accessToken() : null });
  if (auth && res.status === 401) {
    const fresh = await refreshAuth();
    ({ res, text } = await send(method, path, { body, timeoutMs, token: fresh.access_token }));
  }
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = null; // e.g. an HTML error page from a proxy
    }
  }
  if (!res.ok) {
    const err = data && data.error;
    const fallback =
      res.status === 429
        ? 'Too many attempts. Please wait a moment and try again.'
        : `The server answered ${res.status}${res.statusText ? ' ' + res.statusText : ''}.`;
    const failure = new ApiError(res.status, err?.code || `http_${res.status}`, err?.message || fallback);
    failure.field = typeof err?.field === 'string' ? err.field : null; // the request field at fault
    throw failure;
  }
  return data;
}

export const api = {
  register: (email, password, name, consent) =>
    call('POST', '/auth/register', { body: { email, password, name, consent: !!consent }, auth: false }),
  login: (email, password) => call('POST', '/auth/login', { body: { email, password }, auth: false }),
  /** Revoke this browser's refresh cookie; with everywhere, every sign-in of the account. */
  logout: (everywhere = false) =>
    everywhere
      ? call('POST', '/auth/logout', { body: { everywhere: true }, timeoutMs: REFRESH_TIMEOUT_MS })
      : call('POST', '/auth/logout', { auth: false, timeoutMs: REFRESH_TIMEOUT_MS }),
  questions: () => call('GET', '/api/questions'),
  question: (id) => call('GET', `/api/questions/${encodeURIComponent(id)}`),
  mySessions: () => call('GET', '/api/me/sessions'),
  /** One page of a finished session's stored events, in seq order: {events, next_after, ...}. */
  trace: (sid, after = 0, limit = 1000) =>
    call('GET', `/api/sessions/${encodeURIComponent(sid)}/trace?after=${after}&limit=${limit}`),
  /** Sign-in providers configured on the server: {providers: ["google", ...]}. */
  providers: () => call('GET', '/auth/oauth/providers', { auth: false }),
  forgotPassword: (email) => call('POST', '/auth/password/forgot', { body: { email }, auth: false }),
  resetPassword: (token, password) => call('POST', '/auth/password/reset', { body: { token, password }, auth: false }),
  resendVerification: () => call('POST', '/auth/verify/resend'),
  me: () => call('GET', '/api/me'),
  /** Give or withdraw consent; withdrawing answers with `erased: {sessions, events}`. */
  setConsent: (consent) => call('PATCH', '/api/me', { body: { consent: !!consent } }),
  exportData: () => call('GET', '/api/me/export'),
  deleteAccount: () => call('DELETE', '/api/me', { body: { confirm: true } }),
  // Profile, progress and the learning path (docs/protocol.md "Learning").
  profile: () => call('GET', '/api/me/profile'),
  saveProfile: (changes) => call('PUT', '/api/me/profile', { body: changes }),
  /** tz: the IANA zone a streak's days are counted in. */
  progress: (tz = 'UTC') => call('GET', `/api/me/progress?tz=${encodeURIComponent(tz)}`),
  /** languages: draw only from these (none: all). */
  nextQuestion: (languages = []) => call('GET', `/api/me/next?languages=${encodeURIComponent(languages.join(','))}`),
  startDiagnostic: (languages = []) => call('POST', '/api/diagnostic', { body: { languages } }),
  answerDiagnostic: (questionId, outcome) =>
    call('POST', '/api/diagnostic/answer', { body: { question_id: questionId, outcome } }),
  notifications: () => call('GET', '/api/me/notifications'),
  /** Mark notifications read: the given ids, or all of them. */
  readNotifications: (ids = null) => call('POST', '/api/me/notifications/read', { body: ids ? { ids } : {} }),
  // The question bank (admins only): every body a question in the bank's JSON format.
  adminQuestions: () => call('GET', '/api/admin/questions'),
  adminQuestion: (id) => call('GET', `/api/admin/questions/${encodeURIComponent(id)}`),
  createQuestion: (question) => call('POST', '/api/admin/questions', { body: question }),
  editQuestion: (id, question) => call('PUT', `/api/admin/questions/${encodeURIComponent(id)}`, { body: question }),
  publishQuestion: (id, version) => call('POST', `/api/admin/questions/${encodeURIComponent(id)}/versions/${version}/publish`),
  retireQuestion: (id, version) => call('POST', `/api/admin/questions/${encodeURIComponent(id)}/versions/${version}/retire`),
  exportContent: () => call('GET', '/api/admin/content/export'),
  importContent: (bundle) => call('POST', '/api/admin/content/import', { body: bundle }),
};

/** A token for the socket: null when the user has to sign in again; rejects on passing failures. */
export async function socketToken(fresh) {
  try {
    return fresh ? (await refreshAuth()).access_token : await accessToken();
  } catch (err) {
    if (isAuthRefusal(err)) return null;
    throw err;
  }
}
