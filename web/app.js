// SocraticWingman learner app: boot, views (login → questions → session),
// and the glue between the HTTP API, the WebSocket and the session controller.

import {
  api,
  ApiError,
  getAuth,
  saveAuth,
  clearAuth,
  storedSid,
  storedUser,
  refreshAuth,
  onRefreshed,
  isAuthRefusal,
  mayHaveLogin,
  expectLogin,
  updateStoredUser,
  socketToken,
} from './js/api.js';
import { toast } from './js/toast.js';
import { AccountPanel, sentence } from './js/account.js';
import { TokenKeeper } from './js/auth.js';
import { WingmanSocket } from './js/socket.js';
import { SessionController } from './js/session.js';
import { InvitePanel } from './js/invites.js';
import { createEditor } from './js/editor.js';
import { h, $, clear } from './js/dom.js';
import { difficultyBadge, tagList } from './js/question.js';
import { formatWhen } from './js/format.js';
import { Onboarding } from './js/onboarding.js';
import { ProgressPage, describe } from './js/progress.js';
import { ContentPage } from './js/content.js';
import { ReplayPlayer } from './js/replay.js';

const CONNECTION_ERRORS = new Set(['disconnected', 'closed', 'offline']);

// --- views -----------------------------------------------------------------

const VIEWS = ['login', 'home', 'loading', 'session', 'progress', 'onboarding', 'content', 'replay'];
let currentView = null;

function showView(name) {
  currentView = name;
  for (const v of VIEWS) $(`#view-${v}`).hidden = v !== name;
  document.body.dataset.view = name;
  const user = name === 'login' ? null : storedUser();
  $('#conn').hidden = !user;
  $('#account').hidden = !user;
  $('#nav').hidden = !user;
  if (name !== 'progress') progressPage.hide();
  if (!user) {
    closeAccountMenu();
    accountPanel?.close();
  }
  $('#user-name').textContent = user?.name || '';
  $('#content-link').hidden = !isAdmin();
  updateVerifyBanner();
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
  getToken: () => socketToken(false),
  refreshToken: () => socketToken(true),
  canConnect: () => storedUser() !== null,
  onEvent: (ev) => session.onEvent(ev),
  onNotification: (note) => notified(note),
  onStatus: (status) => {
    $('#status').textContent = STATUS_TEXT[status] || status;
    $('#conn').dataset.state = status;
    $('#reconnect').hidden = status !== 'offline' || !storedUser();
    if (status === 'connected') session.onConnected();
  },
  // Runs after every (re)authentication, before queued requests go out.
  onReady: async () => {
    if (session.sid) await openCurrentSession({ early: true });
  },
  onAuthFailed: (err) => signOut(signedOutMessage(err?.details?.reason || err?.message)),
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
  me: () => storedUser(),
  toast,
  // Left through the session's own buttons (home), or through the page links (that page).
  onLeave: () => {
    const to = leavingTo;
    leavingTo = null;
    (PAGES[to] || showHome)();
  },
});
let leavingTo = null;

// The learner invites mentors to the open session.
new InvitePanel({ socket, sid: () => session.sid, ended: () => session.ended });

$('#reconnect').addEventListener('click', () => socket.reconnectNow());

// --- keeping the login fresh ----------------------------------------------------------

const EXPIRED_MESSAGE = 'Your login has expired or is no longer valid. Please sign in again.';

function signedOutMessage(reason = '') {
  if (/everywhere/i.test(reason)) return 'You were signed out everywhere. Please sign in again.';
  return EXPIRED_MESSAGE;
}

// About a minute before the access token expires, trade the refresh cookie for a new one.
const keeper = new TokenKeeper({
  onLost: (err) => signOut(signedOutMessage(err?.message)),
});
// For automated tests: window.wingman.keeper.stop() plays a background tab whose timer never fired.
window.wingman.keeper = keeper;

// Every new access token (from the keeper, a request that met a 401, or the socket)
// goes to the open connection, so the server doesn't close it at expiry.
onRefreshed(({ auth, previousUser }) => {
  if (previousUser && auth.user && previousUser.id !== auth.user.id) {
    // Someone signed in as another account in another tab: the browser's refresh
    // cookie is theirs now, and so is this tab.
    switchedAccount(auth.user);
    return;
  }
  socket.renew(auth.access_token);
  updateVerifyBanner();
});

function switchedAccount(user) {
  socket.stop();
  session.detach();
  storedSid.clear();
  if (currentView === 'login' || !booted) return;
  toast(`You're now signed in as ${user.name || 'another account'} (changed in another tab).`);
  enterApp();
}

