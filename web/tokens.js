// The personal tokens page.

import { h } from './dom.js';
import { pageHeader } from './ui.js';
import { tokenList } from './tokenlist.js';

export function renderTokens(main) {
  main.append(
    pageHeader('Personal access tokens', {
      subtitle: 'Tokens that act as you: use them with the Pulumi CLI (PULUMI_ACCESS_TOKEN) or the REST API.',
    }),
    tokenList({
      kind: 'personal',
      listPath: '/api/user/tokens',
      createPath: '/api/user/tokens',
      tokenPath: (id) => `/api/user/tokens/${encodeURIComponent(id)}`,
      caption: 'Personal access tokens',
      dialog: { title: 'Create a personal access token' },
    }),
    h('p', { class: 'hint page-foot' }, 'The console’s own sign-in sessions are not listed here; signing out ends them.'),
  );
}
