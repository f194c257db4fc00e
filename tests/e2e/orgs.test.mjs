// Organizations and members: GetOrganization, ListOrganizationMembers, AddOrganizationMember,
// UpdateOrganizationMember, DeleteOrganizationMember. Every allowed action succeeds, every
// forbidden one gets 403/404 and changes nothing, and every change leaves an audit record.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { api, orgAdd, runTessera, sleep, sql, startServer, tokenCreate, userAdd } from './helpers.mjs';

let srv;
const tok = {}; // login -> token

before(async () => {
  srv = await startServer({
    setup(db) {
      // alice: admin of acme (bootstrap); bob: member; carol: outsider; dave: site admin, no org
      userAdd(db, 'bob', '--email', 'bob@example.com');
      userAdd(db, 'carol');
      userAdd(db, 'dave', '--site-admin');
      userAdd(db, 'erin');
      orgAdd(db, 'other');
      for (const u of ['bob', 'carol', 'dave', 'erin']) tok[u] = tokenCreate(db, u);
    },
  });
  tok.alice = srv.token;
  assert.equal((await add('alice', 'acme', 'bob', 'member')).status, 200);
});

after(async () => {
  await srv?.stop();
});

const add = (as, org, login, role) => api(srv, 'POST', `/api/orgs/${org}/members/${login}`, { token: tok[as], json: { role } });
const patch = (as, org, login, json) => api(srv, 'PATCH', `/api/orgs/${org}/members/${login}`, { token: tok[as], json });
const remove = (as, org, login) => api(srv, 'DELETE', `/api/orgs/${org}/members/${login}`, { token: tok[as] });
const members = async (org = 'acme') => {
  const res = await api(srv, 'GET', `/api/orgs/${org}/members`, { token: tok.alice });
  assert.equal(res.status, 200);
  return Object.fromEntries(res.json.members.map((m) => [m.user.githubLogin, m.role]));
};

const auditRows = () => sql(srv, 'SELECT event, user_login, org, auth_failure, req_org_admin FROM audit ORDER BY seq');

test('members and admins can read the organization; outsiders cannot tell it exists', async () => {
  for (const who of ['alice', 'bob', 'dave']) {
    const res = await api(srv, 'GET', '/api/orgs/acme', { token: tok[who] });
    assert.equal(res.status, 200, who);
    assert.deepEqual(res.json, { name: 'acme', githubLogin: 'acme', avatarUrl: '', repos: [] });
  }
  const outsider = await api(srv, 'GET', '/api/orgs/acme', { token: tok.carol });
  const missing = await api(srv, 'GET', '/api/orgs/no-such-org', { token: tok.carol });
  assert.equal(outsider.status, 404);
  assert.equal(missing.status, 404);
  assert.equal(outsider.json.message, missing.json.message, 'the same answer for both');
  assert.equal((await api(srv, 'GET', '/api/orgs/acme/members', { token: tok.carol })).status, 404);
  assert.equal((await api(srv, 'GET', '/api/orgs/acme')).status, 401);
});

test('the member list shows roles; emails only to admins', async () => {
  const asAdmin = await api(srv, 'GET', '/api/orgs/acme/members', { token: tok.alice });
  const asMember = await api(srv, 'GET', '/api/orgs/acme/members', { token: tok.bob });
  const bobFor = (res) => res.json.members.find((m) => m.user.githubLogin === 'bob');
  assert.equal(bobFor(asAdmin).role, 'member');
  assert.equal(bobFor(asAdmin).user.email, 'bob@example.com');
  assert.equal(bobFor(asMember).user.email, undefined);
  assert.equal((await api(srv, 'GET', '/api/orgs/acme/members?type=backend', { token: tok.alice })).status, 400);
  assert.equal((await api(srv, 'GET', '/api/orgs/acme/members?continuationToken=zz', { token: tok.alice })).status, 400);
});

test('only admins (and site admins) add members; refusals change nothing and are audited', async () => {
  const before = await members();
  const auditBefore = auditRows().length;
  const res = await add('bob', 'acme', 'erin', 'member');
  assert.equal(res.status, 403);
  assert.equal((await add('carol', 'acme', 'erin', 'member')).status, 404);
  assert.deepEqual(await members(), before);
  // Refusal records are queued for the next group commit, not awaited.
  const refused = () => auditRows().slice(auditBefore).some((r) => r.event === 'auth-failure-organization-role' && r.user_login === 'bob' && r.auth_failure === 1);
  for (let i = 0; i < 30 && !refused(); i++) await sleep(100);
  assert.ok(refused(), JSON.stringify(auditRows().slice(auditBefore)));
  // a site admin may, though not a member
  const bySite = await add('dave', 'acme', 'erin', 'member');
  assert.equal(bySite.status, 200);
  assert.equal(bySite.json.user.githubLogin, 'erin');
  assert.equal((await members()).erin, 'member');
});

test('adding: bad role 400, unknown user 404, twice 409, unknown field 400', async () => {
  assert.equal((await add('alice', 'acme', 'carol', 'owner')).status, 400);
  assert.equal((await add('alice', 'acme', 'nobody', 'member')).status, 404);
  assert.equal((await add('alice', 'acme', 'bob', 'member')).status, 409);
  const extra = await api(srv, 'POST', '/api/orgs/acme/members/carol', { token: tok.alice, json: { role: 'member', rol: 'admin' } });
  assert.equal(extra.status, 400);
  assert.equal((await members()).carol, undefined);
});

