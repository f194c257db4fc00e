// The permission matrix: every principal against every action of the Rights table in
// docs/CONTRACT.md (issue 3). Allowed requests succeed with the action's status and have their
// effect; refused ones get 404 (outsiders, who must not learn that the organization exists) or 403
// (members lacking the role), change nothing (neither what the API shows nor any row of the
// database outside the audit log), and every 403 against the organization leaves an
// `auth-failure-organization-role` audit record.
//
// Each mutation works on a fresh target per principal (a team to delete, a token to delete, a
// unique token or team name to create; for the member actions, a user to add, change or remove,
// shared only by the principals expected to be refused), prepared before the matrix runs, so that
// allowed mutations do not interfere with each other.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { api, orgAdd, poll, sql, startServer, tokenCreate, userAdd } from './helpers.mjs';

// ---------------------------------------------------------------------------------------------
// Principals: who asks. Every one has its own token in tok[key].

const USERS = {
  alice: 'site admin and admin of acme (bootstrap)',
  sam: 'site admin, not a member of acme',
  olga: 'admin of acme',
  bob: 'member of acme',
  tara: 'member of acme, admin of team ops',
  tom: 'member of acme, member of team ops',
  carol: 'outsider: admin of another organization',
};
const MACHINES = {
  orgAdmin: { org: 'acme', team: '', admin: true, name: 'perm-acme-admin' },
  orgMember: { org: 'acme', team: '', admin: false, name: 'perm-acme-member' },
  teamTok: { org: 'acme', team: 'ops', admin: false, name: 'perm-acme-ops' },
  otherOrg: { org: 'other', team: '', admin: true, name: 'perm-other-admin' },
};
const PRINCIPALS = [...Object.keys(USERS), ...Object.keys(MACHINES)];
const slug = (who) => who.toLowerCase(); // valid in logins, team and token names

// ---------------------------------------------------------------------------------------------
// The matrix: expected status per action (rows) and principal (columns, in PRINCIPALS order).
// Straight from the Rights table: 2xx = allowed; 404 = not a member (outsiders, the other org's
// token); 403 = a member (or token) of acme lacking the role.

// prettier-ignore
const MATRIX = {
  //                          alice  sam olga  bob tara  tom carol orgAdm orgMem teamTk other
  GetOrganization:            [200, 200, 200, 200, 200, 200, 404,   200,   200,   200,  404],
  GetOrganizationMetadata:    [200, 200, 200, 200, 200, 200, 404,   200,   200,   200,  404],
  UpdateOrganizationSettings: [200, 200, 200, 403, 403, 403, 404,   200,   403,   403,  404],
  ListOrganizationMembers:    [200, 200, 200, 200, 200, 200, 404,   200,   200,   200,  404],
  AddOrganizationMember:      [200, 200, 200, 403, 403, 403, 404,   200,   403,   403,  404],
  UpdateOrganizationMember:   [204, 204, 204, 403, 403, 403, 404,   204,   403,   403,  404],
  DeleteOrganizationMember:   [204, 204, 204, 403, 403, 403, 404,   204,   403,   403,  404],
  ListTeams:                  [200, 200, 200, 200, 200, 200, 404,   200,   200,   200,  404],
  CreatePulumiTeam:           [201, 201, 201, 403, 403, 403, 404,   201,   403,   403,  404],
  GetTeam:                    [200, 200, 200, 200, 200, 200, 404,   200,   200,   200,  404],
  UpdateTeam:                 [204, 204, 204, 403, 204, 403, 404,   204,   403,   403,  404],
  DeleteTeam:                 [204, 204, 204, 403, 403, 403, 404,   204,   403,   403,  404],
  ListOrgTokens:              [200, 200, 200, 403, 403, 403, 404,   200,   403,   403,  404],
  CreateOrgToken:             [200, 200, 200, 403, 403, 403, 404,   403,   403,   403,  404],
  DeleteOrgToken:             [204, 204, 204, 403, 403, 403, 404,   403,   403,   403,  404],
  ListTeamTokens:             [200, 200, 200, 403, 200, 403, 404,   200,   403,   403,  404],
  CreateTeamToken:            [200, 200, 200, 403, 200, 403, 404,   200,   403,   403,  404],
  DeleteTeamToken:            [204, 204, 204, 403, 204, 403, 404,   204,   403,   403,  404],
  ListAuditLogEventsV1:       [200, 200, 200, 403, 403, 403, 404,   200,   403,   403,  404],
  ListAuditLogEventsV2:       [200, 200, 200, 403, 403, 403, 404,   200,   403,   403,  404],
  GetCurrentUser:             [200, 200, 200, 200, 200, 200, 200,   200,   200,   200,  200],
  ListPersonalTokens:         [200, 200, 200, 200, 200, 200, 200,   403,   403,   403,  403],
  CreatePersonalToken:        [200, 200, 200, 200, 200, 200, 200,   403,   403,   403,  403],
  DeletePersonalToken:        [204, 204, 204, 204, 204, 204, 204,   403,   403,   403,  403],
};

