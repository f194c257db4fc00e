// The organization token-lifetime policy (July 2026): UpdateOrganizationSettings
// setMaxAccessTokenExpiryDays, shown by GetOrganization and GetOrganizationMetadata, enforced when
// org and team tokens are made and on every request against the organization.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { api, createToken, memberAdd, nowSeconds, orgAdd, poll, startServer, tokenCreate, userAdd } from './helpers.mjs';

const DAY = 86400;
let srv;
const tok = {};

before(async () => {
  srv = await startServer({
    setup(db) {
      for (const u of ['olga', 'bob']) userAdd(db, u);
      memberAdd(db, 'acme', 'olga', 'admin');
      memberAdd(db, 'acme', 'bob', 'member');
      orgAdd(db, 'other');
      memberAdd(db, 'other', 'olga', 'admin');
      for (const u of ['olga', 'bob']) tok[u] = tokenCreate(db, u);
    },
  });
  tok.alice = srv.token;
  // Short-lived personal tokens, made before any policy exists, that every policy below accepts.
  tok.olgaShort = (await createToken(srv, tok.olga, { expires: nowSeconds() + DAY })).tokenValue;
  tok.bobShort = (await createToken(srv, tok.bob, { expires: nowSeconds() + DAY })).tokenValue;
  const team = await api(srv, 'POST', '/api/orgs/acme/teams/pulumi', { token: tok.olga, json: { name: 'ops', displayName: 'Ops', description: '' } });
  assert.equal(team.status, 201);
  // An org token without expiry, made before the policy.
  tok.legacyOrg = (await api(srv, 'POST', '/api/orgs/acme/tokens', { token: tok.olga, json: { name: 'legacy', description: '', expires: 0, admin: true } })).json.tokenValue;
});

after(async () => {
  await srv?.stop();
});

const setPolicy = (token, days) => api(srv, 'PATCH', '/api/orgs/acme', { token, json: { setMaxAccessTokenExpiryDays: days } });
const metadata = (token) => api(srv, 'GET', '/api/orgs/acme/metadata', { token });

test('only admins set the policy; the value is checked and shown', async () => {
  assert.equal((await setPolicy(tok.bob, 30)).status, 403);
  for (const bad of [-1, 3651, '30', 1.5, true]) assert.equal((await setPolicy(tok.olga, bad)).status, 400, `value ${bad}`);
  assert.equal((await api(srv, 'PATCH', '/api/orgs/acme', { token: tok.olga, json: { setMembersCanCreateTeams: true } })).status, 400);
  const none = await metadata(tok.bob);
  assert.equal(none.status, 200);
  assert.equal(none.json.maxAccessTokenExpiryDays, undefined);
  assert.equal(none.json.userRole, 'member');
  assert.equal(none.json.features.accessTokenExpiryPolicyEnabled, true);
  // An empty change changes nothing and answers with the current settings.
  assert.equal((await api(srv, 'PATCH', '/api/orgs/acme', { token: tok.olga, json: {} })).status, 200);
  const set = await setPolicy(tok.olga, 30);
  assert.equal(set.status, 200);
  assert.equal(set.json.maxAccessTokenExpiryDays, 30);
  assert.equal(set.json.userRole, 'admin');
  assert.equal(set.json.memberCount, 3);
  const org = await api(srv, 'GET', '/api/orgs/acme', { token: tok.bobShort });
  assert.equal(org.status, 200);
  assert.equal(org.json.maxAccessTokenExpiryDays, 30);
});

test('with a policy, org and team tokens must be made to expire within it', async () => {
  const make = (path, json) => api(srv, 'POST', path, { token: tok.olgaShort, json });
  for (const expires of [0, nowSeconds() + 31 * DAY]) {
    const org = await make('/api/orgs/acme/tokens', { name: `o${expires}`, description: '', expires, admin: false });
    assert.equal(org.status, 400, org.text);
    assert.match(org.json.message, /acme requires access tokens to expire within 30 days/);
    const team = await make('/api/orgs/acme/teams/ops/tokens', { name: `t${expires}`, description: '', expires });
    assert.equal(team.status, 400, team.text);
  }
  const ok = await make('/api/orgs/acme/tokens', { name: 'fits', description: '', expires: nowSeconds() + 30 * DAY - 60, admin: false });
  assert.equal(ok.status, 200, ok.text);
  assert.equal((await api(srv, 'GET', '/api/orgs/acme', { token: ok.json.tokenValue })).status, 200);
  // The refused names were not taken.
  const again = await make('/api/orgs/acme/tokens', { name: 'o0', description: '', expires: nowSeconds() + DAY, admin: false });
  assert.equal(again.status, 200, again.text);
});

