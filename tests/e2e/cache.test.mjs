// The in-memory auth cache (store/cache.c) and the rendered-/api/user cache (api/view_cache.c) must
// never show stale data: writes through the API take effect on the very next request, and writes
// by another process (tessera admin, while the server runs) within about a second.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { api, assert401, createToken, memberAdd, orgAdd, poll, startServer, tokenCreate, userAdd } from './helpers.mjs';

let srv;

before(async () => {
  srv = await startServer();
});

after(async () => {
  await srv?.stop();
});

async function warm(token, times = 20) {
  for (let i = 0; i < times; i++) assert.equal((await api(srv, 'GET', '/api/user', { token })).status, 200);
}

test('a deleted token is refused on the very next request even when its lookup is cached', async () => {
  for (let round = 0; round < 5; round++) {
    const { id, tokenValue } = await createToken(srv, srv.token, { description: `cached ${round}` });
    await warm(tokenValue);
    assert.equal((await api(srv, 'DELETE', `/api/user/tokens/${id}`, { token: srv.token })).status, 204);
    assert401(await api(srv, 'GET', '/api/user', { token: tokenValue }), 'deleted token, first request after');
  }
});

test('a token deleted with itself is refused right after', async () => {
  const { id, tokenValue } = await createToken(srv, srv.token, { description: 'self-delete' });
  await warm(tokenValue, 5);
  assert.equal((await api(srv, 'DELETE', `/api/user/tokens/${id}`, { token: tokenValue })).status, 204);
  assert401(await api(srv, 'GET', '/api/user', { token: tokenValue }));
});

test('memberships added by tessera admin while the server runs show up in /api/user', async () => {
  userAdd(srv.dbPath, 'erin');
  const erin = tokenCreate(srv.dbPath, 'erin');
  await warm(erin);
  const before = await api(srv, 'GET', '/api/user', { token: erin });
  assert.deepEqual(before.json.organizations, []);
  assert.equal((await api(srv, 'GET', '/api/user/organizations/default', { token: erin })).status, 400);

  orgAdd(srv.dbPath, 'omega');
  memberAdd(srv.dbPath, 'omega', 'erin', 'member');
  const seen = await poll(
    async () => {
      const res = await api(srv, 'GET', '/api/user', { token: erin });
      return res.json.organizations.length === 1 ? res.json : null;
    },
    { timeoutMs: 3000, intervalMs: 50 },
  );
  assert.deepEqual(seen.organizations, [{ name: 'omega', githubLogin: 'omega', avatarUrl: '', role: 'member' }]);
  const def = await api(srv, 'GET', '/api/user/organizations/default', { token: erin });
  assert.equal(def.status, 200);
  assert.equal(def.json.GitHubLogin, 'omega');

  memberAdd(srv.dbPath, 'omega', 'erin', 'admin');
  const promoted = await poll(
    async () => {
      const res = await api(srv, 'GET', '/api/user', { token: erin });
      return res.json.organizations[0]?.role === 'admin' ? res.json : null;
    },
    { timeoutMs: 3000, intervalMs: 50 },
  );
  assert.equal(promoted.organizations[0].role, 'admin');
});

test('two users never see each other in /api/user, however warm the cache', async () => {
  userAdd(srv.dbPath, 'frank', '--name', 'Frank F');
  const frank = tokenCreate(srv.dbPath, 'frank');
  for (let i = 0; i < 10; i++) {
    const [a, f] = await Promise.all([
      api(srv, 'GET', '/api/user', { token: srv.token }),
      api(srv, 'GET', '/api/user', { token: frank }),
    ]);
    assert.equal(a.json.githubLogin, 'alice');
    assert.equal(f.json.githubLogin, 'frank');
    assert.equal(f.json.name, 'Frank F');
    assert.deepEqual(f.json.organizations, []);
  }
});
