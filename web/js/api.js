// HTTP API client and the stored login.
//
// The token lives in sessionStorage (per tab, gone when the tab closes), as
// the product asks; the current session id is stored next to it so that a
// page reload rejoins the same session.

const TOKEN_KEY = 'wingman.token';
const EXPIRES_KEY = 'wingman.expires_at';
const USER_KEY = 'wingman.user';
const SID_KEY = 'wingman.sid';

/** An API failure with the server's error code and message (or a synthetic one). */
export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
  }
}

// --- stored login ---------------------------------------------------------

/** The stored login, or null when absent or expired (expired ones are cleared). */
export function getAuth() {
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (!token) return null;
  const expiresAt = Number(sessionStorage.getItem(EXPIRES_KEY) || 0);
  // Treat a token as dead 5 s early so we don't race the server's clock.
  if (expiresAt && expiresAt * 1000 < Date.now() + 5000) {
    clearAuth();
    return null;
  }
  let user = null;
  try {
    user = JSON.parse(sessionStorage.getItem(USER_KEY) || 'null');
  } catch {
    user = null;
  }
  return { token, expiresAt, user };
}

export function saveAuth({ access_token, expires_at, user }) {
  sessionStorage.setItem(TOKEN_KEY, access_token);
  sessionStorage.setItem(EXPIRES_KEY, String(expires_at ?? ''));
  sessionStorage.setItem(USER_KEY, JSON.stringify(user ?? null));
}

export function clearAuth() {
  sessionStorage.removeItem(TOKEN_KEY);
  sessionStorage.removeItem(EXPIRES_KEY);
  sessionStorage.removeItem(USER_KEY);
  sessionStorage.removeItem(SID_KEY);
}

export const storedSid = {
  get: () => sessionStorage.getItem(SID_KEY),
  set: (sid) => sessionStorage.setItem(SID_KEY, sid),
  clear: () => sessionStorage.removeItem(SID_KEY),
};

// --- requests -------------------------------------------------------------

async function call(method, path, { body, auth = true } = {}) {
  const headers = { Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (auth) {
    const stored = getAuth();
    if (!stored) throw new ApiError(401, 'not_authenticated', 'Please sign in again.');
    headers.Authorization = `Bearer ${stored.token}`;
  }
  let res;
  try {
    res = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: 'same-origin',
    });
  } catch {
    throw new ApiError(0, 'network', "Can't reach the server. Check your connection and try again.");
  }
  let data = null;
  const text = await res.text();
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
    throw new ApiError(res.status, err?.code || `http_${res.status}`, err?.message || fallback);
  }
  return data;
}

export const api = {
  register: (email, password, name, consent) =>
    call('POST', '/auth/register', { body: { email, password, name, consent: !!consent }, auth: false }),
  login: (email, password) => call('POST', '/auth/login', { body: { email, password }, auth: false }),
  questions: () => call('GET', '/api/questions'),
  question: (id) => call('GET', `/api/questions/${encodeURIComponent(id)}`),
  mySessions: () => call('GET', '/api/me/sessions'),
};
