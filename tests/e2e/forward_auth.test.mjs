// Tessera tokens protecting another service behind real proxies: nginx (auth_request to
// /auth/check, forward_auth/nginx.conf.template) and Caddy (forward_auth,
// forward_auth/Caddyfile.template), the same tests for each: allowed, refused, each requirement, a
// token revoked mid-test refused on the next request, the identity headers reaching the service
// and never forgeable by the client, the token itself never reaching it.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { spawn, spawnSync } from 'node:child_process';

import { api, createToken, makeTempDir, memberAdd, sleep, startServer, tokenCreate, userAdd } from './helpers.mjs';

const nginxBin = process.env.TESSERA_NGINX || '/usr/sbin/nginx';
const caddyBin = process.env.TESSERA_CADDY || '/usr/bin/caddy';
const configs = path.join(path.dirname(new URL(import.meta.url).pathname), 'forward_auth');

let srv;
let dir;
let upstream; // the protected service: answers with the headers it got
const proxies = {}; // name -> {proc, exited, url}
const tok = {};

function freePort() {
  return new Promise((resolve, reject) => {
    const s = http.createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

/** A template with its {{…}} placeholders filled in. */
function render(template, values) {
  return fs.readFileSync(path.join(configs, template), 'utf8').replace(/\{\{(\w+)\}\}/g, (m, key) => values[key] ?? assert.fail(`${template}: no value for ${m}`));
}

/**
 * Starts a proxy in the foreground, in a process group of its own (so that no worker outlives
 * it), on a free port (another one if that was taken meanwhile); waits until it answers.
 */
async function startProxy(name, configure) {
  const prefix = path.join(dir, name);
  fs.mkdirSync(prefix, { recursive: true });
  const log = path.join(prefix, 'stderr.log');
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = await freePort();
    const { bin, args, env } = configure(prefix, port);
    const proc = spawn(bin, args, { stdio: ['ignore', 'ignore', fs.openSync(log, 'w')], detached: true, env: { ...process.env, ...env } });
    const exited = new Promise((r) => proc.on('exit', r));
    for (let i = 0; i < 100; i++) {
      const up = await fetch(`http://127.0.0.1:${port}/nowhere`).then(() => true, () => false);
      if (up) return { proc, exited, url: `http://127.0.0.1:${port}` };
      if (proc.exitCode !== null) break;
      await sleep(50);
    }
    try {
      process.kill(-proc.pid, 'SIGKILL');
    } catch {}
    await exited;
  }
  assert.fail(`${name} did not start: ${fs.readFileSync(log, 'utf8')}`);
}

function nginxConfig(prefix, port) {
  const file = path.join(prefix, 'nginx.conf');
  fs.writeFileSync(file, render('nginx.conf.template', {
    PREFIX: prefix,
    LISTEN: `127.0.0.1:${port}`,
    TESSERA: `127.0.0.1:${new URL(srv.url).port}`,
    UPSTREAM: `127.0.0.1:${upstream.address().port}`,
  }));
  const args = ['-p', prefix, '-c', file, '-e', path.join(prefix, 'error.log')];
  const t = spawnSync(nginxBin, [...args, '-t', '-q'], { encoding: 'utf8', timeout: 15000 });
  assert.equal(t.status, 0, `nginx -t: ${t.stderr}`);
  return { bin: nginxBin, args, env: {} };
}

function caddyConfig(prefix, port) {
  const file = path.join(prefix, 'Caddyfile');
  fs.writeFileSync(file, render('Caddyfile.template', {
    LISTEN: String(port),
    TESSERA: `127.0.0.1:${new URL(srv.url).port}`,
    UPSTREAM: `127.0.0.1:${upstream.address().port}`,
  }));
  // Caddy keeps its state under HOME and XDG_*: the test's directory, not the machine's.
  const env = { HOME: prefix, XDG_DATA_HOME: prefix, XDG_CONFIG_HOME: prefix };
  return { bin: caddyBin, args: ['run', '--config', file, '--adapter', 'caddyfile'], env };
}

before(async () => {
  dir = makeTempDir();
  srv = await startServer({
    setup: (db) => {
      userAdd(db, 'bob');
      memberAdd(db, 'acme', 'bob', 'member');
      tok.bob = tokenCreate(db, 'bob');
      userAdd(db, 'carol'); // in no organization
      tok.carol = tokenCreate(db, 'carol');
    },
  });
  tok.alice = srv.token;
  assert.equal((await api(srv, 'POST', '/api/orgs/acme/teams/pulumi', { token: tok.alice, json: { name: 'ops', displayName: 'Ops', description: '' } })).status, 201);
  assert.equal((await api(srv, 'PATCH', '/api/orgs/acme/teams/ops', { token: tok.alice, json: { memberAction: 'add', member: 'bob' } })).status, 204);
  const ci = await api(srv, 'POST', '/api/orgs/acme/tokens', { token: tok.alice, json: { name: 'ci', description: '', admin: false } });
  assert.equal(ci.status, 200, ci.text);
  tok.ci = ci.json.tokenValue;
  upstream = http.createServer((req, res) => {
    res.setHeader('Content-Type', 'application/json');
    res.end(JSON.stringify({ path: req.url, headers: req.headers }));
  });
  await new Promise((r) => upstream.listen(0, '127.0.0.1', r));
  proxies.nginx = await startProxy('nginx', nginxConfig);
  proxies.caddy = await startProxy('caddy', caddyConfig);
});

after(async () => {
  for (const proxy of Object.values(proxies)) {
    try {
      process.kill(-proxy.proc.pid, 'SIGTERM');
    } catch {}
    const done = await Promise.race([proxy.exited.then(() => true), sleep(10000).then(() => false)]);
    if (!done) process.kill(-proxy.proc.pid, 'SIGKILL');
  }
  upstream?.close();
  await srv?.stop();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

/** A request through a proxy; the service's view of it when it got through. */
async function through(proxy, route, token, headers = {}) {
  const h = { ...headers };
  if (token) h.Authorization = `token ${token}`;
  const res = await fetch(`${proxies[proxy].url}${route}`, { headers: h, signal: AbortSignal.timeout(10000) });
  const text = await res.text();
  return { status: res.status, headers: res.headers, seen: res.status === 200 ? JSON.parse(text) : null };
}

for (const proxy of ['nginx', 'caddy']) {
  describe(proxy, () => {
    test('a valid token gets through, and the service learns who it is but not the token', async () => {
      const res = await through(proxy, '/acme/deploy', tok.bob);
      assert.equal(res.status, 200);
      assert.equal(res.seen.path, '/acme/deploy');
      assert.equal(res.seen.headers['x-tessera-login'], 'bob');
      assert.equal(res.seen.headers['x-tessera-org'], 'acme');
      assert.equal(res.seen.headers['x-tessera-token-kind'], 'personal');
      assert.match(res.seen.headers['x-tessera-token-id'], /^[0-9a-f-]{36}$/);
      assert.equal(res.seen.headers.authorization, undefined, 'the secret stays at the proxy');
    });

    test('no token or a bad one: 401 with WWW-Authenticate, and the service is never reached', async () => {
      for (const value of [undefined, 'nonsense', `pul-${'0'.repeat(40)}`]) {
        const res = await through(proxy, '/any/x', value);
        assert.equal(res.status, 401, String(value));
        assert.equal(res.headers.get('www-authenticate'), 'token realm="tessera"');
      }
    });

    test('each requirement: org, role, team, kind', async () => {
      const expect = {
        '/any/x': { alice: 200, bob: 200, carol: 200, ci: 200 },
        '/acme/x': { alice: 200, bob: 200, carol: 403, ci: 200 },
        '/acme-admin/x': { alice: 200, bob: 403, carol: 403, ci: 403 },
        '/ops/x': { alice: 403, bob: 200, carol: 403, ci: 403 },
        '/ci/x': { alice: 403, bob: 403, carol: 403, ci: 200 },
      };
      for (const [route, byWho] of Object.entries(expect)) {
        for (const [who, status] of Object.entries(byWho)) {
          assert.equal((await through(proxy, route, tok[who])).status, status, `${who} on ${route}`);
        }
      }
      assert.equal((await through(proxy, '/ops/x', tok.bob)).seen.headers['x-tessera-team'], 'ops');
      assert.equal((await through(proxy, '/ci/x', tok.ci)).seen.headers['x-tessera-login'], 'acme');
    });

    test('identity headers a client sends are replaced, never passed on', async () => {
      const forged = { 'X-Tessera-Login': 'alice', 'X-Tessera-Org': 'acme', 'X-Tessera-Team': 'ops', 'X-Tessera-Token-Kind': 'organization' };
      const res = await through(proxy, '/any/x', tok.carol, forged);
      assert.equal(res.status, 200);
      assert.equal(res.seen.headers['x-tessera-login'], 'carol');
      assert.equal(res.seen.headers['x-tessera-org'], undefined, 'carol acts in no organization');
      assert.equal(res.seen.headers['x-tessera-team'], undefined);
      assert.equal(res.seen.headers['x-tessera-token-kind'], 'personal');
    });

    test('a token revoked mid-test is refused on the next request', async () => {
      const t = await createToken(srv, tok.bob, { description: 'for the dashboard' });
      assert.equal((await through(proxy, '/acme/x', t.tokenValue)).status, 200);
      assert.equal((await api(srv, 'DELETE', `/api/user/tokens/${t.id}`, { token: tok.bob })).status, 204);
      assert.equal((await through(proxy, '/acme/x', t.tokenValue)).status, 401);
    });
  });
}