// Cases (`Action/principal`) the server is known to get wrong: run, reported as todo. Empty when
// the server follows the contract.
const KNOWN_BUGS = {};

const allowedFor = (action, who) => MATRIX[action][PRINCIPALS.indexOf(who)] < 400;

// The users the member actions work on: a fresh one for every principal expected to succeed, so
// that successes do not interfere, and one shared by the principals expected to be refused (whose
// requests must leave it as it was). Users are the one kind of target only the offline CLI makes.
const USER_TARGET_PREFIX = { AddOrganizationMember: 'add', UpdateOrganizationMember: 'upd', DeleteOrganizationMember: 'del' };
const userTarget = (action, who) => `${USER_TARGET_PREFIX[action]}-${allowedFor(action, who) ? slug(who) : 'refused'}`;
const userTargets = () =>
  new Set(Object.keys(USER_TARGET_PREFIX).flatMap((action) => PRINCIPALS.map((who) => userTarget(action, who))));

// ---------------------------------------------------------------------------------------------
// Server, principals and fresh targets.

let srv;
const tok = {}; // principal -> token value
const target = {}; // `${kind}:${who}` -> {id, tokenValue} of a fresh token to delete (org, team, personal)
const refusals = []; // 403s against acme, whose audit records are looked for at the end

before(async () => {
  srv = await startServer({
    setup(db) {
      // Users can only be made offline, and each costs a synchronous commit: the principals and
      // the users the member actions work on. Everything else is set up through the API.
      userAdd(db, 'sam', '--site-admin');
      for (const u of ['olga', 'bob', 'tara', 'tom', 'carol']) userAdd(db, u);
      orgAdd(db, 'other');
      for (const u of ['sam', 'olga', 'bob', 'tara', 'tom', 'carol']) tok[u] = tokenCreate(db, u);
      for (const login of userTargets()) userAdd(db, login);
    },
  });
  tok.alice = srv.token;
  const must = async (method, path, json, status) => {
    const res = await api(srv, method, path, { token: tok.alice, json });
    assert.equal(res.status, status, `setup: ${method} ${path}: ${res.text}`);
    return res.json;
  };

  // Memberships. alice is a site admin: she administers every organization, `other` too.
  for (const [org, login, role] of [
    ['acme', 'olga', 'admin'],
    ['acme', 'bob', 'member'],
    ['acme', 'tara', 'member'],
    ['acme', 'tom', 'member'],
    ['other', 'carol', 'admin'],
  ]) {
    await must('POST', `/api/orgs/${org}/members/${login}`, { role }, 200);
  }

  // Team ops: tara its admin (made so through the API), tom a plain member.
  await must('POST', '/api/orgs/acme/teams/pulumi', { name: 'ops', displayName: 'Ops', description: 'on call' }, 201);
  for (const json of [
    { memberAction: 'add', member: 'tara' },
    { memberAction: 'promote', member: 'tara' },
    { memberAction: 'add', member: 'tom' },
  ]) {
    await must('PATCH', '/api/orgs/acme/teams/ops', json, 204);
  }
  const ops = await must('GET', '/api/orgs/acme/teams/ops', undefined, 200);
  assert.deepEqual(ops.members.map((m) => [m.githubLogin, m.role]), [['tara', 'admin'], ['tom', 'member']]);

  // Machine principals: acme's made by alice, other's by carol.
  for (const [who, m] of Object.entries(MACHINES)) {
    const issuer = m.org === 'acme' ? tok.alice : tok.carol;
    const path = m.team ? `/api/orgs/${m.org}/teams/${m.team}/tokens` : `/api/orgs/${m.org}/tokens`;
    const json = { name: m.name, description: `matrix principal ${who}`, expires: 0 };
    if (!m.team) json.admin = m.admin;
    const res = await api(srv, 'POST', path, { token: issuer, json });
    assert.equal(res.status, 200, `setup: token ${who}: ${res.text}`);
    tok[who] = res.json.tokenValue;
  }

  // Fresh targets.
  for (const action of ['UpdateOrganizationMember', 'DeleteOrganizationMember']) {
    for (const login of new Set(PRINCIPALS.map((who) => userTarget(action, who)))) {
      await must('POST', `/api/orgs/acme/members/${login}`, { role: 'member' }, 200);
    }
  }
  for (const who of PRINCIPALS) {
    const s = slug(who);
    await must('POST', '/api/orgs/acme/teams/pulumi', { name: `gone-${s}`, displayName: 'Doomed', description: '' }, 201);
    const doomed = { description: 'to delete', expires: 0 };
    target[`org:${who}`] = await must('POST', '/api/orgs/acme/tokens', { name: `od-${s}`, ...doomed, admin: false }, 200);
    target[`team:${who}`] = await must('POST', '/api/orgs/acme/teams/ops/tokens', { name: `td-${s}`, ...doomed }, 200);
    // A personal token: the principal's own if it is a user, else one of alice's it must not touch.
    const owner = who in USERS ? who : 'alice';
    const res = await api(srv, 'POST', '/api/user/tokens', { token: tok[owner], json: { description: `to delete (${who})` } });
    assert.equal(res.status, 200, res.text);
    target[`personal:${who}`] = res.json;
  }
});