// Tabs of this browser share the refresh cookie: tell the others when it is gone or new.
const tabs = typeof BroadcastChannel === 'function' ? new BroadcastChannel('wingman.auth') : null;
tabs?.addEventListener('message', (e) => {
  const what = e.data?.type;
  if (what === 'signed-out' && currentView !== 'login' && storedUser()) {
    if (e.data.deleted) signOut('', { note: ACCOUNT_DELETED });
    else signOut(e.data.everywhere ? 'You signed out everywhere in another tab.' : 'You signed out in another tab.');
  } else if (what === 'signed-in' && currentView === 'login' && !signingIn && resetToken === null) {
    resumeLogin({ quiet: true });
  }
});
function tellTabs(message) {
  try {
    tabs?.postMessage(message);
  } catch {
    /* closed channel */
  }
}

/**
 * Join session.sid (fresh → snapshot, or after a reconnect → since) and show it.
 * Connection trouble is left to the socket (it reconnects and calls us again);
 * a refusal (not found, forbidden…) sends the learner back to the list.
 */
async function openCurrentSession({ early = false } = {}) {
  const sid = session.sid;
  if (!session.loaded) showLoading('Opening your session…');
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
  showLoading('Opening your session…');
  // If the socket is (re)connecting, its onReady hook will do the join.
  if (socket.ready) openCurrentSession();
}

/** review: a due review started from the progress page (graded as one at its end). */
async function startQuestion(questionId, button, { review = false } = {}) {
  if (button) button.disabled = true;
  try {
    const data = await socket.request('session.create', review ? { question_id: questionId, review: true } : { question_id: questionId });
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
  $('#forgot-link').hidden = register;
  showLoginError('');
  showMessage('#login-note', '');
}

/** Show text in a message element (hidden when empty). */
function showMessage(selector, message) {
  const el = $(selector);
  el.textContent = message;
  el.hidden = !message;
}

function showLoginError(message) {
  showMessage('#login-error', message);
}

/** Which card of the login view shows: the sign-in form, "forgot password" or "choose a new password". */
function showAuthCard(name) {
  $('#login-form').hidden = name !== 'login';
  $('#forgot-form').hidden = name !== 'forgot';
  $('#reset-form').hidden = name !== 'reset';
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
    forgetPendingLogout();
    $('#login-password').value = '';
    tellTabs({ type: 'signed-in' });
    enterApp();
  } catch (err) {
    showLoginError(err.message || 'Something went wrong. Please try again.');
  } finally {
    submit.disabled = false;
  }
});

/** The login form, with an error message or a neutral note (e.g. "password changed"). */
function showLogin(message = '', { note = '' } = {}) {
  resetToken = null;
  setAuthMode(false);
  showAuthCard('login');
  showView('login');
  if (message) showLoginError(message);
  if (note) showMessage('#login-note', note);
  loadProviders();
  $('#login-email').focus();
}

/** Forget the login in this tab (no server call) and show the login form. */
function signOut(message = '', { note = '' } = {}) {
  keeper.stop();
  socket.stop();
  session.detach();
  clearAuth();
  showLogin(message, { note });
}

// --- forgotten password --------------------------------------------------------------

const FORGOT_SENT = 'If an account exists for that address, we sent a link.';

function showForgot() {
  resetToken = null;
  showView('login');
  showAuthCard('forgot');
  showMessage('#forgot-note', '');
  showMessage('#forgot-error', '');
  const typed = $('#login-email').value.trim();
  if (typed && !$('#forgot-email').value) $('#forgot-email').value = typed;
  $('#forgot-email').focus();
}

$('#forgot-link').addEventListener('click', showForgot);

$('#forgot-form').addEventListener('submit', async (e) => {
  e.preventDefault();
  const email = $('#forgot-email').value.trim();
  showMessage('#forgot-note', '');
  if (!email) {
    showMessage('#forgot-error', 'Please enter the email of your account.');
    return;
  }
  const submit = $('#forgot-submit');
  submit.disabled = true;
  showMessage('#forgot-error', '');
  try {
    await api.forgotPassword(email);
    showMessage('#forgot-note', FORGOT_SENT);
  } catch (err) {
    showMessage('#forgot-error', sentence(err.message) || 'Something went wrong. Please try again.');
  } finally {
    submit.disabled = false;
  }
});

