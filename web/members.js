// Organization members: the list (paged) and "add member".

import { get, post, p } from './api.js';
import { h, replace } from './dom.js';
import { dataTable, field, formDialog, button, alertBox, badge, timeEl, toast } from './ui.js';
import { toDate, formatDate } from './time.js';

export function renderMembers(container, { org }) {
  let members = [];
  let continuation;
  const area = h('div', { class: 'table-area', 'aria-busy': 'true' });
  const more = h('div', { class: 'more' });

  async function load(append = false) {
    area.setAttribute('aria-busy', 'true');
    try {
      const page = await get(p`/api/orgs/${org}/members`, { continuationToken: append ? continuation : undefined });
      members = append ? members.concat(page.members || []) : page.members || [];
      continuation = page.continuationToken;
      replace(
        area,
        dataTable({
          caption: `Members of ${org}`,
          empty: 'No members.',
          rows: members,
          columns: [
            { label: 'Login', className: 'col-name', cell: (m) => h('span', { class: 'mono' }, m.user.githubLogin) },
            { label: 'Name', cell: (m) => m.user.name },
            { label: 'Email', cell: (m) => m.user.email || '' },
            { label: 'Role', cell: (m) => (m.role === 'admin' ? badge('admin', 'accent') : badge(m.role, 'neutral')) },
            { label: 'Joined', cell: (m) => timeEl(toDate(m.created), toDate(m.created) ? formatDate(toDate(m.created)) : '—') },
          ],
        }),
      );
      replace(more, continuation ? button('Load more', () => load(true)) : null);
    } catch (e) {
      replace(area, alertBox(e.message));
    } finally {
      area.setAttribute('aria-busy', 'false');
    }
  }

  async function add() {
    const login = h('input', { type: 'text', class: 'input', required: true, autocomplete: 'off', autocapitalize: 'none', spellcheck: 'false' });
    const role = h('select', { class: 'input' }, h('option', { value: 'member' }, 'Member'), h('option', { value: 'admin' }, 'Admin'));
    const added = await formDialog({
      title: `Add a member to ${org}`,
      submitLabel: 'Add member',
      fields: [
        field('Login', login, { hint: 'The user must already exist in Tessera (tessera admin user add).' }),
        field('Role', role, { hint: 'Admins manage members, teams, tokens, the token policy, OIDC issuers and read the audit log.' }),
      ],
      onSubmit: () => post(p`/api/orgs/${org}/members/${login.value.trim()}`, { role: role.value }),
    });
    if (added) {
      toast(`${login.value.trim()} added to ${org}.`);
      await load();
    }
  }

  container.append(
    h(
      'section',
      { class: 'panel' },
      h('div', { class: 'toolbar' }, h('h2', { class: 'section-title' }, 'Members'), h('div', { class: 'toolbar-end' }, button('Add member', add, { variant: 'primary' }))),
      area,
      more,
    ),
  );
  load();
}