after(async () => {
  await srv?.stop();
});

// ---------------------------------------------------------------------------------------------
// Observers (always as alice, who may do everything, so they never add refusals of their own).

const asAlice = (method, path) => api(srv, method, path, { token: tok.alice });

/** Every row the API could change, outside the audit log and lastUsed (which use does change). */
function dbFingerprint() {
  return sql(srv, [
    "SELECT 'user', id, login, site_admin FROM users ORDER BY id",
    "SELECT 'org', id, name, max_token_expiry_days FROM orgs ORDER BY id",
    "SELECT 'membership', org_id, user_id, role FROM memberships ORDER BY org_id, user_id",
    "SELECT 'team', id, org_id, name, display_name, description FROM teams ORDER BY id",
    "SELECT 'team_member', team_id, user_id, role FROM team_members ORDER BY team_id, user_id",
    "SELECT 'token', seq, id, kind, user_id, org_id, team_id, name, admin, description, created_by, created, " +
      'expires FROM tokens ORDER BY seq',
    "SELECT 'token_name', org_id, name FROM token_names ORDER BY org_id, name",
  ]);
}

async function members() {
  const all = {};
  let cont;
  for (let page = 0; page < 10; page++) {
    const res = await asAlice('GET', `/api/orgs/acme/members${cont ? `?continuationToken=${encodeURIComponent(cont)}` : ''}`);
    assert.equal(res.status, 200);
    for (const m of res.json.members) all[m.user.githubLogin] = m.role;
    cont = res.json.continuationToken;
    if (!cont) break;
  }
  return all;
}

