// lastUsed: 0 for a fresh token, > 0 after use (server run with --lastused-flush-seconds 1).
//
// The listing merges pending (not yet written) uses in from memory, so what it shows proves
// nothing about the database. Every test here therefore also reads the `last_used` column straight
// from the database (read-only, beside the running server), and one kills the server with
// SIGKILL, which skips the shutdown flush, to show that the periodic write alone made the value
// durable.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { api, createToken, listTokens, nowSeconds, poll, sleep, spawnServer, sql, startServer } from './helpers.mjs';

let srv;
before(async () => {
  srv = await startServer({ extraArgs: ['--lastused-flush-seconds', '1'] });
});
after(async () => {
  await srv?.stop();
});

async function lastUsedOf(server, id, token = srv.token) {
  const body = await listTokens(server, token, '?filter=all&maxResults=1000');
  const t = body.tokens.find((x) => x.id === id);
  assert.ok(t, `token ${id} listed`);
  return t.lastUsed;
}

/** The stored lastUsed of the token with this id, read from the database itself: the greater of
 * tokens.last_used (written before the narrow table existed) and token_uses.last_used. */
function storedLastUsed(id, dbPath = srv.dbPath) {
  assert.match(id, /^[0-9a-f-]{36}$/); // safe to put in the SQL text
  const rows = sql(dbPath, `SELECT ${
    dbPath.startsWith('postgres') ? 'greatest' : 'max'
  }(t.last_used, coalesce(u.last_used, 0)) AS last_used FROM tokens t LEFT JOIN token_uses u ON u.seq = t.seq WHERE t.id = '${id}'`, { readonly: true });
  assert.equal(rows.length, 1, `token ${id} must have exactly one row, got ${JSON.stringify(rows)}`);
  assert.ok(Number.isInteger(rows[0].last_used), JSON.stringify(rows));
  return rows[0].last_used;
}

/** Polls the database until the token's stored last_used reaches at least `min`; returns it. */
async function storedLastUsedReaches(id, min, dbPath = srv.dbPath, timeoutMs = 5000) {
  const v = await poll(
    async () => {
      const stored = storedLastUsed(id, dbPath);
      return stored >= min ? stored : 0;
    },
    { timeoutMs, intervalMs: 100 },
  );
  assert.ok(v >= min, `the database must hold last_used ≥ ${min} within ${timeoutMs} ms (it holds ${storedLastUsed(id, dbPath)})`);
  return v;
}

test('a fresh token has lastUsed 0; after use the database holds it within 5 s', async () => {
  const t = await createToken(srv, srv.token, { description: 'lastused' });
  assert.equal(await lastUsedOf(srv, t.id), 0, 'never used yet');
  assert.equal(storedLastUsed(t.id), 0, 'never used yet (database)');

  const t0 = nowSeconds();
  const res = await api(srv, 'GET', '/api/user', { token: t.tokenValue });
  assert.equal(res.status, 200);

  const stored = await storedLastUsedReaches(t.id, 1);
  assert.ok(stored >= t0 - 1 && stored <= nowSeconds() + 1, `last_used ${stored} must be about ${t0}`);
  assert.equal(await lastUsedOf(srv, t.id), stored, 'the listing shows what was written');
});

test('a token that is never used keeps lastUsed 0 while others are used', async () => {
  const unused = await createToken(srv, srv.token, { description: 'unused' });
  const used = await createToken(srv, srv.token, { description: 'used' });
  await api(srv, 'GET', '/api/user', { token: used.tokenValue });
  await storedLastUsedReaches(used.id, 1);
  assert.equal(storedLastUsed(unused.id), 0);
  assert.equal(await lastUsedOf(srv, unused.id), 0);
});

test('lastUsed advances on later use (flush interval 1 s)', async () => {
  const t = await createToken(srv, srv.token, {});
  await api(srv, 'GET', '/api/user', { token: t.tokenValue });
  const first = await storedLastUsedReaches(t.id, 1);
  // Use it again at least 2 s later; the database must hold the newer time within 5 s.
  await sleep(2100);
  const t1 = nowSeconds();
  await api(srv, 'GET', '/api/user', { token: t.tokenValue });
  const second = await storedLastUsedReaches(t.id, t1);
  assert.ok(second > first, `last_used should advance past ${first}, is ${second}`);
  assert.equal(await lastUsedOf(srv, t.id), second);
});

test('lastUsed written by the periodic flush survives SIGKILL (no shutdown flush)', async () => {
  // Its own server and database: this one is killed, not stopped.
  const own = await startServer({ extraArgs: ['--lastused-flush-seconds', '1'] });
  let restarted;
  try {
    const t = await createToken(own, own.token, { description: 'survives kill' });
    assert.equal((await api(own, 'GET', '/api/user', { token: t.tokenValue })).status, 200);
    const stored = await storedLastUsedReaches(t.id, 1, own.dbPath);
    own.server.proc.kill('SIGKILL');
    assert.deepEqual(await own.server.exited, { code: null, signal: 'SIGKILL' });
    restarted = await spawnServer(own.dbPath, ['--lastused-flush-seconds', '1']);
    assert.equal(await lastUsedOf(restarted, t.id, own.token), stored, 'lastUsed after a crash and restart');
  } finally {
    if (!own.server.exitInfo) own.server.proc.kill('SIGKILL');
    await restarted?.stop();
    fs.rmSync(own.dir, { recursive: true, force: true });
  }
});
