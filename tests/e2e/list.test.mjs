// GET /api/user/tokens: fields, filters, maxResults bounds, paging, continuation tokens.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  RFC3339_Z_RE,
  UUID_V4_RE,
  api,
  assert400,
  createToken,
  listAll,
  listTokens,
  startServer,
  tokenCreate,
  userAdd,
} from './helpers.mjs';

let srv;
let pagerToken; // user "pager" with exactly one admin-created token at start
before(async () => {
  srv = await startServer({
    setup(db) {
      userAdd(db, 'pager');
      pagerToken = tokenCreate(db, 'pager', '--description', 'pager-initial');
    },
  });
});
after(async () => {
  await srv?.stop();
});

test('list entries have the AccessToken shape', async () => {
  await createToken(srv, srv.token, { description: 'shape' });
  const body = await listTokens(srv, srv.token);
  assert.ok(Array.isArray(body.tokens));
  assert.ok(body.tokens.length >= 2, 'bootstrap token + the new one');
  assert.ok(!Object.hasOwn(body, 'continuationToken'), 'single page: no continuationToken key');
  for (const t of body.tokens) {
    for (const k of ['id', 'name', 'description', 'created', 'lastUsed', 'expires', 'admin', 'createdBy', 'type']) {
      assert.ok(Object.hasOwn(t, k), `AccessToken missing ${k}: ${JSON.stringify(t)}`);
    }
    assert.match(t.id, UUID_V4_RE);
    assert.equal(t.name, '');
    assert.equal(typeof t.description, 'string');
    assert.match(t.created, RFC3339_Z_RE);
    assert.ok(Number.isInteger(t.lastUsed) && t.lastUsed >= 0);
    assert.ok(Number.isInteger(t.expires) && t.expires >= 0);
    assert.equal(t.admin, false);
    assert.equal(t.createdBy, 'alice');
    assert.equal(t.type, 'personal');
    assert.ok(!Object.hasOwn(t, 'tokenValue'), 'list must not reveal token values');
    assert.ok(!JSON.stringify(t).includes('pul-'), 'list must not reveal token values');
  }
});

test('filter=active, filter=all, show_expired=true and the default agree when nothing expired', async () => {
  const def = (await listTokens(srv, srv.token, '?maxResults=1000')).tokens.map((t) => t.id);
  const active = (await listTokens(srv, srv.token, '?filter=active&maxResults=1000')).tokens.map((t) => t.id);
  const all = (await listTokens(srv, srv.token, '?filter=all&maxResults=1000')).tokens.map((t) => t.id);
  const legacy = (await listTokens(srv, srv.token, '?show_expired=true&maxResults=1000')).tokens.map((t) => t.id);
  assert.deepEqual(active, def);
  assert.deepEqual(all, def);
  assert.deepEqual(legacy, def);
  const expired = await listTokens(srv, srv.token, '?filter=expired');
  assert.deepEqual(expired.tokens, []);
});

test('filter with a bad value → 400', async () => {
  for (const q of ['?filter=bogus', '?filter=ACTIVEX', '?filter=expired,active']) {
    assert400(await api(srv, 'GET', `/api/user/tokens${q}`, { token: srv.token }), q);
  }
});

for (const v of ['0', '-1', '1001', 'abc', '12abc']) {
  test(`maxResults=${JSON.stringify(v)} → 400`, async () => {
    const res = await api(srv, 'GET', `/api/user/tokens?maxResults=${v}`, { token: srv.token });
    assert400(res);
  });
}

test('maxResults=1000 and maxResults=1 are accepted', async () => {
  const big = await listTokens(srv, srv.token, '?maxResults=1000');
  assert.ok(big.tokens.length >= 2);
  assert.ok(!Object.hasOwn(big, 'continuationToken'));
  const one = await listTokens(srv, srv.token, '?maxResults=1');
  assert.equal(one.tokens.length, 1);
  assert.equal(typeof one.continuationToken, 'string', 'more tokens remain: continuationToken expected');
  assert.ok(one.continuationToken.length > 0);
});

