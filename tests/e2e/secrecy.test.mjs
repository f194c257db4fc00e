// Secrecy and durability: token values never reach the DB files or the logs; the DB holds the
// SHA-256 of each value; the DB file (SQLite) and the audit key and head files are 0600; the
// access log is one JSON object per line.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import {
  api,
  auditFilesDir,
  auditKeyFile,
  createToken,
  onPostgres,
  poll,
  sql,
  sqlHex,
  sqliteOnly,
  startServer,
  tokenCreate,
  userAdd,
} from './helpers.mjs';

let srv;
const startedAt = Date.now();
const values = []; // every token value issued in this file
const responses = []; // {requestId, method, path, status, user}

before(async () => {
  srv = await startServer({
    setup(db) {
      userAdd(db, 'bob');
      return { bob: tokenCreate(db, 'bob', '--description', 'bob cli') };
    },
  });
  values.push(srv.token, srv.setupResult.bob);
});

after(async () => {
  await srv?.stop();
});

async function call(method, p, opts, user) {
  const res = await api(srv, method, p, opts);
  responses.push({ requestId: res.requestId, method, path: p, status: res.status, user });
  return res;
}

/**
 * The files that hold the database. SQLite: the database file and those beside it (-wal, -shm,
 * the audit files). PostgreSQL: the database's own directory in the cluster, after a checkpoint
 * (so that every change has reached it), and the WAL segments written since this file started
 * (the cluster's WAL is shared by its databases, and holds what was overwritten since); null
 * when the cluster's files are not on this machine.
 */
function dbFiles() {
  if (!onPostgres) {
    const base = path.basename(srv.dbPath);
    return fs
      .readdirSync(srv.dir)
      .filter((f) => f.startsWith(base))
      .map((f) => path.join(srv.dir, f));
  }
  const [{ dir, oid }] = sql(srv, "SELECT current_setting('data_directory') AS dir, oid FROM pg_database WHERE datname = current_database()");
  const own = path.join(dir, 'base', String(oid));
  if (!fs.existsSync(own)) return null;
  sql(srv, 'CHECKPOINT');
  const wal = path.join(dir, 'pg_wal');
  const segments = fs
    .readdirSync(wal)
    .filter((f) => /^[0-9A-F]{24}$/.test(f))
    .map((f) => path.join(wal, f))
    .filter((f) => (fs.statSync(f, { throwIfNoEntry: false })?.mtimeMs ?? 0) >= startedAt - 2000);
  return [...fs.readdirSync(own).map((f) => path.join(own, f)), ...segments];
}

/** Asserts that no file of the database holds a token value; one file at a time (WAL segments are 16 MiB). */
function assertNoSecretsInFiles(t, files, when) {
  if (!files) return t.skip("the cluster's files are not on this machine");
  assert.ok(files.length > 0, 'the database has files');
  for (const f of files) {
    let bytes;
    try {
      bytes = fs.readFileSync(f);
    } catch (e) {
      if (e.code === 'ENOENT') continue; // a WAL segment a checkpoint has recycled since
      throw e;
    }
    assertNoSecrets(bytes, `${when}: ${path.basename(f)}`);
  }
}

function assertNoSecrets(buf, where) {
  for (const v of values) {
    const random = v.slice(4, 36);
    assert.equal(buf.indexOf(Buffer.from(v)), -1, `${where} contains a token value`);
    assert.equal(buf.indexOf(Buffer.from(random)), -1, `${where} contains the random part of a token (hex)`);
    assert.equal(buf.indexOf(Buffer.from(random.toUpperCase())), -1, `${where} contains the random part (HEX)`);
    assert.equal(buf.indexOf(Buffer.from(random, 'hex')), -1, `${where} contains the random part (binary)`);
  }
}

test('create and use tokens (API and admin-created)', async () => {
  for (let i = 0; i < 5; i++) {
    const t = await createToken(srv, srv.token, { description: `secret-${i}` });
    values.push(t.tokenValue);
    const r = await call('GET', '/api/user', { token: t.tokenValue }, 'alice');
    assert.equal(r.status, 200);
  }
  assert.equal((await call('GET', '/api/user', { token: srv.setupResult.bob }, 'bob')).status, 200);
  assert.equal((await call('GET', '/api/user/tokens', { token: srv.token }, 'alice')).status, 200);
  // Credentials sent in odd places must not be logged either.
  const victim = values[2];
  assert.equal((await call('GET', '/api/user', { auth: `Basic ${victim}` }, null)).status, 401);
  assert.equal((await call('GET', '/healthz', {}, null)).status, 200);
  assert.equal((await call('GET', '/api/nope', { token: srv.token }, null)).status, 404);
});

test('DB file is mode 0600', sqliteOnly('a PostgreSQL database is no file of ours'), () => {
  const mode = fs.statSync(srv.dbPath).mode & 0o777;
  assert.equal(mode.toString(8), '600');
});

test('the audit key and head files are mode 0600', () => {
  const dir = auditFilesDir(srv.dbPath);
  // On PostgreSQL the directory is the key's own (helpers.mjs): whatever is in it is the audit's.
  const files = fs
    .readdirSync(dir)
    .filter((f) => onPostgres || f.startsWith(`${path.basename(srv.dbPath)}.audit-`))
    .map((f) => path.join(dir, f));
  assert.ok(files.includes(auditKeyFile(srv.dbPath)), `the key is among ${files}`);
  for (const f of files) assert.equal((fs.statSync(f).mode & 0o777).toString(8), '600', f);
});

