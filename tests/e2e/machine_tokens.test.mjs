// Organization and team access tokens: CreateOrgToken, ListOrgTokens, DeleteOrgToken,
// CreateTeamToken, ListTeamTokens, DeleteTeamToken, and what such tokens are when used
// (GET /api/user, their rights). The full role-by-route matrix is in permissions.test.mjs.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  api,
  assert401,
  assertTokenValue,
  memberAdd,
  nowSeconds,
  poll,
  startServer,
  tokenCreate,
  userAdd,
  UUID_V4_RE,
} from './helpers.mjs';

let srv;
const tok = {};

before(async () => {
  srv = await startServer({
    setup(db) {
      for (const u of ['olga', 'bob']) userAdd(db, u);
      memberAdd(db, 'acme', 'olga', 'admin');
      memberAdd(db, 'acme', 'bob', 'member');
      for (const u of ['olga', 'bob']) tok[u] = tokenCreate(db, u);
    },
  });
  tok.alice = srv.token;
  const team = await api(srv, 'POST', '/api/orgs/acme/teams/pulumi', {
    token: tok.olga,
    json: { name: 'ops', displayName: 'Ops', description: '' },
  });
  assert.equal(team.status, 201);
});

after(async () => {
  await srv?.stop();
});

const orgCreate = (token, json, query = '') => api(srv, 'POST', `/api/orgs/acme/tokens${query}`, { token, json });
const teamCreate = (token, json, team = 'ops') => api(srv, 'POST', `/api/orgs/acme/teams/${team}/tokens`, { token, json });
const orgList = (token, query = '') => api(srv, 'GET', `/api/orgs/acme/tokens${query}`, { token });
const teamList = (token, team = 'ops') => api(srv, 'GET', `/api/orgs/acme/teams/${team}/tokens`, { token });

async function created(res) {
  assert.equal(res.status, 200, res.text);
  assert.match(res.json.id, UUID_V4_RE);
  assertTokenValue(res.json.tokenValue);
  return res.json;
}

test('an admin creates an org token that is listed with its name, kind and admin flag', async () => {
  const before = nowSeconds();
  const t = await created(await orgCreate(tok.olga, { name: 'ci-admin', description: 'CI', expires: 0, admin: true }));
  const list = await orgList(tok.olga);
  assert.equal(list.status, 200);
  const row = list.json.tokens.find((x) => x.id === t.id);
  assert.ok(row, 'the new token is listed');
  assert.equal(row.name, 'ci-admin');
  assert.equal(row.description, 'CI');
  assert.equal(row.admin, true);
  assert.equal(row.type, 'organization');
  assert.equal(row.createdBy, 'olga');
  assert.equal(row.expires, 0);
  assert.ok(Date.parse(row.created) / 1000 >= before - 1);
  // A personal listing does not show it; a team listing does not either.
  assert.ok(!(await api(srv, 'GET', '/api/user/tokens', { token: tok.olga })).json.tokens.some((x) => x.id === t.id));
  assert.ok(!(await teamList(tok.olga)).json.tokens.some((x) => x.id === t.id));
});

test('an org token acts as the organization: /api/user shows the org and tokenInfo', async () => {
  const admin = await created(await orgCreate(tok.olga, { name: 'whoami-admin', description: '', expires: 0, admin: true }));
  const plain = await created(await orgCreate(tok.olga, { name: 'whoami-plain', description: '', expires: 0, admin: false }));
  const a = await api(srv, 'GET', '/api/user', { token: admin.tokenValue });
  assert.equal(a.status, 200);
  assert.equal(a.json.githubLogin, 'acme');
  assert.deepEqual(a.json.tokenInfo, { name: 'whoami-admin', organization: 'acme', team: '' });
  assert.deepEqual(a.json.organizations.map((o) => [o.githubLogin, o.role]), [['acme', 'admin']]);
  assert.equal(a.json.siteAdmin, false);
  const p = await api(srv, 'GET', '/api/user', { token: plain.tokenValue });
  assert.deepEqual(p.json.organizations.map((o) => [o.githubLogin, o.role]), [['acme', 'member']]);
  const d = await api(srv, 'GET', '/api/user/organizations/default', { token: plain.tokenValue });
  assert.equal(d.json.GitHubLogin, 'acme');
  // Personal tokens' routes are for users.
  assert.equal((await api(srv, 'GET', '/api/user/tokens', { token: admin.tokenValue })).status, 403);
  assert.equal((await api(srv, 'POST', '/api/user/tokens', { token: admin.tokenValue, json: {} })).status, 403);
});

