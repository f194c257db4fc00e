// Nothing a token creates may outlive it. A team token made with an organization token, or with a
// token an OIDC exchange issued, expires no later than its maker and dies with it (and with the
// maker's issuer). A token from an exchange changes no membership, role or lifetime policy unless
// its issuer's policy grants "manage-access", and the audit log names the token and the issuer of
// every change it makes. Against a real OIDC issuer (oauth2-mock-server) on loopback.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { api, assert401, memberAdd, nowSeconds, startServer, tokenCreate, userAdd, startMockIssuer, registerIssuer } from './helpers.mjs';

const GRANT = 'urn:ietf:params:oauth:grant-type:token-exchange';
const ID_TOKEN = 'urn:ietf:params:oauth:token-type:id_token';
const ORG_TOKEN = 'urn:pulumi:token-type:access_token:organization';
const SUB = 'repo:acme/infra:ref:refs/heads/main';

let srv;
let idp;
const tok = {};

before(async () => {
  idp = await startMockIssuer();
  srv = await startServer({
    extraArgs: ['--allow-http-issuers'],
    setup(db) {
      userAdd(db, 'bob');
      userAdd(db, 'carol');
      memberAdd(db, 'acme', 'bob', 'member');
      tok.bob = tokenCreate(db, 'bob');
    },
  });
  tok.alice = srv.token;
  const team = await api(srv, 'POST', '/api/orgs/acme/teams/pulumi', { token: tok.alice, json: { name: 'ops', displayName: 'Ops', description: '' } });
  assert.equal(team.status, 201);
});

after(async () => {
  await srv?.stop();
  await idp?.stop();
});

const orgToken = async (name, expires) => {
  const res = await api(srv, 'POST', '/api/orgs/acme/tokens', { token: tok.alice, json: { name, description: '', expires, admin: true } });
  assert.equal(res.status, 200, res.text);
  return res.json.tokenValue;
};
const teamToken = (by, name, expires) =>
  api(srv, 'POST', '/api/orgs/acme/teams/ops/tokens', { token: by, json: { name, description: 'made by a token', expires } });

/** An exchange for an admin org token under a policy granting `permissions`; returns the value. */
async function exchangeAdmin(issuerId, policyId, permissions, expiration = 120) {
  const policy = { decision: 'allow', tokenType: 'organization', authorizedPermissions: permissions, rules: { sub: 'repo:acme/*' } };
  const set = await api(srv, 'PATCH', `/api/orgs/acme/auth/policies/${policyId}`, { token: tok.alice, json: { policies: [policy] } });
  assert.equal(set.status, 200, set.text);
  const idToken = await idp.issuer.buildToken({
    expiresIn: 300,
    scopesOrTransform: (header, payload) => Object.assign(payload, { aud: 'urn:pulumi:org:acme', sub: SUB }),
  });
  const res = await fetch(`${srv.url}/api/oauth/token`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: GRANT, subject_token_type: ID_TOKEN, audience: 'urn:pulumi:org:acme', subject_token: idToken,
      requested_token_type: ORG_TOKEN, scope: 'admin', expiration: String(expiration),
    }).toString(),
  });
  const json = await res.json();
  assert.equal(res.status, 200, JSON.stringify(json));
  return json.access_token;
}

let issuer; // {id, policyId}

test('the mock issuer is registered (discovery over loopback HTTP)', async () => {
  issuer = await registerIssuer(srv, tok.alice, 'ci', idp.issuer.url);
});

test('a team token made with an org token expires no later than it, and dies with it', async () => {
  const hour = nowSeconds() + 3600;
  const maker = await orgToken('maker', hour);
  for (const expires of [0, hour + 60]) {
    const res = await teamToken(maker, `late-${expires}`, expires);
    assert.equal(res.status, 400, res.text);
    assert.match(res.json.message, new RegExp(`must expire no later than it does: give expires at most ${hour} \\(`));
  }
  const made = await teamToken(maker, 'child', hour - 60);
  assert.equal(made.status, 200, made.text);
  const child = made.json.tokenValue;
  assert.equal((await api(srv, 'GET', '/api/user', { token: child })).status, 200);
  // a person's own token makes tokens that stand on their own
  const own = await teamToken(tok.alice, 'alices', 0);
  assert.equal(own.status, 200, own.text);

  const list = await api(srv, 'GET', '/api/orgs/acme/tokens', { token: tok.alice });
  const makerId = list.json.tokens.find((t) => t.name === 'maker').id;
  assert.equal((await api(srv, 'DELETE', `/api/orgs/acme/tokens/${makerId}`, { token: tok.alice })).status, 204);
  assert401(await api(srv, 'GET', '/api/user', { token: child }), 'a token outlived its maker');
  const teamList = await api(srv, 'GET', '/api/orgs/acme/teams/ops/tokens?filter=all', { token: tok.alice });
  assert.deepEqual(teamList.json.tokens.map((t) => t.name), ['alices']);
  assert.equal((await api(srv, 'GET', '/api/user', { token: own.json.tokenValue })).status, 200);
});