for (const back of document.querySelectorAll('.back-to-login')) {
  back.addEventListener('click', () => {
    if (resetToken !== null) {
      clearResetHash();
      resetToken = null;
      startNormally(); // the reset link may have been opened while signed in
    } else {
      showLogin();
    }
  });
}

// --- choosing a new password (the mailed link: /#reset=<token>) ------------------------

let resetToken = null;

function resetTokenFromHash() {
  const found = /^#reset=([^&]+)/.exec(location.hash);
  if (!found) return null;
  try {
    return decodeURIComponent(found[1]);
  } catch {
    return found[1];
  }
}

/** The token is spent (or refused): keep it out of the address bar and the history. */
function clearResetHash() {
  if (location.hash.startsWith('#reset=')) history.replaceState(null, '', location.pathname + location.search);
}

function showReset(token) {
  resetToken = token;
  showView('login');
  showAuthCard('reset');
  $('#reset-field').hidden = false;
  $('#reset-submit').hidden = false;
  $('#reset-again').hidden = true;
  $('#reset-password').value = '';
  showMessage('#reset-error', '');
  $('#reset-password').focus();
}

$('#reset-form').addEventListener('submit', async (e) => {
  e.preventDefault();
  if (resetToken === null) return;
  const password = $('#reset-password').value;
  if (!password) {
    showMessage('#reset-error', 'Please choose a new password.');
    return;
  }
  const submit = $('#reset-submit');
  submit.disabled = true;
  showMessage('#reset-error', '');
  try {
    await api.resetPassword(resetToken, password);
    // Every sign-in of the account is revoked now, this browser's included.
    clearResetHash();
    $('#reset-password').value = '';
    signOut('', { note: 'Password changed, please sign in.' });
  } catch (err) {
    showMessage('#reset-error', sentence(err.message) || 'Something went wrong. Please try again.');
    if (err instanceof ApiError && err.status === 400 && err.field !== 'password') {
      // Used, expired or not valid: this link is done with; offer a new one.
      clearResetHash();
      $('#reset-field').hidden = true;
      submit.hidden = true;
      $('#reset-again').hidden = false;
      $('#reset-again').focus();
    } else {
      $('#reset-password').focus();
    }
  } finally {
    submit.disabled = false;
  }
});

$('#reset-again').addEventListener('click', showForgot);

// The link opened in a tab that already shows the page only changes the hash.
window.addEventListener('hashchange', () => {
  const token = resetTokenFromHash();
  if (token === null || token === resetToken) return;
  if (currentView !== 'login') {
    // Setting the password signs every device out: leave the app quietly before it does.
    keeper.stop();
    socket.stop();
    session.detach();
  }
  showReset(token);
});

// --- sign-in with a provider (Google, LinkedIn) ------------------------------------

const PROVIDER_NAMES = { google: 'Google', linkedin: 'LinkedIn' };
let providersAsked = false;

/** Ask once which providers the server offers; none (or no answer) shows nothing. */
async function loadProviders() {
  if (providersAsked) return;
  providersAsked = true;
  let names = [];
  try {
    const answer = await api.providers();
    names = Array.isArray(answer?.providers) ? answer.providers.filter((n) => typeof n === 'string' && /^[a-z0-9_-]+$/.test(n)) : [];
  } catch {
    providersAsked = false; // try again next time the form shows
    return;
  }
  clear($('#oauth-buttons')).append(
    ...names.map((name) => {
      const label = PROVIDER_NAMES[name] || name[0].toUpperCase() + name.slice(1);
      return h('button', { type: 'button', class: 'secondary wide', 'data-testid': `oauth-${name}`, onclick: () => continueWith(name) }, `Continue with ${label}`);
    }),
  );
  $('#oauth').hidden = names.length === 0;
}

async function continueWith(name) {
  for (const b of $('#oauth-buttons').querySelectorAll('button')) b.disabled = true;
  if (hasPendingLogout()) {
    // Finish the old sign-out first, or the next load would revoke the new sign-in.
    try {
      await api.logout();
    } catch {
      /* the new cookie replaces the old one anyway */
    }
    forgetPendingLogout();
  }
  // The provider sends the browser back to / with a refresh cookie: the next load must try it.
  expectLogin();
  location.assign(`/auth/oauth/${encodeURIComponent(name)}/login`);
}
// Back from the provider's page through the back button (bfcache): the buttons work again.
window.addEventListener('pageshow', () => {
  for (const b of $('#oauth-buttons').querySelectorAll('button')) b.disabled = false;
});

// --- email verification banner -----------------------------------------------------------

