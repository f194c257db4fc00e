// Request body fields are read strictly by every handler: null is refused (Pulumi's spec marks no
// request field nullable), so are wrong JSON types (an integer must be a JSON integer, not 1.5 or
// "15"; a boolean true or false), out-of-range numbers, and text with control characters. The
// 400 names the field and says what is wrong. What Pulumi's own clients send still works.
// (tests/robustness/json_inputs.test.mjs generates the full catalogue; these are the cases each
// handler used to accept.)
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { api, memberAdd, nowSeconds, startServer, userAdd, startMockIssuer, passwd, registerIssuer } from './helpers.mjs';

const PASSWORD = 'correct horse battery';
let srv;
let idp;
let issuer; // {id, policyId}

before(async () => {
  idp = await startMockIssuer();
  srv = await startServer({
    extraArgs: ['--allow-http-issuers'],
    setup(db) {
      userAdd(db, 'bob');
      userAdd(db, 'carol');
      memberAdd(db, 'acme', 'bob', 'member');
      const r = passwd(db, 'alice', `${PASSWORD}\n`);
      assert.equal(r.status, 0, r.stderr);
    },
  });
  const team = await call('POST', '/api/orgs/acme/teams/pulumi', { name: 'ops', displayName: 'Ops', description: '' });
  assert.equal(team.status, 201, team.text);
  issuer = await registerIssuer(srv, srv.token, 'main', idp.issuer.url);
});

after(async () => {
  await srv?.stop();
  await idp?.stop();
});

const call = (method, path, json, token = srv.token) =>
  api(srv, method, path, typeof json === 'string' ? { token, body: json } : { token, json });

/** Each [body, message] must be refused with exactly that detail. */
async function refuses(method, path, cases) {
  for (const [body, message] of cases) {
    const res = await call(method, path, body);
    assert.equal(res.status, 400, `${method} ${path} ${JSON.stringify(body)}: ${res.text}`);
    if (message instanceof RegExp) assert.match(res.json.message, message);
    else assert.equal(res.json.message, `Bad Request: ${message}`, JSON.stringify(body));
  }
}

test('organization and team tokens: null, wrong types and control characters are refused', async () => {
  const now = nowSeconds();
  for (const [path, extra] of [
    ['/api/orgs/acme/tokens', { admin: false }],
    ['/api/orgs/acme/teams/ops/tokens', {}],
  ]) {
    await refuses('POST', path, [
      [{ name: 'a1', expires: null, ...extra }, 'expires must be Unix seconds (an integer) or an RFC 3339 string; null is not allowed.'],
      [{ name: 'a2', description: null, ...extra }, 'description must be text (a string); null is not allowed.'],
      [{ name: 'a3', expires: String(now + 3600), ...extra }, /^Bad Request: expires must be Unix seconds \(an integer\) or an RFC 3339 string; this string/],
      [{ name: 'a4', description: 'tab\there', ...extra }, /^Bad Request: description must not contain control characters/],
      [{ name: null, ...extra }, 'name must be a string; null is not allowed.'],
    ]);
  }
  await refuses('POST', '/api/orgs/acme/tokens', [
    [{ name: 'a5', admin: null }, 'admin must be true or false; null is not allowed.'],
    [{ name: 'a6', admin: 'true' }, 'admin must be true or false, not a string.'],
    [{ name: 'a7', admin: 1 }, 'admin must be true or false, not an integer.'],
    [{ name: 'a8', admin: false, roleID: null }, 'roleID must be a string; null is not allowed.'],
  ]);
  // What Pulumi's Cloud provider sends.
  assert.equal((await call('POST', '/api/orgs/acme/tokens', { name: 'provider-org', description: 'd', admin: true })).status, 200);
  assert.equal((await call('POST', '/api/orgs/acme/teams/ops/tokens', { name: 'provider-team', description: 'd' })).status, 200);
});

test('organization settings: setMaxAccessTokenExpiryDays null, a float or a string is refused, not "no change"', async () => {
  await refuses('PATCH', '/api/orgs/acme', [
    [{ setMaxAccessTokenExpiryDays: null }, 'setMaxAccessTokenExpiryDays must be an integer from 0 to 3650; null is not allowed.'],
    [{ setMaxAccessTokenExpiryDays: 30.5 }, 'setMaxAccessTokenExpiryDays must be an integer from 0 to 3650, not a floating-point number.'],
    [{ setMaxAccessTokenExpiryDays: '30' }, 'setMaxAccessTokenExpiryDays must be an integer from 0 to 3650, not a string.'],
    [{ setMaxAccessTokenExpiryDays: 3651 }, 'setMaxAccessTokenExpiryDays must be an integer from 0 to 3650; it is 3651.'],
    ['{"setMaxAccessTokenExpiryDays":30\u0000}', 'the request body is not valid JSON: it contains a NUL byte.'],
  ]);
  assert.equal((await call('PATCH', '/api/orgs/acme', {})).status, 200); // absent: no change
});