test('a token from an exchange changes no membership, role or lifetime policy without manage-access', async () => {
  const ci = await exchangeAdmin(issuer.id, issuer.policyId, ['admin']);
  const refused = [
    ['POST', '/api/orgs/acme/members/carol', { role: 'admin' }],
    ['PATCH', '/api/orgs/acme/members/bob', { role: 'admin' }],
    ['DELETE', '/api/orgs/acme/members/bob', undefined],
    ['PATCH', '/api/orgs/acme/teams/ops', { memberAction: 'add', member: 'bob' }],
    ['PATCH', '/api/orgs/acme', { setMaxAccessTokenExpiryDays: 30 }],
  ];
  for (const [method, path, json] of refused) {
    const res = await api(srv, method, path, { token: ci, json });
    assert.equal(res.status, 403, `${method} ${path}: ${res.text}`);
    assert.match(res.json.message, /OIDC issuer ci changes membership, roles or the lifetime policy only when the issuer's policy grants "manage-access"/);
  }
  // nothing changed
  const members = await api(srv, 'GET', '/api/orgs/acme/members', { token: tok.alice });
  assert.deepEqual(members.json.members.map((m) => [m.user.githubLogin, m.role]).sort(), [['alice', 'admin'], ['bob', 'member']]);
  const org = await api(srv, 'GET', '/api/orgs/acme', { token: tok.alice });
  assert.equal(org.json.maxAccessTokenExpiryDays, undefined);
  // what it may still do as an admin: read, and change texts
  assert.equal((await api(srv, 'PATCH', '/api/orgs/acme/teams/ops', { token: ci, json: { newDescription: 'by CI' } })).status, 204);
  // every refusal is in the audit log
  const log = await api(srv, 'GET', '/api/orgs/acme/auditlogs/v2?eventFilter=auth-failure-organization-role', { token: tok.alice });
  assert.ok(log.json.auditLogEvents.filter((e) => /manage-access/.test(e.description)).length >= refused.length);
});

test('with manage-access it may, and the audit log names its token and issuer', async () => {
  const ci = await exchangeAdmin(issuer.id, issuer.policyId, ['admin', 'manage-access']);
  const me = await api(srv, 'GET', '/api/user', { token: ci });
  assert.equal(me.status, 200);
  const add = await api(srv, 'POST', '/api/orgs/acme/members/carol', { token: ci, json: { role: 'member' } });
  assert.equal(add.status, 200, add.text);
  const log = await api(srv, 'GET', '/api/orgs/acme/auditlogs/v2?eventFilter=member-added', { token: tok.alice });
  const e = log.json.auditLogEvents.find((x) => /added carol/.test(x.description));
  assert.ok(e, JSON.stringify(log.json));
  assert.ok(e.tokenID, 'the acting token is named');
  assert.ok(e.description.includes(`with token ${e.tokenID}, issued by OIDC issuer ci, id ${issuer.id}`), e.description);
  assert.match(e.user.githubLogin, /^acme\/oidc-/);
  assert.equal((await api(srv, 'DELETE', '/api/orgs/acme/members/carol', { token: tok.alice })).status, 204);
});

test('what an exchange-issued token makes lives no longer than it, and dies with its issuer', async () => {
  const ci = await exchangeAdmin(issuer.id, issuer.policyId, ['admin'], 120);
  const bound = nowSeconds() + 120;
  const never = await teamToken(ci, 'forever', 0);
  assert.equal(never.status, 400, never.text);
  assert.match(never.json.message, /OIDC-issued organization token must expire no later than it does/);
  const made = await teamToken(ci, 'ci-child', bound - 30);
  assert.equal(made.status, 200, made.text);
  const use = await api(srv, 'GET', '/api/user', { token: made.json.tokenValue });
  assert.equal(use.status, 200);
  // Bounded by the CI job's token, it is renewed by the job's next run: no "create a new one".
  assert.equal(use.headers.get('x-pulumi-warning'), null);
  assert.equal((await api(srv, 'DELETE', `/api/orgs/acme/oidc/issuers/${issuer.id}`, { token: tok.alice })).status, 204);
  assert401(await api(srv, 'GET', '/api/user', { token: ci }), 'the exchange-issued token');
  assert401(await api(srv, 'GET', '/api/user', { token: made.json.tokenValue }), 'what it made');
  const teamList = await api(srv, 'GET', '/api/orgs/acme/teams/ops/tokens?filter=all', { token: tok.alice });
  assert.ok(!teamList.json.tokens.some((t) => t.name === 'ci-child'));
});

test('manage-access is refused where it means nothing', async () => {
  const again = await registerIssuer(srv, tok.alice, 'again', idp.issuer.url);
  for (const bad of [
    { decision: 'allow', tokenType: 'organization', authorizedPermissions: ['manage-access'], rules: { sub: 'x' } },
    { decision: 'allow', tokenType: 'team', teamName: 'ops', authorizedPermissions: ['manage-access'], rules: { sub: 'x' } },
    { decision: 'allow', tokenType: 'organization', authorizedPermissions: ['admin', 'everything'], rules: { sub: 'x' } },
  ]) {
    const res = await api(srv, 'PATCH', `/api/orgs/acme/auth/policies/${again.policyId}`, { token: tok.alice, json: { policies: [bad] } });
    assert.equal(res.status, 400, `${JSON.stringify(bad)}: ${res.text}`);
  }
  const ok = await api(srv, 'PATCH', `/api/orgs/acme/auth/policies/${again.policyId}`, {
    token: tok.alice,
    json: { policies: [{ decision: 'allow', tokenType: 'personal', userLogin: 'bob', authorizedPermissions: ['manage-access'], rules: { sub: 'x' } }] },
  });
  assert.equal(ok.status, 200, ok.text);
});
