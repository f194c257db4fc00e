// Teams: ListTeams, CreatePulumiTeam, GetTeam, UpdateTeam, DeleteTeam. Members read; org admins
// create, change and delete; a team's own admins change their team; outsiders see nothing.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { api, memberAdd, orgAdd, runTessera, sql, startServer, tokenCreate, userAdd } from './helpers.mjs';

let srv;
const tok = {};

before(async () => {
  srv = await startServer({
    setup(db) {
      // alice: org admin + site admin (bootstrap); olga: org admin only; bob, tina: members;
      // carol: outsider (member of another org)
      for (const u of ['olga', 'bob', 'tina', 'carol']) userAdd(db, u);
      memberAdd(db, 'acme', 'olga', 'admin');
      memberAdd(db, 'acme', 'bob', 'member');
      memberAdd(db, 'acme', 'tina', 'member');
      orgAdd(db, 'other');
      memberAdd(db, 'other', 'carol', 'admin');
      for (const u of ['olga', 'bob', 'tina', 'carol']) tok[u] = tokenCreate(db, u);
    },
  });
  tok.alice = srv.token;
});

after(async () => {
  await srv?.stop();
});

const create = (as, json) => api(srv, 'POST', '/api/orgs/acme/teams/pulumi', { token: tok[as], json });
const update = (as, team, json) => api(srv, 'PATCH', `/api/orgs/acme/teams/${team}`, { token: tok[as], json });
const get = (as, team) => api(srv, 'GET', `/api/orgs/acme/teams/${team}`, { token: tok[as] });
const del = (as, team) => api(srv, 'DELETE', `/api/orgs/acme/teams/${team}`, { token: tok[as] });
const teamNames = async () =>
  (await api(srv, 'GET', '/api/orgs/acme/teams', { token: tok.olga })).json.teams.map((t) => t.name);

test('org admins create teams; members and outsiders cannot, and nothing changes', async () => {
  assert.equal((await create('bob', { name: 'ops', displayName: 'Ops', description: '' })).status, 403);
  assert.equal((await create('carol', { name: 'ops', displayName: 'Ops', description: '' })).status, 404);
  assert.deepEqual(await teamNames(), []);
  const res = await create('olga', { name: 'ops', displayName: 'Operations', description: 'on call' });
  assert.equal(res.status, 201);
  assert.equal(res.json.name, 'ops');
  assert.equal(res.json.kind, 'pulumi');
  assert.deepEqual(res.json.members, []);
  assert.equal((await create('olga', { name: 'OPS', displayName: 'x', description: '' })).status, 409);
  assert.equal((await create('olga', { name: 'bad name', displayName: 'x', description: '' })).status, 400);
  assert.equal((await create('olga', { name: 'x', displayName: 'x', description: '', kind: 'github' })).status, 400);
  assert.deepEqual(await teamNames(), ['ops']);
});

test('members can list and read teams; outsiders get 404', async () => {
  assert.equal((await api(srv, 'GET', '/api/orgs/acme/teams', { token: tok.bob })).status, 200);
  const res = await get('bob', 'ops');
  assert.equal(res.status, 200);
  assert.equal(res.json.userRole, 'none');
  assert.equal((await get('carol', 'ops')).status, 404);
  assert.equal((await get('bob', 'nope')).status, 404);
});