test('with a policy, every request against the org with a longer-lived token is refused', async () => {
  const refusedWith = async (token, what) => {
    const res = await api(srv, 'GET', '/api/orgs/acme/members', { token });
    assert.equal(res.status, 403, `${what}: ${res.text}`);
    assert.match(res.json.message, /organization acme accepts only access tokens that expire within 30 days/);
    return res;
  };
  // Never-expiring: the member's, the admin's, the site admin's, and the org token made earlier.
  assert.match((await refusedWith(tok.bob, 'member')).json.message, /this token never expires/);
  await refusedWith(tok.olga, 'admin');
  await refusedWith(tok.alice, 'site admin');
  assert.match((await refusedWith(tok.legacyOrg, 'legacy org token')).json.message, /An admin of acme must issue a token/);
  assert.match((await refusedWith(tok.bob, 'member')).json.message, /Create a token that expires within 30 days/);
  // Expiring, but later than 30 days from now.
  const long = (await createToken(srv, tok.bob, { expires: nowSeconds() + 90 * DAY })).tokenValue;
  assert.match((await refusedWith(long, '90-day token')).json.message, /this token expires in 90 days/);
  // Rounded up: 30 days and two hours is not "within 30 days".
  const justOver = (await createToken(srv, tok.bob, { expires: nowSeconds() + 30 * DAY + 7200 })).tokenValue;
  assert.match((await refusedWith(justOver, '30-day-and-2-hour token')).json.message, /this token expires in 31 days/);
  // Refused before anything happens: an admin's refused change changes nothing.
  assert.equal((await api(srv, 'PATCH', '/api/orgs/acme/members/bob', { token: tok.olga, json: { role: 'admin' } })).status, 403);
  const members = (await api(srv, 'GET', '/api/orgs/acme/members', { token: tok.olgaShort })).json.members;
  assert.equal(members.find((m) => m.user.githubLogin === 'bob').role, 'member');
  // Short-lived tokens work; routes outside the org and other orgs do not care.
  assert.equal((await api(srv, 'GET', '/api/orgs/acme/members', { token: tok.bobShort })).status, 200);
  assert.equal((await api(srv, 'GET', '/api/user', { token: tok.bob })).status, 200);
  assert.equal((await api(srv, 'GET', '/api/user/tokens', { token: tok.bob })).status, 200);
  assert.equal((await api(srv, 'GET', '/api/orgs/other', { token: tok.olga })).status, 200);
  // Outsiders still learn nothing: 404, not a policy message.
  const outsider = await api(srv, 'GET', '/api/orgs/other/members', { token: tok.bob });
  assert.equal(outsider.status, 404);
  // The refusals are audited.
  const record = await poll(async () => {
    const res = await api(srv, 'GET', '/api/orgs/acme/auditlogs/v2?eventFilter=auth-failure-token-expiry-policy', { token: tok.olgaShort });
    return res.json.auditLogEvents.find((e) => e.user.githubLogin === 'bob');
  });
  assert.ok(record, 'policy refusal recorded');
  assert.equal(record.authFailure, true);
});

test('clearing the policy lets every token back in; changes are audited, no-ops are not', async () => {
  assert.equal((await setPolicy(tok.olgaShort, 30)).status, 200); // unchanged: not recorded
  assert.equal((await setPolicy(tok.olgaShort, 0)).status, 200);
  assert.equal((await metadata(tok.olga)).json.maxAccessTokenExpiryDays, undefined);
  assert.equal((await api(srv, 'GET', '/api/orgs/acme/members', { token: tok.bob })).status, 200);
  assert.equal((await api(srv, 'GET', '/api/orgs/acme', { token: tok.legacyOrg })).status, 200);
  const events = (await api(srv, 'GET', '/api/orgs/acme/auditlogs/v2?eventFilter=organization-settings-changed', { token: tok.olga })).json.auditLogEvents;
  assert.deepEqual(
    events.map((e) => e.description),
    ['cleared the maximum access token lifetime of acme (was 30 days)', 'set the maximum access token lifetime of acme to 30 days (was 0; 0 = none)'],
  );
  assert.ok(events.every((e) => e.user.githubLogin === 'olga' && e.reqOrgAdmin));
});
