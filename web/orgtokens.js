// Organization tokens: act as the organization (admin or member rights), named, never reused.

import { p } from './api.js';
import { tokenList } from './tokenlist.js';
import { orgMaxDays } from './orgapi.js';

export function renderOrgTokens(container, { org }) {
  container.append(
    tokenList({
      kind: 'org',
      title: 'Organization tokens',
      listPath: p`/api/orgs/${org}/tokens`,
      createPath: p`/api/orgs/${org}/tokens`,
      tokenPath: (id) => p`/api/orgs/${org}/tokens/${id}`,
      dialog: async () => ({
        title: 'Create an organization token',
        intro: 'An organization token acts as the organization, not as you.',
        withName: true,
        withAdmin: true,
        maxDays: await orgMaxDays(org),
      }),
    }),
  );
}
