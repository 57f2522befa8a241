// The mentor's and the admin's pages (/mentor, /monitor): boot, the socket, and the three
// views: the mentor's sessions and invitations, the admin's live monitor, and watching one
// session (#/watch/<sid>). Sign-in itself happens on the main page.

import { storedUser, socketToken, refreshAuth, mayHaveLogin, onRefreshed } from './js/api.js';
import { toast } from './js/toast.js';
import { TokenKeeper } from './js/auth.js';
import { WingmanSocket } from './js/socket.js';
import { $ } from './js/dom.js';
import { WatchView } from './js/watch.js';
import { MonitorPage } from './js/monitor.js';
import { MentorPage } from './js/mentor.js';

const VIEWS = ['signin', 'mentor', 'monitor', 'watch'];
const HOME = location.pathname.startsWith('/monitor') ? 'monitor' : 'mentor';

function roles() {
  return storedUser()?.roles || [];
}

function showView(name) {
  for (const v of VIEWS) $(`#view-${v}`).hidden = v !== name;
  document.body.dataset.view = name;
  document.title = `SocraticWingman · ${{ mentor: 'Mentor', monitor: 'Live monitor', watch: 'Watching', signin: 'Sign in' }[name]}`;
  if (name !== 'mentor') mentor.hide();
}

const STATUS_TEXT = { connecting: 'connecting…', connected: 'connected', reconnecting: 'reconnecting…', offline: 'offline' };

const socket = new WingmanSocket({
  getToken: () => socketToken(false),
  refreshToken: () => socketToken(true),
  canConnect: () => storedUser() !== null,
  onEvent: (ev) => watch.onEvent(ev),
  onFrame: (msg) => {
    if (msg.type === 'monitor') monitor.onFrame(msg);
  },
  onStatus: (status) => {
    $('#status').textContent = STATUS_TEXT[status] || status;
    $('#conn').dataset.state = status;
  },
  onReady: async () => {
    // After every (re)connection: pick up where each view was.
    if (watch.sid) watch.join();
    if (roles().includes('admin') && monitor.subscribed) monitor.subscribe();
    if (document.body.dataset.view === 'mentor') mentor.load();
  },
  onAuthFailed: () => signIn('Your sign-in has expired. Sign in again on the main page.'),
  onForbidden: (reason) => toast(`The server refused the connection (${reason}).`),
});

const keeper = new TokenKeeper({ onLost: () => signIn('Your sign-in has expired. Sign in again on the main page.') });
onRefreshed(({ auth }) => socket.renew(auth.access_token));

const watch = new WatchView({ socket, me: () => storedUser(), toast, onBack: () => (location.hash = '') });
const monitor = new MonitorPage({ socket, toast, onOpen: (sid) => (location.hash = `#/watch/${sid}`) });
const mentor = new MentorPage({ socket, toast, onOpen: (sid) => (location.hash = `#/watch/${sid}`) });
// For automated tests and the curious.
window.wingman = { socket, watch, monitor, mentor, editor: watch.editor };

function signIn(text) {
  keeper.stop();
  socket.stop();
  if (text) $('#signin-text').textContent = text;
  showView('signin');
}

function route() {
  const match = /^#\/watch\/([0-9a-fA-F-]{36})$/.exec(location.hash);
  if (match) {
    showView('watch');
    watch.open(match[1]);
    return;
  }
  if (watch.sid) watch.leave();
  if (HOME === 'monitor') {
    if (!roles().includes('admin')) {
      signIn('The live monitor is for admins. Sign in with an admin account on the main page.');
      return;
    }
    showView('monitor');
    if (!monitor.subscribed) {
      monitor.subscribed = true;
      if (socket.ready) monitor.subscribe();
    }
    monitor.render();
  } else {
    if (!roles().includes('mentor')) {
      signIn('This page is for mentors. Sign in with a mentor account on the main page.');
      return;
    }
    showView('mentor');
    mentor.show();
  }
}

async function boot() {
  if (!storedUser() && mayHaveLogin()) {
    try {
      await refreshAuth();
    } catch {
      /* no usable login: the sign-in note says what to do */
    }
  }
  const user = storedUser();
  if (!user) {
    signIn('');
    return;
  }
  $('#user-name').textContent = user.name || '';
  $('#conn').hidden = false;
  $('#nav-mentor').hidden = !roles().includes('mentor');
  $('#nav-monitor').hidden = !roles().includes('admin');
  $(HOME === 'monitor' ? '#nav-monitor' : '#nav-mentor').setAttribute('aria-current', 'page');
  keeper.start();
  socket.start();
  window.addEventListener('hashchange', route);
  route();
}

boot();