async function teamNames() {
  const res = await asAlice('GET', '/api/orgs/acme/teams');
  assert.equal(res.status, 200);
  return res.json.teams.map((t) => t.name).sort();
}

/** An org or team token listing, without lastUsed (which changes whenever a token is used). */
async function tokenList(path) {
  const res = await asAlice('GET', `${path}?maxResults=1000`);
  assert.equal(res.status, 200);
  return res.json.tokens.map(({ lastUsed, ...rest }) => rest).sort((a, b) => a.id.localeCompare(b.id));
}
const orgTokens = () => tokenList('/api/orgs/acme/tokens');
const teamTokens = () => tokenList('/api/orgs/acme/teams/ops/tokens');

/** What GET /api/user answers to a token: the status, and the login it acts as. */
async function whoAmI(value) {
  const res = await api(srv, 'GET', '/api/user', { token: value });
  return { status: res.status, login: res.json?.githubLogin };
}

async function settingsChanges() {
  const res = await asAlice('GET', '/api/orgs/acme/auditlogs/v2?eventFilter=organization-settings-changed');
  assert.equal(res.status, 200);
  return res.json.auditLogEvents.length;
}

// ---------------------------------------------------------------------------------------------
// Actions: the request each principal makes; for mutations, `observe` (state a refusal must leave
// exactly as it was) and `allowed` (the effect a success must have had).

const isAdminOfAcme = (who) => ['alice', 'sam', 'olga', 'orgAdmin'].includes(who);

