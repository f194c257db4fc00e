// GET /auth/check: forward auth for reverse proxies (issue 13). 204 with the token's identity in
// X-Tessera-* headers, 401 (with WWW-Authenticate) for no or a bad token, 403 for a requirement
// the token does not meet, 400 for a requirement the proxy's configuration got wrong.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';

import { api, createToken, memberAdd, startServer, tokenCreate, userAdd, UNAUTHORIZED_MESSAGE } from './helpers.mjs';

let srv;
const tok = {};
const ids = {};

before(async () => {
  srv = await startServer({
    setup: (db) => {
      userAdd(db, 'bob');
      userAdd(db, 'carol');
      memberAdd(db, 'acme', 'bob', 'member');
      tok.bob = tokenCreate(db, 'bob');
      tok.carol = tokenCreate(db, 'carol'); // in no organization
    },
  });
  tok.alice = srv.token; // site admin, admin of acme
  const team = await api(srv, 'POST', '/api/orgs/acme/teams/pulumi', { token: tok.alice, json: { name: 'ops', displayName: 'Ops', description: '' } });
  assert.equal(team.status, 201, team.text);
  const add = await api(srv, 'PATCH', '/api/orgs/acme/teams/ops', { token: tok.alice, json: { memberAction: 'add', member: 'bob' } });
  assert.equal(add.status, 204, add.text);
  for (const [name, admin] of [['ci-admin', true], ['ci', false]]) {
    const res = await api(srv, 'POST', '/api/orgs/acme/tokens', { token: tok.alice, json: { name, description: '', admin } });
    assert.equal(res.status, 200, res.text);
    tok[name] = res.json.tokenValue;
    ids[name] = res.json.id;
  }
  const teamToken = await api(srv, 'POST', '/api/orgs/acme/teams/ops/tokens', { token: tok.alice, json: { name: 'pager', description: '' } });
  assert.equal(teamToken.status, 200, teamToken.text);
  tok.pager = teamToken.json.tokenValue;
  ids.pager = teamToken.json.id;
});

after(async () => {
  await srv?.stop();
});

/** GET /auth/check?query as a proxy would send it; the raw response (204 has no JSON). */
async function check(token, query = '') {
  const headers = { 'X-Forwarded-Method': 'GET', 'X-Forwarded-Uri': '/deploy', 'X-Forwarded-Host': 'svc.internal' };
  if (token !== undefined) headers.Authorization = `token ${token}`;
  const res = await fetch(`${srv.url}/auth/check${query}`, { headers, signal: AbortSignal.timeout(10000) });
  return { status: res.status, headers: res.headers, text: await res.text() };
}

const identity = (res) => Object.fromEntries([...res.headers].filter(([k]) => k.startsWith('x-tessera-')).sort());

test('a valid token with no requirements passes, saying who it is', async () => {
  const res = await check(tok.alice);
  assert.equal(res.status, 204, res.text);
  assert.equal(res.text, '');
  const who = identity(res);
  assert.equal(who['x-tessera-login'], 'alice');
  assert.equal(who['x-tessera-token-kind'], 'personal');
  assert.match(who['x-tessera-token-id'], /^[0-9a-f-]{36}$/);
  assert.equal(who['x-tessera-token-expires'], '0');
  assert.equal(who['x-tessera-org'], undefined); // a person's own token acts in no one org
});

test('no token, a malformed one, an unknown one: 401 with WWW-Authenticate and the usual body', async () => {
  for (const value of [undefined, 'nonsense', `pul-${'0'.repeat(40)}`]) {
    const res = await check(value, '?org=acme');
    assert.equal(res.status, 401, `${value}: ${res.text}`);
    assert.equal(res.headers.get('www-authenticate'), 'token realm="tessera"');
    assert.deepEqual(JSON.parse(res.text), { code: 401, message: UNAUTHORIZED_MESSAGE });
    assert.deepEqual(Object.keys(identity(res)), [], 'no identity for a refused token');
  }
});

