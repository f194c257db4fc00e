// OIDC discovery and key fetches never hold the HTTP worker threads: slow issuer registrations
// and a key rotation that makes the exchange refetch the issuer's keys run off them, while the
// server keeps answering everyone else at once; beyond the offload queue, requests get a 503 with
// Retry-After rather than a wait. The issuer is a small one of our own on loopback, whose answers
// can be slowed down.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import http from 'node:http';
import { api, startServer } from './helpers.mjs';

const DELAY_MS = 1500;
let srv;
let issuerServer;
let issuerBase;
let delayMs = 0;
const keys = [];

function newKey() {
  const { privateKey, publicKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  const kid = `k${keys.length + 1}`;
  keys.push({ kid, privateKey, jwk: { ...publicKey.export({ format: 'jwk' }), kid, alg: 'RS256', use: 'sig' } });
  return kid;
}

/** An RS256 ID token from issuer `iss`, signed with the key `kid`. */
function idToken(iss, kid) {
  const key = keys.find((k) => k.kid === kid);
  const b64 = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const now = Math.floor(Date.now() / 1000);
  const body = `${b64({ alg: 'RS256', typ: 'JWT', kid })}.${b64({ iss, aud: 'urn:pulumi:org:acme', sub: 'repo:acme/x', iat: now, nbf: now, exp: now + 300 })}`;
  return `${body}.${crypto.sign('sha256', Buffer.from(body), key.privateKey).toString('base64url')}`;
}

before(async () => {
  newKey();
  // Serves every issuer under /i/<name>: discovery (slowed by delayMs) and the shared key set.
  issuerServer = http.createServer((req, res) => {
    const m = /^\/i\/([a-z0-9-]+)\/(\.well-known\/openid-configuration|jwks)$/.exec(req.url);
    if (!m) {
      res.writeHead(404).end();
      return;
    }
    const iss = `${issuerBase}/i/${m[1]}`;
    const body = m[2] === 'jwks' ? { keys: keys.map((k) => k.jwk) } : { issuer: iss, jwks_uri: `${iss}/jwks` };
    setTimeout(() => res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify(body)), delayMs);
  });
  await new Promise((r) => issuerServer.listen(0, '127.0.0.1', r));
  issuerBase = `http://127.0.0.1:${issuerServer.address().port}`;
  // One worker: with fetches on it, every other request would wait for them.
  srv = await startServer({ extraArgs: ['--allow-http-issuers', '--threads', '1'] });
});

after(async () => {
  await srv?.stop();
  issuerServer?.closeAllConnections();
  await new Promise((r) => issuerServer?.close(r));
});

const register = (name) =>
  api(srv, 'POST', '/api/orgs/acme/oidc/issuers', { token: srv.token, json: { name, url: `${issuerBase}/i/${name}` }, timeoutMs: 60000 });

/** Times n sequential GET /healthz; returns the slowest, in ms. */
async function slowestHealth(n) {
  let slowest = 0;
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    assert.equal((await api(srv, 'GET', '/healthz')).status, 200);
    slowest = Math.max(slowest, performance.now() - t0);
  }
  return slowest;
}

test('slow issuer registrations do not stall other requests', async () => {
  delayMs = DELAY_MS;
  const pending = ['one', 'two', 'three', 'four'].map(register);
  await new Promise((r) => setTimeout(r, 200));
  const slowest = await slowestHealth(20);
  console.log(`# /healthz during four slow registrations: slowest ${slowest.toFixed(1)} ms`);
  assert.ok(slowest < DELAY_MS / 2, `a request waited ${slowest.toFixed(0)} ms behind a fetch`);
  for (const res of await Promise.all(pending)) assert.equal(res.status, 200, res.text);
  delayMs = 0;
});

test('an exchange that must refetch rotated keys does not stall other requests', async () => {
  const issuers = (await api(srv, 'GET', '/api/orgs/acme/oidc/issuers', { token: srv.token })).json.oidcIssuers;
  const one = issuers.find((i) => i.name === 'one');
  const policy = await api(srv, 'GET', `/api/orgs/acme/auth/policies/oidcissuers/${one.id}`, { token: srv.token });
  const set = await api(srv, 'PATCH', `/api/orgs/acme/auth/policies/${policy.json.id}`, {
    token: srv.token,
    json: { policies: [{ decision: 'allow', tokenType: 'organization', authorizedPermissions: [], rules: { sub: 'repo:acme/*' } }] },
  });
  assert.equal(set.status, 200, set.text);
  const rotated = newKey(); // the issuer rotates: the stored key set lacks it
  delayMs = DELAY_MS;
  const exchange = fetch(`${srv.url}/api/oauth/token`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
      subject_token_type: 'urn:ietf:params:oauth:token-type:id_token',
      audience: 'urn:pulumi:org:acme',
      requested_token_type: 'urn:pulumi:token-type:access_token:organization',
      subject_token: idToken(`${issuerBase}/i/one`, rotated),
    }).toString(),
  });
  await new Promise((r) => setTimeout(r, 200));
  const slowest = await slowestHealth(10);
  assert.ok(slowest < DELAY_MS / 2, `a request waited ${slowest.toFixed(0)} ms behind a key refresh`);
  const res = await exchange;
  const json = await res.json();
  assert.equal(res.status, 200, JSON.stringify(json));
  assert.equal((await api(srv, 'GET', '/api/user', { token: json.access_token })).status, 200);
  delayMs = 0;
});

test('beyond the offload queue, requests are told to retry instead of waiting', async () => {
  delayMs = 800;
  const names = Array.from({ length: 44 }, (_, i) => `q${i}`); // 4 running + 32 queued + 8 more
  const results = await Promise.all(names.map(register));
  delayMs = 0;
  const busy = results.filter((r) => r.status === 503);
  assert.ok(busy.length >= 1, `statuses: ${results.map((r) => r.status).join(' ')}`);
  for (const r of busy) {
    assert.match(r.json.message, /too many requests wait on OIDC issuers; retry shortly/);
    assert.equal(r.headers.get('retry-after'), '5');
  }
  // Which of them find the queue full depends on when the first ones finish; none may fail
  // otherwise.
  for (const r of results) assert.ok(r.status === 200 || r.status === 503, `${r.status}: ${r.text}`);
});
