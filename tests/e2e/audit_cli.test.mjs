// `tessera admin audit verify`: its exits and the audit key (beside the database on SQLite, where
// TESSERA_AUDIT_KEY points on PostgreSQL).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import {
  api,
  auditKeyFile,
  makeTempDir,
  newDb,
  onPostgres,
  postgresOnly,
  runTessera,
  spawnServer,
  sql,
  startServer,
} from './helpers.mjs';

/**
 * A new database in dir, the environment its commands run with, and its audit key file. On
 * PostgreSQL the key is a file of this database's own (not the one the whole process shares), so
 * that it is this test's commands that make it.
 */
function freshDb(dir) {
  const db = newDb(dir);
  const env = onPostgres ? { TESSERA_AUDIT_KEY: path.join(dir, 'audit-key') } : {};
  return { db, env, keyFile: env.TESSERA_AUDIT_KEY ?? auditKeyFile(db) };
}

const bootstrapIn = ({ db, env }) => {
  const r = runTessera(['admin', 'bootstrap', '--db', db, '--user', 'alice', '--org', 'acme'], { env });
  assert.equal(r.status, 0, r.stderr);
};

test('a new database gets a private 32-byte audit key and verifies clean', () => {
  const dir = makeTempDir();
  try {
    const f = freshDb(dir);
    assert.ok(!fs.existsSync(f.keyFile));
    bootstrapIn(f);
    const key = fs.statSync(f.keyFile);
    assert.equal(key.mode & 0o777, 0o600);
    assert.equal(key.size, 32);
    const r = runTessera(['admin', 'audit', 'verify', '--db', f.db], { env: f.env });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^audit log intact: \d+ records verified\n$/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('verify fails, saying why, when the audit key is gone', () => {
  const dir = makeTempDir();
  try {
    const f = freshDb(dir);
    bootstrapIn(f);
    fs.rmSync(f.keyFile);
    const r = runTessera(['admin', 'audit', 'verify', '--db', f.db], { env: f.env });
    assert.equal(r.status, 1);
    assert.match(r.stderr, /audit key/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

// The database records which key signs its chain; any other key (one file may serve many
// databases, so a wrong path is an easy mistake) must be refused, not used to extend the chain.
test(
  'a key other than the one the database records is refused by verify and by serve',
  postgresOnly('the SQLite store reads its key from beside the database, there is no other to give it'),
  async () => {
    const dir = makeTempDir();
    let srv; // only if it wrongly starts
    try {
      const f = freshDb(dir);
      bootstrapIn(f);
      const other = path.join(dir, 'other-key');
      fs.writeFileSync(other, crypto.randomBytes(32), { mode: 0o600 });
      const r = runTessera(['admin', 'audit', 'verify', '--db', f.db], { env: { TESSERA_AUDIT_KEY: other } });
      assert.equal(r.status, 1, r.stdout + r.stderr);
      assert.ok(r.stderr.includes(`${other} is not the key`), `verify names the wrong key: ${r.stderr}`);
      const started = spawnServer(f.db, [], { env: { TESSERA_AUDIT_KEY: other } }).then((s) => (srv = s));
      await assert.rejects(started, (e) => /exited early/.test(e.message) && e.message.includes(`${other} is not the key`));
    } finally {
      if (srv) {
        srv.proc.kill('SIGKILL');
        await srv.exited;
      }
      fs.rmSync(dir, { recursive: true, force: true });
    }
  },
);

test('verify takes no positional arguments', () => {
  const r = runTessera(['admin', 'audit', 'verify', '--db', '/nonexistent/x.db', 'extra']);
  assert.equal(r.status, 2);
});

// The log as the running server writes it, then tampered with as an attacker with write access
// to the database (but not to the key) would: verify names the first record it cannot vouch for.
// Each tampering is undone before the next from a copy of the log kept in the database itself,
// which both stores make alike (a PostgreSQL database cannot be copied as a file can).
test('verify catches an edited, a deleted and a swapped record of a real server log', async () => {
  const srv = await startServer();
  try {
    for (const name of ['one', 'two', 'three', 'four']) {
      const res = await api(srv, 'POST', '/api/orgs/acme/tokens', {
        token: srv.token,
        json: { name, description: '', expires: 0, admin: false },
      });
      assert.equal(res.status, 200, res.text);
    }
    await srv.server.stop();
    const verify = () => runTessera(['admin', 'audit', 'verify', '--db', srv.dbPath]);
    sql(srv, 'CREATE TABLE audit_saved AS SELECT * FROM audit');
    const restore = () => sql(srv, 'DELETE FROM audit; INSERT INTO audit SELECT * FROM audit_saved');

    const clean = verify();
    assert.equal(clean.status, 0, clean.stderr);
    assert.match(clean.stdout, /4 records verified/);

    sql(srv, "UPDATE audit SET description = 'created organization token innocent' WHERE seq = 2");
    const e = verify();
    assert.equal(e.status, 1);
    assert.match(e.stdout + e.stderr, /record 2\b/);
    restore();

    sql(srv, 'DELETE FROM audit WHERE seq = 3');
    const d = verify();
    assert.equal(d.status, 1);
    assert.match(d.stdout + d.stderr, /record [34]\b/);
    restore();

    sql(srv, 'UPDATE audit SET seq = -seq WHERE seq IN (2, 3); UPDATE audit SET seq = 5 + seq WHERE seq < 0');
    const s = verify();
    assert.equal(s.status, 1);
    assert.match(s.stdout + s.stderr, /record 2\b/);
    restore();

    const restored = verify();
    assert.equal(restored.status, 0, `the untouched log verifies again: ${restored.stderr}`);
    assert.match(restored.stdout, /4 records verified/);
  } finally {
    await srv.stop();
  }
});
