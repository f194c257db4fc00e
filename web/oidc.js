// OIDC issuers: list, register, delete, and each issuer's authorization policy as JSON.

import { get, post, patch, del, p } from './api.js';
import { h, replace } from './dom.js';
import { dataTable, field, formDialog, confirmDialog, button, alertBox, timeEl, toast } from './ui.js';
import { toDate, formatDate } from './time.js';

const EXAMPLE = [
  {
    decision: 'allow',
    tokenType: 'organization',
    authorizedPermissions: ['admin'],
    rules: { sub: 'repo:acme/infra:ref:refs/heads/main' },
  },
];

function hours(seconds) {
  if (!seconds) return '—';
  const h = seconds / 3600;
  return Number.isInteger(h) ? `${h} h` : `${Math.round(seconds / 60)} min`;
}

export function renderOidc(container, { org }) {
  const area = h('div', { class: 'table-area', 'aria-busy': 'true' });

  async function load() {
    area.setAttribute('aria-busy', 'true');
    try {
      const { oidcIssuers = [] } = await get(p`/api/orgs/${org}/oidc/issuers`);
      replace(
        area,
        dataTable({
          caption: 'OIDC issuers',
          empty: 'No issuers registered. CI systems exchange their ID tokens for Tessera tokens once an issuer and its policy exist.',
          rows: oidcIssuers,
          columns: [
            { label: 'Name', className: 'col-name', cell: (i) => i.name },
            { label: 'URL', className: 'col-url', cell: (i) => h('span', { class: 'mono break' }, i.url) },
            { label: 'Max token lifetime', cell: (i) => hours(i.maxExpiration) },
            { label: 'Pinned certificates', cell: (i) => String((i.thumbprints || []).length) },
            { label: 'Created', cell: (i) => timeEl(toDate(i.created), toDate(i.created) ? formatDate(toDate(i.created)) : '—') },
            {
              label: 'Actions',
              className: 'col-actions',
              cell: (i) =>
                h(
                  'div',
                  { class: 'row-actions' },
                  button('Policy', () => editPolicy(i), { ariaLabel: `Authorization policy of issuer ${i.name}` }),
                  button('Delete', () => remove(i), { variant: 'danger-quiet', ariaLabel: `Delete issuer ${i.name}` }),
                ),
            },
          ],
        }),
      );
    } catch (e) {
      replace(area, alertBox(e.message));
    } finally {
      area.setAttribute('aria-busy', 'false');
    }
  }

  async function register() {
    const name = h('input', { type: 'text', class: 'input', required: true, autocomplete: 'off' });
    const url = h('input', { type: 'url', class: 'input', required: true, placeholder: 'https://token.actions.githubusercontent.com', autocomplete: 'off', spellcheck: 'false' });
    const maxHours = h('input', { type: 'number', class: 'input input-narrow', min: '1', step: '1', inputmode: 'numeric' });
    const jwks = h('textarea', { class: 'input mono', rows: '5', spellcheck: 'false' });
    const created = await formDialog({
      title: 'Register an OIDC issuer',
      submitLabel: 'Register',
      wide: true,
      fields: [
        field('Name', name),
        field('Issuer URL', url, { hint: 'Tessera fetches URL/.well-known/openid-configuration and the key set over HTTPS.' }),
        field('Max token lifetime (hours)', maxHours, { hint: 'Optional; 25 hours by default.' }),
        field('Static key set (JWKS JSON)', jwks, { hint: 'Optional: a {"keys": [...]} document used instead of fetching the keys.' }),
      ],
      onSubmit: () => {
        const body = { name: name.value.trim(), url: url.value.trim() };
        if (maxHours.value) body.maxExpiration = Number(maxHours.value) * 3600;
        if (jwks.value.trim()) {
          try {
            body.jwks = JSON.parse(jwks.value);
          } catch (e) {
            throw new Error(`The key set is not valid JSON: ${e.message}`);
          }
        }
        return post(p`/api/orgs/${org}/oidc/issuers`, body);
      },
    });
    if (created) {
      toast(`Issuer ${created.name || name.value} registered.`);
      await load();
    }
  }

  async function remove(issuer) {
    const ok = await confirmDialog({
      title: 'Delete issuer?',
      message: [h('p', {}, 'Delete ', h('strong', {}, issuer.name), '? Its policy goes with it and exchanges from it stop at once.')],
      confirmLabel: 'Delete issuer',
      action: () => del(p`/api/orgs/${org}/oidc/issuers/${issuer.id}`),
    });
    if (ok) {
      toast(`Issuer ${issuer.name} deleted.`);
      await load();
    }
  }

  async function editPolicy(issuer) {
    let policy;
    try {
      policy = await get(p`/api/orgs/${org}/auth/policies/oidcissuers/${issuer.id}`);
    } catch (e) {
      toast(e.message);
      return;
    }
    const text = h('textarea', { class: 'input mono policy-json', rows: '16', spellcheck: 'false', autocomplete: 'off' });
    text.value = JSON.stringify(policy.policies || [], null, 2);
    const example = h('details', { class: 'example' }, h('summary', {}, 'Example rule'), h('pre', { class: 'mono' }, JSON.stringify(EXAMPLE, null, 2)));
    const saved = await formDialog({
      title: `Policy of ${issuer.name}`,
      intro: `Version ${policy.version}${policy.modified ? `, changed ${formatDate(new Date(policy.modified))}` : ''}. A matching deny wins; with no match, the exchange is refused.`,
      submitLabel: 'Save policy',
      wide: true,
      fields: [field('Rules (JSON array)', text, { hint: 'Each rule: decision, tokenType, authorizedPermissions, rules; teamName or userLogin where the type needs it.' }), example],
      onSubmit: () => {
        let policies;
        try {
          policies = JSON.parse(text.value);
        } catch (e) {
          throw new Error(`Not valid JSON: ${e.message}`);
        }
        if (!Array.isArray(policies)) throw new Error('The rules must be a JSON array.');
        return patch(p`/api/orgs/${org}/auth/policies/${policy.id}`, { policies });
      },
    });
    if (saved) toast(`Policy of ${issuer.name} saved (version ${saved.version}).`);
  }

  container.append(
    h(
      'section',
      { class: 'panel' },
      h('div', { class: 'toolbar' }, h('h2', { class: 'section-title' }, 'OIDC issuers'), h('div', { class: 'toolbar-end' }, button('Register issuer', register, { variant: 'primary' }))),
      area,
    ),
  );
  load();
}
