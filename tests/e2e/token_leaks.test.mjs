// Leak reports (issue 13): a secret scanner posts the values it found in GitHub's
// secret-scanning partner shape; live Tessera tokens are revoked, each answer says only
// "revoked" or "unknown", and each organization the token could act in hears where it leaked.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';

import {
  api, corruptChecksum, createToken, makeUnknownToken, memberAdd, orgAdd, poll, startServer, tokenCreate, userAdd, sql,
} from './helpers.mjs';

let srv;
const tok = {};
let clientNo = 0;

before(async () => {
  srv = await startServer({
    // Each test reports from its own address, so that none spends another's budget.
    extraArgs: ['--trusted-proxy', '127.0.0.1'],
    setup: (db) => {
      userAdd(db, 'bob');
      userAdd(db, 'carol'); // in no organization
      orgAdd(db, 'beta');
      memberAdd(db, 'acme', 'bob', 'member');
      memberAdd(db, 'beta', 'bob', 'member');
      tok.bob = tokenCreate(db, 'bob');
      tok.carol = tokenCreate(db, 'carol');
    },
  });
  tok.alice = srv.token;
});

after(async () => {
  await srv?.stop();
});

const sha256 = (s) => crypto.createHash('sha256').update(s).digest('hex');

/** POSTs body (a value to send as JSON, or raw text) from a client address of its own. */
async function report(body, { client } = {}) {
  const res = await fetch(`${srv.url}/api/tokens/leaks`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', 'X-Forwarded-For': client ?? `192.0.2.${++clientNo}` },
    body: typeof body === 'string' ? body : JSON.stringify(body),
    signal: AbortSignal.timeout(10000),
  });
  const text = await res.text();
  let json;
  try { json = JSON.parse(text); } catch { json = undefined; }
  return { status: res.status, text, json, headers: res.headers };
}

const leak = (token, url = 'https://github.com/acme/app/blob/abc/config.yml#L3') => ({ token, type: 'tessera_token', url, source: 'content' });

const records = (extra = '') => sql(srv, `SELECT org, user_login, token_id, description FROM audit WHERE event = 'token-leak-reported'${extra} ORDER BY org`);

test('a leaked personal token is revoked, and each of its user\'s organizations hears where', async () => {
  const t = await createToken(srv, tok.bob, { description: 'laptop' });
  assert.equal((await api(srv, 'GET', '/api/user', { token: t.tokenValue })).status, 200);
  const res = await report([leak(t.tokenValue)]);
  assert.equal(res.status, 200, res.text);
  assert.deepEqual(res.json, [{ token_hash: sha256(t.tokenValue), type: 'tessera_token', result: 'revoked' }]);
  assert.equal((await api(srv, 'GET', '/api/user', { token: t.tokenValue })).status, 401);
  const rows = records(` AND token_id = '${t.id}'`);
  assert.deepEqual(rows.map((r) => r.org), ['acme', 'beta']);
  for (const r of rows) {
    assert.equal(r.user_login, 'bob');
    assert.equal(r.description,
      `personal token "${t.id}" reported leaked by content at https://github.com/acme/app/blob/abc/config.yml#L3, and revoked`);
  }
  // The organization's admin sees it through Pulumi's audit-log API.
  const logs = await api(srv, 'GET', '/api/orgs/acme/auditlogs/v2?eventFilter=token-leak-reported', { token: tok.alice });
  assert.equal(logs.status, 200, logs.text);
  assert.ok(logs.json.auditLogEvents.some((e) => e.description.includes('config.yml#L3')), logs.text);
});

test('each value gets its own answer, in order, and none tells whose it was', async () => {
  const ci = await api(srv, 'POST', '/api/orgs/acme/tokens', { token: tok.alice, json: { name: 'ci-leaky', description: '', admin: true } });
  assert.equal(ci.status, 200, ci.text);
  const unknown = makeUnknownToken();
  const values = [ci.json.tokenValue, unknown, corruptChecksum(ci.json.tokenValue), 'nonsense', ci.json.tokenValue];
  const res = await report(values.map((v) => leak(v)));
  assert.equal(res.status, 200, res.text);
  assert.deepEqual(res.json.map((a) => a.result), ['revoked', 'unknown', 'unknown', 'unknown', 'unknown'],
    'the second copy finds the token revoked by the first');
  assert.deepEqual(res.json.map((a) => a.token_hash), values.map(sha256));
  for (const a of res.json) assert.deepEqual(Object.keys(a).sort(), ['result', 'token_hash', 'type']);
  assert.ok(!res.text.includes('acme') && !res.text.includes('ci-leaky'), res.text);
  assert.equal((await api(srv, 'GET', '/api/user', { token: ci.json.tokenValue })).status, 401);
  const rows = records(` AND token_id = '${ci.json.id}'`);
  assert.equal(rows.length, 1);
  assert.equal(rows[0].org, 'acme');
  assert.equal(rows[0].user_login, 'acme/ci-leaky');
});