test('members: role and fgaRoleId must be strings naming a role', async () => {
  await refuses('POST', '/api/orgs/acme/members/carol', [
    [{ role: null }, 'role must be a string; null is not allowed.'],
    [{ role: 1 }, 'role must be a string, not an integer.'],
  ]);
  await refuses('PATCH', '/api/orgs/acme/members/bob', [
    [{ role: null }, 'role must be a string; null is not allowed.'],
    [{ fgaRoleId: null }, 'fgaRoleId must be a string; null is not allowed.'],
    // Before, fgaRoleId winning meant a role of any type went unchecked.
    [{ role: 7, fgaRoleId: 'member' }, 'role must be a string, not an integer.'],
  ]);
});

test('teams: control characters (C1 included) in names and descriptions are refused; Pulumi\'s provider body is taken', async () => {
  await refuses('POST', '/api/orgs/acme/teams/pulumi', [
    [{ name: 'c1', displayName: 'x\u009b31m' }, 'displayName must not contain control characters (newlines, tabs, escapes); it has U+009B at byte 1.'],
    [{ name: 'c2', description: 'x\u0085' }, /^Bad Request: description must not contain control characters/],
    [{ name: 'c3', displayName: null }, 'displayName must be text (a string); null is not allowed.'],
    [{ name: 'c4', organization: 'other' }, 'organization must be acme, the organization in the path.'],
    [{ name: 'c5', teamType: 'github' }, 'teamType must be pulumi: Tessera has no GitHub teams.'],
  ]);
  await refuses('PATCH', '/api/orgs/acme/teams/ops', [
    [{ newDescription: 'x\u009b' }, /^Bad Request: newDescription must not contain control characters/],
    [{ newDisplayName: null }, 'newDisplayName must be text (a string); null is not allowed.'],
    [{ memberAction: 'add', member: null }, 'member must be a string; null is not allowed.'],
    [{ memberAction: 5, member: 'bob' }, 'memberAction must be a string, not an integer.'],
  ]);
  // Pulumi's Cloud provider sends the organization and the team type along.
  const made = await call('POST', '/api/orgs/acme/teams/pulumi', { organization: 'acme', teamType: 'pulumi', name: 'platform', displayName: 'Platform', description: '' });
  assert.equal(made.status, 201, made.text);
});

test('OIDC issuers: strict fields; the provider\'s "thumbprints": null on update means no change', async () => {
  await refuses('POST', '/api/orgs/acme/oidc/issuers', [
    [{ name: 'x\u009b', url: idp.issuer.url }, /^Bad Request: name must not contain control characters/],
    [{ name: 'x', url: idp.issuer.url, maxExpiration: null }, 'maxExpiration must be an integer from 60 to 2678400; null is not allowed.'],
    [{ name: 'x', url: idp.issuer.url, maxExpiration: '3600' }, 'maxExpiration must be an integer from 60 to 2678400, not a string.'],
    [{ name: 'x', url: idp.issuer.url, thumbprints: null }, 'thumbprints must be an array of certificate fingerprints; null is not allowed.'],
    [{ name: 'x', url: idp.issuer.url, jwks: null }, 'jwks must be a JSON Web Key Set object; null is not allowed.'],
  ]);
  const up = await call('PATCH', `/api/orgs/acme/oidc/issuers/${issuer.id}`, { name: 'main', thumbprints: null });
  assert.equal(up.status, 200, up.text);
});

test('auth policies: null for an unset filter is taken but not kept, so the policy reads back as the spec has it', async () => {
  const res = await call('PATCH', `/api/orgs/acme/auth/policies/${issuer.policyId}`, {
    policies: [{ decision: 'allow', tokenType: 'organization', teamName: null, userLogin: null, roleID: null, runnerID: null, authorizedPermissions: [], rules: { sub: 'repo:acme/*' } }],
  });
  assert.equal(res.status, 200, res.text); // api() validates the reply against the spec
  assert.deepEqual(Object.keys(res.json.policies[0]).sort(), ['authorizedPermissions', 'decision', 'rules', 'tokenType']);
  await refuses('PATCH', `/api/orgs/acme/auth/policies/${issuer.policyId}`, [[{ policies: null }, 'policies must be an array of policies; null is not allowed.']]);
});

test('explain: wrong types are refused, not ignored, and the sample token is bounded', async () => {
  await refuses('POST', `/api/orgs/acme/oidc/issuers/${issuer.id}/explain`, [
    [{ token: 'x', requested_token_type: 5 }, 'requested_token_type must be a string, not an integer.'],
    [{ token: 'x', scope: null }, 'scope must be a string; null is not allowed.'],
    [{ token: 'x'.repeat(8193) }, 'token must be at most 8192 bytes long; it is 8193.'],
    [{ token: null }, 'token must be a string; null is not allowed.'],
  ]);
});

test('console sign-in: wrong types are a 400, not a failed sign-in that uses up the budget', async () => {
  for (let i = 0; i < 12; i++) {
    const res = await api(srv, 'POST', '/console/session', { json: { login: 'alice', password: i } });
    assert.equal(res.status, 400, res.text);
    assert.equal(res.json.message, 'Bad Request: password must be a string, not an integer.');
  }
  const res = await api(srv, 'POST', '/console/session', { json: { login: 'alice', password: PASSWORD } });
  assert.equal(res.status, 200, res.text);
});
