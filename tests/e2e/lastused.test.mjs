// lastUsed: 0 for a fresh token, > 0 after use (server run with --lastused-flush-seconds 1).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { api, createToken, listTokens, nowSeconds, poll, startServer } from './helpers.mjs';

let srv;
before(async () => {
  srv = await startServer({ extraArgs: ['--lastused-flush-seconds', '1'] });
});
after(async () => {
  await srv?.stop();
});

async function lastUsedOf(id) {
  const body = await listTokens(srv, srv.token, '?filter=all&maxResults=1000');
  const t = body.tokens.find((x) => x.id === id);
  assert.ok(t, `token ${id} listed`);
  return t.lastUsed;
}

test('a fresh token has lastUsed 0; after use it becomes > 0 within 5 s', async () => {
  const t = await createToken(srv, srv.token, { description: 'lastused' });
  assert.equal(await lastUsedOf(t.id), 0, 'never used yet');

  const t0 = nowSeconds();
  const res = await api(srv, 'GET', '/api/user', { token: t.tokenValue });
  assert.equal(res.status, 200);

  const lastUsed = await poll(async () => {
    const v = await lastUsedOf(t.id);
    return v > 0 ? v : 0;
  }, { timeoutMs: 5000, intervalMs: 250 });
  assert.ok(lastUsed > 0, 'lastUsed must become > 0 within 5 s');
  assert.ok(lastUsed >= t0 - 1 && lastUsed <= nowSeconds() + 1, `lastUsed ${lastUsed} must be about ${t0}`);
});

test('a token that is never used keeps lastUsed 0 while others are used', async () => {
  const unused = await createToken(srv, srv.token, { description: 'unused' });
  const used = await createToken(srv, srv.token, { description: 'used' });
  await api(srv, 'GET', '/api/user', { token: used.tokenValue });
  const got = await poll(async () => ((await lastUsedOf(used.id)) > 0 ? true : false), { timeoutMs: 5000 });
  assert.ok(got, 'used token gets lastUsed');
  assert.equal(await lastUsedOf(unused.id), 0);
});

test('lastUsed advances on later use (flush interval 1 s)', async () => {
  const t = await createToken(srv, srv.token, {});
  await api(srv, 'GET', '/api/user', { token: t.tokenValue });
  const first = await poll(async () => lastUsedOf(t.id), { timeoutMs: 5000 });
  assert.ok(first > 0);
  // Use it again at least 2 s later; the list must show the newer time within 5 s.
  await new Promise((r) => setTimeout(r, 2100));
  const t1 = nowSeconds();
  await api(srv, 'GET', '/api/user', { token: t.tokenValue });
  const second = await poll(async () => {
    const v = await lastUsedOf(t.id);
    return v >= t1 ? v : 0;
  }, { timeoutMs: 5000 });
  assert.ok(second >= t1, `lastUsed should advance to ≥ ${t1}, was ${first}`);
});
