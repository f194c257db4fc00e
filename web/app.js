// Entry point: restores the session, shows sign-in or the console, and routes between pages.

import { get, setUnauthorizedHandler } from './api.js';
import { h, replace } from './dom.js';
import { restore, onSessionChange, expire, signOut } from './session.js';
import { renderSignIn } from './signin.js';
import { renderShell } from './layout.js';
import { currentRoute, onRouteChange } from './router.js';
import { renderTokens } from './tokens.js';
import { renderOrg } from './org.js';
import { alertBox, button, dismissAll } from './ui.js';
import { CLI_LOGIN_PATH, CLI_WELCOME_PATH, renderCliLogin, renderCliWelcome } from './clilogin.js';

const root = document.getElementById('app');
let shell = null;
let profile = null;
let adminOrgs = [];
let generation = 0;

setUnauthorizedHandler(() => expire());

onSessionChange((s, reason) => {
  generation += 1;
  if (!s) {
    dismissAll();
    const wasIn = shell !== null;
    shell = null;
    profile = null;
    let notice = null;
    if (reason === 'expired') notice = 'Your session has ended. Sign in again to continue.';
    else if (reason === 'signed-out' && wasIn) notice = 'You have signed out.';
    if (location.pathname === CLI_LOGIN_PATH) notice = 'Sign in to let the Pulumi CLI use your account.';
    renderSignIn(root, { notice });
    return;
  }
  // The CLI's browser login asks for a confirmation instead of opening the console.
  if (location.pathname === CLI_LOGIN_PATH) renderCliLogin(root, s, () => signOut().catch(() => {}));
  else startConsole(s);
});

async function startConsole(s) {
  const mine = generation;
  try {
    profile = await get('/api/user');
  } catch (e) {
    if (mine !== generation || e.status === 401) return; // the session listener took over
    replace(root, h('main', { class: 'content', id: 'main' }, alertBox(e.message), button('Try again', () => startConsole(s))));
    return;
  }
  if (mine !== generation) return;
  adminOrgs = (profile.organizations || []).filter((o) => o.role === 'admin').map((o) => o.githubLogin || o.name);
  shell = renderShell(root, {
    user: { login: s.user.login, name: s.user.name },
    orgs: adminOrgs,
    onSignOut: () => signOut().catch(() => {}),
  });
  route();
}

function route() {
  if (!shell) return;
  const r = currentRoute();
  shell.setCurrent(r);
  const main = shell.main;
  main.replaceChildren();
  let title = 'My tokens';
  if (r.page === 'org') {
    if (adminOrgs.includes(r.org)) {
      title = renderOrg(main, r);
    } else {
      title = 'Not found';
      main.append(
        h('h1', { tabindex: '-1' }, 'Organization not found'),
        h('p', {}, 'You are not an admin of an organization with that name.'),
        h('p', {}, h('a', { href: '#/tokens' }, 'Back to your tokens')),
      );
    }
  } else {
    renderTokens(main);
  }
  document.title = `${title} · Tessera`;
  const heading = main.querySelector('h1');
  if (heading) heading.focus({ preventScroll: true });
  window.scrollTo(0, 0);
}

onRouteChange(route);

async function boot() {
  if (location.pathname === CLI_WELCOME_PATH) {
    renderCliWelcome(root); // the CLI's browser login is over: nothing to sign in to
    return;
  }
  try {
    await restore();
  } catch (e) {
    replace(root, h('main', { class: 'signin', id: 'main' }, h('div', { class: 'signin-card' }, alertBox(e.message), button('Try again', boot))));
  }
}

boot();
