// POST /api/user/tokens (creation and its 400 cases) and DELETE /api/user/tokens/{id}.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  RFC3339_Z_RE,
  UUID_V4_RE,
  api,
  assert400,
  assert401,
  assertTokenValue,
  createToken,
  listAll,
  nowSeconds,
  startServer,
  tokenCreate,
  userAdd,
} from './helpers.mjs';

let srv;
let bobToken;
before(async () => {
  srv = await startServer({
    setup(db) {
      userAdd(db, 'bob');
      bobToken = tokenCreate(db, 'bob');
    },
  });
});
after(async () => {
  await srv?.stop();
});

async function findToken(id, token = srv.token) {
  const all = await listAll(srv, token, '?filter=all&maxResults=1000');
  return all.find((t) => t.id === id);
}

const isoSeconds = (epoch) => new Date(epoch * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');

// ----------------------------------------------------------------------------- creation

test('create with an empty object body', async () => {
  const before = nowSeconds();
  const res = await api(srv, 'POST', '/api/user/tokens', { token: srv.token, json: {} });
  assert.equal(res.status, 200, res.text);
  assert.deepEqual(Object.keys(res.json).sort(), ['id', 'tokenValue']);
  assert.match(res.json.id, UUID_V4_RE);
  assertTokenValue(res.json.tokenValue);
  const t = await findToken(res.json.id);
  assert.ok(t, 'new token is listed');
  assert.equal(t.name, '');
  assert.equal(t.description, '');
  assert.equal(t.expires, 0, 'absent expires = never');
  assert.equal(t.lastUsed, 0);
  assert.equal(t.admin, false);
  assert.equal(t.createdBy, 'alice');
  assert.equal(t.type, 'personal');
  assert.match(t.created, RFC3339_Z_RE);
  const created = Date.parse(t.created) / 1000;
  assert.ok(created >= before - 2 && created <= nowSeconds() + 2, `created ${t.created} is not now`);
});

test('the token value is pul- + 32 hex + crc32 of the first 36 chars, and it authenticates', async () => {
  const { tokenValue } = await createToken(srv, srv.token, {});
  assert.match(tokenValue, /^pul-[a-f0-9]{40}$/);
  assertTokenValue(tokenValue);
  const res = await api(srv, 'GET', '/api/user', { token: tokenValue });
  assert.equal(res.status, 200, res.text);
  assert.equal(res.json.githubLogin, 'alice');
});

test('create with a description', async () => {
  const { id, tokenValue } = await createToken(srv, srv.token, { description: 'ci token ✓' });
  const t = await findToken(id);
  assert.equal(t.description, 'ci token ✓');
  assert.equal((await api(srv, 'GET', '/api/user', { token: tokenValue })).status, 200);
});

test('create with expires as epoch seconds', async () => {
  const exp = nowSeconds() + 86400 * 30;
  const { id, tokenValue } = await createToken(srv, srv.token, { description: 'epoch', expires: exp });
  const t = await findToken(id);
  assert.equal(t.expires, exp);
  assert.equal((await api(srv, 'GET', '/api/user', { token: tokenValue })).status, 200);
});

test('create with expires 0 (never)', async () => {
  const { id } = await createToken(srv, srv.token, { expires: 0 });
  assert.equal((await findToken(id)).expires, 0);
});

test('create with expires as an RFC 3339 string (Z)', async () => {
  const exp = nowSeconds() + 86400 * 10;
  const { id, tokenValue } = await createToken(srv, srv.token, { expires: isoSeconds(exp) });
  assert.equal((await findToken(id)).expires, exp);
  assert.equal((await api(srv, 'GET', '/api/user', { token: tokenValue })).status, 200);
});

test('create with expires as an RFC 3339 string with a numeric offset', async () => {
  const exp = nowSeconds() + 86400 * 10;
  // Same instant written in +02:00.
  const local = isoSeconds(exp + 7200).replace('Z', '+02:00');
  const { id } = await createToken(srv, srv.token, { expires: local });
  assert.equal((await findToken(id)).expires, exp, `expires for ${local}`);
});

test('create with expires as an RFC 3339 string with fractional seconds', async () => {
  const exp = nowSeconds() + 86400 * 10;
  const frac = isoSeconds(exp).replace('Z', '.250Z');
  const { id } = await createToken(srv, srv.token, { expires: frac });
  const got = (await findToken(id)).expires;
  assert.ok(got === exp || got === exp + 1, `expires for ${frac}: ${got}, want ${exp}`);
});

test('create with expires ~700 days ahead (within 2 years) is accepted', async () => {
  const exp = nowSeconds() + 86400 * 700;
  const { id } = await createToken(srv, srv.token, { expires: exp });
  assert.equal((await findToken(id)).expires, exp);
});

test('create with ?reason= keeps the reason with the token (256 bytes ok; none → no key)', async () => {
  const a = await createToken(srv, srv.token, {}, '?reason=cli-login');
  assert.equal((await findToken(a.id)).reason, 'cli-login');
  const b = await createToken(srv, srv.token, {}, `?reason=${encodeURIComponent('é'.repeat(128))}`);
  assert.equal((await findToken(b.id)).reason, 'é'.repeat(128));
  const c = await createToken(srv, srv.token, {});
  assert.equal('reason' in (await findToken(c.id)), false);
});

test('description of exactly 1024 bytes is accepted (ASCII and multi-byte)', async () => {
  const a = await createToken(srv, srv.token, { description: 'd'.repeat(1024) });
  assert.equal((await findToken(a.id)).description, 'd'.repeat(1024));
  const b = await createToken(srv, srv.token, { description: 'é'.repeat(512) });
  assert.equal((await findToken(b.id)).description, 'é'.repeat(512));
});

test('tokens created by the API are distinct', async () => {
  const a = await createToken(srv, srv.token, {});
  const b = await createToken(srv, srv.token, {});
  assert.notEqual(a.id, b.id);
  assert.notEqual(a.tokenValue, b.tokenValue);
});

// ----------------------------------------------------------------------------- 400 cases

const post = (body) =>
  api(srv, 'POST', '/api/user/tokens', { token: srv.token, body: typeof body === 'string' ? body : JSON.stringify(body) });

const badBodies = () => {
  const now = nowSeconds();
  return [
    ['malformed JSON (unterminated)', '{"description": "x"'],
    ['malformed JSON (trailing garbage)', '{"description": "x"} x'],
    ['malformed JSON (single quotes)', "{'description': 'x'}"],
    ['non-object body: array', '[]'],
    ['non-object body: string', '"x"'],
    ['non-object body: number', '42'],
    ['non-object body: null', 'null'],
    ['duplicate keys', '{"description":"a","description":"b"}'],
    ['duplicate expires keys', `{"expires":${now + 3600},"expires":${now + 7200}}`],
    ['unknown field', { foo: 1 }],
    ['unknown field next to known ones', { description: 'x', expires: 0, admin: true }],
    ['wrong type: description number', { description: 5 }],
    ['wrong type: description array', { description: ['x'] }],
    ['wrong type: expires boolean', { expires: true }],
    ['wrong type: expires object', { expires: {} }],
    ['description too long: 1025 ASCII bytes', { description: 'd'.repeat(1025) }],
    ['description too long: 513 two-byte chars (1026 bytes)', { description: 'é'.repeat(513) }],
    ['expires in the past (epoch)', { expires: now - 3600 }],
    ['expires in the past (negative epoch)', { expires: -5 }],
    ['expires in the past (RFC 3339)', { expires: '2001-02-03T04:05:06Z' }],
    ['expires more than 2 years ahead (epoch)', { expires: now + 3 * 365 * 86400 }],
    ['expires more than 2 years ahead (RFC 3339)', { expires: isoSeconds(now + 3 * 365 * 86400) }],
    ['unparseable RFC 3339: words', { expires: 'tomorrow' }],
    ['unparseable RFC 3339: month 13', { expires: '2030-13-01T00:00:00Z' }],
    ['unparseable RFC 3339: date only', { expires: '2030-01-01' }],
    ['unparseable RFC 3339: no offset', { expires: '2030-01-01T00:00:00' }],
    ['unparseable RFC 3339: empty string', { expires: '' }],
    // No field is nullable in Pulumi's spec: null is not "absent", least of all for expires.
    ['expires null (would be a token that never expires)', { expires: null }],
    ['description null', { description: null }],
    ['expires: Unix seconds as a string', { expires: String(now + 3600) }],
    ['expires: "0" as a string', { expires: '0' }],
    ['expires: a float', { expires: now + 3600.5 }],
    ['expires: a whole float (1767225600.0)', `{"expires":${now + 3600}.0}`],
    ['expires: an exponent', '{"expires":1.9e9}'],
    ['description with ESC', { description: '\x1b[31mred' }],
    ['description with a newline', { description: 'two\nlines' }],
    ['description with a tab', { description: 'a\tb' }],
    ['description with BEL', { description: 'ding\x07' }],
    ['description with DEL', { description: 'x\x7f' }],
    ['description with a C1 control (CSI)', { description: 'x\u009b31m' }],
    ['a raw NUL byte between tokens', `{"expires":${now + 3600}\0}`],
  ];
};

for (const [name] of badBodies()) {
  test(`create → 400: ${name}`, async () => {
    const body = badBodies().find(([n]) => n === name)[1];
    const before = (await listAll(srv, srv.token, '?filter=all&maxResults=1000')).length;
    const res = await post(body);
    assert400(res, name);
    const afterCount = (await listAll(srv, srv.token, '?filter=all&maxResults=1000')).length;
    assert.equal(afterCount, before, 'a rejected request must not create a token');
  });
}

test('a refused field is named, with what is wrong with it', async () => {
  const now = nowSeconds();
  for (const [body, message] of [
    [{ expires: null }, 'expires must be Unix seconds (an integer) or an RFC 3339 string; null is not allowed.'],
    [{ expires: 1.5 }, 'expires must be Unix seconds (an integer) or an RFC 3339 string, not a floating-point number.'],
    [{ expires: String(now + 3600) }, 'expires must be Unix seconds (an integer) or an RFC 3339 string; this string is not an RFC 3339 date-time such as 2026-12-01T00:00:00Z.'],
    [{ description: null }, 'description must be text (a string); null is not allowed.'],
    [{ description: ['x'] }, 'description must be text (a string), not an array.'],
    [{ description: 'd'.repeat(1025) }, 'description must be at most 1024 bytes long; it is 1025.'],
    [{ description: 'ok\x1b[31m' }, 'description must not contain control characters (newlines, tabs, escapes); it has U+001B at byte 2.'],
  ]) {
    const res = await post(body);
    assert400(res, JSON.stringify(body));
    assert.equal(res.json.message, `Bad Request: ${message}`);
  }
  // Absent or 0 still mean never; an RFC 3339 string still works.
  for (const body of [{}, { expires: 0 }, { description: 'x' }, { expires: isoSeconds(now + 3600) }]) await createToken(srv, srv.token, body);
});

test('create → 400: reason longer than 256 bytes, or with control characters', async () => {
  for (const reason of ['r'.repeat(257), 'a%0Ab', 'a%7Fb', '%C3%28']) {
    const res = await api(srv, 'POST', `/api/user/tokens?reason=${reason}`, { token: srv.token, json: {} });
    assert400(res, reason);
    assert.match(res.json.message, /reason must be at most 256 bytes of text/);
  }
  // An encoded NUL would be read as the end of the value ("ab"): no query may hold one.
  const nul = await api(srv, 'POST', '/api/user/tokens?reason=ab%00cd', { token: srv.token, json: {} });
  assert400(nul);
  assert.equal(nul.json.message, 'Bad Request: the query may not contain an encoded NUL (%00).');
});

// ----------------------------------------------------------------------------- deletion

test('DELETE → 204, the token gets 401 next, deleting again → 404', async () => {
  const t = await createToken(srv, srv.token, { description: 'short-lived' });
  assert.equal((await api(srv, 'GET', '/api/user', { token: t.tokenValue })).status, 200);
  const del = await api(srv, 'DELETE', `/api/user/tokens/${t.id}`, { token: srv.token });
  assert.equal(del.status, 204, del.text);
  assert.equal(del.text, '');
  assert401(await api(srv, 'GET', '/api/user', { token: t.tokenValue }));
  const again = await api(srv, 'DELETE', `/api/user/tokens/${t.id}`, { token: srv.token });
  assert.equal(again.status, 404, again.text);
  assert.equal(await findToken(t.id), undefined, 'deleted token is no longer listed');
});

test('DELETE of an unknown id → 404 JSON', async () => {
  const res = await api(srv, 'DELETE', '/api/user/tokens/3f1b2c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d', { token: srv.token });
  assert.equal(res.status, 404, res.text);
  const res2 = await api(srv, 'DELETE', '/api/user/tokens/not-a-uuid', { token: srv.token });
  assert.equal(res2.status, 404, res2.text);
});

test('a token can delete itself; it is 401 afterwards', async () => {
  const t = await createToken(srv, srv.token, {});
  const del = await api(srv, 'DELETE', `/api/user/tokens/${t.id}`, { token: t.tokenValue });
  assert.equal(del.status, 204, del.text);
  assert401(await api(srv, 'GET', '/api/user', { token: t.tokenValue }));
});

test("bob cannot list or delete alice's tokens", async () => {
  const a = await createToken(srv, srv.token, { description: 'alice-private' });
  const me = await api(srv, 'GET', '/api/user', { token: bobToken });
  assert.equal(me.status, 200, me.text);
  assert.equal(me.json.githubLogin, 'bob');

  const bobs = await listAll(srv, bobToken, '?filter=all&maxResults=1000');
  assert.ok(bobs.length >= 1, 'bob sees his own token');
  for (const t of bobs) assert.equal(t.createdBy, 'bob');
  assert.ok(!bobs.some((t) => t.id === a.id), "alice's token must not be in bob's list");

  const del = await api(srv, 'DELETE', `/api/user/tokens/${a.id}`, { token: bobToken });
  assert.equal(del.status, 404, del.text);
  const ok = await api(srv, 'GET', '/api/user', { token: a.tokenValue });
  assert.equal(ok.status, 200, "alice's token still works");
  assert.ok(await findToken(a.id), "alice's token is still listed");
});

test("alice cannot delete bob's token", async () => {
  const [bobs] = await listAll(srv, bobToken, '?maxResults=1000');
  const del = await api(srv, 'DELETE', `/api/user/tokens/${bobs.id}`, { token: srv.token });
  assert.equal(del.status, 404, del.text);
  assert.equal((await api(srv, 'GET', '/api/user', { token: bobToken })).status, 200);
});
