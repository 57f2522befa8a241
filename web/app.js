// SocraticWingman learner app: boot, views (login → questions → session),
// and the glue between the HTTP API, the WebSocket and the session controller.

import { api, ApiError, getAuth, saveAuth, clearAuth, storedSid } from './js/api.js';
import { WingmanSocket } from './js/socket.js';
import { SessionController } from './js/session.js';
import { createEditor } from './js/editor.js';
import { h, $, clear } from './js/dom.js';
import { difficultyBadge, tagList } from './js/question.js';
import { formatWhen } from './js/format.js';

const CONNECTION_ERRORS = new Set(['disconnected', 'closed', 'offline']);

// --- toast -----------------------------------------------------------------

let toastTimer = null;
function toast(message) {
  const el = $('#toast');
  el.textContent = message;
  el.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => (el.hidden = true), 7000);
}
$('#toast').addEventListener('click', () => ($('#toast').hidden = true));

// --- views -----------------------------------------------------------------

const VIEWS = ['login', 'home', 'loading', 'session'];
let currentView = null;

function showView(name) {
  currentView = name;
  for (const v of VIEWS) $(`#view-${v}`).hidden = v !== name;
  document.body.dataset.view = name;
  const loggedIn = name !== 'login';
  $('#conn').hidden = !loggedIn;
  $('#logout').hidden = !loggedIn;
  $('#user-name').textContent = loggedIn ? getAuth()?.user?.name || '' : '';
  if (name === 'session') {
    // CodeMirror measures itself; it was hidden until now.
    editor.refresh();
  }
}

// --- editor, socket, session -------------------------------------------------

const editor = createEditor($('#editor'), {
  onRun: () => session.run('run'),
  onTest: () => session.run('test'),
});
// Hook for automated tests (and the curious): window.wingman.editor.setValue(...)
window.wingman = { editor };

const STATUS_TEXT = {
  connecting: 'connecting…',
  connected: 'connected',
  reconnecting: 'reconnecting…',
  offline: 'offline',
};

const socket = new WingmanSocket({
  getToken: () => getAuth()?.token ?? null,
  onEvent: (ev) => session.onEvent(ev),
  onStatus: (status) => {
    $('#status').textContent = STATUS_TEXT[status] || status;
    $('#conn').dataset.state = status;
    $('#reconnect').hidden = status !== 'offline' || !getAuth();
    if (status === 'connected') session.onConnected();
  },
  // Runs after every (re)authentication, before queued requests go out.
  onReady: async () => {
    if (session.sid) await openCurrentSession({ early: true });
  },
  onAuthFailed: () => signOut('Your login has expired or is no longer valid. Please sign in again.'),
  onForbidden: (reason) => {
    toast(`The server refused the connection (${reason}). Use “Reconnect” to try again.`);
    if (session.sid) {
      session.detach();
      showHome();
    }
  },
});

const session = new SessionController({
  socket,
  editor,
  me: () => getAuth()?.user ?? null,
  toast,
  onLeave: () => showHome(),
});

$('#reconnect').addEventListener('click', () => socket.reconnectNow());

/**
 * Join session.sid (fresh → snapshot, or after a reconnect → since) and show it.
 * Connection trouble is left to the socket (it reconnects and calls us again);
 * a refusal (not found, forbidden…) sends the learner back to the list.
 */
async function openCurrentSession({ early = false } = {}) {
  const sid = session.sid;
  if (!session.loaded) showView('loading');
  try {
    await session.join({ early });
    if (session.sid === sid && currentView !== 'session') {
      showView('session');
      session.revealed();
      editor.focus();
    }
  } catch (err) {
    if (session.sid !== sid || CONNECTION_ERRORS.has(err.code)) return;
    if (err.code === 'timeout') {
      // The socket is up but the join got no answer: try once more shortly.
      setTimeout(() => socket.ready && session.sid === sid && openCurrentSession(), 1000);
      return;
    }
    session.detach();
    toast(`Couldn't open that session: ${err.message}`);
    showHome();
  }
}

function openSession(sid) {
  session.attach(sid);
  showView('loading');
  // If the socket is (re)connecting, its onReady hook will do the join.
  if (socket.ready) openCurrentSession();
}

async function startQuestion(questionId, button) {
  if (button) button.disabled = true;
  try {
    const data = await socket.request('session.create', { question_id: questionId });
    openSession(data.sid);
  } catch (err) {
    toast(`Couldn't start a session: ${err.message}`);
  } finally {
    if (button) button.disabled = false;
  }
}

// --- login / register ------------------------------------------------------------

let registering = false;

function setAuthMode(register) {
  registering = register;
  $('#auth-title').textContent = register ? 'Create your account' : 'Sign in';
  $('#name-field').hidden = !register;
  $('#consent-field').hidden = !register;
  $('#login-submit').textContent = register ? 'Create account' : 'Sign in';
  $('#switch-text').textContent = register ? 'Already have an account?' : 'New here?';
  $('#register-toggle').textContent = register ? 'Sign in instead' : 'Create an account';
  $('#login-password').autocomplete = register ? 'new-password' : 'current-password';
  showLoginError('');
}

