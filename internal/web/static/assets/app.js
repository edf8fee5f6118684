// app.js: the dashboard's shell. Hash routing, the header (who is signed
// in, navigation, sign out) and the switch between views. Each view gets an
// AbortSignal that fires when the user leaves it, which cancels its
// requests and stops its polling.

import { signedIn, signOut, session, can, setUnauthorizedHandler } from './api.js';
import { h, clear, announce, closeDialogs } from './ui.js';
import { signInView } from './views/signin.js';
import { databasesView } from './views/databases.js';
import { databaseView } from './views/database.js';
import { accountView } from './views/account.js';
import { adminView } from './views/admin.js';

const main = document.getElementById('app');
let controller = null;

const routes = [
  { re: /^\/databases$/, view: databasesView, nav: 'databases' },
  { re: /^\/databases\/(postgresql|mariadb)\/([^/]+)$/, view: databaseView, nav: 'databases' },
  { re: /^\/account$/, view: accountView, nav: 'account' },
  { re: /^\/admin$/, view: adminView, nav: 'admin', need: 'admin' },
];

function homeRoute() {
  if (can('database:read')) return '/databases';
  if (can('admin')) return '/admin';
  return '/account';
}

function currentPath() {
  const raw = window.location.hash.replace(/^#/, '');
  return raw === '' ? '/' : raw;
}

function renderHeader() {
  const bar = document.getElementById('topbar');
  if (!signedIn()) {
    bar.hidden = true;
    document.getElementById('who-prefix').textContent = '';
    document.getElementById('who-customer').textContent = '';
    return;
  }
  bar.hidden = false;
  const me = session.me;
  document.getElementById('who-prefix').textContent = me.key_prefix;
  document.getElementById('who-customer').textContent = me.customer_id;
  const acting = document.getElementById('who-acting');
  acting.hidden = !(me.internal && session.customer && session.customer !== me.customer_id);
  document.getElementById('who-acting-customer').textContent = session.customer || '';
  document.getElementById('who-internal').hidden = !me.internal;
  document.getElementById('nav-admin-item').hidden = !can('admin');
  document.getElementById('nav-databases-item').hidden = !can('database:read');
}

function markNav(active) {
  for (const a of document.querySelectorAll('#topbar nav a')) {
    if (a.dataset.nav === active) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
}

export function render() {
  if (controller) controller.abort();
  controller = new AbortController();
  closeDialogs();
  renderHeader();
  clear(main);
  if (!signedIn()) {
    markNav(null);
    document.title = 'Sign in · Cellar';
    signInView(main, { signal: controller.signal, onSignedIn, reason: signOutReason });
    return;
  }
  const path = currentPath();
  let match = null;
  let route = null;
  for (const r of routes) {
    match = path.match(r.re);
    if (match) {
      route = r;
      break;
    }
  }
  if (!route || (route.need && !can(route.need))) {
    const home = homeRoute();
    if (path !== home) {
      window.location.hash = `#${home}`; // hashchange renders
      return;
    }
  }
  markNav(route.nav);
  const params = match.slice(1).map((p) => decodeURIComponent(p));
  route.view(main, { signal: controller.signal, params, refreshHeader: renderHeader });
  const title = document.getElementById('page-title');
  if (title) {
    document.title = `${title.textContent} · Cellar`;
    if (focusOnRender) title.focus({ preventScroll: true });
  }
  focusOnRender = true;
  window.scrollTo(0, 0);
}

let focusOnRender = false;

function onSignedIn() {
  focusOnRender = true;
  const path = currentPath();
  const home = homeRoute();
  const route = routes.find((r) => r.re.test(path));
  if ((!route || (route.need && !can(route.need))) && path !== home) {
    window.location.hash = `#${home}`; // hashchange renders
    return;
  }
  render();
}

function endSession(reason) {
  signOut();
  if (controller) controller.abort();
  controller = null;
  closeDialogs();
  clear(main);
  // Keep no trace of the session's pages in the address bar.
  window.history.replaceState(null, '', window.location.pathname);
  signOutReason = reason || null;
  render();
  signOutReason = null;
  announce(reason ? reason.title : 'Signed out');
}

let signOutReason = null;

document.getElementById('signout').addEventListener('click', () => endSession(null));

setUnauthorizedHandler((err) => {
  if (signedIn()) endSession(err);
});

window.addEventListener('hashchange', render);
render();
