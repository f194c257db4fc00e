// GET /api/user, /api/user/organizations/default, /api/capabilities, /healthz, request IDs.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  api,
  assert400,
  memberAdd,
  orgAdd,
  startServer,
  tokenCreate,
  userAdd,
  validate,
} from './helpers.mjs';

let srv;
let bobToken; // user without any organization
let carolToken; // member of zeta (member) and beta (admin), with name and email
let daveToken; // site admin, no org

before(async () => {
  srv = await startServer({
    setup(db) {
      userAdd(db, 'bob');
      bobToken = tokenCreate(db, 'bob');
      userAdd(db, 'carol', '--name', 'Carol Cooper', '--email', 'carol@example.com');
      orgAdd(db, 'zeta');
      orgAdd(db, 'beta');
      memberAdd(db, 'zeta', 'carol', 'member');
      memberAdd(db, 'beta', 'carol', 'admin');
      carolToken = tokenCreate(db, 'carol');
      userAdd(db, 'dave', '--site-admin');
      daveToken = tokenCreate(db, 'dave');
    },
  });
});

after(async () => {
  await srv?.stop();
});

const USER_KEYS = [
  'id',
  'githubLogin',
  'name',
  'email',
  'avatarUrl',
  'hasMFA',
  'identities',
  'isManagedByMultiOrg',
  'isOrgManaged',
  'organizations',
  'siteAdmin',
];

test('GET /api/user returns alice with the contract shape', async () => {
  const res = await api(srv, 'GET', '/api/user', { token: srv.token });
  assert.equal(res.status, 200, res.text);
  validate('GetCurrentUser', 200, res.json);
  const u = res.json;
  for (const k of USER_KEYS) assert.ok(Object.hasOwn(u, k), `User is missing key ${k}`);
  assert.equal(u.githubLogin, 'alice');
  assert.equal(typeof u.id, 'string');
  assert.ok(u.id.length > 0, 'id must be non-empty');
  assert.equal(typeof u.name, 'string');
  assert.equal(typeof u.email, 'string');
  assert.equal(typeof u.avatarUrl, 'string');
  assert.equal(typeof u.hasMFA, 'boolean');
  assert.ok(Array.isArray(u.identities));
  assert.equal(typeof u.isManagedByMultiOrg, 'boolean');
  assert.equal(typeof u.isOrgManaged, 'boolean');
  assert.equal(u.siteAdmin, true, 'bootstrap user is a site admin');
  assert.ok(!Object.hasOwn(u, 'tokenInfo'), 'personal tokens: no tokenInfo key');
  assert.ok(Array.isArray(u.organizations));
  assert.equal(u.organizations.length, 1);
  const org = u.organizations[0];
  for (const k of ['name', 'githubLogin', 'avatarUrl', 'role']) assert.ok(Object.hasOwn(org, k), `organization missing ${k}`);
  assert.equal(org.githubLogin, 'acme');
  assert.equal(org.name, 'acme');
  assert.equal(org.role, 'admin');
});

test('GET /api/user accepts "Authorization: Bearer <token>"', async () => {
  const res = await api(srv, 'GET', '/api/user', { auth: `Bearer ${srv.token}` });
  assert.equal(res.status, 200, res.text);
  assert.equal(res.json.githubLogin, 'alice');
});

test('GET /api/user accepts "Accept: application/vnd.pulumi+8"', async () => {
  const res = await api(srv, 'GET', '/api/user', {
    token: srv.token,
    headers: { Accept: 'application/vnd.pulumi+8' },
  });
  assert.equal(res.status, 200, res.text);
  assert.equal(res.json.githubLogin, 'alice');
});

test('GET /api/user for a user with name, email and two orgs', async () => {
  const res = await api(srv, 'GET', '/api/user', { token: carolToken });
  assert.equal(res.status, 200, res.text);
  const u = res.json;
  assert.equal(u.githubLogin, 'carol');
  assert.equal(u.name, 'Carol Cooper');
  assert.equal(u.email, 'carol@example.com');
  assert.equal(u.siteAdmin, false, 'carol is not a site admin');
  assert.ok(!Object.hasOwn(u, 'tokenInfo'));
  const roles = Object.fromEntries(u.organizations.map((o) => [o.githubLogin, o.role]));
  assert.deepEqual(roles, { beta: 'admin', zeta: 'member' });
});

test('GET /api/user for a user with no org and for a --site-admin user', async () => {
  const bob = await api(srv, 'GET', '/api/user', { token: bobToken });
  assert.equal(bob.status, 200, bob.text);
  assert.equal(bob.json.githubLogin, 'bob');
  assert.deepEqual(bob.json.organizations, []);
  assert.equal(bob.json.siteAdmin, false);
  const dave = await api(srv, 'GET', '/api/user', { token: daveToken });
  assert.equal(dave.status, 200, dave.text);
  assert.equal(dave.json.githubLogin, 'dave');
  assert.equal(dave.json.siteAdmin, true);
});

test('GET /api/user/organizations/default → acme for alice', async () => {
  const res = await api(srv, 'GET', '/api/user/organizations/default', { token: srv.token });
  assert.equal(res.status, 200, res.text);
  validate('GetDefaultOrganization', 200, res.json);
  assert.deepEqual(res.json, { GitHubLogin: 'acme', Messages: [] });
});

test('GET /api/user/organizations/default → first org by name', async () => {
  const res = await api(srv, 'GET', '/api/user/organizations/default', { token: carolToken });
  assert.equal(res.status, 200, res.text);
  assert.deepEqual(res.json, { GitHubLogin: 'beta', Messages: [] });
});

test('GET /api/user/organizations/default → 400 for a user in no org', async () => {
  const res = await api(srv, 'GET', '/api/user/organizations/default', { token: bobToken });
  assert400(res);
});

test('GET /api/capabilities without auth → {"capabilities":[]}', async () => {
  const res = await api(srv, 'GET', '/api/capabilities');
  assert.equal(res.status, 200, res.text);
  validate('Capabilities', 200, res.json);
  assert.deepEqual(res.json, { capabilities: [] });
});

test('GET /api/capabilities with auth → {"capabilities":[]}', async () => {
  const res = await api(srv, 'GET', '/api/capabilities', { token: srv.token });
  assert.equal(res.status, 200, res.text);
  assert.deepEqual(res.json, { capabilities: [] });
});

test('GET /healthz without auth → {"status":"ok"}', async () => {
  const res = await api(srv, 'GET', '/healthz');
  assert.equal(res.status, 200, res.text);
  assert.deepEqual(res.json, { status: 'ok' });
});

test('X-Pulumi-Request-ID is unique across requests', async () => {
  const ids = new Set();
  const a = await api(srv, 'GET', '/api/user', { token: srv.token });
  const b = await api(srv, 'GET', '/api/user', { token: srv.token });
  const c = await api(srv, 'GET', '/api/user'); // 401 also carries one
  const d = await api(srv, 'GET', '/healthz');
  assert.equal(c.status, 401);
  for (const r of [a, b, c, d]) ids.add(r.requestId);
  assert.equal(ids.size, 4, `request ids must be unique: ${[a, b, c, d].map((r) => r.requestId)}`);
});