function showLoginError(message) {
  const el = $('#login-error');
  el.textContent = message;
  el.hidden = !message;
}

$('#register-toggle').addEventListener('click', () => setAuthMode(!registering));

$('#login-form').addEventListener('submit', async (e) => {
  e.preventDefault();
  const email = $('#login-email').value.trim();
  const password = $('#login-password').value;
  const name = $('#login-name').value.trim();
  const consent = $('#login-consent').checked;
  if (!email || !password || (registering && !name)) {
    showLoginError(registering ? 'Please fill in your name, email and password.' : 'Please enter your email and password.');
    return;
  }
  const submit = $('#login-submit');
  submit.disabled = true;
  showLoginError('');
  try {
    const res = registering ? await api.register(email, password, name, consent) : await api.login(email, password);
    saveAuth(res);
    $('#login-password').value = '';
    enterApp();
  } catch (err) {
    showLoginError(err.message || 'Something went wrong. Please try again.');
  } finally {
    submit.disabled = false;
  }
});

function showLogin(message = '') {
  setAuthMode(false);
  showView('login');
  if (message) showLoginError(message);
  $('#login-email').focus();
}

function signOut(message = '') {
  socket.stop();
  session.detach();
  clearAuth();
  showLogin(message);
}

// Closing the socket is enough for the server to drop our presence; the
// session itself stays open and shows up under "recent sessions".
$('#logout').addEventListener('click', () => signOut());

/** Logged in: connect, then resume the stored session or show the list. */
function enterApp() {
  const sid = storedSid.get();
  socket.start();
  if (sid) {
    session.attach(sid);
    showView('loading'); // the socket's onReady hook joins it
  } else {
    showHome();
  }
}

// --- home: questions and recent sessions --------------------------------------------

let questions = [];

function handleApiError(err, statusEl, what) {
  if (err instanceof ApiError && err.status === 401) {
    signOut('Your login has expired. Please sign in again.');
    return;
  }
  statusEl.textContent = `Couldn't load ${what}: ${err.message}`;
  statusEl.hidden = false;
}

async function showHome() {
  showView('home');
  const qStatus = $('#questions-status');
  const sStatus = $('#sessions-status');
  qStatus.hidden = false;
  qStatus.textContent = 'Loading…';
  sStatus.hidden = false;
  sStatus.textContent = 'Loading…';
  const [qs, ss] = await Promise.allSettled([api.questions(), api.mySessions()]);
  if (currentView !== 'home') return;
  if (qs.status === 'fulfilled') {
    questions = Array.isArray(qs.value) ? qs.value : [];
    renderQuestions();
  } else handleApiError(qs.reason, qStatus, 'questions');
  if (ss.status === 'fulfilled') renderSessions(Array.isArray(ss.value) ? ss.value : []);
  else handleApiError(ss.reason, sStatus, 'your sessions');
}

function renderQuestions() {
  const filter = $('#question-filter').value.trim().toLowerCase();
  const shown = questions.filter(
    (q) => !filter || String(q.title).toLowerCase().includes(filter) || (q.tags || []).some((t) => String(t).toLowerCase().includes(filter)),
  );
  const status = $('#questions-status');
  status.hidden = shown.length > 0;
  status.textContent = questions.length ? 'No question matches that filter.' : 'No questions yet.';
  clear($('#question-list')).append(
    ...shown.map((q) => {
      const button = h(
        'button',
        { type: 'button', class: 'question-item', 'data-testid': 'question-item', dataset: { id: String(q.id) } },
        h('span', { class: 'qi-title' }, q.title),
        h('span', { class: 'qi-meta' }, difficultyBadge(q.difficulty), q.language ? h('span', { class: 'badge lang' }, q.language) : null, tagList(q.tags)),
      );
      button.addEventListener('click', () => startQuestion(q.id, button));
      return h('li', {}, button);
    }),
  );
}

$('#question-filter').addEventListener('input', renderQuestions);

function renderSessions(sessions) {
  const status = $('#sessions-status');
  status.hidden = sessions.length > 0;
  status.textContent = 'No sessions yet. Pick a question to start one.';
  clear($('#session-list')).append(
    ...sessions.map((s) => {
      const live = s.ended_at == null;
      const button = h(
        'button',
        { type: 'button', class: 'session-item', 'data-testid': 'session-item', dataset: { sid: s.sid } },
        h('span', { class: 'si-title' }, s.title || s.question_id),
        h(
          'span',
          { class: 'si-meta' },
          h('span', { class: `badge ${live ? 'live' : 'ended'}` }, live ? 'live' : 'ended'),
          ` started ${formatWhen(s.created_at)}`,
        ),
        h('span', { class: 'si-action' }, live ? 'Resume →' : 'Review →'),
      );
      button.addEventListener('click', () => openSession(s.sid));
      return h('li', {}, button);
    }),
  );
}

// --- boot ----------------------------------------------------------------------------

if (getAuth()) enterApp();
else showLogin();
