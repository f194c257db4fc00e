// tessera admin copy: a whole store moved from SQLite to PostgreSQL (and back), so that a team
// outgrowing one node keeps every user, membership, team, token and audit record. Whatever store
// the suite runs on, this file uses both: a SQLite file of its own and a PostgreSQL database
// (newPostgresDb, in the suite's cluster or one of its own).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';

import {
  api,
  createToken,
  makeTempDir,
  newPostgresDb,
  runTessera,
  spawnServer,
  sql,
  assert401,
} from './helpers.mjs';

// SQLite ends take no key: the suite on PostgreSQL sets TESSERA_AUDIT_KEY for every command.
const sqliteEnv = { TESSERA_AUDIT_KEY: '' };

let dir;
let source; // the SQLite file everything starts in
const tok = {};
const made = {}; // what the source server made: {personal, org, team, deleted}
let auditBefore; // audit records in the source

function ok(args, env = sqliteEnv) {
  const r = runTessera(args, { env, timeoutMs: 60000 });
  assert.equal(r.status, 0, `tessera ${args.join(' ')}: ${r.stderr}`);
  return r.stdout.trim();
}

before(async () => {
  dir = makeTempDir();
  source = path.join(dir, 'source.db');
  tok.alice = ok(['admin', 'bootstrap', '--db', source, '--user', 'alice', '--org', 'acme']);
  ok(['admin', 'user', 'add', '--db', source, 'bob']);
  ok(['admin', 'member', 'add', '--db', source, 'acme', 'bob', '--role', 'member']);
  tok.bob = ok(['admin', 'token', 'create', '--db', source, '--user', 'bob']);
  const srv = await spawnServer(source, [], { env: sqliteEnv });
  try {
    made.personal = await createToken(srv, tok.alice, { description: 'laptop' });
    made.deleted = await createToken(srv, tok.alice, { description: 'gone' });
    assert.equal((await api(srv, 'DELETE', `/api/user/tokens/${made.deleted.id}`, { token: tok.alice })).status, 204);
    const org = await api(srv, 'POST', '/api/orgs/acme/tokens', { token: tok.alice, json: { name: 'ci', description: 'CI', admin: false } });
    assert.equal(org.status, 200, org.text);
    made.org = org.json;
    const gone = await api(srv, 'POST', '/api/orgs/acme/tokens', { token: tok.alice, json: { name: 'old-ci', description: '', admin: false } });
    assert.equal(gone.status, 200, gone.text);
    assert.equal((await api(srv, 'DELETE', `/api/orgs/acme/tokens/${gone.json.id}`, { token: tok.alice })).status, 204);
    const team = await api(srv, 'POST', '/api/orgs/acme/teams/pulumi', { token: tok.alice, json: { name: 'ops', displayName: 'Ops', description: 'on call' } });
    assert.equal(team.status, 201, team.text);
    const teamToken = await api(srv, 'POST', '/api/orgs/acme/teams/ops/tokens', { token: tok.alice, json: { name: 'pager', description: '' } });
    assert.equal(teamToken.status, 200, teamToken.text);
    made.team = teamToken.json;
  } finally {
    await srv.stop();
  }
  auditBefore = Number(sql(source, 'SELECT count(*) AS n FROM audit')[0].n);
  assert.ok(auditBefore >= 5, `the source has audit records (${auditBefore})`);
});

