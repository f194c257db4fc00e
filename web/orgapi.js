// Small organization look-ups shared by several org pages.

import { get, p } from './api.js';

/** The organization's token-lifetime cap in days (0 = none). */
export async function orgMaxDays(org) {
  const meta = await get(p`/api/orgs/${org}/metadata`);
  return meta && meta.maxAccessTokenExpiryDays ? meta.maxAccessTokenExpiryDays : 0;
}
