// `tessera admin audit verify`: its exits and the audit key beside the database.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { api, bootstrap, makeTempDir, runTessera, startServer } from './helpers.mjs';

test('a new database gets a private 32-byte audit key and verifies clean', () => {
  const dir = makeTempDir();
  try {
    const db = path.join(dir, 't.db');
    bootstrap(db, 'alice', 'acme');
    const key = fs.statSync(`${db}.audit-key`);
    assert.equal(key.mode & 0o777, 0o600);
    assert.equal(key.size, 32);
    const r = runTessera(['admin', 'audit', 'verify', '--db', db]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^audit log intact: \d+ records verified\n$/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('verify fails, saying why, when the audit key is gone', () => {
  const dir = makeTempDir();
  try {
    const db = path.join(dir, 't.db');
    bootstrap(db, 'alice', 'acme');
    fs.rmSync(`${db}.audit-key`);
    const r = runTessera(['admin', 'audit', 'verify', '--db', db]);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /audit key/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('verify takes no positional arguments', () => {
  const r = runTessera(['admin', 'audit', 'verify', '--db', '/nonexistent/x.db', 'extra']);
  assert.equal(r.status, 2);
});

// The log as the running server writes it, then tampered with as an attacker with write access
// to the database (but not to the key) would: verify names the first record it cannot vouch for.
test('verify catches an edited, a deleted and a swapped record of a real server log', async () => {
  const srv = await startServer();
  const dir = makeTempDir();
  try {
    const made = [];
    for (const name of ['one', 'two', 'three', 'four']) {
      const res = await api(srv, 'POST', '/api/orgs/acme/tokens', {
        token: srv.token,
        json: { name, description: '', expires: 0, admin: false },
      });
      assert.equal(res.status, 200, res.text);
      made.push(res.json.id);
    }
    await srv.server.stop();
    const copy = (label) => {
      const db = path.join(dir, `${label}.db`);
      for (const suffix of ['', '.audit-key', '.audit-head']) fs.copyFileSync(srv.dbPath + suffix, db + suffix);
      return db;
    };
    const verify = (db) => runTessera(['admin', 'audit', 'verify', '--db', db]);
    const sql = (db, statement) => execFileSync('sqlite3', [db, statement]);

    const clean = verify(copy('clean'));
    assert.equal(clean.status, 0, clean.stderr);
    assert.match(clean.stdout, /4 records verified/);

    const edited = copy('edited');
    sql(edited, "UPDATE audit SET description = 'created organization token innocent' WHERE seq = 2");
    const e = verify(edited);
    assert.equal(e.status, 1);
    assert.match(e.stdout + e.stderr, /record 2\b/);

    const deleted = copy('deleted');
    sql(deleted, 'DELETE FROM audit WHERE seq = 3');
    const d = verify(deleted);
    assert.equal(d.status, 1);
    assert.match(d.stdout + d.stderr, /record [34]\b/);

    const swapped = copy('swapped');
    sql(swapped, 'UPDATE audit SET seq = -seq WHERE seq IN (2, 3); UPDATE audit SET seq = 5 + seq WHERE seq < 0;');
    const s = verify(swapped);
    assert.equal(s.status, 1);
    assert.match(s.stdout + s.stderr, /record 2\b/);
  } finally {
    await srv.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
