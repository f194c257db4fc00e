// A list of tokens (personal, organization or team): filter, table, paging, create, revoke.

import { get, post, del } from './api.js';
import { h, replace } from './dom.js';
import { segmented, dataTable, badge, timeEl, button, alertBox, confirmDialog, toast } from './ui.js';
import { createTokenDialog } from './tokendialog.js';
import { expiresText, lastUsedText, isExpired, toDate, formatDate } from './time.js';

const SOURCES = { console: 'Console', api: 'API', oidc: 'OIDC', admin: 'Admin' };
const PAGE = 100;

function tokenLabel(t) {
  return t.name || t.description || t.id;
}

function columnsFor(kind, revoke) {
  const cols = [];
  if (kind !== 'personal') cols.push({ label: 'Name', className: 'col-name', cell: (t) => h('span', { class: 'mono' }, t.name) });
  // The reason its creation gave (?reason=, e.g. "cli-login") sits under the description.
  cols.push({
    label: 'Description',
    className: 'col-desc',
    cell: (t) => {
      const text = t.description || h('span', { class: 'muted' }, 'No description');
      return t.reason ? h('span', {}, text, h('span', { class: 'muted token-reason' }, `Reason: ${t.reason}`)) : text;
    },
  });
  if (kind === 'org') cols.push({ label: 'Admin', cell: (t) => (t.admin ? badge('admin', 'accent') : 'no') });
  cols.push(
    { label: 'Created', cell: (t) => timeEl(toDate(t.created), toDate(t.created) ? formatDate(toDate(t.created)) : '—') },
    { label: 'Last used', cell: (t) => timeEl(toDate(t.lastUsed), lastUsedText(t.lastUsed)) },
    { label: 'Expires', className: 'col-expires', cell: (t) => timeEl(toDate(t.expires), expiresText(t.expires)) },
    { label: 'Status', cell: (t) => (isExpired(t.expires) ? badge('expired', 'muted') : badge('active', 'ok')) },
  );
  if (kind === 'personal') cols.push({ label: 'Source', cell: (t) => SOURCES[t.source] || t.source || '—' });
  else cols.push({ label: 'Created by', cell: (t) => t.createdBy });
  cols.push({
    label: 'Actions',
    className: 'col-actions',
    cell: (t) => button('Revoke', () => revoke(t), { variant: 'danger-quiet', ariaLabel: `Revoke token ${tokenLabel(t)}` }),
  });
  return cols;
}

/**
 * opts: kind ('personal' | 'org' | 'team'), listPath, tokenPath(id), createPath, dialog
 * ({title, withName, withAdmin, maxDays, intro}, or an async function returning it, asked when
 * the create button is pressed), title (section heading, h2), caption, createLabel.
 * Returns the section element; it loads itself.
 */
export function tokenList({ kind, listPath, tokenPath, createPath, dialog, title, caption, createLabel = 'Create token' }) {
  let filter = 'active';
  let tokens = [];
  let continuation;
  const tableArea = h('div', { class: 'table-area', 'aria-busy': 'true' });
  const more = h('div', { class: 'more' });

  async function load(append = false) {
    tableArea.setAttribute('aria-busy', 'true');
    try {
      const page = await get(listPath, { filter, maxResults: PAGE, continuationToken: append ? continuation : undefined });
      tokens = append ? tokens.concat(page.tokens || []) : page.tokens || [];
      continuation = page.continuationToken;
      render();
    } catch (e) {
      replace(tableArea, alertBox(e.message));
      replace(more);
    } finally {
      tableArea.setAttribute('aria-busy', 'false');
    }
  }

  function render() {
    const empty = { active: 'No active tokens.', expired: 'No expired tokens.', all: 'No tokens yet.' }[filter];
    replace(tableArea, dataTable({ caption: caption || title, columns: columnsFor(kind, revoke), rows: tokens, empty }));
    replace(more, continuation ? button('Load more', () => load(true)) : null);
  }

  async function revoke(t) {
    const done = await confirmDialog({
      title: 'Revoke token?',
      message: [
        h('p', {}, 'Revoke ', h('strong', {}, tokenLabel(t)), '? Anything that uses it stops working at once. This cannot be undone.'),
      ],
      confirmLabel: 'Revoke token',
      action: () => del(tokenPath(t.id)),
    });
    if (done) {
      toast('Token revoked.');
      await load();
    }
  }

  async function create() {
    let options = dialog;
    if (typeof dialog === 'function') {
      try {
        options = await dialog();
      } catch (e) {
        toast(e.message);
        return;
      }
    }
    const created = await createTokenDialog({ ...options, create: (body) => post(createPath, body) });
    if (created) await load();
  }

  const filters = segmented({
    legend: 'Show',
    options: [
      { value: 'active', label: 'Active' },
      { value: 'expired', label: 'Expired' },
      { value: 'all', label: 'All' },
    ],
    value: filter,
    onChange: (v) => {
      filter = v;
      load();
    },
  });

  const section = h(
    'section',
    { class: 'panel' },
    h(
      'div',
      { class: 'toolbar' },
      title ? h('h2', { class: 'section-title' }, title) : null,
      filters.node,
      h('div', { class: 'toolbar-end' }, button(createLabel, create, { variant: 'primary' })),
    ),
    tableArea,
    more,
  );
  load();
  return section;
}