after(() => {
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

/** Every token made in the source answers on the server, the deleted one does not. */
async function tokensWork(srv, what) {
  for (const [name, value] of [
    ['bootstrap', tok.alice],
    ['bob', tok.bob],
    ['personal', made.personal.tokenValue],
    ['org', made.org.tokenValue],
    ['team', made.team.tokenValue],
  ]) {
    const res = await api(srv, 'GET', '/api/user', { token: value });
    assert.equal(res.status, 200, `${what}: the ${name} token: ${res.text}`);
  }
  assert401(await api(srv, 'GET', '/api/user', { token: made.deleted.tokenValue }), `${what}: the deleted token`);
}

test('a SQLite store moves to an empty PostgreSQL database whole, and its tokens keep working', async () => {
  const target = newPostgresDb();
  const key = path.join(dir, 'pg.audit-key');
  const out = ok(['admin', 'copy', '--from', source, '--to', target, '--audit-key', key]);
  assert.match(out, /^copied .*source\.db to the PostgreSQL database:/);
  assert.match(out, /users +2 rows/); // alice and bob
  assert.match(out, new RegExp(`audit +${auditBefore} rows`));
  assert.match(out, new RegExp(`audit log intact on the target: ${auditBefore} records verified`));
  assert.ok(!out.includes('postgres://'), 'the URL (it may hold a password) is not printed');
  assert.equal((fs.statSync(key).mode & 0o777).toString(8), '600');

  const env = { TESSERA_AUDIT_KEY: key };
  const srv = await spawnServer(target, [], { env });
  try {
    await tokensWork(srv, 'on PostgreSQL');
    // The same tokens, listed with the same ids, reasons and creators.
    const listed = await api(srv, 'GET', '/api/user/tokens', { token: tok.alice });
    assert.ok(listed.json.tokens.some((t) => t.id === made.personal.id && t.description === 'laptop'));
    assert.ok(!listed.json.tokens.some((t) => t.id === made.deleted.id));
    const team = await api(srv, 'GET', '/api/orgs/acme/teams/ops', { token: tok.alice });
    assert.equal(team.status, 200);
    assert.equal(team.json.description, 'on call');
    // New rows get ids after the copied ones, and a used name stays used.
    const fresh = await createToken(srv, tok.alice, { description: 'after the move' });
    assert.equal((await api(srv, 'GET', '/api/user', { token: fresh.tokenValue })).status, 200);
    const reuse = await api(srv, 'POST', '/api/orgs/acme/tokens', { token: tok.alice, json: { name: 'old-ci', description: '', admin: false } });
    assert.equal(reuse.status, 409, 'a deleted token\'s name is still reserved after the move');
    // The audit log came along: the API shows the source's events.
    const log = await api(srv, 'GET', '/api/orgs/acme/auditlogs/v2', { token: tok.alice });
    assert.equal(log.status, 200);
    assert.ok(log.json.auditLogEvents.some((e) => e.event === 'team-created'), log.text);
  } finally {
    await srv.stop();
  }
  // The chain goes on from the copied records.
  assert.match(ok(['admin', 'audit', 'verify', '--db', target], env), /^audit log intact: \d+ records verified$/);
});

test('copy refuses a target that is not empty, and changes nothing in it', async () => {
  const target = newPostgresDb();
  const key = path.join(dir, 'second.audit-key');
  ok(['admin', 'copy', '--from', source, '--to', target, '--audit-key', key]);
  const before = sql(target, 'SELECT count(*) AS n FROM tokens')[0].n;
  const again = runTessera(['admin', 'copy', '--from', source, '--to', target, '--audit-key', key], { env: sqliteEnv, timeoutMs: 60000 });
  assert.equal(again.status, 1);
  assert.match(again.stderr, /the target is not empty: its users table has \d+ rows/);
  assert.equal(sql(target, 'SELECT count(*) AS n FROM tokens')[0].n, before);
});

test('copy refuses a key file that holds another key, and a SQLite end given a key', () => {
  const key = path.join(dir, 'other.audit-key');
  fs.writeFileSync(key, crypto.randomBytes(32), { mode: 0o600 });
  const target = newPostgresDb();
  const r = runTessera(['admin', 'copy', '--from', source, '--to', target, '--audit-key', key], { env: sqliteEnv, timeoutMs: 60000 });
  assert.equal(r.status, 1);
  assert.match(r.stderr, /holds another audit key: the copy needs the source's/);
  assert.equal(sql(target, "SELECT count(*) AS n FROM information_schema.tables WHERE table_name = 'tokens'")[0].n, 0, 'the target was not even opened');
  const usage = runTessera(['admin', 'copy', '--from', source, '--to', path.join(dir, 'x.db'), '--to-audit-key', key], { env: sqliteEnv });
  assert.equal(usage.status, 2);
  assert.match(usage.stderr, /a SQLite end keeps its audit key beside the database file/);
  const missing = runTessera(['admin', 'copy', '--from', source, '--to', target], { env: sqliteEnv });
  assert.equal(missing.status, 2);
  assert.match(missing.stderr, /a PostgreSQL end needs its audit key file/);
});

test('a source whose audit log does not verify is not copied', () => {
  const tampered = path.join(dir, 'tampered.db');
  for (const suffix of ['', '.audit-key', '.audit-head']) fs.copyFileSync(source + suffix, tampered + suffix);
  sql(tampered, "UPDATE audit SET description = 'nothing happened' WHERE seq = 2");
  const target = newPostgresDb();
  const r = runTessera(['admin', 'copy', '--from', tampered, '--to', target, '--audit-key', path.join(dir, 't.audit-key')], { env: sqliteEnv, timeoutMs: 60000 });
  assert.equal(r.status, 1);
  assert.match(r.stderr, /the source's audit log does not verify: audit record 2 .*: nothing copied/);
});

test('and back: a PostgreSQL store copies into a new SQLite file', async () => {
  const middle = newPostgresDb();
  const key = path.join(dir, 'round.audit-key');
  ok(['admin', 'copy', '--from', source, '--to', middle, '--audit-key', key]);
  // Every token used, and one use left by a token deleted on another node at that moment: on
  // PostgreSQL no foreign key refuses it (the store's migration 5), and the copy leaves it out, as
  // SQLite's key would refuse it.
  sql(middle, [
    'INSERT INTO token_uses (seq, last_used) SELECT seq, 1700000000 FROM tokens ON CONFLICT (seq) DO UPDATE SET last_used = excluded.last_used',
    'INSERT INTO token_uses (seq, last_used) SELECT max(seq) + 1000, 1700000001 FROM tokens',
  ]);
  const used = Number(sql(middle, 'SELECT count(*) AS n FROM tokens')[0].n);
  const back = path.join(dir, 'back.db');
  const out = ok(['admin', 'copy', '--from', middle, '--from-audit-key', key, '--to', back]);
  assert.deepEqual(sql(back, 'SELECT count(*) AS n, max(last_used) AS last FROM token_uses').map((r) => [Number(r.n), Number(r.last)]), [[used, 1700000000]]);
  assert.match(out, /^copied the PostgreSQL database to .*back\.db:/);
  assert.equal((fs.statSync(back).mode & 0o777).toString(8), '600');
  assert.deepEqual(fs.readFileSync(`${back}.audit-key`), fs.readFileSync(key), 'the key came along');
  const srv = await spawnServer(back, [], { env: sqliteEnv });
  try {
    await tokensWork(srv, 'back on SQLite');
  } finally {
    await srv.stop();
  }
  assert.match(ok(['admin', 'audit', 'verify', '--db', back]), new RegExp(`^audit log intact: ${auditBefore} records verified$`));
});
