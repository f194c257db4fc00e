// The console's failed-sign-in budgets behind a proxy. With --trusted-proxy, the client is the
// address the proxy forwarded for, so one client's failures never lock out another's; without it,
// X-Forwarded-For is anyone's to forge and is ignored. Per account, failures beyond the free ones
// slow every sign-in to it by a growing delay of at most 30 s, which the owner waits out.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { api, sleep, startServer, tesseraBin, userAdd, memberAdd, passwd } from './helpers.mjs';


let proxied;
let direct;
before(async () => {
  const setup = (db) => {
    for (const login of ['bob', 'carol']) {
      userAdd(db, login);
      memberAdd(db, 'acme', login, 'member');
    }
    for (const login of ['alice', 'bob', 'carol']) assert.equal(passwd(db, login, `${login}s password\n`).status, 0);
  };
  proxied = await startServer({ extraArgs: ['--trusted-proxy', '127.0.0.1', '--trusted-proxy', '10.0.0.0/8'], setup });
  direct = await startServer({ setup });
});
after(async () => {
  await proxied?.stop();
  await direct?.stop();
});

async function signIn(server, login, password, forwardedFor) {
  const res = await fetch(`${server.url}/console/session`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', ...(forwardedFor ? { 'X-Forwarded-For': forwardedFor } : {}) },
    body: JSON.stringify({ login, password }),
  });
  return { status: res.status, retryAfter: res.headers.get('retry-after'), json: await res.json() };
}

test('behind a trusted proxy each forwarded client has its own budget', async () => {
  for (let i = 0; i < 10; i++) assert.equal((await signIn(proxied, 'alice', `wrong ${i}`, '203.0.113.1')).status, 401);
  const blocked = await signIn(proxied, 'alice', 'alices password', '203.0.113.1');
  assert.equal(blocked.status, 429);
  assert.match(blocked.json.message, /^Too Many Requests: too many failed sign-ins from this address; retry in \d+ s\.$/);
  assert.ok(Number(blocked.retryAfter) > 50 && Number(blocked.retryAfter) <= 60, `Retry-After ${blocked.retryAfter}`);
  // another client behind the same proxy (a chain of trusted proxies included) is not locked out
  assert.equal((await signIn(proxied, 'alice', 'alices password', '203.0.113.2')).status, 200);
  assert.equal((await signIn(proxied, 'alice', 'alices password', '203.0.113.3, 10.1.2.3')).status, 200);
  // what a client writes left of the proxy's own entry is not believed
  assert.equal((await signIn(proxied, 'alice', 'alices password', '203.0.113.2, 203.0.113.1')).status, 429);
});

test('without a trusted proxy X-Forwarded-For cannot dodge the budget', async () => {
  for (let i = 0; i < 10; i++) assert.equal((await signIn(direct, 'bob', `wrong ${i}`, `198.51.100.${i}`)).status, 401);
  assert.equal((await signIn(direct, 'bob', 'bobs password', '198.51.100.99')).status, 429);
});

test('an account under attack from many addresses slows down; its owner waits at most a little', async () => {
  // ten free failures from ten clients, then each further one delays the account: 1 s, 2 s, ...
  for (let i = 0; i < 10; i++) assert.equal((await signIn(proxied, 'carol', `guess ${i}`, `192.0.2.${i}`)).status, 401);
  assert.equal((await signIn(proxied, 'carol', 'guess 10', '192.0.2.10')).status, 401);
  const slowed = await signIn(proxied, 'carol', 'carols password', '192.0.2.200');
  assert.equal(slowed.status, 429);
  assert.match(slowed.json.message, /too many failed sign-ins to this account; retry in 1 s\./);
  assert.equal(slowed.retryAfter, '1');
  // an unknown login is slowed just the same: the budget tells nobody which logins exist
  for (let i = 0; i < 11; i++) await signIn(proxied, 'nobody', `guess ${i}`, `192.0.3.${i}`);
  assert.equal((await signIn(proxied, 'nobody', 'x', '192.0.3.200')).status, 429);
  // other accounts are not
  assert.equal((await signIn(proxied, 'bob', 'bobs password', '192.0.2.201')).status, 200);
  await sleep(1100);
  const owner = await signIn(proxied, 'carol', 'carols password', '192.0.2.202');
  assert.equal(owner.status, 200, JSON.stringify(owner.json));
  // the owner's success clears the account's count
  assert.equal((await signIn(proxied, 'carol', 'wrong again', '192.0.2.203')).status, 401);
  assert.equal((await signIn(proxied, 'carol', 'carols password', '192.0.2.204')).status, 200);
});

test('the audit log records the forwarded client as the source address', async () => {
  const me = await api(proxied, 'POST', '/api/orgs/acme/tokens', {
    token: proxied.token,
    headers: { 'X-Forwarded-For': '198.51.100.77' },
    json: { name: 'via-proxy', description: '', expires: 0 },
  });
  assert.equal(me.status, 200, me.text);
  const log = await api(proxied, 'GET', '/api/orgs/acme/auditlogs/v2?eventFilter=organization-token-created', { token: proxied.token });
  assert.equal(log.json.auditLogEvents[0].sourceIP, '198.51.100.77');
  const forged = await api(direct, 'POST', '/api/orgs/acme/tokens', {
    token: direct.token,
    headers: { 'X-Forwarded-For': '198.51.100.77' },
    json: { name: 'forged', description: '', expires: 0 },
  });
  assert.equal(forged.status, 200);
  const direct_log = await api(direct, 'GET', '/api/orgs/acme/auditlogs/v2?eventFilter=organization-token-created', { token: direct.token });
  assert.equal(direct_log.json.auditLogEvents[0].sourceIP, '127.0.0.1');
});

test('--trusted-proxy refuses what is not an address or a clean CIDR block', async () => {
  for (const bad of ['localhost', '10.1.2.3/8', '10.0.0.0/33', '']) {
    const r = spawnSync(tesseraBin, ['serve', '--listen', '127.0.0.1:0', '--db', '/nonexistent/x.db', '--trusted-proxy', bad], { encoding: 'utf8', timeout: 5000 });
    assert.equal(r.status, 2, `${bad}: ${r.stderr}`);
    assert.match(r.stderr, /--trusted-proxy must be an address or a CIDR block/);
  }
});
