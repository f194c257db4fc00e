// The signed-in frame: skip link, top bar with navigation and sign-out, and <main>.

import { h, replace } from './dom.js';
import { href } from './router.js';

/**
 * user: {login, name}; orgs: the organizations the user administers; onSignOut().
 * Returns {main, setCurrent(route)}.
 */
export function renderShell(root, { user, orgs, onSignOut }) {
  const links = [{ key: 'tokens', label: 'My tokens', href: href('tokens') }].concat(
    orgs.map((o) => ({ key: `org:${o}`, label: o, href: href('orgs', o, 'tokens'), org: true })),
  );
  const anchors = new Map();
  const nav = h(
    'nav',
    { class: 'mainnav', 'aria-label': 'Main' },
    h(
      'ul',
      {},
      links.map((l) => {
        const a = h('a', { href: l.href, class: ['navlink', l.org && 'navlink-org'] }, l.org ? h('span', { class: 'visually-hidden' }, 'Organization ') : null, l.label);
        anchors.set(l.key, a);
        return h('li', {}, a);
      }),
    ),
  );
  const main = h('main', { id: 'main', class: 'content', tabindex: '-1' });
  const skip = h('a', { class: 'skip-link', href: '#main' }, 'Skip to content');
  skip.addEventListener('click', (e) => {
    e.preventDefault();
    (main.querySelector('h1') || main).focus();
  });
  const signOut = h('button', { type: 'button', class: 'btn btn-quiet' }, 'Sign out');
  signOut.addEventListener('click', () => {
    signOut.disabled = true;
    onSignOut().finally(() => (signOut.disabled = false));
  });

  replace(
    root,
    skip,
    h(
      'header',
      { class: 'topbar' },
      h('a', { class: 'brand', href: href('tokens') }, h('img', { src: '/console/logo.svg', alt: '', width: '28', height: '28' }), h('span', {}, 'Tessera')),
      nav,
      h(
        'div',
        { class: 'account' },
        h('span', { class: 'account-name', title: user.login }, h('span', { class: 'visually-hidden' }, 'Signed in as '), user.name || user.login),
        signOut,
      ),
    ),
    main,
  );

  return {
    main,
    setCurrent(route) {
      const key = route.page === 'org' ? `org:${route.org}` : 'tokens';
      for (const [k, a] of anchors) {
        if (k === key) a.setAttribute('aria-current', 'page');
        else a.removeAttribute('aria-current');
      }
    },
  };
}
