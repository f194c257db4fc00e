// Authentication: header forms, checksums, unknown/deleted tokens; every failure is the same 401.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  UNAUTHORIZED_MESSAGE,
  api,
  assert401,
  corruptChecksum,
  createToken,
  crc32Hex,
  makeUnknownToken,
  startServer,
} from './helpers.mjs';

let srv;
before(async () => {
  srv = await startServer();
});
after(async () => {
  await srv?.stop();
});

test('no Authorization header → 401 with the exact message', async () => {
  const res = await api(srv, 'GET', '/api/user');
  assert.equal(res.status, 401);
  assert.deepEqual(res.json, { code: 401, message: UNAUTHORIZED_MESSAGE });
});

test('every authenticated endpoint requires credentials', async () => {
  const calls = [
    ['GET', '/api/user'],
    ['GET', '/api/user/organizations/default'],
    ['GET', '/api/user/tokens'],
    ['POST', '/api/user/tokens', {}],
    ['DELETE', '/api/user/tokens/00000000-0000-4000-8000-000000000000'],
  ];
  for (const [method, path, json] of calls) {
    const res = await api(srv, method, path, { json });
    assert401(res, `${method} ${path}`);
  }
});

test('the valid token works with "token" and "Bearer" schemes', async () => {
  const a = await api(srv, 'GET', '/api/user', { auth: `token ${srv.token}` });
  assert.equal(a.status, 200, a.text);
  const b = await api(srv, 'GET', '/api/user', { auth: `Bearer ${srv.token}` });
  assert.equal(b.status, 200, b.text);
});

const malformed = () => [
  ['scheme only "token"', 'token'],
  ['scheme only "Bearer"', 'Bearer'],
  ['value without scheme', srv.token],
  ['Basic scheme', `Basic ${Buffer.from(`alice:${srv.token}`).toString('base64')}`],
  ['unknown scheme', `Token2 ${srv.token}`],
  ['scheme glued to value', `token${srv.token}`],
  ['extra trailing field', `token ${srv.token} extra`],
  ['value is not pul-', 'token abcdef'],
  ['truncated value', `token ${srv.token.slice(0, -1)}`],
  ['value with extra hex', `token ${srv.token}0`],
  ['uppercase hex value', `token pul-${srv.token.slice(4).toUpperCase()}`],
  ['wrong prefix', `token pux-${srv.token.slice(4)}`],
  ['non-hex characters', `token pul-${'z'.repeat(40)}`],
];

test('malformed Authorization header forms → 401', async (t) => {
  for (const [name, value] of malformed()) {
    await t.test(name, async () => {
      const res = await api(srv, 'GET', '/api/user', { auth: value });
      assert401(res, name);
    });
  }
});

test('a token with a wrong checksum → 401', async () => {
  const bad = corruptChecksum(srv.token);
  assert.notEqual(bad, srv.token);
  const res = await api(srv, 'GET', '/api/user', { token: bad });
  assert401(res);
  // ...and the correct token still works afterwards.
  const ok = await api(srv, 'GET', '/api/user', { token: srv.token });
  assert.equal(ok.status, 200);
});

test('a token whose random part was altered but checksum recomputed is unknown → 401', async () => {
  const head = srv.token.slice(0, 35) + (srv.token[35] === 'a' ? 'b' : 'a');
  const forged = head + crc32Hex(head);
  const res = await api(srv, 'GET', '/api/user', { token: forged });
  assert401(res);
});

test('a well-formed but unknown token → 401', async () => {
  const res = await api(srv, 'GET', '/api/user', { token: makeUnknownToken() });
  assert401(res);
  const res2 = await api(srv, 'GET', '/api/user', { auth: `Bearer ${makeUnknownToken()}` });
  assert401(res2);
});

test('a deleted token → 401 on the very next request', async () => {
  const t = await createToken(srv, srv.token, { description: 'to delete' });
  const ok = await api(srv, 'GET', '/api/user', { token: t.tokenValue });
  assert.equal(ok.status, 200);
  const del = await api(srv, 'DELETE', `/api/user/tokens/${t.id}`, { token: srv.token });
  assert.equal(del.status, 204);
  assert401(await api(srv, 'GET', '/api/user', { token: t.tokenValue }));
  assert401(await api(srv, 'GET', '/api/user/tokens', { token: t.tokenValue }));
});
