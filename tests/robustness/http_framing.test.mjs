// Runs the socket-level bad-input catalogue (http_catalogue.mjs) against a real server: every
// malformed request gets a 4xx with the JSON error shape (501 for a transfer coding we do not
// implement), is answered within a bound, and, where framing is in doubt, has its connection
// closed; libmicrohttpd's own answers are allowed only for the cases on the exception list, and
// each of those is checked to still be one. Nothing a refused request carried may change state,
// and the server must stay healthy (and sanitizer-clean: stop() asserts exit status 0).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { api, listAll, startServer, statusTexts } from '../e2e/helpers.mjs';
import { catalogue } from './http_catalogue.mjs';

const CASE_TIMEOUT_MS = 5000;
const PARALLEL = 8;

let srv;
before(async () => {
  srv = await startServer({ extraArgs: ['--timeout', '3'] });
});
after(async () => {
  await srv?.stop();
});

/**
 * Sends bytes without half-closing, reads one response, then waits a little to see whether the
 * server closes. Returns {status, headers, body, closed, raw, timedOut}.
 */
function exchange(bytes, isHead = false) {
  return new Promise((resolve) => {
    const sock = net.connect(srv.server.port, '127.0.0.1');
    let raw = Buffer.alloc(0);
    let parsed = null;
    let closed = false;
    let settled = false;
    const finish = (timedOut = false) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      clearTimeout(closeWait);
      sock.destroy();
      resolve({ ...(parsed || {}), closed, raw: raw.toString('latin1'), timedOut });
    };
    const timer = setTimeout(() => finish(true), CASE_TIMEOUT_MS);
    let closeWait;
    sock.on('error', () => {});
    sock.on('close', () => {
      closed = true;
      finish();
    });
    sock.on('data', (d) => {
      raw = Buffer.concat([raw, d]);
      if (parsed) return;
      const end = raw.indexOf('\r\n\r\n');
      if (end < 0) return;
      const head = raw.subarray(0, end).toString('latin1').split('\r\n');
      const m = /^HTTP\/1\.[01] (\d{3}) /.exec(head[0]);
      const headers = {};
      for (const line of head.slice(1)) {
        const i = line.indexOf(':');
        headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
      }
      const length = isHead ? 0 : Number(headers['content-length'] ?? 0);
      if (raw.length < end + 4 + length) return; // the rest of the body is still coming
      parsed = { status: m ? Number(m[1]) : 0, headers, body: raw.subarray(end + 4, end + 4 + length).toString('utf8') };
      // Give the server a moment to close, which a framing refusal must do.
      closeWait = setTimeout(() => finish(), 700);
    });
    sock.write(bytes);
  });
}

function check(c, r) {
  const where = `${c.id}: ${JSON.stringify(r.raw.slice(0, 300))}`;
  assert.ok(!r.timedOut, `${c.id}: no answer and no close within ${CASE_TIMEOUT_MS} ms`);
  if (c.mhd?.status === 0) {
    assert.ok(!r.status && r.closed, `${c.id}: libmicrohttpd answers this now (${where}); update the exception list`);
    return;
  }
  assert.ok(r.status, `${c.id}: the connection closed without a status line`);
  if (c.ok !== undefined) {
    assert.equal(r.status, c.ok, where);
    return;
  }
  if (c.mhd) {
    assert.equal(r.status, c.mhd.status, where);
    assert.doesNotMatch(r.headers['content-type'] || '', /json/, `${c.id}: Tessera answers this now; take it off the exception list`);
    return;
  }
  if (c.status !== undefined) assert.equal(r.status, c.status, where);
  else assert.ok(r.status >= 400 && r.status < 500, `${where}: expected a 4xx`);
  assert.ok(r.status < 500 || r.status === 501, `${where}: a 5xx`);
  assert.match(r.headers['content-type'] || '', /^application\/json/, where);
  assert.ok(r.headers['x-pulumi-request-id'], `${where}: no X-Pulumi-Request-ID`);
  const json = JSON.parse(r.body);
  assert.deepEqual(Object.keys(json).sort(), ['code', 'message'], where);
  assert.equal(json.code, r.status, where);
  assert.ok(statusTexts(r.status).some((t) => json.message.startsWith(`${t}: `)), where);
  if (c.message) assert.match(json.message, c.message, where);
  if (c.close) {
    assert.equal(r.headers.connection, 'close', `${where}: must say Connection: close`);
    assert.ok(r.closed, `${where}: the connection must be closed after a framing refusal`);
  }
}

