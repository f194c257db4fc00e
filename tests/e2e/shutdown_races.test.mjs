// SIGTERM while token creations are in flight must neither crash (libmicrohttpd aborts if it is
// stopped with a suspended connection) nor hang (a client that hung up while its creation was
// being committed). Each case repeats a few times: the windows are milliseconds wide.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { startServer } from './helpers.mjs';

function post(port, token, { hangUp }) {
  return new Promise((resolve) => {
    const body = '{"description":"race"}';
    const sock = net.connect(port, '127.0.0.1', () => {
      sock.write(
        `POST /api/user/tokens HTTP/1.1\r\nHost: a\r\nAuthorization: token ${token}\r\n` +
          `Content-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
      );
      if (hangUp) sock.destroy(); // gone before the commit finishes
    });
    sock.on('error', () => {});
    sock.on('close', resolve);
    sock.setTimeout(3000, () => sock.destroy());
  });
}

/** Keep-alive clients that POST in a loop until told to stop. */
function keepAliveFlood(port, token, clients, stop) {
  const body = '{"description":"flood"}';
  const request =
    `POST /api/user/tokens HTTP/1.1\r\nHost: a\r\nAuthorization: token ${token}\r\n` +
    `Content-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`;
  const done = [];
  for (let i = 0; i < clients; i++) {
    done.push(
      new Promise((resolve) => {
        const sock = net.connect(port, '127.0.0.1', () => sock.write(request));
        sock.on('data', () => {
          if (!stop.now && !sock.destroyed) sock.write(request); // one response per request here
        });
        sock.on('error', () => {});
        sock.on('close', resolve);
        sock.setTimeout(5000, () => sock.destroy());
      }),
    );
  }
  return done;
}

test('SIGTERM during a keep-alive creation flood exits 0 (no abort on suspended connections)', async () => {
  for (let round = 0; round < 4; round++) {
    const srv = await startServer();
    const stop = { now: false };
    const clients = keepAliveFlood(srv.server.port, srv.token, 8, stop);
    await new Promise((r) => setTimeout(r, 300 + round * 150));
    await srv.stop(); // asserts exit status 0 within 10 s
    stop.now = true;
    await Promise.all(clients);
  }
});

test('SIGTERM after clients hung up mid-creation exits promptly and cleanly', async () => {
  for (let round = 0; round < 3; round++) {
    const srv = await startServer();
    await Promise.all(Array.from({ length: 20 }, () => post(srv.server.port, srv.token, { hangUp: true })));
    const started = Date.now();
    await srv.stop(); // asserts exit status 0 within 10 s
    assert.ok(Date.now() - started < 10000);
  }
});
