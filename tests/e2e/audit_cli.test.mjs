// `tessera admin audit verify`: its exits and the audit key beside the database.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { bootstrap, makeTempDir, runTessera } from './helpers.mjs';

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