test('while running: no token value or random part in the DB files', (t) => {
  const files = dbFiles();
  if (!onPostgres) assert.ok(files.includes(srv.dbPath));
  assertNoSecretsInFiles(t, files, 'while running');
});

test('stdout/stderr never contain token values', () => {
  const logs = srv.server.stdout() + srv.server.stderr();
  for (const v of values) {
    assert.ok(!logs.includes(v), 'logs contain a token value');
    assert.ok(!logs.includes(v.slice(4, 36)), 'logs contain the random part of a token');
  }
});

function accessLog() {
  return srv.server
    .stdout()
    .split('\n')
    .filter((l) => l.length > 0);
}

// Access-log lines are batched and written at most a second after their request: wait (bounded)
// until every given request id has its line.
async function waitForLogLines(requestIds) {
  return poll(
    () => {
      const text = srv.server.stdout();
      return requestIds.every((id) => text.includes(`"request_id":"${id}"`)) ? accessLog() : null;
    },
    { timeoutMs: 4000, intervalMs: 100 },
  );
}

test('access log: every stdout line is a JSON object with all contract keys', async () => {
  const lines = await waitForLogLines(responses.map((r) => r.requestId));
  assert.ok(lines.length >= responses.length, `expected ≥ ${responses.length} log lines, got ${lines.length}`);
  for (const line of lines) {
    let entry;
    try {
      entry = JSON.parse(line);
    } catch {
      assert.fail(`access log line is not JSON: ${line}`);
    }
    assert.ok(entry && typeof entry === 'object' && !Array.isArray(entry), line);
    for (const k of ['time', 'request_id', 'method', 'path', 'status', 'duration_us', 'user']) {
      assert.ok(Object.hasOwn(entry, k), `access log line missing ${k}: ${line}`);
    }
  }
});

test('access log: one line per request, matching request id, method, path, status and user', async () => {
  const byId = new Map();
  for (const line of await waitForLogLines(responses.map((r) => r.requestId))) {
    const entry = JSON.parse(line);
    byId.set(entry.request_id, entry);
  }
  for (const r of responses) {
    const e = byId.get(r.requestId);
    assert.ok(e, `no access log line for request ${r.requestId} (${r.method} ${r.path})`);
    assert.equal(e.method, r.method);
    assert.equal(e.status, r.status);
    assert.equal(typeof e.duration_us, 'number');
    assert.ok(r.path.startsWith(e.path), `logged path ${e.path} vs ${r.path}`);
    if (r.user) assert.equal(e.user, r.user, `user for ${r.method} ${r.path}`);
  }
});

test('a token value sent in the query string is not logged', async () => {
  const victim = values[3];
  const res = await call('GET', `/api/user?token=${victim}`, { token: srv.token }, 'alice');
  assert.equal(res.status, 200);
  await waitForLogLines([res.requestId]); // the line for this very request is there ...
  assert.ok(!srv.server.stdout().includes(victim), 'access log contains a token value from the query string');
});

test('a token value pasted into a path is redacted in the 404 message and the access log', async () => {
  const victim = values[4];
  const res = await call('DELETE', `/api/user/tokens/${victim}`, { token: srv.token }, 'alice');
  assert.equal(res.status, 404);
  const miss = await call('GET', `/nope/${victim}`, {}, null);
  assert.equal(miss.status, 404);
  assert.ok(!miss.text.includes(victim.slice(4)), `404 message echoes the token: ${miss.text}`);
  assert.match(miss.json.message, /pul-\[redacted\]/);
  await waitForLogLines([res.requestId, miss.requestId]);
  assert.ok(!srv.server.stdout().includes(victim.slice(4)), 'access log contains a token value from a path');
});

test('a token value pasted where a name goes is not echoed in the error', async () => {
  const value = srv.token;
  const res = await api(srv, 'POST', `/api/orgs/acme/members/${value}`, { token: srv.token, json: { role: 'member' } });
  assert.equal(res.status, 404);
  assert.ok(!res.text.includes(value.slice(4, 36)), res.text);
  assert.match(res.json.message, /pul-\[redacted\]/);
  const field = await api(srv, 'POST', '/api/user/tokens', { token: srv.token, json: { [value.slice(4)]: 1 } });
  assert.equal(field.status, 400);
  assert.ok(!field.text.includes(value.slice(4, 36)), field.text);
});

test('after shutdown: no secrets in the DB files', async (t) => {
  await srv.server.stop();
  assertNoSecretsInFiles(t, dbFiles(), 'after shutdown');
});

test('each value is stored as its SHA-256, 32 bytes of binary', () => {
  const stored = new Map(sql(srv, `SELECT ${sqlHex('hash')} AS hash, length(hash) AS n FROM tokens`).map((r) => [r.hash, r.n]));
  for (const v of values) {
    const digest = crypto.createHash('sha256').update(v).digest('hex');
    assert.equal(stored.get(digest), 32, 'SHA-256 (binary) of a token value must be stored');
  }
});

test('after shutdown: the DB file is still mode 0600', sqliteOnly('a PostgreSQL database is no file of ours'), () => {
  const mode = fs.statSync(srv.dbPath).mode & 0o777;
  assert.equal(mode.toString(8), '600', 'DB mode stays 0600');
});