test('admin org tokens have admin rights but cannot create or delete org tokens', async () => {
  const admin = await created(await orgCreate(tok.olga, { name: 'robot-admin', description: '', expires: 0, admin: true }));
  const plain = await created(await orgCreate(tok.olga, { name: 'robot-plain', description: '', expires: 0, admin: false }));
  // Admin rights: manage members.
  assert.equal((await api(srv, 'PATCH', '/api/orgs/acme/members/bob', { token: admin.tokenValue, json: { role: 'member' } })).status, 204);
  assert.equal((await api(srv, 'PATCH', '/api/orgs/acme/members/bob', { token: plain.tokenValue, json: { role: 'admin' } })).status, 403);
  // No token may mint or remove org tokens, not even an admin one.
  const names = async () => (await orgList(tok.olga, '?filter=all')).json.tokens.map((t) => t.name).sort();
  const before = await names();
  const res = await orgCreate(admin.tokenValue, { name: 'successor', description: '', expires: 0, admin: true });
  assert.equal(res.status, 403);
  assert.match(res.json.message, /user's own access token/);
  assert.equal((await api(srv, 'DELETE', `/api/orgs/acme/tokens/${plain.id}`, { token: admin.tokenValue })).status, 403);
  assert.deepEqual(await names(), before);
  assert.equal((await api(srv, 'GET', '/api/user', { token: plain.tokenValue })).status, 200);
  // But an admin org token may list them, and manage team tokens.
  assert.equal((await orgList(admin.tokenValue)).status, 200);
  const t = await created(await teamCreate(admin.tokenValue, { name: 'made-by-robot', description: '', expires: 0 }));
  const row = (await teamList(tok.olga)).json.tokens.find((x) => x.id === t.id);
  assert.equal(row.createdBy, 'acme/robot-admin'); // who made it: the token, not a person
  // Members and non-admin tokens cannot create org tokens.
  assert.equal((await orgCreate(tok.bob, { name: 'by-bob', description: '', expires: 0, admin: false })).status, 403);
  assert.equal((await orgCreate(plain.tokenValue, { name: 'by-plain', description: '', expires: 0, admin: false })).status, 403);
});

test('team tokens: org admins create them, they show the team, and act with member rights', async () => {
  const t = await created(await teamCreate(tok.olga, { name: 'deploy', description: 'deploys', expires: 0 }));
  const list = await teamList(tok.olga);
  const row = list.json.tokens.find((x) => x.id === t.id);
  assert.equal(row.type, 'team');
  assert.equal(row.admin, false);
  assert.equal(row.name, 'deploy');
  const me = await api(srv, 'GET', '/api/user', { token: t.tokenValue });
  assert.deepEqual(me.json.tokenInfo, { name: 'deploy', organization: 'acme', team: 'ops' });
  assert.equal((await api(srv, 'GET', '/api/orgs/acme/teams/ops', { token: t.tokenValue })).status, 200);
  assert.equal((await teamCreate(t.tokenValue, { name: 'child', description: '', expires: 0 })).status, 403);
  assert.equal((await api(srv, 'PATCH', '/api/orgs/acme/teams/ops', { token: t.tokenValue, json: { newDescription: 'x' } })).status, 403);
  // The admin flag is an org-token field: a team token body with it is refused.
  assert.equal((await teamCreate(tok.olga, { name: 'adm', description: '', expires: 0, admin: true })).status, 400);
});

test('names: 1-40 of [A-Za-z0-9_-], unique across org and team tokens forever, ignoring case', async () => {
  for (const name of ['', 'a'.repeat(41), 'has space', 'dot.ted', 'caf\u00e9', 'slash/y']) {
    const res = await orgCreate(tok.olga, { name, description: '', expires: 0, admin: false });
    assert.equal(res.status, 400, `name ${JSON.stringify(name)}: ${res.text}`);
  }
  assert.equal((await orgCreate(tok.olga, { description: '', expires: 0, admin: false })).status, 400);
  assert.equal((await orgCreate(tok.olga, { name: 7, description: '', expires: 0, admin: false })).status, 400);
  const t = await created(await orgCreate(tok.olga, { name: 'x'.repeat(40), description: '', expires: 0, admin: false }));
  const again = await orgCreate(tok.olga, { name: 'X'.repeat(40), description: '', expires: 0, admin: false });
  assert.equal(again.status, 409);
  assert.match(again.json.message, /never reused/);
  assert.equal((await teamCreate(tok.olga, { name: 'x'.repeat(40), description: '', expires: 0 })).status, 409);
  assert.equal((await api(srv, 'DELETE', `/api/orgs/acme/tokens/${t.id}`, { token: tok.olga })).status, 204);
  assert.equal((await orgCreate(tok.olga, { name: 'x'.repeat(40), description: '', expires: 0, admin: false })).status, 409);
  // Other bad bodies.
  const bad = [
    { name: 'b1', description: '', expires: 0, admin: 'yes' },
    { name: 'b2', description: '', expires: 0, admin: false, roleID: 'custom' },
    { name: 'b3', description: '', expires: 0, admin: false, extra: 1 },
    { name: 'b4', description: 5, expires: 0, admin: false },
    { name: 'b5', description: '', expires: nowSeconds() - 10, admin: false },
    { name: 'b6', description: '', expires: nowSeconds() + 3 * 366 * 86400, admin: false },
  ];
  for (const body of bad) assert.equal((await orgCreate(tok.olga, body)).status, 400, JSON.stringify(body));
  // None of the refused names was taken.
  await created(await orgCreate(tok.olga, { name: 'b1', description: '', expires: 0, admin: false }));
});

test('deleting: kinds are kept apart, and a deleted token stops working at once', async () => {
  const org = await created(await orgCreate(tok.olga, { name: 'del-org', description: '', expires: 0, admin: false }));
  const team = await created(await teamCreate(tok.olga, { name: 'del-team', description: '', expires: 0 }));
  const wrong = await api(srv, 'DELETE', `/api/orgs/acme/teams/ops/tokens/${org.id}`, { token: tok.olga });
  assert.equal(wrong.status, 400);
  assert.equal(wrong.json.message, 'Bad Request: the requested token is not a team token');
  assert.equal((await api(srv, 'DELETE', `/api/orgs/acme/tokens/${team.id}`, { token: tok.olga })).status, 400);
  assert.equal((await api(srv, 'DELETE', '/api/orgs/acme/tokens/00000000-0000-4000-8000-000000000000', { token: tok.olga })).status, 404);
  assert.equal((await api(srv, 'DELETE', '/api/orgs/acme/tokens/not-a-uuid', { token: tok.olga })).status, 404);
  // A personal token's id is no org token.
  const mine = (await api(srv, 'GET', '/api/user/tokens', { token: tok.olga })).json.tokens[0];
  assert.equal((await api(srv, 'DELETE', `/api/orgs/acme/tokens/${mine.id}`, { token: tok.olga })).status, 404);
  assert.equal((await api(srv, 'GET', '/api/user', { token: org.tokenValue })).status, 200);
  assert.equal((await api(srv, 'GET', '/api/user', { token: team.tokenValue })).status, 200);
  assert.equal((await api(srv, 'DELETE', `/api/orgs/acme/tokens/${org.id}`, { token: tok.olga })).status, 204);
  assert.equal((await api(srv, 'DELETE', `/api/orgs/acme/teams/ops/tokens/${team.id}?reason=rotated`, { token: tok.olga })).status, 204);
  assert401(await api(srv, 'GET', '/api/user', { token: org.tokenValue }));
  assert401(await api(srv, 'GET', '/api/user', { token: team.tokenValue }));
  assert.equal((await api(srv, 'DELETE', `/api/orgs/acme/tokens/${org.id}`, { token: tok.olga })).status, 404);
});

test('deleting a team invalidates its tokens', async () => {
  assert.equal(
    (await api(srv, 'POST', '/api/orgs/acme/teams/pulumi', { token: tok.olga, json: { name: 'temp', displayName: 'T', description: '' } })).status,
    201,
  );
  const t = await created(await teamCreate(tok.olga, { name: 'temp-token', description: '', expires: 0 }, 'temp'));
  assert.equal((await api(srv, 'GET', '/api/orgs/acme', { token: t.tokenValue })).status, 200);
  assert.equal((await api(srv, 'DELETE', '/api/orgs/acme/teams/temp', { token: tok.olga })).status, 204);
  assert401(await api(srv, 'GET', '/api/orgs/acme', { token: t.tokenValue }));
  // Its name stays taken.
  assert.equal((await orgCreate(tok.olga, { name: 'temp-token', description: '', expires: 0, admin: false })).status, 409);
});

test('listings page with continuation tokens bound to their listing, and filter by expiry', async () => {
  await api(srv, 'POST', '/api/orgs/acme/teams/pulumi', { token: tok.olga, json: { name: 'pages', displayName: 'P', description: '' } });
  const ids = [];
  for (let i = 0; i < 5; i++) ids.push((await created(await teamCreate(tok.olga, { name: `page-${i}`, description: '', expires: nowSeconds() + 3600 }, 'pages'))).id);
  const seen = [];
  let page = await api(srv, 'GET', '/api/orgs/acme/teams/pages/tokens?maxResults=2', { token: tok.olga });
  seen.push(...page.json.tokens.map((t) => t.id));
  const first = page.json.continuationToken;
  assert.ok(first);
  while (page.json.continuationToken) {
    page = await api(srv, 'GET', `/api/orgs/acme/teams/pages/tokens?maxResults=2&continuationToken=${encodeURIComponent(page.json.continuationToken)}`, { token: tok.olga });
    assert.equal(page.status, 200);
    seen.push(...page.json.tokens.map((t) => t.id));
  }
  assert.deepEqual(seen, [...ids].reverse());
  // Another listing refuses this listing's continuation token.
  assert.equal((await orgList(tok.olga, `?continuationToken=${encodeURIComponent(first)}`)).status, 400);
  assert.equal((await api(srv, 'GET', `/api/orgs/acme/teams/ops/tokens?continuationToken=${encodeURIComponent(first)}`, { token: tok.olga })).status, 400);
  assert.deepEqual((await api(srv, 'GET', '/api/orgs/acme/teams/pages/tokens?filter=expired', { token: tok.olga })).json.tokens, []);
  assert.equal((await api(srv, 'GET', '/api/orgs/acme/teams/pages/tokens?filter=bogus', { token: tok.olga })).status, 400);
  assert.equal((await api(srv, 'GET', '/api/orgs/acme/teams/pages/tokens?maxResults=0', { token: tok.olga })).status, 400);
  assert.equal((await api(srv, 'GET', '/api/orgs/acme/teams/nope/tokens', { token: tok.olga })).status, 404);
});

test('creations and deletions are audited with the reason, and the token that acted', async () => {
  const t = await created(await orgCreate(tok.olga, { name: 'audited', description: '', expires: 0, admin: true }, '?reason=for%20the%20deploy%20bot'));
  const listed = (await api(srv, 'GET', '/api/orgs/acme/tokens', { token: tok.olga })).json.tokens.find((x) => x.id === t.id);
  assert.equal(listed.reason, 'for the deploy bot', 'the reason is kept with the token');
  assert.equal((await api(srv, 'DELETE', `/api/orgs/acme/tokens/${t.id}?reason=leaked`, { token: tok.olga })).status, 204);
  const events = (await api(srv, 'GET', '/api/orgs/acme/auditlogs/v2', { token: tok.olga })).json.auditLogEvents;
  const made = events.find((e) => e.event === 'organization-token-created' && e.description.includes('audited'));
  assert.ok(made, 'creation recorded');
  assert.match(made.description, /admin organization token audited; reason: for the deploy bot/);
  assert.equal(made.user.githubLogin, 'olga');
  assert.equal(made.reqOrgAdmin, true);
  const gone = events.find((e) => e.event === 'organization-token-deleted' && e.description.includes('audited'));
  assert.ok(gone, 'deletion recorded');
  assert.match(gone.description, /reason: leaked/);
  // A team token made by an admin org token names that token in the record.
  const robot = await created(await orgCreate(tok.olga, { name: 'audit-robot', description: '', expires: 0, admin: true }));
  await created(await teamCreate(robot.tokenValue, { name: 'robot-made', description: '', expires: 0 }));
  const rec = await poll(async () =>
    (await api(srv, 'GET', '/api/orgs/acme/auditlogs/v2?eventFilter=team-token-created', { token: tok.olga })).json.auditLogEvents.find((e) =>
      e.description.includes('robot-made'),
    ),
  );
  assert.ok(rec);
  // Named "org/token": never the login of a user who might share the organization's name.
  assert.equal(rec.user.githubLogin, 'acme/audit-robot');
  assert.equal(rec.tokenName, 'audit-robot');
  assert.equal(rec.tokenID, robot.id);
  const byRobot = await api(srv, 'GET', '/api/orgs/acme/auditlogs/v2?userFilter=acme/audit-robot', { token: tok.olga });
  assert.equal(byRobot.status, 200);
  assert.ok(byRobot.json.auditLogEvents.length >= 1);
  assert.ok(byRobot.json.auditLogEvents.every((e) => e.user.githubLogin === 'acme/audit-robot'));
  assert.equal((await api(srv, 'GET', '/api/orgs/acme/auditlogs/v2?userFilter=acme/a%20b', { token: tok.olga })).status, 400);
  const bad = await orgCreate(tok.olga, { name: 'r', description: '', expires: 0, admin: false }, `?reason=${'x'.repeat(257)}`);
  assert.equal(bad.status, 400);
});