const ACTIONS = {
  GetOrganization: {
    request: () => ({ method: 'GET', path: '/api/orgs/acme' }),
    allowed: (who, res) => assert.equal(res.json.githubLogin, 'acme'),
  },
  GetOrganizationMetadata: {
    request: () => ({ method: 'GET', path: '/api/orgs/acme/metadata' }),
    allowed: (who, res) => assert.equal(res.json.userRole, isAdminOfAcme(who) ? 'admin' : 'member'),
  },
  UpdateOrganizationSettings: {
    // 0: no policy, so that the allowed updates enforce nothing on the other principals.
    request: () => ({ method: 'PATCH', path: '/api/orgs/acme', json: { setMaxAccessTokenExpiryDays: 0 } }),
    observe: async () => ({ org: (await asAlice('GET', '/api/orgs/acme')).json, changes: await settingsChanges() }),
    allowed: async (who, res) => {
      assert.equal(res.json.maxAccessTokenExpiryDays, undefined);
      assert.equal((await asAlice('GET', '/api/orgs/acme')).json.maxAccessTokenExpiryDays, undefined);
    },
  },
  ListOrganizationMembers: {
    request: () => ({ method: 'GET', path: '/api/orgs/acme/members' }),
    allowed: (who, res) => assert.ok(res.json.members.some((m) => m.user.githubLogin === 'bob')),
  },
  AddOrganizationMember: {
    request: (who) => ({
      method: 'POST',
      path: `/api/orgs/acme/members/${userTarget('AddOrganizationMember', who)}`,
      json: { role: 'member' },
    }),
    observe: async () => members(),
    allowed: async (who, res) => {
      assert.equal(res.json.user.githubLogin, userTarget('AddOrganizationMember', who));
      assert.equal((await members())[userTarget('AddOrganizationMember', who)], 'member');
    },
  },
  UpdateOrganizationMember: {
    request: (who) => ({
      method: 'PATCH',
      path: `/api/orgs/acme/members/${userTarget('UpdateOrganizationMember', who)}`,
      json: { role: 'admin' },
    }),
    observe: async () => members(),
    allowed: async (who) => assert.equal((await members())[userTarget('UpdateOrganizationMember', who)], 'admin'),
  },
  DeleteOrganizationMember: {
    request: (who) => ({ method: 'DELETE', path: `/api/orgs/acme/members/${userTarget('DeleteOrganizationMember', who)}` }),
    observe: async () => members(),
    allowed: async (who) => assert.equal((await members())[userTarget('DeleteOrganizationMember', who)], undefined),
  },
  ListTeams: {
    request: () => ({ method: 'GET', path: '/api/orgs/acme/teams' }),
    allowed: (who, res) => assert.ok(res.json.teams.some((t) => t.name === 'ops')),
  },
  CreatePulumiTeam: {
    request: (who) => ({
      method: 'POST',
      path: '/api/orgs/acme/teams/pulumi',
      json: { name: `new-${slug(who)}`, displayName: `New ${who}`, description: 'made in the matrix' },
    }),
    observe: async (who) => ({
      teams: await teamNames(),
      get: (await asAlice('GET', `/api/orgs/acme/teams/new-${slug(who)}`)).status,
    }),
    allowed: async (who, res) => {
      assert.equal(res.json.name, `new-${slug(who)}`);
      assert.equal((await asAlice('GET', `/api/orgs/acme/teams/new-${slug(who)}`)).status, 200);
    },
  },
  GetTeam: {
    request: () => ({ method: 'GET', path: '/api/orgs/acme/teams/ops' }),
    allowed: (who, res) => {
      assert.equal(res.json.name, 'ops');
      assert.equal(res.json.userRole, { tara: 'admin', tom: 'member' }[who] ?? 'none');
    },
  },
  UpdateTeam: {
    request: (who) => ({ method: 'PATCH', path: '/api/orgs/acme/teams/ops', json: { newDescription: `set by ${who}` } }),
    observe: async () => (await asAlice('GET', '/api/orgs/acme/teams/ops')).json,
    allowed: async (who) => assert.equal((await asAlice('GET', '/api/orgs/acme/teams/ops')).json.description, `set by ${who}`),
  },
  DeleteTeam: {
    request: (who) => ({ method: 'DELETE', path: `/api/orgs/acme/teams/gone-${slug(who)}` }),
    observe: async (who) => ({
      teams: await teamNames(),
      team: (await asAlice('GET', `/api/orgs/acme/teams/gone-${slug(who)}`)).json,
    }),
    allowed: async (who) => {
      assert.equal((await asAlice('GET', `/api/orgs/acme/teams/gone-${slug(who)}`)).status, 404);
      assert.ok(!(await teamNames()).includes(`gone-${slug(who)}`));
    },
  },
  ListOrgTokens: {
    request: () => ({ method: 'GET', path: '/api/orgs/acme/tokens' }),
    allowed: (who, res) => assert.ok(res.json.tokens.some((t) => t.name === MACHINES.orgAdmin.name)),
  },
  CreateOrgToken: {
    request: (who) => ({
      method: 'POST',
      path: '/api/orgs/acme/tokens',
      json: { name: `ot-${slug(who)}`, description: 'made in the matrix', expires: 0, admin: false },
    }),
    observe: async () => orgTokens(),
    allowed: async (who, res) => {
      assert.ok((await orgTokens()).some((t) => t.id === res.json.id && t.name === `ot-${slug(who)}`));
      assert.deepEqual(await whoAmI(res.json.tokenValue), { status: 200, login: 'acme' });
    },
  },
  DeleteOrgToken: {
    request: (who) => ({ method: 'DELETE', path: `/api/orgs/acme/tokens/${target[`org:${who}`].id}` }),
    observe: async (who) => ({ tokens: await orgTokens(), use: await whoAmI(target[`org:${who}`].tokenValue) }),
    allowed: async (who) => {
      assert.equal((await whoAmI(target[`org:${who}`].tokenValue)).status, 401);
      assert.ok(!(await orgTokens()).some((t) => t.id === target[`org:${who}`].id));
    },
  },
  ListTeamTokens: {
    request: () => ({ method: 'GET', path: '/api/orgs/acme/teams/ops/tokens' }),
    allowed: (who, res) => assert.ok(res.json.tokens.some((t) => t.name === MACHINES.teamTok.name)),
  },
  CreateTeamToken: {
    request: (who) => ({
      method: 'POST',
      path: '/api/orgs/acme/teams/ops/tokens',
      json: { name: `tt-${slug(who)}`, description: 'made in the matrix', expires: 0 },
    }),
    observe: async () => teamTokens(),
    allowed: async (who, res) => {
      assert.ok((await teamTokens()).some((t) => t.id === res.json.id && t.name === `tt-${slug(who)}`));
      assert.deepEqual(await whoAmI(res.json.tokenValue), { status: 200, login: 'acme' });
    },
  },
  DeleteTeamToken: {
    request: (who) => ({ method: 'DELETE', path: `/api/orgs/acme/teams/ops/tokens/${target[`team:${who}`].id}` }),
    observe: async (who) => ({ tokens: await teamTokens(), use: await whoAmI(target[`team:${who}`].tokenValue) }),
    allowed: async (who) => {
      assert.equal((await whoAmI(target[`team:${who}`].tokenValue)).status, 401);
      assert.ok(!(await teamTokens()).some((t) => t.id === target[`team:${who}`].id));
    },
  },
  ListAuditLogEventsV1: {
    request: () => ({ method: 'GET', path: `/api/orgs/acme/auditlogs?startTime=${Math.floor(Date.now() / 1000) + 3600}` }),
    allowed: (who, res) => assert.ok(res.json.auditLogEvents.length > 0),
  },
  ListAuditLogEventsV2: {
    request: () => ({ method: 'GET', path: '/api/orgs/acme/auditlogs/v2' }),
    allowed: (who, res) => assert.ok(res.json.auditLogEvents.some((e) => e.event === 'team-created')),
  },
  GetCurrentUser: {
    request: () => ({ method: 'GET', path: '/api/user' }),
    allowed: (who, res) => {
      const m = MACHINES[who];
      if (!m) {
        assert.equal(res.json.githubLogin, who);
        assert.equal(res.json.tokenInfo, undefined, 'personal tokens have no tokenInfo');
        return;
      }
      assert.equal(res.json.githubLogin, m.org);
      assert.deepEqual(res.json.tokenInfo, { name: m.name, organization: m.org, team: m.team });
      assert.deepEqual(res.json.organizations.map((o) => [o.name, o.role]), [[m.org, m.admin ? 'admin' : 'member']]);
    },
  },
  ListPersonalTokens: {
    request: () => ({ method: 'GET', path: '/api/user/tokens' }),
    allowed: (who, res) => assert.ok(res.json.tokens.some((t) => t.id === target[`personal:${who}`].id)),
  },
  CreatePersonalToken: {
    request: (who) => ({ method: 'POST', path: '/api/user/tokens', json: { description: `made by ${who} in the matrix` } }),
    observe: async () => null, // the database fingerprint covers it
    allowed: async (who, res) => assert.deepEqual(await whoAmI(res.json.tokenValue), { status: 200, login: who }),
  },
  DeletePersonalToken: {
    request: (who) => ({ method: 'DELETE', path: `/api/user/tokens/${target[`personal:${who}`].id}` }),
    observe: async (who) => whoAmI(target[`personal:${who}`].tokenValue),
    allowed: async (who) => assert.equal((await whoAmI(target[`personal:${who}`].tokenValue)).status, 401),
  },
};