test('a team token is recorded in its organization; a user in none gets a record that names none', async () => {
  const team = await api(srv, 'POST', '/api/orgs/acme/teams/pulumi', { token: tok.alice, json: { name: 'leakers', displayName: 'L', description: '' } });
  assert.equal(team.status, 201, team.text);
  const tt = await api(srv, 'POST', '/api/orgs/acme/teams/leakers/tokens', { token: tok.alice, json: { name: 'pager-leaky', description: '' } });
  assert.equal(tt.status, 200, tt.text);
  const res = await report([leak(tt.json.tokenValue), leak(tok.carol, '')]);
  assert.deepEqual(res.json.map((a) => a.result), ['revoked', 'revoked']);
  assert.deepEqual(records(` AND token_id = '${tt.json.id}'`).map((r) => r.org), ['acme']);
  const carols = records(" AND user_login = 'carol'");
  assert.equal(carols.length, 1);
  assert.equal(carols[0].org, '');
  assert.match(carols[0].description, /reported leaked by content, and revoked$/);
});

test('an expired token is not live: unknown, and left as it is', async () => {
  const t = await createToken(srv, tok.bob, { description: 'old' });
  sql(srv, `UPDATE tokens SET expires = 1000 WHERE id = '${t.id}'`);
  // A change behind the server's back reaches its cache with the next poll of the feed.
  await poll(async () => (await api(srv, 'GET', '/api/user', { token: t.tokenValue })).status === 401, { timeoutMs: 3000, intervalMs: 20 });
  const res = await report([leak(t.tokenValue)]);
  assert.deepEqual(res.json.map((a) => a.result), ['unknown']);
  assert.equal(sql(srv, `SELECT id FROM tokens WHERE id = '${t.id}'`).length, 1);
  assert.equal(records(` AND token_id = '${t.id}'`).length, 0);
});

test('a token in the reported URL does not reach the audit log', async () => {
  const t = await createToken(srv, tok.bob, { description: 'pasted' });
  const other = makeUnknownToken();
  const res = await report([leak(t.tokenValue, `https://gist.example/raw?t=${t.tokenValue}&u=${other}`)]);
  assert.deepEqual(res.json.map((a) => a.result), ['revoked']);
  const rows = records(` AND token_id = '${t.id}'`);
  assert.equal(rows.length, 2);
  for (const r of rows) {
    assert.ok(!r.description.includes(t.tokenValue.slice(4)) && !r.description.includes(other.slice(4)), r.description);
    assert.match(r.description, /\[redacted\]/);
  }
});

test('no part of a token in the URL survives the description\'s cut', async () => {
  // The description holds 512 bytes: for some padding the cut falls inside the second value.
  const other = makeUnknownToken();
  for (let pad = 396; pad <= 424; pad += 4) {
    const t = await createToken(srv, tok.bob, { description: `cut ${pad}` });
    const url = `https://x/${'z'.repeat(pad)}${other}`;
    assert.deepEqual((await report([leak(t.tokenValue, url)])).json.map((a) => a.result), ['revoked']);
    for (const r of records(` AND token_id = '${t.id}'`)) {
      assert.ok(!r.description.includes(other.slice(0, 12)), `pad ${pad}: ${r.description.slice(-60)}`);
    }
  }
});

test('a report must be an array of 1 to 100 objects with a bounded token, type, url and source', async () => {
  const good = leak(makeUnknownToken());
  const bad = [
    ['not json', 'the request body is not valid JSON'],
    ['', 'the request body is empty'],
    [{ token: good.token }, 'JSON array of 1 to 100'],
    [[], 'JSON array of 1 to 100'],
    [Array.from({ length: 101 }, () => good), 'JSON array of 1 to 100'],
    [['pul-x'], 'must be an object'],
    [[{ type: 'x' }], 'needs "token"'],
    [[{ token: 42 }], 'token'],
    [[{ token: '' }], 'token'],
    [[{ token: 'x'.repeat(513) }], 'token'],
    [[{ ...good, url: `https://x/${'a'.repeat(2048)}` }], 'url'],
    [[{ ...good, url: 'https://x/\u001b[2J' }], 'url'],
    [[{ ...good, type: 't'.repeat(65) }], 'type'],
    [[{ ...good, source: null }], 'source'],
    ['[{"token":"a","token":"b"}]', 'not valid JSON'],
  ];
  for (const [body, message] of bad) {
    const res = await report(body);
    assert.equal(res.status, 400, `${JSON.stringify(body).slice(0, 80)}: ${res.text}`);
    assert.ok(res.json.message.includes(message), `${res.json.message} should say ${message}`);
  }
  const big = await report(`[${JSON.stringify(good)}${' '.repeat(64 * 1024)}]`);
  assert.equal(big.status, 413);
  // GitHub may add fields to its payload: they are ignored, not refused.
  const extra = await report([{ ...good, secret_scanning_alert: 7 }]);
  assert.equal(extra.status, 200, extra.text);
  assert.deepEqual(extra.json.map((a) => a.result), ['unknown']);
});

test('a client may post 60 reports a minute; then 429 with Retry-After, others unaffected', async () => {
  const body = [leak(makeUnknownToken())];
  for (let i = 0; i < 60; i++) assert.equal((await report(body, { client: '198.51.100.7' })).status, 200, `report ${i + 1}`);
  const over = await report(body, { client: '198.51.100.7' });
  assert.equal(over.status, 429, over.text);
  const wait = Number(over.headers.get('retry-after'));
  assert.ok(wait >= 1 && wait <= 60, `Retry-After ${wait}`);
  assert.match(over.json.message, /too many leak reports/);
  assert.equal((await report(body, { client: '198.51.100.8' })).status, 200);
});
