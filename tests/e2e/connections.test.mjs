// Connection-level limits: per-address connection cap, and a body that arrives too slowly.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { api, sleep, startServer } from './helpers.mjs';

let srv;

before(async () => {
  srv = await startServer({ extraArgs: ['--max-connections-per-ip', '3', '--timeout', '2'] });
});

after(async () => {
  await srv?.stop();
});

function openIdle() {
  return new Promise((resolve, reject) => {
    const sock = net.connect(srv.server.port, '127.0.0.1', () => resolve(sock));
    sock.on('error', reject);
  });
}

test('one address cannot hold more connections than --max-connections-per-ip', async () => {
  const held = [await openIdle(), await openIdle(), await openIdle()];
  await sleep(100);
  await assert.rejects(fetch(`${srv.url}/healthz`, { signal: AbortSignal.timeout(3000) }));
  for (const s of held) s.destroy();
  await sleep(200);
  assert.equal((await api(srv, 'GET', '/healthz')).status, 200);
});

test('a body trickled slower than --timeout allows is cut off, not served', async () => {
  const sock = await openIdle();
  let response = '';
  sock.on('data', (d) => (response += d));
  const closed = new Promise((r) => sock.on('close', r));
  sock.on('error', () => {});
  const body = '{"description":"slow"}';
  sock.write(
    `POST /api/user/tokens HTTP/1.1\r\nHost: a\r\nAuthorization: token ${srv.token}\r\n` +
      `Content-Length: ${body.length}\r\n\r\n`,
  );
  // One byte every 500 ms: the idle timer never fires, but the whole body would take 11 s.
  for (let i = 0; i < body.length && !sock.destroyed; i++) {
    sock.write(body[i]);
    await sleep(500);
  }
  await Promise.race([closed, sleep(2000)]);
  assert.ok(sock.destroyed || sock.readableEnded, 'the server should have closed the connection');
  assert.doesNotMatch(response, /^HTTP\/1\.1 200/);
});
