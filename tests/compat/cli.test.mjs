// The Pulumi CLI (built from source by scripts/compat-tools) against a real Tessera on loopback:
// login and whoami with personal, organization and team tokens; wrong, deleted and expired
// tokens; `pulumi login --oidc-token` with ID tokens of a real OIDC issuer (oauth2-mock-server);
// and X-Pulumi-Warning as the CLI prints it. Assertions are on the CLI's own output.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { api, createToken, makeUnknownToken, memberAdd, nowSeconds, poll, registerIssuer, sleep, startMockIssuer, startServer, tokenCreate, userAdd } from '../e2e/helpers.mjs';
import { pulumi, pulumiHome, said } from './helpers.mjs';

const INVALID = 'Unauthorized: No credentials provided or are invalid.';

let srv;
let idp;
let home;
const tok = {};
let env; // env(extra): the CLI's environment, with the console domain set to Tessera's host

before(async () => {
  idp = await startMockIssuer();
  srv = await startServer({
    extraArgs: ['--allow-http-issuers'],
    setup(db) {
      userAdd(db, 'bob', '--name', 'Bob Builder');
      memberAdd(db, 'acme', 'bob', 'member');
      tok.bob = tokenCreate(db, 'bob');
    },
  });
  tok.alice = srv.token;
  const team = await api(srv, 'POST', '/api/orgs/acme/teams/pulumi', { token: tok.alice, json: { name: 'ops', displayName: 'Ops', description: '' } });
  assert.equal(team.status, 201, team.text);
  const org = await api(srv, 'POST', '/api/orgs/acme/tokens', { token: tok.alice, json: { name: 'ci-admin', description: 'CI', expires: 0, admin: true } });
  assert.equal(org.status, 200, org.text);
  tok.org = org.json.tokenValue;
  const teamTok = await api(srv, 'POST', '/api/orgs/acme/teams/ops/tokens', { token: tok.alice, json: { name: 'deploy', description: '', expires: 0 } });
  assert.equal(teamTok.status, 200, teamTok.text);
  tok.team = teamTok.json.tokenValue;
  home = pulumiHome();
  env = (extra) => home.env({ PULUMI_CONSOLE_DOMAIN: new URL(srv.url).host, ...extra });
});

after(async () => {
  await srv?.stop();
  await idp?.stop();
  home?.remove();
});

const login = (token, ...args) => pulumi(['login', srv.url, ...args], { env: env(token ? { PULUMI_ACCESS_TOKEN: token } : {}) });
// whoami talks to the backend of the last login, or PULUMI_BACKEND_URL when there is none.
const whoami = (token, ...args) => pulumi(['whoami', ...args], { env: env({ PULUMI_BACKEND_URL: srv.url, ...(token ? { PULUMI_ACCESS_TOKEN: token } : {}) }) });

/** `whoami -v` as {User, Organizations, Backend URL, Token type, Token name, ...}. */
function verbose(r) {
  assert.equal(r.status, 0, said(r));
  return Object.fromEntries(
    r.stdout
      .split('\n')
      .filter((l) => l.includes(': '))
      .map((l) => [l.slice(0, l.indexOf(': ')), l.slice(l.indexOf(': ') + 2)]),
  );
}

test('personal token: login, whoami (plain, -v, --json), logout', async () => {
  const r = await login(tok.bob);
  assert.equal(r.status, 0, said(r));
  assert.match(r.stdout, new RegExp(`Logged in to ${srv.url.replace(/[.]/g, '\\.')} as bob \\(${srv.url.replace(/[.]/g, '\\.')}\\)`));
  const plain = await whoami(tok.bob);
  assert.equal(plain.status, 0, said(plain));
  assert.equal(plain.stdout, 'bob\n');
  const v = verbose(await whoami(tok.bob, '-v'));
  assert.equal(v.User, 'bob');
  assert.equal(v.Organizations, 'acme');
  assert.equal(v['Token type'], 'personal');
  assert.equal(v['Backend URL'], srv.url);
  assert.equal(v['Token name'], undefined, 'personal tokens have no name');
  const j = await whoami(tok.bob, '--json');
  assert.equal(j.status, 0, said(j));
  assert.deepEqual(JSON.parse(j.stdout), { user: 'bob', organizations: ['acme'], url: srv.url });
  // The stored credentials are used once the variable is gone, then logout forgets them.
  const stored = await whoami(null);
  assert.equal(stored.status, 0, said(stored));
  assert.equal(stored.stdout, 'bob\n');
  const out = await pulumi(['logout', srv.url], { env: env() });
  assert.equal(out.status, 0, said(out));
  assert.match(out.stdout, new RegExp(`Logged out of ${srv.url.replace(/[.]/g, '\\.')}`));
  const gone = await whoami(null);
  assert.notEqual(gone.status, 0, 'whoami after logout must fail');
  assert.match(gone.stderr, /PULUMI_ACCESS_TOKEN must be set for login during non-interactive CLI sessions|requires logging in/);
});