test('paging: 8 tokens with maxResults=3, each exactly once, newest first', async () => {
  const initial = await listTokens(srv, pagerToken, '?filter=all');
  assert.equal(initial.tokens.length, 1, 'pager starts with exactly its admin-created token');
  const createdIds = [initial.tokens[0].id];
  for (let i = 0; i < 7; i++) {
    const t = await createToken(srv, pagerToken, { description: `page-${i}` });
    createdIds.push(t.id);
  }
  const expectedOrder = [...createdIds].reverse(); // newest first

  const pages = [];
  let page = await listTokens(srv, pagerToken, '?maxResults=3');
  pages.push(page);
  for (let i = 0; i < 10 && page.continuationToken !== undefined; i++) {
    assert.equal(typeof page.continuationToken, 'string');
    page = await listTokens(srv, pagerToken, `?maxResults=3&continuationToken=${encodeURIComponent(page.continuationToken)}`);
    pages.push(page);
  }
  assert.ok(!Object.hasOwn(pages.at(-1), 'continuationToken'), 'last page has no continuationToken key');
  for (const p of pages) assert.ok(p.tokens.length <= 3, 'page size ≤ maxResults');
  assert.equal(pages[0].tokens.length, 3);
  assert.equal(pages[1].tokens.length, 3);
  assert.equal(pages[2].tokens.length, 2);
  assert.equal(pages.length, 3, 'exactly three pages');
  const seen = pages.flatMap((p) => p.tokens.map((t) => t.id));
  assert.equal(new Set(seen).size, seen.length, 'no id appears twice');
  assert.deepEqual(seen, expectedOrder, 'all ids exactly once, newest first');
  // The same order without paging.
  const whole = (await listTokens(srv, pagerToken, '?maxResults=1000')).tokens.map((t) => t.id);
  assert.deepEqual(whole, expectedOrder);
  // Descriptions match the ids they were created with.
  const byId = Object.fromEntries(pages.flatMap((p) => p.tokens).map((t) => [t.id, t.description]));
  assert.equal(byId[createdIds[0]], 'pager-initial');
  for (let i = 0; i < 7; i++) assert.equal(byId[createdIds[i + 1]], `page-${i}`);
});

test('paging follows continuation tokens with filter=all too', async () => {
  const all = await listAll(srv, pagerToken, '?filter=all&maxResults=2');
  const ids = all.map((t) => t.id);
  assert.equal(ids.length, 8);
  assert.equal(new Set(ids).size, 8);
});

test('a tampered continuationToken → 400', async () => {
  const first = await listTokens(srv, pagerToken, '?maxResults=3');
  const ct = first.continuationToken;
  assert.equal(typeof ct, 'string');
  const mid = Math.floor(ct.length / 2);
  const swap = (c) => (c === 'A' ? 'B' : c === '0' ? '1' : /[a-z]/.test(c) ? (c === 'z' ? 'y' : 'z') : 'A');
  const variants = {
    'one character changed': ct.slice(0, mid) + swap(ct[mid]) + ct.slice(mid + 1),
    'first character changed': swap(ct[0]) + ct.slice(1),
    truncated: ct.slice(0, -2),
    'characters appended': ct + 'AAAA',
    garbage: '!!!not-a-token!!!',
    empty: '',
  };
  for (const [name, v] of Object.entries(variants)) {
    if (v === ct) continue;
    const res = await api(srv, 'GET', `/api/user/tokens?maxResults=3&continuationToken=${encodeURIComponent(v)}`, {
      token: pagerToken,
    });
    assert400(res, `continuationToken ${name} (${JSON.stringify(v)})`);
  }
});

test("a continuationToken is not usable to read another user's list", async () => {
  const first = await listTokens(srv, pagerToken, '?maxResults=3');
  const res = await api(
    srv,
    'GET',
    `/api/user/tokens?maxResults=3&continuationToken=${encodeURIComponent(first.continuationToken)}`,
    { token: srv.token },
  );
  // A continuation token carries a CRC-32 over its position and the owner's id (src/core/paging.c),
  // so another user's is refused. (It could only pass if the two users' ids collided in that
  // checksum at this position: a 1 in 2^32 chance per run.)
  assert400(res);
  assert.equal(res.json.message, 'Bad Request: continuationToken is not one this listing returned.');
});
