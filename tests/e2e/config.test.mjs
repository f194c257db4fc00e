// serve configuration: env vars TESSERA_LISTEN / TESSERA_DB / TESSERA_THREADS (flags win),
// --threads, --timeout (idle connections are closed); on PostgreSQL, the audit key it needs.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import {
  api,
  assertNoSanitizerReport,
  bootstrap,
  makeTempDir,
  newDb,
  postgresOnly,
  spawnServer,
  sql,
  tesseraBin,
} from './helpers.mjs';

let dir;
let dbPath;
let token;
before(() => {
  dir = makeTempDir();
  dbPath = newDb(dir);
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

// A PostgreSQL database has no file beside it to keep the key in, so nothing may run without
// being told where it is: a command that made up a key of its own would sign with the wrong one.
test(
  'without --audit-key or TESSERA_AUDIT_KEY, serve and admin commands refuse a PostgreSQL database',
  postgresOnly('SQLite keeps the key beside the database'),
  () => {
    const { TESSERA_AUDIT_KEY: _key, ...keyless } = process.env;
    for (const args of [
      ['admin', 'user', 'add', '--db', dbPath, 'keyless'],
      ['serve', '--listen', '127.0.0.1:0', '--db', dbPath],
    ]) {
      // Bounded: a serve that wrongly starts is killed at the timeout, and fails below.
      const r = spawnSync(tesseraBin, args, { env: keyless, encoding: 'utf8', timeout: 10000, stdio: ['ignore', 'pipe', 'pipe'] });
      assertNoSanitizerReport(r.stderr, `tessera ${args.join(' ')}`);
      assert.equal(r.signal, null, `tessera ${args.join(' ')} must exit by itself; stderr: ${r.stderr}`);
      assert.notEqual(r.status, 0, `tessera ${args.join(' ')}; stderr: ${r.stderr}`);
      assert.match(r.stderr, /audit.key/i, `tessera ${args.join(' ')} says what is missing`);
    }
    assert.deepEqual(sql(dbPath, "SELECT login FROM users WHERE login = 'keyless'"), []);
  },
);

// A --db URL may carry a password. libpq's message for a malformed one quotes the part it could
// not read, password and all: serve and the admin commands say the URL is malformed, not what it
// holds, and connection errors name no URL either. Needs no database: nothing gets that far.
test('a malformed or unreachable PostgreSQL URL is refused without printing its password', () => {
  const env = { ...process.env, TESSERA_AUDIT_KEY: path.join(dir, 'url-test.key') };
  for (const db of ['postgres://alice:hunter%zz2@127.0.0.1:1/x', 'postgres://alice:hunter2secret@127.0.0.1:1/x']) {
    for (const args of [
      ['serve', '--listen', '127.0.0.1:0', '--db', db],
      ['admin', 'audit', 'verify', '--db', db],
      ['admin', 'user', 'add', '--db', db, 'bob'],
    ]) {
      const r = spawnSync(tesseraBin, args, { env, encoding: 'utf8', timeout: 20000, stdio: ['ignore', 'pipe', 'pipe'] });
      assertNoSanitizerReport(r.stderr, `tessera ${args[0]}`);
      assert.equal(r.signal, null, `tessera ${args[0]} must exit by itself`);
      assert.notEqual(r.status, 0);
      assert.doesNotMatch(r.stderr + r.stdout, /hunter/, `tessera ${args.slice(0, 3).join(' ')}: ${r.stderr}`);
      if (db.includes('%zz')) assert.match(r.stderr, /the PostgreSQL URL is malformed/);
    }
  }
});
