// Graceful shutdown (SIGTERM/SIGINT → exit 0), pending lastUsed flushed at shutdown, durability
// across restarts.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import {
  api,
  assert401,
  bootstrap,
  createToken,
  listTokens,
  makeTempDir,
  newDb,
  nowSeconds,
  sleep,
  spawnServer,
} from './helpers.mjs';

let dir;
let dbPath;
let aliceToken;
let first; // server run with the default flush interval (60 s)
const state = {};

before(async () => {
  dir = makeTempDir();
  dbPath = newDb(dir);
  aliceToken = bootstrap(dbPath, 'alice', 'acme');
  first = await spawnServer(dbPath);
});

after(async () => {
  if (first && !first.exitInfo) first.proc.kill('SIGKILL');
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

test('state before shutdown: tokens created, used and deleted', async () => {
  state.used = await createToken(first, aliceToken, { description: 'used once' });
  state.twice = await createToken(first, aliceToken, { description: 'used twice' });
  state.deleted = await createToken(first, aliceToken, { description: 'deleted' });
  state.unused = await createToken(first, aliceToken, { description: 'unused' });

  const del = await api(first, 'DELETE', `/api/user/tokens/${state.deleted.id}`, { token: aliceToken });
  assert.equal(del.status, 204);

  // "twice": first use, then a second use > 1 s later, well within the 60 s flush interval. The
  // contract lets lastUsed be written at most once per interval, so after restart it may show
  // either use, but it must show one of them.
  state.t0 = nowSeconds();
  assert.equal((await api(first, 'GET', '/api/user', { token: state.twice.tokenValue })).status, 200);
  await sleep(1200);
  state.t1 = nowSeconds();
  assert.equal((await api(first, 'GET', '/api/user', { token: state.twice.tokenValue })).status, 200);
  // "used": a single use just before shutdown.
  assert.equal((await api(first, 'GET', '/api/user', { token: state.used.tokenValue })).status, 200);
});

test('SIGTERM → graceful exit with status 0', async () => {
  const res = await first.stop('SIGTERM');
  assert.deepEqual(res, { code: 0, signal: null });
});

test('after restart: lastUsed of tokens used just before shutdown was flushed', async () => {
  const second = await spawnServer(dbPath);
  try {
    const body = await listTokens(second, aliceToken, '?filter=all&maxResults=1000');
    const byId = Object.fromEntries(body.tokens.map((t) => [t.id, t]));
    assert.ok(byId[state.used.id], 'token survives restart');
    assert.ok(byId[state.used.id].lastUsed > 0, `used token: lastUsed ${byId[state.used.id].lastUsed} must be > 0`);
    const lu = byId[state.twice.id].lastUsed;
    assert.ok(
      lu >= state.t0 - 1 && lu <= state.t1 + 1,
      `token used twice: lastUsed ${lu} must be one of its uses (${state.t0}..${state.t1})`,
    );
    assert.equal(byId[state.unused.id].lastUsed, 0, 'unused token keeps lastUsed 0');
    assert.equal(byId[state.deleted.id], undefined, 'deleted token stays deleted');
    assert.equal(byId[state.used.id].description, 'used once');
  } finally {
    await second.stop('SIGTERM');
  }
});

test('after restart: tokens still authenticate, deleted ones do not; SIGINT → exit 0', async () => {
  const third = await spawnServer(dbPath);
  try {
    assert.equal((await api(third, 'GET', '/api/user', { token: aliceToken })).status, 200);
    assert.equal((await api(third, 'GET', '/api/user', { token: state.used.tokenValue })).status, 200);
    assert.equal((await api(third, 'GET', '/api/user', { token: state.unused.tokenValue })).status, 200);
    assert401(await api(third, 'GET', '/api/user', { token: state.deleted.tokenValue }));
  } finally {
    const res = await third.stop('SIGINT');
    assert.deepEqual(res, { code: 0, signal: null });
  }
});

test('SIGTERM with an idle keep-alive connection open still exits 0 promptly', async () => {
  const srv = await spawnServer(dbPath);
  // fetch pools the connection (keep-alive) after this request.
  assert.equal((await api(srv, 'GET', '/healthz')).status, 200);
  const t0 = Date.now();
  await srv.stop('SIGTERM', 10000);
  assert.ok(Date.now() - t0 < 10000);
});