// ---------------------------------------------------------------------------------------------
// The runner.

const ACME_PATH = /^\/api\/orgs\/acme(?=\/|\?|$)/;

// The database as the last refusal left it: still current while only refusals (and alice's reads)
// have happened since, which saves a database read per refusal.
let unchangedDb = null;

async function observe(action, who) {
  return { api: await action.observe(who), db: unchangedDb ?? dbFingerprint() };
}

async function runCase(name, who, expected) {
  const action = ACTIONS[name];
  const { method, path, json } = action.request(who);
  const refused = expected >= 400;
  const mutation = typeof action.observe === 'function';
  const stateBefore = refused && mutation ? await observe(action, who) : undefined;

  const res = await api(srv, method, path, { token: tok[who], json });
  unchangedDb = null;
  assert.equal(res.status, expected, `${who} (${USERS[who] ?? 'token'}): ${method} ${path} → ${res.status} ${res.text}`);
  if (!refused) {
    await action.allowed?.(who, res);
    return;
  }
  if (expected === 404 && ACME_PATH.test(path)) {
    // An outsider cannot tell acme from an organization that does not exist.
    const ghost = await api(srv, method, path.replace(ACME_PATH, '/api/orgs/no-such-org'), { token: tok[who], json });
    assert.deepEqual([ghost.status, ghost.json], [res.status, res.json], 'outsider: acme looks like a missing organization');
  }
  if (mutation) {
    const stateAfter = await observe(action, who);
    assert.deepEqual(stateAfter, stateBefore, `refused ${method} ${path} by ${who} had a side effect`);
    unchangedDb = stateAfter.db;
  }
  if (expected === 403 && ACME_PATH.test(path)) {
    const m = MACHINES[who];
    refusals.push({ method, path: path.split('?')[0], login: m ? `${m.org}/${m.name}` : who, tokenName: m ? m.name : '', who });
  }
}