test('member actions: add, promote, demote, remove, with clear errors', async () => {
  assert.equal((await update('olga', 'ops', { memberAction: 'add', member: 'bob' })).status, 204);
  assert.equal((await update('olga', 'ops', { memberAction: 'add', member: 'bob' })).status, 409);
  assert.equal((await update('olga', 'ops', { memberAction: 'add', member: 'carol' })).status, 400, 'outside the org');
  assert.equal((await update('olga', 'ops', { memberAction: 'add', member: 'nobody' })).status, 404);
  assert.equal((await update('olga', 'ops', { memberAction: 'evict', member: 'bob' })).status, 400);
  assert.equal((await update('olga', 'ops', { memberAction: 'add' })).status, 400);
  assert.equal((await update('olga', 'ops', { memberAction: 'remove', member: 'tina' })).status, 404);
  assert.equal((await update('olga', 'ops', { addStackPermission: { projectName: 'p', stackName: 's', permission: 101 } })).status, 400);
  assert.equal((await update('olga', 'ops', { memberAction: 'promote', member: 'bob' })).status, 204);
  const team = await get('bob', 'ops');
  assert.equal(team.json.userRole, 'admin');
  assert.deepEqual(team.json.members.map((m) => [m.githubLogin, m.role]), [['bob', 'admin']]);
});

test('a team admin manages their own team, but not others, and cannot delete it', async () => {
  assert.equal((await update('bob', 'ops', { newDescription: 'run by bob', newDisplayName: 'Ops!' })).status, 204);
  assert.equal((await update('bob', 'ops', { memberAction: 'add', member: 'tina' })).status, 204);
  assert.equal((await get('tina', 'ops')).json.description, 'run by bob');
  // tina is a plain team member: no changes
  assert.equal((await update('tina', 'ops', { newDescription: 'tina' })).status, 403);
  assert.equal((await get('tina', 'ops')).json.description, 'run by bob');
  assert.equal((await create('olga', { name: 'dev', displayName: 'Dev', description: '' })).status, 201);
  assert.equal((await update('bob', 'dev', { newDescription: 'not mine' })).status, 403);
  assert.equal((await del('bob', 'ops')).status, 403);
  assert.deepEqual(await teamNames(), ['dev', 'ops']);
});

test('an empty update is refused; long descriptions are fine; no-op promotions record nothing', async () => {
  assert.equal((await update('olga', 'ops', {})).status, 400);
  const long = 'd'.repeat(900);
  assert.equal((await update('olga', 'ops', { newDescription: long })).status, 204);
  assert.equal((await get('olga', 'ops')).json.description, long);
  assert.equal((await update('olga', 'ops', { newDescription: 'x'.repeat(1025) })).status, 400);
  assert.equal((await update('olga', 'ops', { newDescription: 'bell\u0007' })).status, 400);
  const count = () => sql(srv, "SELECT count(*) AS n FROM audit WHERE event = 'team-updated'")[0].n;
  const before = count();
  assert.equal((await update('olga', 'ops', { memberAction: 'promote', member: 'bob' })).status, 204); // already admin
  assert.equal(count(), before);
});

test('removing someone from the organization removes them from its teams', async () => {
  const before = (await get('olga', 'ops')).json.members.map((m) => m.githubLogin);
  assert.ok(before.includes('tina'));
  assert.equal((await api(srv, 'DELETE', '/api/orgs/acme/members/tina', { token: tok.olga })).status, 204);
  const after = (await get('olga', 'ops')).json.members.map((m) => m.githubLogin);
  assert.deepEqual(after, before.filter((l) => l !== 'tina'));
});

test('org admins delete teams; deleting twice is 404', async () => {
  assert.equal((await del('olga', 'dev')).status, 204);
  assert.equal((await del('olga', 'dev')).status, 404);
  assert.deepEqual(await teamNames(), ['ops']);
});

test('team changes and refusals are audited, and the chain verifies', () => {
  const rows = sql(srv, 'SELECT event, user_login, auth_failure FROM audit ORDER BY seq');
  const events = rows.map((r) => r.event);
  for (const e of ['team-created', 'team-updated', 'team-deleted', 'member-removed']) assert.ok(events.includes(e), `${e} in ${events}`);
  assert.ok(rows.some((r) => r.event === 'auth-failure-organization-role' && r.user_login === 'tina' && r.auth_failure === 1));
  const v = runTessera(['admin', 'audit', 'verify', '--db', srv.dbPath]);
  assert.equal(v.status, 0, v.stderr);
});
