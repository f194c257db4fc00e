// OIDC trust relationships and token exchange, against a real OIDC issuer started here
// (oauth2-mock-server on loopback, serving discovery and JWKS over plain HTTP, which the server
// accepts only with --allow-http-issuers and only on loopback): RegisterOidcIssuer and friends,
// GetAuthPolicy/UpdateAuthPolicy, the Token exchange, explain, and the audit trail.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync, sign } from 'node:crypto';
import { api, assert401, memberAdd, nowSeconds, orgAdd, poll, sleep, startServer, tokenCreate, userAdd, validate, startMockIssuer } from './helpers.mjs';

const GRANT = 'urn:ietf:params:oauth:grant-type:token-exchange';
const ID_TOKEN = 'urn:ietf:params:oauth:token-type:id_token';
const TYPE = (kind) => `urn:pulumi:token-type:access_token:${kind}`;
const AUD = 'urn:pulumi:org:acme';
const SUB = 'repo:acme/infra:ref:refs/heads/main';

let srv;
let idp;
const tok = {};
let issuer; // the registration

before(async () => {
  idp = await startMockIssuer();
  srv = await startServer({
    extraArgs: ['--allow-http-issuers'],
    setup(db) {
      userAdd(db, 'bob');
      memberAdd(db, 'acme', 'bob', 'member');
      orgAdd(db, 'other'); // alice, a site admin, is not a member of it
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

/** An ID token from the mock issuer with the given claims (aud, sub, ... override the defaults). */
async function idToken(claims = {}, { expiresIn = 300, kid } = {}) {
  return idp.issuer.buildToken({
    kid,
    expiresIn,
    scopesOrTransform: (header, payload) => {
      Object.assign(payload, { aud: AUD, sub: SUB, repository_owner: 'acme' }, claims);
      for (const [k, v] of Object.entries(claims)) if (v === undefined) delete payload[k];
    },
  });
}

/** POST /api/oauth/token as a CI system would (form-encoded unless json is set). */
async function exchange(fields, { json = false } = {}) {
  const body = { grant_type: GRANT, subject_token_type: ID_TOKEN, audience: AUD, ...fields };
  for (const k of Object.keys(body)) if (body[k] === undefined) delete body[k];
  const res = await fetch(`${srv.url}/api/oauth/token`, {
    method: 'POST',
    headers: { 'Content-Type': json ? 'application/json' : 'application/x-www-form-urlencoded' },
    body: json ? JSON.stringify(body) : new URLSearchParams(body).toString(),
  });
  const out = { status: res.status, json: await res.json() };
  if (out.status === 200) validate('Token', 200, out.json);
  else {
    assert.equal(out.status, 400);
    assert.deepEqual(Object.keys(out.json).sort(), ['error', 'error_description']);
  }
  return out;
}

const setPolicies = (policies) =>
  api(srv, 'PATCH', `/api/orgs/acme/auth/policies/${issuer.policyId}`, { token: tok.alice, json: { policies } });
const allowOrg = (rules = { sub: 'repo:acme/*' }, permissions = []) => ({
  decision: 'allow',
  tokenType: 'organization',
  authorizedPermissions: permissions,
  rules,
});

test('only admins register issuers; discovery must succeed and plain HTTP is for loopback only', async () => {
  const body = { name: 'mock', url: idp.issuer.url };
  assert.equal((await api(srv, 'POST', '/api/orgs/acme/oidc/issuers', { token: tok.bob, json: body })).status, 403);
  for (const bad of [
    { name: 'x', url: 'http://example.com' }, // plain HTTP off loopback
    { name: 'x', url: 'ftp://127.0.0.1/' },
    { name: 'x', url: `${idp.issuer.url}/nope` }, // no discovery document there
    { name: '', url: idp.issuer.url },
    { url: idp.issuer.url },
    { name: 'x', url: idp.issuer.url, maxExpiration: 10 },
    { name: 'x', url: idp.issuer.url, thumbprints: ['abc'] },
    { name: 'x', url: idp.issuer.url, jwks: { keys: [{ kty: 'oct', k: 'c2VjcmV0' }] } },
  ]) {
    const res = await api(srv, 'POST', '/api/orgs/acme/oidc/issuers', { token: tok.alice, json: bad });
    assert.equal(res.status, 400, `${JSON.stringify(bad)}: ${res.text}`);
  }
  const res = await api(srv, 'POST', '/api/orgs/acme/oidc/issuers', { token: tok.alice, json: body });
  assert.equal(res.status, 200, res.text);
  assert.equal(res.json.issuer, idp.issuer.url);
  assert.equal(res.json.maxExpiration, 25 * 3600);
  assert.deepEqual(res.json.thumbprints, []);
  assert.equal(res.json.jwks, undefined); // the spec's JSONWebKey is Go's struct, not RFC 7517
  const again = await api(srv, 'POST', '/api/orgs/acme/oidc/issuers', { token: tok.alice, json: body });
  assert.equal(again.status, 409);
  const list = await api(srv, 'GET', '/api/orgs/acme/oidc/issuers', { token: tok.alice });
  assert.deepEqual(list.json.oidcIssuers.map((i) => i.id), [res.json.id]);
  assert.equal((await api(srv, 'GET', '/api/orgs/acme/oidc/issuers', { token: tok.bob })).status, 403);
  const policy = await api(srv, 'GET', `/api/orgs/acme/auth/policies/oidcissuers/${res.json.id}`, { token: tok.alice });
  assert.equal(policy.status, 200);
  assert.deepEqual(policy.json.policies, []); // a new issuer trusts nobody
  issuer = { id: res.json.id, policyId: policy.json.id };
});

test('a new issuer denies every exchange until a policy allows it', async () => {
  const res = await exchange({ subject_token: await idToken(), requested_token_type: TYPE('organization') });
  assert.equal(res.json.error, 'invalid_grant');
});

test('policies are validated; only admins change them', async () => {
  assert.equal((await api(srv, 'PATCH', `/api/orgs/acme/auth/policies/${issuer.policyId}`, { token: tok.bob, json: { policies: [allowOrg()] } })).status, 403);
  for (const bad of [[], [{ ...allowOrg(), decision: 'maybe' }], [{ ...allowOrg(), rules: {} }], [{ ...allowOrg(), tokenType: 'team' }]]) {
    const res = await setPolicies(bad);
    assert.equal(res.status, 400, `${JSON.stringify(bad)}: ${res.text}`);
  }
  const res = await setPolicies([allowOrg()]);
  assert.equal(res.status, 200, res.text);
  assert.equal(res.json.version, 2);
});

test('an allowed exchange issues an organization token that works and expires as asked', async () => {
  const res = await exchange({ subject_token: await idToken(), requested_token_type: TYPE('organization') });
  assert.equal(res.status, 200, JSON.stringify(res.json));
  assert.equal(res.json.issued_token_type, TYPE('organization'));
  assert.equal(res.json.token_type, 'token');
  assert.equal(res.json.expires_in, 7200); // the default, within the issuer's 25 h
  const me = await api(srv, 'GET', '/api/user', { token: res.json.access_token });
  assert.equal(me.status, 200);
  assert.equal(me.json.githubLogin, 'acme');
  assert.equal(me.json.tokenInfo.organization, 'acme');
  assert.match(me.json.tokenInfo.name, /^oidc-/);
  // Listed with the org's tokens, with its expiry.
  const listed = (await api(srv, 'GET', '/api/orgs/acme/tokens', { token: tok.alice })).json.tokens.find((t) => t.name === me.json.tokenInfo.name);
  assert.ok(listed);
  assert.ok(Math.abs(listed.expires - (nowSeconds() + 7200)) <= 5);
  assert.equal(listed.admin, false);
  // JSON bodies work too, and a short expiration is honoured to the second.
  const short = await exchange({ subject_token: await idToken(), requested_token_type: TYPE('organization'), expiration: 2 }, { json: true });
  assert.equal(short.status, 200, JSON.stringify(short.json));
  assert.equal(short.json.expires_in, 2);
  assert.equal((await api(srv, 'GET', '/api/orgs/acme', { token: short.json.access_token })).status, 200);
  await sleep(3100);
  assert401(await api(srv, 'GET', '/api/orgs/acme', { token: short.json.access_token }));
});

test('admin, team and personal tokens need a policy that names them', async () => {
  const admin = await exchange({ subject_token: await idToken(), requested_token_type: TYPE('organization'), scope: 'admin' });
  assert.equal(admin.json.error, 'invalid_grant');
  assert.equal((await exchange({ subject_token: await idToken(), requested_token_type: TYPE('team'), scope: 'team:ops' })).json.error, 'invalid_grant');
  assert.equal((await exchange({ subject_token: await idToken(), requested_token_type: TYPE('personal'), scope: 'user:bob' })).json.error, 'invalid_grant');
  const res = await setPolicies([
    allowOrg({ sub: 'repo:acme/infra:*' }, ['admin']),
    { decision: 'allow', tokenType: 'team', teamName: 'ops', authorizedPermissions: [], rules: { repository_owner: 'acme' } },
    { decision: 'allow', tokenType: 'personal', userLogin: 'bob', authorizedPermissions: [], rules: { sub: ['repo:acme/infra:ref:refs/heads/main', 'never'] } },
  ]);
  assert.equal(res.status, 200, res.text);
  const a = await exchange({ subject_token: await idToken(), requested_token_type: TYPE('organization'), scope: 'admin' });
  assert.equal(a.status, 200, JSON.stringify(a.json));
  assert.equal(a.json.scope, 'admin');
  assert.equal((await api(srv, 'GET', '/api/user', { token: a.json.access_token })).json.organizations[0].role, 'admin');
  const t = await exchange({ subject_token: await idToken(), requested_token_type: TYPE('team'), scope: 'team:ops' });
  assert.equal(t.status, 200, JSON.stringify(t.json));
  assert.equal((await api(srv, 'GET', '/api/user', { token: t.json.access_token })).json.tokenInfo.team, 'ops');
  const p = await exchange({ subject_token: await idToken(), requested_token_type: TYPE('personal'), scope: 'user:bob' });
  assert.equal(p.status, 200, JSON.stringify(p.json));
  const bob = await api(srv, 'GET', '/api/user', { token: p.json.access_token });
  assert.equal(bob.json.githubLogin, 'bob');
  // Short-lived by design, renewed by the next exchange: no "create a new one" warning on each use.
  for (const r of [bob, await api(srv, 'GET', '/api/user', { token: t.json.access_token })]) assert.equal(r.headers.get('x-pulumi-warning'), null);
  // Not for another team or user, nor for a team that does not exist.
  assert.equal((await exchange({ subject_token: await idToken(), requested_token_type: TYPE('personal'), scope: 'user:alice' })).json.error, 'invalid_grant');
  assert.equal((await exchange({ subject_token: await idToken(), requested_token_type: TYPE('team'), scope: 'team:nope' })).json.error, 'invalid_grant');
  // Claims decide: another repository is refused.
  assert.equal((await exchange({ subject_token: await idToken({ sub: 'repo:evil/infra:ref:refs/heads/main' }), requested_token_type: TYPE('organization'), scope: 'admin' })).json.error, 'invalid_grant');
});

test('a matching deny wins over allows', async () => {
  const res = await setPolicies([allowOrg({ sub: 'repo:acme/*' }), { decision: 'deny', tokenType: 'organization', authorizedPermissions: [], rules: { sub: '*:ref:refs/heads/feature*' } }]);
  assert.equal(res.status, 200, res.text);
  assert.equal((await exchange({ subject_token: await idToken(), requested_token_type: TYPE('organization') })).status, 200);
  const denied = await exchange({ subject_token: await idToken({ sub: 'repo:acme/infra:ref:refs/heads/feature-x' }), requested_token_type: TYPE('organization') });
  assert.equal(denied.json.error, 'invalid_grant');
  assert.doesNotMatch(denied.json.error_description, /deny|rule|polic/i, 'the caller is not told which rule failed');
});

test('bad ID tokens and bad requests are refused in RFC 6749 shape', async () => {
  const org = TYPE('organization');
  const good = await idToken();
  const [h, p, s] = good.split('.');
  const claims = JSON.parse(Buffer.from(p, 'base64url'));
  const forged = Buffer.from(JSON.stringify({ ...claims, sub: 'repo:acme/other' })).toString('base64url');
  const none = `${Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })).toString('base64url')}.${p}.`;
  for (const [what, subject_token] of [
    ['tampered payload', `${h}.${forged}.${s}`],
    ['alg none', none],
    ['expired', await idToken({}, { expiresIn: -600 })],
    ['wrong audience', await idToken({ aud: 'urn:pulumi:org:other' })],
    ['wrong issuer', await idToken({ iss: 'https://evil.example' })],
    ['not a JWT', 'hello'],
  ]) {
    const res = await exchange({ subject_token, requested_token_type: org });
    assert.equal(res.json.error, 'invalid_grant', what);
  }
  assert.equal((await exchange({ subject_token: good, requested_token_type: org, grant_type: 'client_credentials' })).json.error, 'unsupported_grant_type');
  assert.equal((await exchange({ subject_token: good, requested_token_type: org, audience: 'acme' })).json.error, 'invalid_target');
  assert.equal((await exchange({ subject_token: good, requested_token_type: TYPE('robot') })).json.error, 'invalid_request');
  assert.equal((await exchange({ subject_token: good, requested_token_type: TYPE('team') })).json.error, 'invalid_request');
  assert.equal((await exchange({ subject_token: good, requested_token_type: org, expiration: 'soon' })).json.error, 'invalid_request');
  assert.equal((await exchange({ subject_token: good, requested_token_type: org, subject_token_type: 'urn:x' })).json.error, 'invalid_request');
  // An unknown organization looks like any other refusal.
  assert.equal((await exchange({ subject_token: good, requested_token_type: org, audience: 'urn:pulumi:org:nope' })).json.error, 'invalid_grant');
  // A body with a NUL byte is refused, not misparsed.
  const nul = await fetch(`${srv.url}/api/oauth/token`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body: Buffer.concat([Buffer.from('a\0'), Buffer.alloc(60000, 'b')]),
  });
  assert.equal(nul.status, 400);
  assert.equal((await nul.json()).error, 'invalid_request');
  // Refusals are audited with their reason, at most one record per org every 5 s (anyone can
  // call the exchange), each counting the refusals left out before it.
  await sleep(5200);
  assert.equal((await exchange({ subject_token: await idToken({}, { expiresIn: -600 }), requested_token_type: org })).json.error, 'invalid_grant');
  const record = await poll(async () =>
    (await api(srv, 'GET', '/api/orgs/acme/auditlogs/v2?eventFilter=auth-failure-oidc-token-exchange', { token: tok.alice })).json.auditLogEvents.find((e) =>
      /expired/.test(e.description),
    ),
  );
  assert.ok(record, 'an expired token refusal is recorded with its reason');
  assert.match(record.description, /; [1-9]\d* more refused and not recorded before this one/);
});

test('a key rotated at the issuer is picked up on first sight of its kid', async () => {
  const key = await idp.issuer.keys.generate('ES256'); // a new kid, and the other algorithm
  const res = await exchange({ subject_token: await idToken({}, { kid: key.kid }), requested_token_type: TYPE('organization') });
  assert.equal(res.status, 200, JSON.stringify(res.json));
  // Stored: the next token with that kid needs no refresh (one a minute at most), and works.
  const again = await exchange({ subject_token: await idToken({}, { kid: key.kid }), requested_token_type: TYPE('organization') });
  assert.equal(again.status, 200, JSON.stringify(again.json));
  // A kid the issuer does not have either is refused, without another fetch.
  const [h, p, sig] = (await idToken()).split('.');
  const header = { ...JSON.parse(Buffer.from(h, 'base64url')), kid: 'no-such-kid' };
  const renamed = `${Buffer.from(JSON.stringify(header)).toString('base64url')}.${p}.${sig}`;
  const unknown = await exchange({ subject_token: renamed, requested_token_type: TYPE('organization') });
  assert.equal(unknown.json.error, 'invalid_grant');
});

test('exchanged tokens are exempt from the org lifetime policy and audited as made for the issuer', async () => {
  const org = TYPE('organization');
  const long = await exchange({ subject_token: await idToken(), requested_token_type: org, expiration: 90000 });
  assert.equal(long.status, 200, JSON.stringify(long.json));
  assert.equal(long.json.expires_in, 90000);
  assert.equal((await api(srv, 'PATCH', '/api/orgs/acme', { token: tok.alice, json: { setMaxAccessTokenExpiryDays: 1 } })).status, 200);
  const longPersonal = (await api(srv, 'POST', '/api/user/tokens', { token: tok.bob, json: { expires: nowSeconds() + 3 * 86400 } })).json.tokenValue;
  assert.equal((await api(srv, 'GET', '/api/orgs/acme', { token: longPersonal })).status, 403);
  assert.equal((await api(srv, 'GET', '/api/orgs/acme', { token: long.json.access_token })).status, 200);
  const short = (await api(srv, 'POST', '/api/user/tokens', { token: tok.alice, json: { expires: nowSeconds() + 3600 } })).json.tokenValue;
  assert.equal((await api(srv, 'PATCH', '/api/orgs/acme', { token: short, json: { setMaxAccessTokenExpiryDays: 0 } })).status, 200);
  const events = (await api(srv, 'GET', '/api/orgs/acme/auditlogs/v2?eventFilter=organization-token-created-for-oidc-issuer', { token: tok.alice })).json.auditLogEvents;
  assert.ok(events.length >= 3);
  assert.match(events[0].description, /by OIDC issuer mock/);
  assert.match(events[0].description, new RegExp(SUB.replace(/[/.*]/g, '\\$&')));
});

test('the issuer\'s sub is escaped in the token\'s description: no control characters, never a split character', async () => {
  // sub is the issuer's to choose. A description is cut to a byte budget; cutting "é" in half
  // would leave text that is not UTF-8 and a listing that cannot be rendered.
  const sub = `repo:acme/x\x1b[31mred\x07:${'é'.repeat(150)}`; // the 257th byte would be half an é
  const res = await exchange({ subject_token: await idToken({ sub }), requested_token_type: TYPE('organization') });
  assert.equal(res.status, 200, JSON.stringify(res.json));
  const name = (await api(srv, 'GET', '/api/user', { token: res.json.access_token })).json.tokenInfo.name;
  const list = await api(srv, 'GET', '/api/orgs/acme/tokens', { token: tok.alice });
  assert.equal(list.status, 200, list.text);
  const made = list.json.tokens.find((t) => t.name === name);
  assert.ok(made.description.startsWith('from OIDC issuer mock for repo:acme/x\\x1b[31mred\\x07:éé'), made.description);
  assert.doesNotMatch(made.description, /[\u0000-\u001f\u007f-\u009f]/);
  assert.ok(Buffer.byteLength(made.description) <= 1024);
});

test('the JSON form of the exchange takes strings, and expiration as an integer only', async () => {
  const org = TYPE('organization');
  const good = await idToken();
  for (const [what, fields] of [
    ['expiration as a string of digits', { expiration: '3600' }],
    ['expiration as a float', { expiration: 1.5 }],
    ['expiration null', { expiration: null }],
    ['scope null', { scope: null }],
    ['requested_token_type a number', { requested_token_type: 7 }],
    ['subject_token an array', { subject_token: [good] }],
  ]) {
    const res = await exchange({ subject_token: good, requested_token_type: org, ...fields }, { json: true });
    assert.equal(res.json.error, 'invalid_request', what);
  }
  // The form has only strings: its expiration is digits, nothing else.
  for (const expiration of [' 60', '+60', '60s', '']) {
    const res = await exchange({ subject_token: good, requested_token_type: org, expiration });
    assert.equal(res.json.error, 'invalid_request', JSON.stringify(expiration));
  }
});

test('explain tells an admin, rule by rule, why a sample token passes or not', async () => {
  const sample = await idToken({ sub: 'repo:acme/infra:ref:refs/heads/feature-y' });
  const url = `/api/orgs/acme/oidc/issuers/${issuer.id}/explain`;
  assert.equal((await api(srv, 'POST', url, { token: tok.bob, json: { token: sample } })).status, 403);
  const res = await api(srv, 'POST', url, { token: tok.alice, json: { token: sample, requested_token_type: TYPE('organization') } });
  assert.equal(res.status, 200, res.text);
  assert.equal(res.json.decision, 'deny');
  assert.equal(res.json.token.valid, true);
  assert.equal(res.json.claims.sub, 'repo:acme/infra:ref:refs/heads/feature-y');
  const deny = res.json.policy.policies.find((p) => p.decision === 'deny');
  assert.equal(deny.matched, true);
  const ok = await api(srv, 'POST', url, { token: tok.alice, json: { token: await idToken() } });
  assert.equal(ok.json.decision, 'allow');
  const expired = await api(srv, 'POST', url, { token: tok.alice, json: { token: await idToken({}, { expiresIn: -600 }) } });
  assert.equal(expired.json.decision, 'deny');
  assert.equal(expired.json.token.valid, false);
  assert.match(expired.json.token.reason, /expired/);
});

test('a personal token from an exchange acts only in the issuer\'s org, without site-admin powers', async () => {
  const res = await setPolicies([{ decision: 'allow', tokenType: 'personal', userLogin: 'alice', authorizedPermissions: [], rules: { sub: SUB } }]);
  assert.equal(res.status, 200, res.text);
  const p = await exchange({ subject_token: await idToken(), requested_token_type: TYPE('personal'), scope: 'user:alice' });
  assert.equal(p.status, 200, JSON.stringify(p.json));
  const ci = p.json.access_token;
  const me = await api(srv, 'GET', '/api/user', { token: ci });
  assert.equal(me.json.githubLogin, 'alice');
  assert.equal(me.json.siteAdmin, false);
  assert.deepEqual(me.json.organizations.map((o) => o.githubLogin), ['acme']);
  assert.equal((await api(srv, 'GET', '/api/orgs/acme/members', { token: ci })).status, 200);
  // Alice herself, a site admin, may see "other"; her CI job may not.
  assert.equal((await api(srv, 'GET', '/api/orgs/other', { token: tok.alice })).status, 200);
  assert.equal((await api(srv, 'GET', '/api/orgs/other', { token: ci })).status, 404);
  // Nor may it mint lasting credentials: personal tokens, org tokens, issuers, policies.
  assert.equal((await api(srv, 'POST', '/api/user/tokens', { token: ci, json: {} })).status, 403);
  assert.equal((await api(srv, 'POST', '/api/orgs/acme/tokens', { token: ci, json: { name: 'from-ci', description: '', expires: 0, admin: true } })).status, 403);
  assert.equal((await api(srv, 'POST', '/api/orgs/acme/oidc/issuers', { token: ci, json: { name: 'x', url: idp.issuer.url } })).status, 403);
  assert.equal((await api(srv, 'PATCH', `/api/orgs/acme/auth/policies/${issuer.policyId}`, { token: ci, json: { policies: [allowOrg()] } })).status, 403);
  // Machine tokens neither: an admin org token cannot hand itself a trust relationship.
  const robot = (await api(srv, 'POST', '/api/orgs/acme/tokens', { token: tok.alice, json: { name: 'robot', description: '', expires: 0, admin: true } })).json.tokenValue;
  assert.equal((await api(srv, 'PATCH', `/api/orgs/acme/oidc/issuers/${issuer.id}`, { token: robot, json: { maxExpiration: 600 } })).status, 403);
  assert.equal((await api(srv, 'GET', `/api/orgs/acme/oidc/issuers/${issuer.id}`, { token: robot })).status, 200);
  tok.ciAlice = ci;
  assert.equal((await setPolicies([allowOrg({ sub: 'repo:acme/*' }), { decision: 'deny', tokenType: 'organization', authorizedPermissions: [], rules: { sub: '*:ref:refs/heads/feature*' } }])).status, 200);
});

test('a static key set replaced, a policy changed or an issuer deleted right after an exchange is honoured by the next one', async () => {
  const ISS = 'https://static.example.invalid'; // never fetched: the key set is static
  const keyA = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const keyB = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwks = (k) => ({ keys: [{ ...k.publicKey.export({ format: 'jwk' }), kid: 'k1', alg: 'RS256', use: 'sig' }] });
  const b64 = (obj) => Buffer.from(JSON.stringify(obj)).toString('base64url');
  const mint = (k) => {
    const iat = nowSeconds();
    const input = `${b64({ alg: 'RS256', typ: 'JWT', kid: 'k1' })}.${b64({ iss: ISS, aud: AUD, sub: SUB, iat, exp: iat + 300 })}`;
    return `${input}.${sign('sha256', Buffer.from(input), k.privateKey).toString('base64url')}`;
  };
  const org = (subject) => exchange({ subject_token: subject, requested_token_type: TYPE('organization') });
  const reg = await api(srv, 'POST', '/api/orgs/acme/oidc/issuers', { token: tok.alice, json: { name: 'static', url: ISS, jwks: jwks(keyA) } });
  assert.equal(reg.status, 200, reg.text);
  const policy = await api(srv, 'GET', `/api/orgs/acme/auth/policies/oidcissuers/${reg.json.id}`, { token: tok.alice });
  const setStatic = (policies) => api(srv, 'PATCH', `/api/orgs/acme/auth/policies/${policy.json.id}`, { token: tok.alice, json: { policies } });
  assert.equal((await setStatic([allowOrg()])).status, 200);
  assert.equal((await org(mint(keyA))).status, 200);
  assert.equal((await org(mint(keyA))).status, 200);
  // The same kid, another key: the old key is refused at once, the new one accepted.
  const rotated = await api(srv, 'PATCH', `/api/orgs/acme/oidc/issuers/${reg.json.id}`, { token: tok.alice, json: { jwks: jwks(keyB) } });
  assert.equal(rotated.status, 200, rotated.text);
  assert.equal((await org(mint(keyA))).json.error, 'invalid_grant');
  const withB = await org(mint(keyB));
  assert.equal(withB.status, 200, JSON.stringify(withB.json));
  // A policy that no longer allows the subject.
  assert.equal((await setStatic([allowOrg({ sub: 'repo:someone-else/*' })])).status, 200);
  assert.equal((await org(mint(keyB))).json.error, 'invalid_grant');
  assert.equal((await setStatic([allowOrg()])).status, 200);
  assert.equal((await org(mint(keyB))).status, 200);
  // Back to the first key set: the second key is refused again.
  assert.equal((await api(srv, 'PATCH', `/api/orgs/acme/oidc/issuers/${reg.json.id}`, { token: tok.alice, json: { jwks: jwks(keyA) } })).status, 200);
  assert.equal((await org(mint(keyB))).json.error, 'invalid_grant');
  assert.equal((await org(mint(keyA))).status, 200);
  assert.equal((await api(srv, 'DELETE', `/api/orgs/acme/oidc/issuers/${reg.json.id}`, { token: tok.alice })).status, 204);
  assert.equal((await org(mint(keyA))).json.error, 'invalid_grant');
  assert401(await api(srv, 'GET', '/api/user', { token: withB.json.access_token }));
});

test('update, regenerate and delete; a deleted issuer exchanges nothing', async () => {
  const up = await api(srv, 'PATCH', `/api/orgs/acme/oidc/issuers/${issuer.id}`, { token: tok.alice, json: { name: 'renamed', maxExpiration: 600 } });
  assert.equal(up.status, 200, up.text);
  assert.equal(up.json.name, 'renamed');
  // Pulumi's Cloud provider sends "thumbprints": null when none are configured: no change.
  const asProvider = await api(srv, 'PATCH', `/api/orgs/acme/oidc/issuers/${issuer.id}`, { token: tok.alice, json: { name: 'renamed', thumbprints: null } });
  assert.equal(asProvider.status, 200, asProvider.text);
  assert.deepEqual(asProvider.json.thumbprints, up.json.thumbprints);
  for (const bad of [{ name: null }, { maxExpiration: null }, { maxExpiration: 600.5 }, { maxExpiration: '600' }, { jwks: null }]) {
    const res = await api(srv, 'PATCH', `/api/orgs/acme/oidc/issuers/${issuer.id}`, { token: tok.alice, json: bad });
    assert.equal(res.status, 400, `${JSON.stringify(bad)}: ${res.text}`);
  }
  const capped = await exchange({ subject_token: await idToken(), requested_token_type: TYPE('organization') });
  assert.equal(capped.json.expires_in, 600); // capped by the issuer
  const regen = await api(srv, 'POST', `/api/orgs/acme/oidc/issuers/${issuer.id}/regenerate-thumbprints`, { token: tok.alice });
  assert.equal(regen.status, 200, regen.text);
  assert.equal((await api(srv, 'DELETE', `/api/orgs/acme/oidc/issuers/${issuer.id}`, { token: tok.bob })).status, 403);
  const live = await exchange({ subject_token: await idToken(), requested_token_type: TYPE('organization') });
  assert.equal((await api(srv, 'GET', '/api/orgs/acme', { token: live.json.access_token })).status, 200);
  assert.equal((await api(srv, 'DELETE', `/api/orgs/acme/oidc/issuers/${issuer.id}`, { token: tok.alice })).status, 204);
  // Deleting the trust relationship revokes what it issued.
  assert401(await api(srv, 'GET', '/api/orgs/acme', { token: live.json.access_token }));
  assert401(await api(srv, 'GET', '/api/user', { token: tok.ciAlice }));
  assert.equal((await api(srv, 'GET', `/api/orgs/acme/oidc/issuers/${issuer.id}`, { token: tok.alice })).status, 404);
  assert.equal((await exchange({ subject_token: await idToken(), requested_token_type: TYPE('organization') })).json.error, 'invalid_grant');
  const events = (await api(srv, 'GET', '/api/orgs/acme/auditlogs/v2', { token: tok.alice })).json.auditLogEvents.map((e) => e.event);
  for (const e of ['oidc-issuer-registered', 'oidc-issuer-updated', 'oidc-issuer-deleted', 'authorization-policy-updated'])
    assert.ok(events.includes(e), `${e} recorded`);
});
