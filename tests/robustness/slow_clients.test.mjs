// Slow clients cannot hold the server: a request head that trickles in (one byte now and then, so
// the idle timer never fires) is cut at --header-timeout, and when stallers from several addresses
// fill every slot, a new client still gets its answer at once: the longest-waiting staller makes
// room. Loopback only; every socket is closed and every timer stopped when the test ends.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { api, sleep, startServer } from '../e2e/helpers.mjs';

const HEAD_TIMEOUT_S = 2;
const MAX_CONNECTIONS = 256;
const PER_IP = 64;
const ATTACKERS = ['127.0.0.2', '127.0.0.3', '127.0.0.4', '127.0.0.5']; // 4 x 64 = every slot

let srv;
before(async () => {
  srv = await startServer({
    extraArgs: ['--header-timeout', String(HEAD_TIMEOUT_S), '--timeout', '5', '--max-connections', String(MAX_CONNECTIONS),
      '--max-connections-per-ip', String(PER_IP), '--threads', '2'],
  });
});
after(async () => {
  await srv?.stop();
});

/** A connection that sends `prefix`, then one byte of `drip` every intervalMs, forever. */
function staller({ localAddress, prefix, drip = 'a', intervalMs = 500 }) {
  const s = { opened: Date.now(), closedAt: null, sock: null, timer: null };
  s.sock = net.connect({ port: srv.server.port, host: '127.0.0.1', localAddress });
  s.sock.on('error', () => {});
  s.sock.on('close', () => {
    s.closedAt = Date.now();
    clearInterval(s.timer);
  });
  s.sock.on('connect', () => {
    s.sock.write(prefix);
    let i = 0;
    s.timer = setInterval(() => {
      if (!s.sock.destroyed) s.sock.write(drip[i++ % drip.length]);
    }, intervalMs);
  });
  s.stop = () => {
    clearInterval(s.timer);
    s.sock.destroy();
  };
  return s;
}

/** Keeps `count` stallers open from the address, replacing each one the server closes. */
function attack(localAddress, count) {
  const live = new Set();
  let running = true;
  const spawnOne = (i) => {
    // A third trickle a header, a third the request line itself, a third a body.
    const kinds = [
      { prefix: 'GET /healthz HTTP/1.1\r\nHost: a\r\nX-Slow: ', drip: 'a' },
      { prefix: 'GET /heal', drip: 'thz' },
      { prefix: 'POST /api/oauth/token HTTP/1.1\r\nHost: a\r\nContent-Length: 60000\r\n\r\n', drip: 'a=' },
    ];
    const s = staller({ localAddress, ...kinds[i % 3] });
    live.add(s);
    s.sock.on('close', () => {
      live.delete(s);
      if (running) setTimeout(() => running && spawnOne(i), 20);
    });
  };
  for (let i = 0; i < count; i++) spawnOne(i);
  return {
    live,
    stop() {
      running = false;
      for (const s of live) s.stop();
    },
  };
}

/** One GET /healthz on a fresh connection; resolves with {status, ms} (status 0 on failure). */
function freshRequest() {
  const start = process.hrtime.bigint();
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port: srv.server.port, path: '/healthz', agent: false, timeout: 5000, headers: { Connection: 'close' } }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode, ms: Number(process.hrtime.bigint() - start) / 1e6 }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', () => resolve({ status: 0, ms: Number(process.hrtime.bigint() - start) / 1e6 }));
  });
}

test('a request head trickled in byte by byte is cut at --header-timeout', async () => {
  const s = staller({ localAddress: '127.0.0.6', prefix: 'GET /healthz HTTP/1.1\r\nHost: a\r\nX-Slow: ', intervalMs: 300 });
  const line = staller({ localAddress: '127.0.0.6', prefix: 'GET /', drip: 'healthz', intervalMs: 300 });
  try {
    await sleep((HEAD_TIMEOUT_S + 2.5) * 1000);
    for (const [what, c] of [['a trickled header', s], ['a trickled request line', line]]) {
      assert.ok(c.closedAt, `${what} kept its connection for ${HEAD_TIMEOUT_S + 2.5} s`);
      const lived = c.closedAt - c.opened;
      assert.ok(lived >= HEAD_TIMEOUT_S * 1000 - 200, `${what} was cut after ${lived} ms, before the deadline`);
    }
  } finally {
    s.stop();
    line.stop();
  }
});

test('a body trickled in byte by byte is cut at --timeout', async () => {
  const s = staller({ localAddress: '127.0.0.7', prefix: 'POST /api/oauth/token HTTP/1.1\r\nHost: a\r\nContent-Length: 1000\r\n\r\n', drip: 'x', intervalMs: 300 });
  try {
    await sleep(5000 + 2500);
    assert.ok(s.closedAt, 'a trickled body kept its connection past --timeout');
    assert.ok(s.closedAt - s.opened >= 5000 - 200, `cut after ${s.closedAt - s.opened} ms, before the deadline`);
  } finally {
    s.stop();
  }
});

test('stallers from four addresses holding every slot do not lock out a new client', async () => {
  const attacks = ATTACKERS.map((a) => attack(a, PER_IP));
  try {
    await sleep(1500); // every slot is taken, and the first stallers are old enough to make room
    const held = attacks.reduce((n, a) => n + a.live.size, 0);
    assert.ok(held >= MAX_CONNECTIONS * 0.8, `the attack holds ${held} connections`);
    const results = [];
    for (let i = 0; i < 200; i++) results.push(await freshRequest());
    const failed = results.filter((r) => r.status !== 200);
    assert.equal(failed.length, 0, `${failed.length} of 200 requests failed during the attack`);
    const ms = results.map((r) => r.ms).sort((a, b) => a - b);
    const p50 = ms[99];
    const p99 = ms[197];
    console.log(`# during the attack: p50 ${p50.toFixed(1)} ms, p99 ${p99.toFixed(1)} ms, max ${ms[199].toFixed(1)} ms`);
    assert.ok(p99 < 100, `p99 ${p99.toFixed(1)} ms under the attack`);
  } finally {
    for (const a of attacks) a.stop();
  }
  await sleep(300);
  assert.equal((await api(srv, 'GET', '/healthz')).status, 200);
});
