// Teams: the list with "create team", and one team's members and tokens.

import { get, post, patch, p } from './api.js';
import { h, replace } from './dom.js';
import { dataTable, field, formDialog, confirmDialog, button, alertBox, badge, toast } from './ui.js';
import { href } from './router.js';
import { tokenList } from './tokenlist.js';
import { orgMaxDays } from './orgapi.js';

export function renderTeams(container, { org }) {
  const area = h('div', { class: 'table-area', 'aria-busy': 'true' });

  async function load() {
    try {
      const { teams = [] } = await get(p`/api/orgs/${org}/teams`);
      replace(
        area,
        dataTable({
          caption: 'Teams',
          empty: 'No teams yet.',
          rows: teams,
          columns: [
            { label: 'Name', className: 'col-name', cell: (t) => h('a', { href: href('orgs', org, 'teams', t.name), class: 'mono' }, t.name) },
            { label: 'Display name', cell: (t) => t.displayName },
            { label: 'Description', className: 'col-desc', cell: (t) => t.description },
            { label: 'Your role', cell: (t) => (t.userRole && t.userRole !== 'none' ? t.userRole : '—') },
          ],
        }),
      );
    } catch (e) {
      replace(area, alertBox(e.message));
    } finally {
      area.setAttribute('aria-busy', 'false');
    }
  }

  async function create() {
    const name = h('input', { type: 'text', class: 'input', required: true, maxlength: '64', pattern: '[A-Za-z0-9._\\-]+', autocomplete: 'off', spellcheck: 'false' });
    const displayName = h('input', { type: 'text', class: 'input', maxlength: '100', autocomplete: 'off' });
    const description = h('textarea', { class: 'input', rows: '3', maxlength: '1024' });
    const team = await formDialog({
      title: 'Create a team',
      submitLabel: 'Create team',
      fields: [
        field('Name', name, { hint: 'Letters, digits, “.”, “_” or “-”. Used in URLs and tokens.' }),
        field('Display name', displayName, { hint: 'Optional; the name by default.' }),
        field('Description', description),
      ],
      onSubmit: () =>
        post(p`/api/orgs/${org}/teams/pulumi`, {
          name: name.value.trim(),
          displayName: displayName.value.trim() || name.value.trim(),
          description: description.value.trim(),
        }),
    });
    if (team) {
      toast(`Team ${team.name || name.value} created.`);
      await load();
    }
  }

  container.append(
    h(
      'section',
      { class: 'panel' },
      h('div', { class: 'toolbar' }, h('h2', { class: 'section-title' }, 'Teams'), h('div', { class: 'toolbar-end' }, button('Create team', create, { variant: 'primary' }))),
      area,
    ),
  );
  load();
}

export function renderTeam(container, { org, team }) {
  const info = h('div', { class: 'team-info' });
  const members = h('div', { class: 'table-area', 'aria-busy': 'true' });

  async function load() {
    try {
      const t = await get(p`/api/orgs/${org}/teams/${team}`);
      replace(info, h('h2', { class: 'section-title' }, t.displayName || t.name), t.description ? h('p', { class: 'muted' }, t.description) : null);
      replace(
        members,
        dataTable({
          caption: `Members of team ${t.name}`,
          empty: 'This team has no members yet.',
          rows: t.members || [],
          columns: [
            { label: 'Login', className: 'col-name', cell: (m) => h('span', { class: 'mono' }, m.githubLogin) },
            { label: 'Name', cell: (m) => m.name },
            { label: 'Team role', cell: (m) => (m.role === 'admin' ? badge('team admin', 'accent') : 'member') },
            {
              label: 'Actions',
              className: 'col-actions',
              cell: (m) => button('Remove', () => remove(m), { variant: 'danger-quiet', ariaLabel: `Remove ${m.githubLogin} from team ${t.name}` }),
            },
          ],
        }),
      );
    } catch (e) {
      replace(members, alertBox(e.message));
    } finally {
      members.setAttribute('aria-busy', 'false');
    }
  }

  async function add() {
    const login = h('input', { type: 'text', class: 'input', required: true, autocomplete: 'off', autocapitalize: 'none', spellcheck: 'false' });
    const ok = await formDialog({
      title: `Add a member to ${team}`,
      submitLabel: 'Add to team',
      fields: [field('Login', login, { hint: 'Only members of the organization can join its teams.' })],
      onSubmit: () => patch(p`/api/orgs/${org}/teams/${team}`, { memberAction: 'add', member: login.value.trim() }),
    });
    if (ok) {
      toast(`${login.value.trim()} added to ${team}.`);
      await load();
    }
  }

  async function remove(m) {
    const ok = await confirmDialog({
      title: 'Remove from team?',
      message: [h('p', {}, 'Remove ', h('strong', {}, m.githubLogin), ` from team ${team}? They stay in the organization.`)],
      confirmLabel: 'Remove',
      action: () => patch(p`/api/orgs/${org}/teams/${team}`, { memberAction: 'remove', member: m.githubLogin }),
    });
    if (ok) {
      toast(`${m.githubLogin} removed from ${team}.`);
      await load();
    }
  }

  container.append(
    h('p', { class: 'back' }, h('a', { href: href('orgs', org, 'teams') }, '← All teams')),
    h(
      'section',
      { class: 'panel' },
      h('div', { class: 'toolbar' }, info, h('div', { class: 'toolbar-end' }, button('Add member', add, { variant: 'primary' }))),
      members,
    ),
    tokenList({
      kind: 'team',
      title: 'Team tokens',
      listPath: p`/api/orgs/${org}/teams/${team}/tokens`,
      createPath: p`/api/orgs/${org}/teams/${team}/tokens`,
      tokenPath: (id) => p`/api/orgs/${org}/teams/${team}/tokens/${id}`,
      createLabel: 'Create team token',
      dialog: async () => ({
        title: `Create a token for team ${team}`,
        intro: 'A team token acts as the organization with a member’s rights.',
        withName: true,
        maxDays: await orgMaxDays(org),
      }),
    }),
  );
  load();
}