test('organization token: whoami names the organization, the token type and the token name', async () => {
  const r = await login(tok.org);
  assert.equal(r.status, 0, said(r));
  assert.match(r.stdout, /as acme /);
  const v = verbose(await whoami(tok.org, '-v'));
  assert.equal(v.User, 'acme');
  assert.equal(v.Organizations, 'acme');
  assert.equal(v['Token type'], 'organization: acme');
  assert.equal(v['Token name'], 'ci-admin');
  const j = JSON.parse((await whoami(tok.org, '--json')).stdout);
  assert.deepEqual(j, { user: 'acme', organizations: ['acme'], url: srv.url, tokenInformation: { name: 'ci-admin', organization: 'acme' } });
  assert.equal((await pulumi(['logout', srv.url], { env: env() })).status, 0);
});

test('team token: whoami names the team', async () => {
  const r = await login(tok.team);
  assert.equal(r.status, 0, said(r));
  const v = verbose(await whoami(tok.team, '-v'));
  assert.equal(v.User, 'acme');
  assert.equal(v['Token type'], 'team: ops');
  assert.equal(v['Token name'], 'deploy');
  const j = JSON.parse((await whoami(tok.team, '--json')).stdout);
  assert.deepEqual(j.tokenInformation, { name: 'deploy', organization: 'acme', team: 'ops' });
  assert.equal((await pulumi(['logout', srv.url], { env: env() })).status, 0);
});

test('a wrong, a deleted and an expired token: login and whoami fail with the invalid-token message', async () => {
  const deleted = await createToken(srv, tok.alice, { description: 'to delete' });
  assert.equal((await api(srv, 'DELETE', `/api/user/tokens/${deleted.id}`, { token: tok.alice })).status, 204);
  const expiring = await createToken(srv, tok.alice, { description: 'expiring', expires: nowSeconds() + 2 });
  await sleep(3000);
  for (const [what, value] of [
    ['wrong', makeUnknownToken()],
    ['malformed', 'pul-not-a-token'],
    ['deleted', deleted.tokenValue],
    ['expired', expiring.tokenValue],
  ]) {
    for (const r of [await login(value), await whoami(value)]) {
      assert.notEqual(r.status, 0, `${what}: ${said(r)}`);
      assert.ok(r.stderr.includes(INVALID), `${what}: ${said(r)}`);
    }
  }
  // Stored credentials whose token was revoked since: the CLI trusts what it validated for an hour,
  // then asks again, and whoami fails the same way. The hour is made to pass in its own file.
  const t = await createToken(srv, tok.alice, { description: 'revoked later' });
  assert.equal((await login(t.tokenValue)).status, 0);
  assert.equal((await api(srv, 'DELETE', `/api/user/tokens/${t.id}`, { token: tok.alice })).status, 204);
  const credentials = path.join(home.dir, '.pulumi', 'credentials.json');
  const stored = JSON.parse(fs.readFileSync(credentials, 'utf8'));
  stored.accounts[srv.url].lastValidatedAt = new Date(Date.now() - 2 * 3600 * 1000).toISOString();
  fs.writeFileSync(credentials, JSON.stringify(stored));
  const before401 = srv.server.stdout().split('\n').filter((l) => l.includes('"status":401')).length;
  const r = await whoami(null);
  assert.notEqual(r.status, 0, said(r));
  // For stored credentials the CLI turns the 401 into its own request to log in again.
  assert.match(r.stderr, /this command requires logging in; try running `pulumi login` first/, said(r));
  const refused = await poll(() => srv.server.stdout().split('\n').filter((l) => l.includes('"path":"/api/user","status":401')).length > before401);
  assert.ok(refused, 'the server refused the revoked token (access log)');
  assert.equal((await pulumi(['logout', srv.url], { env: env() })).status, 0);
});