let verifyTimer = null;

function updateVerifyBanner() {
  const user = storedUser();
  const show = currentView !== null && currentView !== 'login' && user?.email_verified === false;
  const banner = $('#verify-banner');
  if (show && banner.hidden) {
    $('#verify-status').textContent = '';
    $('#verify-resend').disabled = false;
  }
  banner.hidden = !show;
}

$('#verify-resend').addEventListener('click', async () => {
  const button = $('#verify-resend');
  const status = $('#verify-status');
  button.disabled = true;
  status.textContent = '';
  let again = 0;
  try {
    await api.resendVerification();
    status.textContent = 'Sent';
    again = 30_000; // a moment before asking once more
  } catch (err) {
    if (err instanceof ApiError && err.status === 409) {
      updateStoredUser({ email_verified: true });
      updateVerifyBanner();
    } else if (err instanceof ApiError && err.status === 401) {
      if (currentView !== 'login') signOut(EXPIRED_MESSAGE);
    } else {
      status.textContent = sentence(err.message);
      again = err instanceof ApiError && err.status === 429 ? 60_000 : 0;
    }
  }
  clearTimeout(verifyTimer);
  verifyTimer = setTimeout(() => (button.disabled = false), again);
});

// --- "Your data" panel -------------------------------------------------------------------

const ACCOUNT_DELETED = 'Your account and its data were deleted.';

const accountPanel = new AccountPanel({
  onApiError: (err) => {
    if (err instanceof ApiError && err.status === 401) {
      if (currentView !== 'login') signOut(EXPIRED_MESSAGE);
      return true;
    }
    return false;
  },
  // The server closes the account's sockets as it deletes it: that is not an expiry.
  beforeDelete: async () => {
    keeper.stop();
    socket.stop();
  },
  afterDelete: (ok) => {
    if (!ok) {
      keeper.start();
      socket.start();
      return;
    }
    forgetPendingLogout();
    tellTabs({ type: 'signed-out', deleted: true });
    signOut('', { note: ACCOUNT_DELETED });
  },
});

$('#your-data').addEventListener('click', () => {
  closeAccountMenu();
  accountPanel.open($('#account-button'));
});

// A sign-out the server never heard about (offline): the refresh cookie would
// silently sign this browser back in, so the next page load retries it first.
const PENDING_LOGOUT_KEY = 'wingman.logout_pending';
function rememberPendingLogout() {
  try {
    localStorage.setItem(PENDING_LOGOUT_KEY, '1');
  } catch {
    /* storage disabled */
  }
}
function forgetPendingLogout() {
  try {
    localStorage.removeItem(PENDING_LOGOUT_KEY);
  } catch {
    /* storage disabled */
  }
}
function hasPendingLogout() {
  try {
    return localStorage.getItem(PENDING_LOGOUT_KEY) === '1';
  } catch {
    return false;
  }
}

let loggingOut = false;

/**
 * "Sign out": revoke this browser's refresh cookie, then forget the login here.
 * "Sign out everywhere": revoke every sign-in of the account (the server closes
 * all its sockets, on every node); if that fails we stay signed in and say so.
 * Closing our socket drops our presence; the session itself stays open and
 * shows up under "recent sessions".
 */
async function logOut({ everywhere = false } = {}) {
  if (loggingOut) return;
  loggingOut = true;
  closeAccountMenu();
  for (const b of [$('#logout'), $('#logout-everywhere')]) b.disabled = true;
  // Our own socket would be closed with 4401 too; stop it first so that isn't taken for an expiry.
  keeper.stop();
  socket.stop();
  let message = everywhere ? 'You are signed out everywhere.' : '';
  try {
    await api.logout(everywhere);
    forgetPendingLogout();
  } catch (err) {
    if (everywhere && !isAuthRefusal(err)) {
      toast(`Couldn't sign out everywhere: ${err.message}`);
      keeper.start();
      socket.start();
      return;
    }
    if (everywhere) {
      message = 'Signed out here, but signing out everywhere needs a current login: sign in and try again.';
    } else {
      rememberPendingLogout();
      message = `Signed out in this tab, but the server couldn't be told (${err.message}) — it will be when this page next loads.`;
    }
  } finally {
    loggingOut = false;
    for (const b of [$('#logout'), $('#logout-everywhere')]) b.disabled = false;
  }
  tellTabs({ type: 'signed-out', everywhere });
  signOut(message);
}

$('#logout').addEventListener('click', () => logOut());
$('#logout-everywhere').addEventListener('click', () => logOut({ everywhere: true }));

