// An organization's pages: a heading, section navigation, and the chosen section.

import { h } from './dom.js';
import { pageHeader } from './ui.js';
import { href } from './router.js';
import { renderOrgTokens } from './orgtokens.js';
import { renderTeams, renderTeam } from './teams.js';
import { renderMembers } from './members.js';
import { renderPolicy } from './policy.js';
import { renderOidc } from './oidc.js';
import { renderAudit } from './audit.js';

const SECTIONS = [
  { key: 'tokens', label: 'Tokens', render: renderOrgTokens },
  { key: 'teams', label: 'Teams', render: (c, r) => (r.team ? renderTeam(c, r) : renderTeams(c, r)) },
  { key: 'members', label: 'Members', render: renderMembers },
  { key: 'policy', label: 'Token policy', render: renderPolicy },
  { key: 'oidc', label: 'OIDC issuers', render: renderOidc },
  { key: 'audit', label: 'Audit log', render: renderAudit },
];

/** Renders the org page into main; returns the document title. */
export function renderOrg(main, route) {
  const section = SECTIONS.find((s) => s.key === route.section) || SECTIONS[0];
  const nav = h(
    'nav',
    { class: 'subnav', 'aria-label': `Organization ${route.org}` },
    h(
      'ul',
      {},
      SECTIONS.map((s) =>
        h('li', {}, h('a', { href: href('orgs', route.org, s.key), class: 'subnav-link', 'aria-current': s === section ? 'page' : null }, s.label)),
      ),
    ),
  );
  const body = h('div', { class: 'org-section' });
  main.append(pageHeader(route.org, { subtitle: 'Organization' }), nav, body);
  section.render(body, route);
  return `${route.team && section.key === 'teams' ? route.team : section.label} · ${route.org}`;
}