test('a token within 7 days of its expiry: every command prints Tessera\'s X-Pulumi-Warning', async () => {
  const exp = nowSeconds() + 3 * 86400;
  const t = await createToken(srv, tok.alice, { description: 'three days', expires: exp });
  const when = new Date(exp * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
  // whoami asks the server only without a recent login (it reuses what login learnt): a fresh home.
  const fresh = pulumiHome();
  const whoamiFresh = pulumi(['whoami'], { env: fresh.env({ PULUMI_BACKEND_URL: srv.url, PULUMI_ACCESS_TOKEN: t.tokenValue }) }).finally(fresh.remove);
  for (const r of [await login(t.tokenValue), await whoamiFresh]) {
    assert.equal(r.status, 0, said(r));
    assert.ok(r.stderr.includes(`warning: This access token expires at ${when}`), said(r));
    assert.match(r.stderr, /create a new one before then/);
  }
  const calm = await login(tok.alice);
  assert.doesNotMatch(calm.stderr, /expires at/, 'a token without expiry gets no warning');
  assert.equal((await pulumi(['logout', srv.url], { env: env() })).status, 0);
});

// ------------------------------------------------------------------------------ OIDC exchange

const SUB = 'repo:acme/infra:ref:refs/heads/main';

async function idToken() {
  return idp.issuer.buildToken({
    expiresIn: 300,
    scopesOrTransform: (header, payload) => Object.assign(payload, { aud: 'urn:pulumi:org:acme', sub: SUB }),
  });
}

test('pulumi login --oidc-token: org, team and personal scopes; whoami shows who; audited; no expiry warning', async () => {
  const issuer = await registerIssuer(srv, tok.alice, 'mock', idp.issuer.url);
  const policies = [
    { decision: 'allow', tokenType: 'organization', authorizedPermissions: ['admin'], rules: { sub: SUB } },
    { decision: 'allow', tokenType: 'team', teamName: 'ops', authorizedPermissions: [], rules: { sub: SUB } },
    { decision: 'allow', tokenType: 'personal', userLogin: 'bob', authorizedPermissions: [], rules: { sub: SUB } },
  ];
  const set = await api(srv, 'PATCH', `/api/orgs/acme/auth/policies/${issuer.policyId}`, { token: tok.alice, json: { policies } });
  assert.equal(set.status, 200, set.text);

  const cases = [
    { args: [], user: 'acme', type: 'organization: acme', event: 'organization-token-created-for-oidc-issuer' },
    { args: ['--oidc-team', 'ops'], user: 'acme', type: 'team: ops', event: 'team-token-created-for-oidc-issuer' },
    // The CLI stores an exchanged token's expiry in its token information, and whoami then calls a
    // personal token's type "unknown" (it would against Pulumi Cloud too: docs/COMPATIBILITY.md).
    { args: ['--oidc-user', 'bob'], user: 'bob', type: 'unknown', event: 'personal-token-created-for-oidc-issuer' },
  ];
  for (const c of cases) {
    const r = await pulumi(['login', srv.url, '--oidc-token', await idToken(), '--oidc-org', 'acme', ...c.args], { env: env() });
    assert.equal(r.status, 0, said(r));
    assert.match(r.stdout, new RegExp(`as ${c.user} `), said(r));
    assert.doesNotMatch(r.stderr, /expires at/, `an exchange-issued token is short-lived by design: ${said(r)}`);
    const who = await whoami(null, '-v');
    const v = verbose(who);
    // whoami right after login asks the server nothing; a fresh home with the token does.
    const value = JSON.parse(fs.readFileSync(path.join(home.dir, '.pulumi', 'credentials.json'), 'utf8')).accounts[srv.url].accessToken;
    const fresh = pulumiHome();
    const asked = await pulumi(['whoami'], { env: fresh.env({ PULUMI_BACKEND_URL: srv.url, PULUMI_ACCESS_TOKEN: value }) }).finally(fresh.remove);
    assert.equal(asked.status, 0, said(asked));
    assert.doesNotMatch(asked.stderr, /expires at|warning/, `no expiry warning for an exchange-issued token: ${said(asked)}`);
    assert.equal(v.User, c.user);
    assert.equal(v['Token type'], c.type);
    const record = await poll(async () =>
      (await api(srv, 'GET', `/api/orgs/acme/auditlogs/v2?eventFilter=${c.event}`, { token: tok.alice })).json.auditLogEvents.find((e) =>
        e.description.includes('by OIDC issuer mock'),
      ),
    );
    assert.ok(record, `${c.event} is in the audit log`);
    assert.equal((await pulumi(['logout', srv.url], { env: env() })).status, 0);
  }

  // A policy that does not match: the CLI fails and says the exchange was refused.
  const r = await pulumi(['login', srv.url, '--oidc-token', await idToken(), '--oidc-org', 'acme', '--oidc-user', 'alice'], { env: env() });
  assert.notEqual(r.status, 0, said(r));
  assert.match(r.stderr, /invalid_grant|exchang/i, said(r));
});
