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
  // A URI may hold only visible ASCII (RFC 3986): our JSON 400, which names no byte.
  assert.match(text, /^HTTP\/1\.1 400 /);
  assert.match(text, /\r\nContent-Type: application\/json\r\n/i);
  assert.ok(text.endsWith('\r\n\r\n{"code":400,"message":"Bad Request: the URI may hold only visible ASCII: percent-encode spaces, controls and other bytes (RFC 3986)."}'), text);
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

/** The access-log line of the one POST a server has seen (polled: lines are written within 1 s). */
async function postLogLine(server, timeoutMs) {
  const line = await poll(
    () =>
      server
        .stdout()
        .split('\n')
        .find((l) => l.includes('"method":"POST"')),
    { timeoutMs, intervalMs: 100 },
  );
  assert.ok(line, 'no access-log line for the abandoned request');
  return line;
}

/** Connects and sends `head`; onData(sock, textSoFar) sees what the server sends. Resolves on close. */
function converse(port, head, onData, destroyAfterMs) {
  return new Promise((resolve) => {
    let got = '';
    const sock = net.connect(port, '127.0.0.1', () => sock.write(head));
    sock.on('data', (d) => onData(sock, (got += d.toString('latin1'))));
    const timer = setTimeout(() => sock.destroy(), destroyAfterMs);
    sock.on('error', () => {});
    sock.on('close', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

const postHead = (token, extra = '') =>
  `POST /api/user/tokens HTTP/1.1\r\nHost: a\r\nAuthorization: token ${token}\r\n${extra}Content-Length: 32\r\n\r\n`;

test('a client that hangs up before sending its body is logged 499, and nothing is created', async () => {
  // Deterministic: "Expect: 100-continue" makes the server say when it has read the headers, so
  // nothing is left unread when the FIN arrives, and libmicrohttpd sees the hang-up at once.
  const own = await startServer({ extraArgs: ['--timeout', '2'] });
  try {
    await converse(own.server.port, postHead(own.token, 'Expect: 100-continue\r\n'), (sock, got) => {
      if (/^HTTP\/1\.1 100 /.test(got)) sock.end();
    }, 5000);
    assert.match(await postLogLine(own.server, 4000), /"status":499,/);
    assert.equal((await api(own, 'GET', '/api/user/tokens', { token: own.token })).json.tokens.length, 1);
  } finally {
    await own.stop();
  }
});

test('a client that stalls in the middle of its body is logged 408 when the timeout fires', async () => {
  const own = await startServer({ extraArgs: ['--timeout', '2'] });
  try {
    const started = Date.now();
    // 6 of the 32 declared bytes, then silence with the connection left open: the server closes it.
    await converse(own.server.port, `${postHead(own.token)}{"desc`, () => {}, 8000);
    assert.ok(Date.now() - started >= 1500, 'the server waited for the timeout before closing');
    assert.match(await postLogLine(own.server, 4000), /"status":408,/);
  } finally {
    await own.stop();
  }
});

test('a request whose client hangs up before the reply is never logged as delivered', async () => {
  // Partial body and FIN sent in one go. Genuinely racy, so two statuses are allowed, and only
  // these two: if libmicrohttpd reads the bytes before the FIN has arrived, the FIN is a new read
  // event and it logs 499 at once; if the FIN is already queued behind the bytes, it gets no new
  // event (edge-triggered epoll) and finds the hang-up only when the 2 s idle timer fires: 408.
  // Observed here: 408 in about 1 run of 15. The two tests above pin each path down exactly.
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
    assert.match(await postLogLine(own.server, 6000), /"status":(499|408),/);
  } finally {
    await own.stop();
  }
});