test('the matrix covers every principal for every action', () => {
  assert.deepEqual(Object.keys(MATRIX).sort(), Object.keys(ACTIONS).sort());
  for (const [name, row] of Object.entries(MATRIX)) assert.equal(row.length, PRINCIPALS.length, name);
});

for (const name of Object.keys(MATRIX)) {
  test(name, async (t) => {
    for (const [i, who] of PRINCIPALS.entries()) {
      const expected = MATRIX[name][i];
      const todo = KNOWN_BUGS[`${name}/${who}`];
      await t.test(`${who} → ${expected}`, todo ? { todo } : {}, () => runCase(name, who, expected));
    }
  });
}

test('every 403 against acme left an auth-failure-organization-role audit record', async () => {
  assert.ok(refusals.length > 50, `only ${refusals.length} refusals recorded by the matrix`);
  const readAll = async () => {
    const events = [];
    let cont;
    for (let page = 0; page < 20; page++) {
      const q = `?eventFilter=auth-failure-organization-role${cont ? `&continuationToken=${encodeURIComponent(cont)}` : ''}`;
      const res = await asAlice('GET', `/api/orgs/acme/auditlogs/v2${q}`);
      assert.equal(res.status, 200);
      events.push(...res.json.auditLogEvents);
      cont = res.json.continuationToken;
      if (!cont) break;
    }
    return events;
  };
  const escape = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const matches = (r, e) =>
    e.user.githubLogin === r.login &&
    (e.tokenName ?? '') === r.tokenName &&
    new RegExp(`^${escape(r.method)} ${escape(r.path)}(\\?\\S*)? refused: `).test(e.description);
  const missing = (events) => refusals.filter((r) => !events.some((e) => matches(r, e)));
  // Refusal records are queued for the next group commit, not awaited.
  let events = [];
  await poll(async () => {
    events = await readAll();
    return missing(events).length === 0;
  }, { timeoutMs: 5000, intervalMs: 200 });
  assert.deepEqual(missing(events).map((r) => `${r.who}: ${r.method} ${r.path}`), [], 'refusals without an audit record');
  for (const e of events) {
    assert.equal(e.event, 'auth-failure-organization-role');
    assert.equal(e.authFailure, true);
  }
});