test('org: members and the organization\'s own tokens pass; others are 403', async () => {
  for (const [who, login] of [['alice', 'alice'], ['bob', 'bob'], ['ci', 'acme'], ['ci-admin', 'acme'], ['pager', 'acme']]) {
    const res = await check(tok[who], '?org=acme');
    assert.equal(res.status, 204, `${who}: ${res.text}`);
    assert.equal(res.headers.get('x-tessera-org'), 'acme');
    assert.equal(res.headers.get('x-tessera-login'), login);
  }
  const carol = await check(tok.carol, '?org=acme');
  assert.equal(carol.status, 403);
  assert.match(JSON.parse(carol.text).message, /this route is for organization acme/);
  assert.equal((await check(tok.ci, '?org=elsewhere')).status, 403, 'an org token of another organization');
  assert.equal((await check(tok.alice, '?org=ACME')).status, 204, 'names compare without regard to case');
});

test('role=admin: admin members and admin org tokens only', async () => {
  assert.equal((await check(tok.alice, '?org=acme&role=admin')).status, 204);
  assert.equal((await check(tok['ci-admin'], '?org=acme&role=admin')).status, 204);
  for (const who of ['bob', 'ci', 'pager']) assert.equal((await check(tok[who], '?org=acme&role=admin')).status, 403, who);
  assert.equal((await check(tok.bob, '?org=acme&role=member')).status, 204);
});

test('team: its members and its own token pass, with X-Tessera-Team', async () => {
  for (const who of ['bob', 'pager']) {
    const res = await check(tok[who], '?org=acme&team=ops');
    assert.equal(res.status, 204, `${who}: ${res.text}`);
    assert.equal(res.headers.get('x-tessera-team'), 'ops');
  }
  for (const who of ['alice', 'ci-admin']) assert.equal((await check(tok[who], '?org=acme&team=ops')).status, 403, `${who} is not in the team`);
  assert.equal((await check(tok.bob, '?org=acme&team=nosuch')).status, 403);
  assert.equal((await check(tok.pager)).headers.get('x-tessera-team'), 'ops', 'a team token names its team anyway');
});

test('kind: only that kind of token', async () => {
  assert.equal((await check(tok.alice, '?kind=personal')).status, 204);
  assert.equal((await check(tok.ci, '?kind=organization')).status, 204);
  assert.equal((await check(tok.pager, '?kind=team')).status, 204);
  assert.equal((await check(tok.alice, '?kind=organization')).status, 403);
  assert.equal((await check(tok.ci, '?kind=personal')).status, 403);
});

test('a requirement the configuration got wrong is a 400, never a pass', async () => {
  for (const query of ['?orgs=acme', '?org=acme&org=acme', '?Org=acme', '?role=admin', '?team=ops', '?org=acme&role=owner', '?kind=robot', '?kind=Personal', '?org=a%2Fb']) {
    const res = await check(tok.alice, query);
    assert.equal(res.status, 400, `${query}: ${res.text}`);
    assert.equal(JSON.parse(res.text).code, 400);
  }
});

test('a token revoked (or a member removed) is refused on the very next check', async () => {
  const t = await createToken(srv, tok.bob, { description: 'for the proxy' });
  assert.equal((await check(t.tokenValue, '?org=acme')).status, 204);
  assert.equal((await api(srv, 'DELETE', `/api/user/tokens/${t.id}`, { token: tok.bob })).status, 204);
  assert.equal((await check(t.tokenValue, '?org=acme')).status, 401);
  const u = await createToken(srv, tok.bob, { description: 'still mine' });
  assert.equal((await check(u.tokenValue, '?org=acme&team=ops')).status, 204);
  assert.equal((await api(srv, 'DELETE', '/api/orgs/acme/members/bob', { token: tok.alice })).status, 204);
  assert.equal((await check(u.tokenValue, '?org=acme')).status, 403);
  assert.equal((await check(u.tokenValue)).status, 204, 'the token itself still works');
});
