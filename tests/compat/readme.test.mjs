// README.md's "Using Tessera with Pulumi", run as written: each block marked
// `<!-- readme-test: NAME -->` is taken from the README itself, its example URL and token replaced
// by a real server's (user admin, org default, as `make run` makes them), and run with bash and
// Pulumi's own clients. The browser login block is run by browser_login.test.mjs.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { api, listAll, poll, repoRoot, startMockIssuer, startServer, TOKEN_RE } from '../e2e/helpers.mjs';
import { hasProvider, pulumiHome, run, said } from './helpers.mjs';

const README = fs.readFileSync(path.join(repoRoot, 'README.md'), 'utf8');
const SUB = 'repo:default/infra:ref:refs/heads/main';

/** The fenced block after `<!-- readme-test: name ... -->`. */
function block(name) {
  const m = new RegExp(`<!-- readme-test: ${name}[ -][^\\n]*\\n\`\`\`[a-z]*\\n([\\s\\S]*?)\\n\`\`\``).exec(README);
  assert.ok(m, `README.md has no block marked readme-test: ${name}`);
  return m[1];
}

let srv;
let idp;
let home;

before(async () => {
  idp = await startMockIssuer();
  srv = await startServer({ user: 'admin', org: 'default', extraArgs: ['--allow-http-issuers'] });
  home = pulumiHome();
  const reg = await api(srv, 'POST', '/api/orgs/default/oidc/issuers', { token: srv.token, json: { name: 'ci', url: idp.issuer.url } });
  assert.equal(reg.status, 200, reg.text);
  const policy = await api(srv, 'GET', `/api/orgs/default/auth/policies/oidcissuers/${reg.json.id}`, { token: srv.token });
  const set = await api(srv, 'PATCH', `/api/orgs/default/auth/policies/${policy.json.id}`, {
    token: srv.token,
    json: { policies: [{ decision: 'allow', tokenType: 'organization', authorizedPermissions: [], rules: { sub: SUB } }] },
  });
  assert.equal(set.status, 200, set.text);
});

after(async () => {
  await srv?.stop();
  await idp?.stop();
  home?.remove();
});

/** Runs a README block with bash, its example server and token made real. */
function runBlock(name, { cwd, env = {} } = {}) {
  const script = block(name)
    .replaceAll('http://127.0.0.1:8080', srv.url)
    .replaceAll('127.0.0.1:8080', new URL(srv.url).host)
    .replaceAll('pul-...', srv.token);
  return run('bash', ['-euo', 'pipefail', '-c', script], { cwd: cwd ?? home.dir, env: home.env(env), timeoutMs: 150000 });
}

test('README: log in with a token, whoami -v, log out', { timeout: 60000 }, async () => {
  const r = await runBlock('token-login');
  assert.equal(r.status, 0, said(r));
  assert.match(r.stdout, /^User: admin$/m);
  assert.match(r.stdout, /^Organizations: default$/m);
  assert.match(r.stdout, /^Token type: personal$/m);
  assert.match(r.stdout, /Logged out of /);
});

test('README: the browser login block is the command browser_login.test.mjs runs', () => {
  const lines = block('browser-login').split('\n');
  assert.deepEqual(lines, ['unset PULUMI_ACCESS_TOKEN', 'PULUMI_CONSOLE_DOMAIN=127.0.0.1:8080 pulumi login http://127.0.0.1:8080']);
});

test('README: pulumi login --oidc-token with a CI job\'s ID token', { timeout: 60000 }, async () => {
  const idToken = await idp.issuer.buildToken({
    scopesOrTransform: (header, payload) => Object.assign(payload, { aud: 'urn:pulumi:org:default', sub: SUB }),
  });
  const r = await runBlock('oidc-login', { env: { ID_TOKEN: idToken } });
  assert.equal(r.status, 0, said(r));
  assert.match(r.stdout, /^User: default$/m);
  assert.match(r.stdout, /^Token type: organization: default$/m);
  assert.doesNotMatch(r.stderr, /expires at/);
});

test('README: the YAML program makes a PersonalToken with pulumi up; destroy deletes it', { timeout: 200000, skip: hasProvider ? false : 'the Pulumi Cloud provider was not built (scripts/compat-tools says why)' }, async () => {
  const dir = path.join(home.dir, 'my-tokens');
  fs.mkdirSync(dir);
  fs.writeFileSync(path.join(dir, 'Pulumi.yaml'), `${block('program')}\n`);
  const r = await runBlock('program-run', { cwd: dir, env: { PULUMI_ACCESS_TOKEN: srv.token } });
  assert.equal(r.status, 0, said(r));
  const value = r.stdout.split('\n').find((l) => TOKEN_RE.test(l.trim()));
  assert.ok(value, `stack output printed the token:\n${r.stdout}`);
  assert.match(r.stdout, /\+ 2 created/);
  assert.match(r.stdout, /- 2 deleted/);
  // It existed (the server logged its creation and its deletion) and is gone now.
  const logged = await poll(() => /"method":"POST","path":"\/api\/user\/tokens","status":200/.test(srv.server.stdout()) && /"method":"DELETE","path":"\/api\/user\/tokens\/[0-9a-f-]+","status":204/.test(srv.server.stdout()));
  assert.ok(logged, `the access log shows the creation and the deletion:\n${srv.server.stdout()}`);
  assert.equal((await api(srv, 'GET', '/api/user', { token: value.trim() })).status, 401);
  assert.equal((await listAll(srv, srv.token)).filter((t) => t.description === 'for CI, made by pulumi').length, 0);
});