// --- account menu (header) ----------------------------------------------------------

function menuItems() {
  return [...$('#account-menu').querySelectorAll('[role="menuitem"]')].filter((el) => !el.hidden);
}

function openAccountMenu(focusFirst = false) {
  $('#account-menu').hidden = false;
  $('#account-button').setAttribute('aria-expanded', 'true');
  if (focusFirst) menuItems()[0]?.focus();
}

function closeAccountMenu(returnFocus = false) {
  const menu = $('#account-menu');
  if (menu.hidden) return;
  menu.hidden = true;
  $('#account-button').setAttribute('aria-expanded', 'false');
  if (returnFocus) $('#account-button').focus();
}

$('#account-button').addEventListener('click', () => {
  if ($('#account-menu').hidden) openAccountMenu();
  else closeAccountMenu();
});
$('#account-button').addEventListener('keydown', (e) => {
  if (e.key === 'ArrowDown' || e.key === 'Enter' || e.key === ' ') {
    e.preventDefault();
    openAccountMenu(true);
  }
});
$('#account-menu').addEventListener('keydown', (e) => {
  const items = menuItems();
  const at = items.indexOf(document.activeElement);
  if (e.key === 'Escape') {
    e.preventDefault();
    closeAccountMenu(true);
  } else if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
    e.preventDefault();
    const step = e.key === 'ArrowDown' ? 1 : -1;
    items[(at + step + items.length) % items.length]?.focus();
  } else if (e.key === 'Tab') {
    closeAccountMenu();
  }
});
document.addEventListener('click', (e) => {
  if (!$('#account').contains(e.target)) closeAccountMenu();
});

/** Logged in: keep the token fresh, connect, then resume the stored session or show the list. */
function enterApp() {
  const sid = storedSid.get();
  keeper.start();
  socket.start();
  if (replaySidFromHash()) {
    showReplay(replaySidFromHash());
  } else if (sid) {
    session.attach(sid);
    showLoading('Opening your session…'); // the socket's onReady hook joins it
  } else if (PAGES[location.hash]) {
    PAGES[location.hash]();
  } else {
    showHome();
  }
}

function showLoading(text) {
  $('#loading-text').textContent = text;
  showView('loading');
}

// --- onboarding, progress, notifications (#/onboarding, #/progress) -----------------------

function apiErrorHandled(err) {
  if (err instanceof ApiError && err.status === 401) {
    if (currentView !== 'login') signOut(EXPIRED_MESSAGE);
    return true;
  }
  return false;
}

const onboarding = new Onboarding({
  root: $('#view-onboarding'),
  startQuestion,
  onApiError: apiErrorHandled,
  done: () => go('#/progress'),
});

const progressPage = new ProgressPage({
  root: $('#view-progress'),
  startQuestion,
  onApiError: apiErrorHandled,
  openAccount: () => accountPanel.open($('#account-button')),
  onboard: () => go('#/onboarding'),
  onUnread: (n) => setUnread(n),
});

let unread = 0;
function setUnread(n) {
  unread = Math.max(0, n);
  $('#notif-count').textContent = String(unread);
  $('#notif-count').hidden = unread === 0;
}

/** A notification pushed over the socket: count it, say it, and refresh the page showing them. */
function notified(note) {
  toast(describe(note));
  if (note.id == null) return; // said once, not kept (an invitation withdrawn while watching)
  setUnread(unread + 1);
  if (currentView === 'progress') progressPage.refreshNotifications();
}

const PAGES = { '#/progress': showProgress, '#/onboarding': showOnboarding };

/** Show a page by its address (also what the back button does). */
function go(hash) {
  if (location.hash !== hash) history.pushState(null, '', hash);
  (PAGES[hash] || showHome)();
}

function showProgress() {
  showView('progress');
  progressPage.show();
}

function showOnboarding() {
  showView('onboarding');
  onboarding.show();
}

window.addEventListener('hashchange', () => {
  if (!storedUser() || currentView === 'login') return;
  const page = PAGES[location.hash];
  if (page) page();
  // Back from a page to the address of the question list.
  else if ((location.hash === '' || location.hash === '#/') && (currentView === 'progress' || currentView === 'onboarding')) showHome();
});
// The page links: from a session, leave it (saving the code) on the way.
for (const [id, hash] of [['#nav-home', '#/'], ['#nav-progress', '#/progress']]) {
  $(id).addEventListener('click', (e) => {
    e.preventDefault();
    if (!session.sid) return go(hash);
    if (location.hash !== hash) history.pushState(null, '', hash);
    leavingTo = hash;
    session.leave();
  });
}
$('#start-onboarding').addEventListener('click', () => go('#/onboarding'));

