// Hostile bytes in the request line must get a JSON error, never crash the server, and never break
// the access log (one valid JSON object per line).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { api, poll, startServer } from './helpers.mjs';

let srv;

before(async () => {
  srv = await startServer();
});

after(async () => {
  await srv?.stop();
});

/** Sends raw bytes and returns the raw response text (the server closes or answers). */
function rawRequest(bytes) {
  return new Promise((resolve, reject) => {
    const sock = net.connect(srv.server.port, '127.0.0.1');
    let data = '';
    sock.setTimeout(5000, () => {
      sock.destroy();
      resolve(data);
    });
    sock.on('data', (d) => (data += d.toString('latin1')));
    sock.on('end', () => resolve(data));
    sock.on('error', reject);
    sock.end(bytes);
  });
}

test('a path that decodes to invalid UTF-8 gets a JSON 404 and the server keeps serving', async () => {
  const res = await api(srv, 'GET', '/nope%ff%fe%22%0a');
  assert.equal(res.status, 404);
  assert.match(res.json.message, /^Not Found: no route for \/nope%FF%FE%22%0A\.$/);
  assert.equal((await api(srv, 'GET', '/api/user', { token: srv.token })).status, 200);
});

test('raw invalid UTF-8 and control bytes in the request line do not crash the server', async () => {
  const text = await rawRequest(Buffer.from('GET /\xff\xfe\x01x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n', 'latin1'));
  assert.match(text, /^HTTP\/1\.1 [45]\d\d /);
  assert.equal((await api(srv, 'GET', '/api/user', { token: srv.token })).status, 200);
});

test('a method the route lacks gets a JSON 405 naming it, with Allow', async () => {
  const text = await rawRequest('PATCH /api/user HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n');
  assert.match(text, /^HTTP\/1\.1 405 /);
  assert.match(text, /\r\nAllow: GET, HEAD\r\n/);
  assert.match(text, /"message":"Method Not Allowed: PATCH is not allowed here; allowed: GET, HEAD\."/);
});

test('every access-log line is valid JSON, including the hostile requests above', async () => {
  await api(srv, 'GET', '/healthz');
  // The log is written at most a second after the request.
  const lines = await poll(
    () => {
      const out = srv.server.stdout().split('\n').filter(Boolean);
      return out.some((l) => l.includes('%FF')) ? out : null;
    },
    { timeoutMs: 4000, intervalMs: 100 },
  );
  for (const line of lines) {
    const entry = JSON.parse(line);
    assert.equal(typeof entry.path, 'string');
    assert.ok(!entry.path.includes('?'), 'query strings are never logged');
  }
});

test('a request whose client hangs up before the reply is never logged as delivered', async () => {
  // Its own server with a 2 s timeout: libmicrohttpd notices a half-closed client at once or, at
  // the latest, when the idle timer fires; either way the line must say 499 or 408, never 2xx.
  const own = await startServer({ extraArgs: ['--timeout', '2'] });
  try {
    const body = '{"description":"gone"}';
    await new Promise((resolve) => {
      const sock = net.connect(own.server.port, '127.0.0.1', () => {
        sock.end(
          `POST /api/user/tokens HTTP/1.1\r\nHost: a\r\nAuthorization: token ${own.token}\r\n` +
            `Content-Length: ${body.length + 10}\r\n\r\n${body}`, // 10 bytes short: never complete
        );
        setTimeout(() => sock.destroy(), 100);
      });
      sock.on('error', () => {});
      sock.on('close', resolve);
    });
    const line = await poll(
      () =>
        own.server
          .stdout()
          .split('\n')
          .find((l) => l.includes('"method":"POST"')),
      { timeoutMs: 6000, intervalMs: 100 },
    );
    assert.ok(line, 'no access-log line for the abandoned request');
    assert.match(line, /"status":(499|408)/);
  } finally {
    await own.stop();
  }
});
