// RFC 7662 introspection and RFC 7009 revocation for Tessera tokens (issue 13): resource servers
// ask about a token with their own; holders revoke theirs with the token alone.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';

import { api, createToken, memberAdd, startServer, tokenCreate, userAdd, sql } from './helpers.mjs';

let srv;
const tok = {};
const ids = {};

before(async () => {
  srv = await startServer({
    setup: (db) => {
      userAdd(db, 'bob');
      userAdd(db, 'carol'); // in no organization
      memberAdd(db, 'acme', 'bob', 'member');
      tok.bob = tokenCreate(db, 'bob');
      tok.carol = tokenCreate(db, 'carol');
    },
  });
  tok.alice = srv.token;
  const ci = await api(srv, 'POST', '/api/orgs/acme/tokens', { token: tok.alice, json: { name: 'ci', description: '', admin: false } });
  assert.equal(ci.status, 200, ci.text);
  tok.ci = ci.json.tokenValue;
  ids.ci = ci.json.id;
});

after(async () => {
  await srv?.stop();
});

/** A form POST (OAuth's encoding), as the caller with `as` (or without Authorization). */
async function form(path, fields, as) {
  const headers = { 'Content-Type': 'application/x-www-form-urlencoded' };
  if (as) headers.Authorization = `Bearer ${as}`;
  const body = typeof fields === 'string' ? fields : new URLSearchParams(fields).toString();
  const res = await fetch(`${srv.url}${path}`, { method: 'POST', headers, body, signal: AbortSignal.timeout(10000) });
  const text = await res.text();
  return { status: res.status, text, json: text ? JSON.parse(text) : undefined };
}

const introspect = (token, as) => form('/api/oauth/introspect', token === undefined ? {} : { token }, as);

test('introspection: a member learns about tokens acting in their organization', async () => {
  const mine = await createToken(srv, tok.bob, { description: 'dashboard', expires: Math.floor(Date.now() / 1000) + 3600 });
  const res = await introspect(mine.tokenValue, tok.alice);
  assert.equal(res.status, 200, res.text);
  assert.equal(res.json.active, true);
  assert.equal(res.json.username, 'bob');
  assert.equal(res.json.org, 'acme');
  assert.equal(res.json.token_type, 'personal');
  assert.equal(res.json.client_id, mine.id);
  assert.match(res.json.sub, /^[0-9a-f-]{36}$/);
  assert.ok(res.json.iat > 1700000000 && res.json.exp > res.json.iat);
  const org = await introspect(tok.ci, tok.bob);
  assert.equal(org.json.active, true);
  assert.equal(org.json.username, 'acme');
  assert.equal(org.json.token_type, 'organization');
  assert.equal(org.json.client_id, ids.ci);
  assert.equal(org.json.exp, undefined, 'a token that never expires has no exp');
});

test('introspection: anything else is {"active": false}, whatever it is', async () => {
  const answers = [
    await introspect(tok.bob, tok.carol), // a real token of an organization carol is not in
    await introspect(`pul-${'0'.repeat(40)}`, tok.alice), // well-formed, never issued
    await introspect('nonsense', tok.alice),
    await introspect('', tok.alice),
    await introspect(undefined, tok.alice),
  ];
  for (const res of answers) {
    assert.equal(res.status, 200, res.text);
    assert.equal(res.text, '{"active":false}', 'the same bytes: nothing tells them apart');
  }
  assert.equal((await introspect(tok.carol, tok.carol)).json.active, true, 'one\'s own token');
});

test('introspection needs a caller token, and a form that repeats nothing', async () => {
  assert.equal((await introspect(tok.bob)).status, 401);
  const twice = await form('/api/oauth/introspect', `token=${tok.bob}&token=${tok.bob}`, tok.alice);
  assert.equal(twice.status, 400);
  assert.equal(twice.json.error, 'invalid_request');
});

test('revocation: the holder revokes with the token alone; the answer is 200 whatever it was', async () => {
  const t = await createToken(srv, tok.bob, { description: 'leaked' });
  assert.equal((await api(srv, 'GET', '/api/user', { token: t.tokenValue })).status, 200);
  const res = await form('/api/oauth/revoke', { token: t.tokenValue, token_type_hint: 'access_token' });
  assert.equal(res.status, 200);
  assert.equal(res.text, '');
  assert.equal((await api(srv, 'GET', '/api/user', { token: t.tokenValue })).status, 401);
  assert.equal((await introspect(t.tokenValue, tok.alice)).json.active, false);
  for (const value of [t.tokenValue, `pul-${'0'.repeat(40)}`, 'nonsense', '']) {
    assert.equal((await form('/api/oauth/revoke', { token: value })).status, 200, value);
  }
  assert.equal((await form('/api/oauth/revoke', `token=a&token=b`)).status, 400);
});

test('revocation of an organization token is audited as its holder\'s deletion', async () => {
  const res = await form('/api/oauth/revoke', { token: tok.ci });
  assert.equal(res.status, 200);
  assert.equal((await api(srv, 'GET', '/api/user', { token: tok.ci })).status, 401);
  const rows = sql(srv, "SELECT event, user_login, description FROM audit WHERE event = 'organization-token-deleted'");
  assert.equal(rows.length, 1);
  assert.equal(rows[0].user_login, 'acme/ci');
  assert.match(rows[0].description, /revoked by its holder \(RFC 7009\): ci/);
});