/** The welcome card on the home page, for a learner who has not set up their path yet. */
async function offerOnboarding() {
  try {
    const profile = await api.profile();
    $('#welcome').hidden = !!profile?.onboarded || currentView !== 'home';
  } catch {
    $('#welcome').hidden = true;
  }
}

// --- home: questions and recent sessions --------------------------------------------

let questions = [];

function handleApiError(err, statusEl, what) {
  // A 401 here means the request already tried a refresh, and it was refused.
  if (err instanceof ApiError && err.status === 401) {
    if (currentView !== 'login') signOut('Your login has expired. Please sign in again.');
    return;
  }
  statusEl.textContent = `Couldn't load ${what}: ${err.message}`;
  statusEl.hidden = false;
}

async function showHome() {
  showView('home');
  if (PAGES[location.hash]) history.replaceState(null, '', location.pathname + location.search);
  offerOnboarding();
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
      const replayLink = live
        ? null
        : h('a', { class: 'replay-link', href: `#/replay/${s.sid}`, 'data-testid': 'replay-link' }, 'Replay');
      return h('li', { class: 'session-row' }, button, replayLink);
    }),
  );
}

// --- admin: the question bank (#/admin/content) ------------------------------------

const CONTENT_ROUTE = '#/admin/content';
let contentPage = null;

function isAdmin() {
  return (storedUser()?.roles || []).includes('admin');
}

function showContent() {
  if (!isAdmin()) {
    showHome();
    return;
  }
  contentPage ??= new ContentPage({ root: $('#view-content'), onApiError: apiErrorHandled });
  showView('content');
  contentPage.show();
}
PAGES[CONTENT_ROUTE] = showContent;

$('#content-link').addEventListener('click', () => {
  closeAccountMenu();
  go(CONTENT_ROUTE);
});

// The page's own "← Questions" link goes to '#/', which names no page.
window.addEventListener('hashchange', () => {
  if (currentView === 'content' && !PAGES[location.hash] && !location.hash.startsWith('#reset=')) showHome();
});

// --- replay of a finished session: #/replay/<sid> ----------------------------------

const replay = new ReplayPlayer({
  root: $('#view-replay'),
  api,
  onClose: () => {
    replay.stop();
    go('#/');
  },
});

function replaySidFromHash() {
  const found = /^#\/replay\/([0-9a-fA-F-]{36})$/.exec(location.hash);
  return found ? found[1] : null;
}

function showReplay(sid) {
  showView('replay');
  replay.open(sid);
}

window.addEventListener('hashchange', () => {
  const sid = replaySidFromHash();
  if (sid && storedUser() && currentView !== 'login') showReplay(sid);
  else if (replay.sid) {
    replay.stop();
    if (currentView === 'replay') showHome();
  }
});

// --- boot ----------------------------------------------------------------------------

let booted = false;
let signingIn = false;

/**
 * No usable access token in this tab (a reload after it expired, a new tab, another
 * tab just signed in): try the refresh cookie, and show the login form only if
 * that is refused. quiet: stay on the login form without a message if it fails.
 */
async function resumeLogin({ quiet = false } = {}) {
  if (signingIn) return;
  signingIn = true;
  if (!quiet) showLoading('Signing you in…');
  try {
    await refreshAuth();
    enterApp();
  } catch (err) {
    if (quiet) return;
    showLogin(isAuthRefusal(err) ? '' : `Couldn't check your login: ${err.message}`);
  } finally {
    signingIn = false;
  }
}

/** Into the app with the tab's token or the refresh cookie, else the login form. */
async function startNormally() {
  if (getAuth()) {
    enterApp();
  } else if (mayHaveLogin()) {
    await resumeLogin();
  } else {
    showLogin();
  }
}

async function boot() {
  let loggedOut = false;
  if (hasPendingLogout()) {
    // A sign-out the server never heard about: finish it instead of signing back in.
    clearAuth();
    loggedOut = true;
    try {
      await api.logout();
      forgetPendingLogout();
    } catch {
      /* still offline: try again next time */
    }
  }
  const token = resetTokenFromHash();
  if (token !== null) {
    showReset(token); // the mailed link to choose a new password
  } else if (loggedOut) {
    showLogin();
  } else {
    await startNormally();
  }
  booted = true;
}

boot();