test('role changes: admins only, and an organization keeps at least one admin', async () => {
  assert.equal((await patch('bob', 'acme', 'bob', { role: 'admin' })).status, 403);
  assert.equal((await members()).bob, 'member');
  assert.equal((await patch('alice', 'acme', 'alice', { role: 'member' })).status, 400);
  assert.equal((await members()).alice, 'admin');
  assert.equal((await patch('alice', 'acme', 'carol', { role: 'admin' })).status, 404);
  assert.equal((await patch('alice', 'acme', 'bob', { fgaRoleId: 'admin' })).status, 204);
  assert.equal((await members()).bob, 'admin');
  // now alice can step down: bob is still an admin
  assert.equal((await patch('alice', 'acme', 'alice', { role: 'member' })).status, 204);
  assert.equal((await patch('bob', 'acme', 'alice', { role: 'admin' })).status, 204);
  assert.equal((await patch('alice', 'acme', 'bob', { role: 'member' })).status, 204);
});

test('removal: admins only, never oneself (the spec); /api/user reflects it at once', async () => {
  assert.equal((await add('alice', 'acme', 'carol', 'member')).status, 200);
  const meBefore = await api(srv, 'GET', '/api/user', { token: tok.carol });
  assert.deepEqual(meBefore.json.organizations.map((o) => o.name), ['acme']);
  assert.equal((await remove('bob', 'acme', 'carol')).status, 403);
  assert.equal((await members()).carol, 'member');
  assert.equal((await remove('carol', 'acme', 'carol')).status, 400, 'the caller cannot remove themselves');
  assert.equal((await members()).carol, 'member');
  assert.equal((await remove('alice', 'acme', 'carol')).status, 204);
  const meAfter = await api(srv, 'GET', '/api/user', { token: tok.carol });
  assert.deepEqual(meAfter.json.organizations, []);
  assert.equal((await remove('alice', 'acme', 'carol')).status, 404);
  assert.equal((await remove('alice', 'acme', 'alice')).status, 400);
  assert.equal((await remove('alice', 'acme', 'erin')).status, 204);
  assert.equal((await members()).erin, undefined);
});

test('members cannot probe which logins exist', async () => {
  const real = await remove('bob', 'acme', 'dave');
  const fake = await remove('bob', 'acme', 'no-such-user');
  assert.equal(real.status, 403);
  assert.equal(fake.status, 403);
});

test('the add response does not disclose the email of the user added', async () => {
  const res = await add('alice', 'acme', 'carol', 'member');
  assert.equal(res.status, 200);
  assert.equal(res.json.user.email, undefined);
  assert.equal((await remove('alice', 'acme', 'carol')).status, 204);
});

test('fgaRoleId must be a role name, and setting the same role records nothing', async () => {
  assert.equal((await patch('alice', 'acme', 'bob', { role: 'admin', fgaRoleId: 5 })).status, 400);
  const before = auditRows().length;
  assert.equal((await patch('alice', 'acme', 'bob', { role: (await members()).bob })).status, 204);
  assert.equal(auditRows().length, before, 'a no-op change writes no audit record');
});

test('a demoted admin\'s requests in flight cannot undo the demotion', async () => {
  userAdd(srv.dbPath, 'olga');
  tok.olga = tokenCreate(srv.dbPath, 'olga');
  // Each round: olga, an admin, keeps re-promoting herself from 8 clients while alice demotes her.
  // Whatever the interleaving, once the demotion has succeeded none of olga's requests may stick.
  for (let round = 0; round < 20; round++) {
    const r = round === 0 ? await add('alice', 'acme', 'olga', 'admin') : await patch('alice', 'acme', 'olga', { role: 'admin' });
    assert.equal(r.status, round === 0 ? 200 : 204, r.text); // AddOrganizationMember 200, Update 204
    let stop = false;
    const hammer = async () => {
      while (!stop) await patch('olga', 'acme', 'olga', { role: 'admin' });
    };
    const clients = Array.from({ length: 8 }, hammer);
    await sleep(30);
    const demotion = await patch('alice', 'acme', 'olga', { role: 'member' });
    await sleep(50);
    stop = true;
    await Promise.all(clients);
    assert.equal(demotion.status, 204);
    assert.equal((await members()).olga, 'member', `round ${round}: a right was used after it was revoked`);
  }
});

test('paths hiding NUL or / bytes are refused before routing', async () => {
  assert.equal((await remove('alice', 'acme', 'bob%00x')).status, 400);
  assert.equal((await api(srv, 'GET', '/api/orgs/acme%2Fmembers', { token: tok.alice })).status, 400);
  assert.equal((await members()).bob !== undefined, true);
});

test('every change above left its audit record, and the chain verifies', async () => {
  const events = auditRows().filter((r) => !r.auth_failure).map((r) => r.event);
  for (const e of ['member-added', 'member-role-changed', 'member-removed']) assert.ok(events.includes(e), `${e} in ${events}`);
  assert.ok(auditRows().every((r) => r.org === 'acme'));
  const v = runTessera(['admin', 'audit', 'verify', '--db', srv.dbPath]);
  assert.equal(v.status, 0, v.stderr);
  assert.match(v.stdout, /intact: \d+ records/);
});

test('an admin of one organization has no say in another', async () => {
  assert.equal((await patch('alice', 'acme', 'bob', { role: 'admin' })).status, 204);
  assert.equal((await add('bob', 'other', 'carol', 'member')).status, 404);
  assert.equal((await api(srv, 'GET', '/api/orgs/other/members', { token: tok.bob })).status, 404);
  assert.equal((await add('dave', 'other', 'carol', 'admin')).status, 200, 'site admins administer every org');
  assert.equal((await members('other')).carol, 'admin');
});
