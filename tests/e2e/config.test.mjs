// serve configuration: env vars TESSERA_LISTEN / TESSERA_DB / TESSERA_THREADS (flags win),
// --threads, --timeout (idle connections are closed).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { api, bootstrap, makeTempDir, spawnServer } from './helpers.mjs';

let dir;
let dbPath;
let token;
before(() => {
  dir = makeTempDir();
  dbPath = path.join(dir, 't.db');
  token = bootstrap(dbPath, 'alice', 'acme');
});
after(() => {
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

async function whoami(srv) {
  const res = await api(srv, 'GET', '/api/user', { token });
  assert.equal(res.status, 200, res.text);
  return res.json.githubLogin;
}

test('TESSERA_LISTEN and TESSERA_DB configure serve without flags', async () => {
  const srv = await spawnServer(dbPath, [], {
    listenArgs: [],
    env: { TESSERA_LISTEN: '127.0.0.1:0', TESSERA_DB: dbPath, TESSERA_THREADS: '2' },
  });
  try {
    assert.equal(await whoami(srv), 'alice');
  } finally {
    await srv.stop();
  }
});

test('flags win over TESSERA_LISTEN / TESSERA_DB / TESSERA_THREADS', async () => {
  const srv = await spawnServer(dbPath, ['--threads', '1'], {
    env: {
      TESSERA_LISTEN: '127.0.0.1:1',
      TESSERA_DB: path.join(dir, 'no-such-dir', 'other.db'), // cannot be opened
      TESSERA_THREADS: '64',
    },
  });
  try {
    assert.notEqual(srv.port, 1, '--listen must win over TESSERA_LISTEN');
    assert.equal(await whoami(srv), 'alice');
  } finally {
    await srv.stop();
  }
});

test('--threads 1 serves concurrent requests', async () => {
  const srv = await spawnServer(dbPath, ['--threads', '1']);
  try {
    const all = await Promise.all(Array.from({ length: 8 }, () => api(srv, 'GET', '/api/user', { token })));
    for (const r of all) assert.equal(r.status, 200);
  } finally {
    await srv.stop();
  }
});

test('--timeout 1 closes an idle connection', async () => {
  const srv = await spawnServer(dbPath, ['--timeout', '1']);
  try {
    const closedAfterMs = await new Promise((resolve, reject) => {
      const t0 = Date.now();
      const sock = net.connect(srv.port, '127.0.0.1');
      const guard = setTimeout(() => {
        sock.destroy();
        resolve(null);
      }, 6000);
      sock.on('error', () => {});
      sock.on('close', () => {
        clearTimeout(guard);
        resolve(Date.now() - t0);
      });
      sock.on('connect', () => {}); // send nothing
      sock.resume();
    });
    assert.ok(closedAfterMs !== null, 'idle connection was not closed within 6 s');
    assert.ok(closedAfterMs >= 500, `closed too early (${closedAfterMs} ms)`);
    // The server still serves new connections.
    assert.equal(await whoami(srv), 'alice');
  } finally {
    await srv.stop();
  }
});