test('every malformed request gets a bounded JSON 4xx, or is a listed libmicrohttpd answer', async () => {
  const cases = catalogue(srv.token);
  const distinct = new Set(cases.map((c) => c.bytes.toString('latin1')));
  assert.equal(distinct.size, cases.length, 'every case is a distinct byte sequence');
  const malformed = cases.filter((c) => c.ok === undefined);
  assert.ok(malformed.length >= 300, `at least 300 malformed requests, have ${malformed.length}`);
  const tokensBefore = (await listAll(srv, srv.token, '?filter=all&maxResults=1000')).length;

  const failures = [];
  for (let i = 0; i < cases.length; i += PARALLEL) {
    const batch = cases.slice(i, i + PARALLEL);
    const results = await Promise.all(batch.map((c) => exchange(c.bytes, c.head)));
    batch.forEach((c, k) => {
      try {
        check(c, results[k]);
      } catch (e) {
        failures.push(e.message);
      }
    });
    const health = await api(srv, 'GET', '/healthz');
    assert.equal(health.status, 200, `the server stopped serving after cases ${i}..${i + batch.length - 1}`);
  }
  assert.deepEqual(failures, [], `${failures.length} of ${cases.length} cases failed`);
  const exceptions = cases.filter((c) => c.mhd).length;
  console.log(`# ${malformed.length} malformed requests (${exceptions} answered by libmicrohttpd itself), ${cases.length - malformed.length} controls`);

  const tokensAfter = (await listAll(srv, srv.token, '?filter=all&maxResults=1000')).length;
  assert.equal(tokensAfter, tokensBefore, 'a refused request created a token');
  assert.equal((await api(srv, 'GET', '/api/user', { token: srv.token })).status, 200);
});

test('a token sent as the method or as 40 bare hex digits in the path is neither echoed nor logged', async () => {
  const digits = srv.token.slice(4); // the 40 hex digits without "pul-"
  const asMethod = await exchange(Buffer.from(`${srv.token} /api/user HTTP/1.1\r\nHost: a\r\n\r\n`));
  assert.equal(asMethod.status, 405);
  assert.match(asMethod.body, /"message":"Method Not Allowed: OTHER is not allowed here; allowed: GET, HEAD\."/);
  const inPath = await exchange(Buffer.from(`GET /nope/${digits.toUpperCase()}/x HTTP/1.1\r\nHost: a\r\n\r\n`));
  assert.equal(inPath.status, 404);
  for (const r of [asMethod, inPath]) assert.ok(!r.raw.toLowerCase().includes(digits.slice(0, 24)), r.raw);
  assert.match(inPath.body, /no route for \/nope\/\[redacted\]\/x\./);
  await new Promise((r) => setTimeout(r, 1300)); // the log is written within a second
  const log = srv.server.stdout();
  assert.ok(!log.toLowerCase().includes(digits.slice(0, 24)), 'token digits reached the access log');
  assert.match(log, /"method":"OTHER","path":"\/api\/user","status":405/);
  assert.match(log, /"path":"\/nope\/\[redacted\]\/x","status":404/);
});

test('the access log stays one JSON object per line, methods known or OTHER, no token values', async () => {
  await api(srv, 'GET', '/healthz');
  await new Promise((r) => setTimeout(r, 1300)); // lines are written within a second
  const methods = new Set(['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE', 'PATCH', 'OTHER']);
  const lines = srv.server.stdout().split('\n').filter(Boolean);
  assert.ok(lines.length > 100);
  for (const line of lines) {
    const e = JSON.parse(line);
    assert.ok(methods.has(e.method), `method ${e.method} logged`);
    assert.ok(!line.includes(srv.token.slice(4, 36)), 'a token value reached the log');
  }
  assert.ok(lines.some((l) => JSON.parse(l).method === 'OTHER'), 'the made-up methods are logged as OTHER');
});
