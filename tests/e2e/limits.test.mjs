// Request size limits, routing (404/405), JSON everywhere.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { api, listAll, startServer } from './helpers.mjs';

let srv;
before(async () => {
  srv = await startServer();
});
after(async () => {
  await srv?.stop();
});

const count = async () => (await listAll(srv, srv.token, '?filter=all&maxResults=1000')).length;

// A valid JSON object padded with spaces to exactly n bytes.
function paddedBody(n) {
  const core = '{"description":"padded"}';
  return core.slice(0, -1) + ' '.repeat(n - core.length) + '}';
}

test('413 on a 70 KiB body', async () => {
  const before = await count();
  const body = JSON.stringify({ description: 'x'.repeat(70 * 1024) });
  const res = await api(srv, 'POST', '/api/user/tokens', { token: srv.token, body });
  assert.equal(res.status, 413, res.text);
  assert.equal(await count(), before);
});

test('413 on a body of 64 KiB + 1 byte', async () => {
  const body = paddedBody(64 * 1024 + 1);
  assert.equal(Buffer.byteLength(body), 65537);
  const res = await api(srv, 'POST', '/api/user/tokens', { token: srv.token, body });
  assert.equal(res.status, 413, res.text);
});

test('a body of exactly 64 KiB is not too large', async () => {
  const body = paddedBody(64 * 1024);
  assert.equal(Buffer.byteLength(body), 65536);
  const res = await api(srv, 'POST', '/api/user/tokens', { token: srv.token, body });
  assert.equal(res.status, 200, res.text);
});

test('the server keeps serving after a 413', async () => {
  const res = await api(srv, 'GET', '/api/user', { token: srv.token });
  assert.equal(res.status, 200);
});

test('unknown paths → 404 JSON', async () => {
  for (const p of ['/api/nope', '/api/user/tokens/a/b', '/nope', '/api/users', '/api/user/organizations']) {
    const res = await api(srv, 'GET', p, { token: srv.token });
    assert.equal(res.status, 404, `${p}: ${res.text}`);
  }
});

test('unknown path without credentials → 404: routing comes before authentication', async () => {
  // dispatch() (src/http/server.c) answers ROUTE_NO_PATH before it looks at credentials, so the
  // answer is the same with, without or with a bad token.
  for (const opts of [{}, { token: 'pul-' + '0'.repeat(40) }, { auth: 'Basic eDp5' }]) {
    const res = await api(srv, 'GET', '/api/nope', opts);
    assert.equal(res.status, 404, `${JSON.stringify(opts)}: ${res.text}`);
    assert.deepEqual(res.json, { code: 404, message: 'Not Found: no route for /api/nope.' });
  }
});

const allowOf = (res) =>
  (res.headers.get('allow') || '')
    .split(',')
    .map((s) => s.trim().toUpperCase())
    .filter(Boolean);

test('PUT /api/user/tokens → 405 with Allow: GET, POST', async () => {
  const res = await api(srv, 'PUT', '/api/user/tokens', { token: srv.token, json: {} });
  assert.equal(res.status, 405, res.text);
  const allow = allowOf(res);
  assert.ok(allow.includes('GET') && allow.includes('POST'), `Allow: ${res.headers.get('allow')}`);
  assert.ok(!allow.includes('PUT'));
});

test('POST /api/user → 405 with Allow: GET', async () => {
  const res = await api(srv, 'POST', '/api/user', { token: srv.token, json: {} });
  assert.equal(res.status, 405, res.text);
  assert.ok(allowOf(res).includes('GET'), `Allow: ${res.headers.get('allow')}`);
  assert.ok(!allowOf(res).includes('POST'));
});

test('GET /api/user/tokens/{id} → 405 with Allow: DELETE', async () => {
  const res = await api(srv, 'GET', '/api/user/tokens/3f1b2c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d', { token: srv.token });
  assert.equal(res.status, 405, res.text);
  assert.ok(allowOf(res).includes('DELETE'), `Allow: ${res.headers.get('allow')}`);
});

test('DELETE /api/capabilities and POST /healthz → 405 with Allow', async () => {
  for (const [m, p] of [
    ['DELETE', '/api/capabilities'],
    ['POST', '/healthz'],
    ['DELETE', '/api/user/organizations/default'],
  ]) {
    const res = await api(srv, m, p, { token: srv.token });
    assert.equal(res.status, 405, `${m} ${p}: ${res.text}`);
    assert.ok(allowOf(res).includes('GET'), `${m} ${p} Allow: ${res.headers.get('allow')}`);
  }
});

test('keep-alive: many sequential requests on the pooled connection succeed', async () => {
  for (let i = 0; i < 20; i++) {
    const res = await api(srv, 'GET', '/api/user', { token: srv.token });
    assert.equal(res.status, 200);
  }
});

test('concurrent requests are all answered', async () => {
  const results = await Promise.all(
    Array.from({ length: 16 }, () => api(srv, 'GET', '/api/user', { token: srv.token })),
  );
  for (const r of results) assert.equal(r.status, 200);
  assert.equal(new Set(results.map((r) => r.requestId)).size, 16);
});

test('a URL over 4096 bytes, query string included, gets a JSON 414', async () => {
  const longQuery = 'x'.repeat(5000);
  const res = await api(srv, 'GET', `/api/user/tokens?filter=all&pad=${longQuery}`, { token: srv.token });
  assert.equal(res.status, 414);
  const longPath = await api(srv, 'GET', `/${'p'.repeat(5000)}`);
  assert.equal(longPath.status, 414);
  // just under the limit is served normally
  const ok = await api(srv, 'GET', `/api/user/tokens?pad=${'x'.repeat(3900)}`, { token: srv.token });
  assert.equal(ok.status, 200);
});

test('headers over 8 KiB get a JSON 431, not the HTTP library\'s HTML page', async () => {
  for (const kib of [9, 14]) {
    const res = await api(srv, 'GET', '/api/user', { token: srv.token, headers: { 'X-Pad': 'y'.repeat(kib * 1024) } });
    assert.equal(res.status, 431);
    assert.match(res.json.message, /larger than 8192 bytes/);
  }
  assert.equal((await api(srv, 'GET', '/api/user', { token: srv.token })).status, 200);
});

test('a console page asked with 100 cookies in 8 KiB (a shared domain\'s) is served', async () => {
  const cookie = Array.from({ length: 100 }, (_, i) => `c${i}=${'v'.repeat(73)}`).join('; ');
  assert.ok(cookie.length > 7800 && cookie.length < 8000);
  const res = await fetch(`${srv.url}/`, { headers: { Cookie: cookie }, signal: AbortSignal.timeout(10000) });
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type'), /text\/html/);
  assert.match(await res.text(), /<html/i);
});

test('a head at both limits at once (a 4 KiB URL and 8 KiB of headers) is served', async () => {
  const res = await api(srv, 'GET', `/api/user/tokens?pad=${'x'.repeat(3900)}`, { token: srv.token, headers: { 'X-Pad': 'y'.repeat(7900) } });
  assert.equal(res.status, 200);
  assert.ok(Array.isArray(res.json.tokens));
});

test('the URL limit counts the URI as sent: a long percent-encoded path gets 414', async () => {
  const res = await api(srv, 'GET', `/${'%41'.repeat(1500)}`); // 4501 bytes sent, 1501 decoded
  assert.equal(res.status, 414);
});
