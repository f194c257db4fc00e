// Several `tessera serve` nodes on one PostgreSQL database, behind a real nginx: what the shared
// store promises (docs/ARCHITECTURE.md, "The change feed"), checked from outside.
//
//  - A write is acknowledged only once committed, so what one node acknowledged every node serves
//    at once, and nothing acknowledged is lost to a node's crash or to PostgreSQL's.
//  - A revocation made through any node is refused by every node within 1 s (each reads the
//    feed on NOTIFY and every 100 ms, and stops answering from its cache when it could not read
//    the feed for 1 s): the one timed promise, and the only timed assertion here.
//  - With the database down a node answers 503, never a stale 200 and never a crash, and
//    recovers by itself once the database is back.
//  - Writers on every node take turns on one row, so the audit log is one chain that verifies.
//
// The tests run in order on one cluster of three nodes (A, B, C) and nginx, set up once: the
// later ones kill nodes (restarted on their ports afterwards, as an operator would) and stop
// PostgreSQL. Latencies are printed as diagnostics (`# revocation ...`).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';
import {
  UNAUTHORIZED_MESSAGE,
  api,
  assertTokenValue,
  bootstrap,
  createToken,
  makeUnknownToken,
  memberAdd,
  nowSeconds,
  orgAdd,
  runTessera,
  sleep,
  startMockIssuer,
  tokenCreate,
  userAdd,
} from '../e2e/helpers.mjs';
import {
  Node,
  assertNoReports,
  load,
  now,
  parseNginxLog,
  percentile,
  psql,
  request,
  startNginx,
  startPostgres,
  statusCounts,
  tmpdir,
  watchPropagation,
} from './cluster.mjs';

const DAY = 86400;
// No test may hang: each is bounded (the whole file takes 20–30 s), as is every request (10 s).
const BOUNDED = { timeout: 60000 };
const LOAD_USERS = 6; // w0..w5: one per writer of the concurrent-writes test
const nonce = crypto.randomBytes(4).toString('hex');

let dir;
let pg;
let keyFile;
let nginx;
let idp;
const nodes = []; // A, B, C
const tok = {}; // login (or purpose) -> token value
const latencySummary = {}; // scenario -> {node: ms}

const [A, B, C] = [0, 1, 2];
const node = (i) => nodes[i];
/** Every node by name, and nginx, as targets for watchPropagation. */
const everywhere = (except = []) => {
  const t = {};
  for (const n of nodes) if (!except.includes(n.name) && n.alive) t[n.name] = n.url;
  t.nginx = nginx.url;
  return t;
};

before(async () => {
  dir = tmpdir();
  keyFile = path.join(dir, 'audit-key');
  // Every admin command the e2e helpers run, and every node, gets this key (serve takes it as
  // --audit-key too): the database records its id, so all of them must share it.
  process.env.TESSERA_AUDIT_KEY = keyFile;
  pg = startPostgres();
  tok.alice = bootstrap(pg.url, 'alice', 'acme'); // site admin, admin of acme
  for (const u of ['bob', 'carol', ...Array.from({ length: LOAD_USERS }, (_, i) => `w${i}`)]) userAdd(pg.url, u);
  memberAdd(pg.url, 'acme', 'bob', 'admin');
  orgAdd(pg.url, 'pol'); // the org whose token-lifetime policy changes: acme's stays open
  memberAdd(pg.url, 'pol', 'carol', 'member');
  tok.bob = tokenCreate(pg.url, 'bob');
  tok.carol = tokenCreate(pg.url, 'carol'); // never expires
  idp = await startMockIssuer();
  for (const name of ['A', 'B', 'C']) {
    // nginx connects from 127.0.0.1: its X-Forwarded-For is believed. Plain-HTTP issuers on
    // loopback, for the mock OIDC issuer.
    nodes.push(new Node(name, pg.url, keyFile, ['--trusted-proxy', '127.0.0.1', '--allow-http-issuers']));
  }
  await Promise.all(nodes.map((n) => n.start()));
  nginx = await startNginx(dir, nodes);
}, { timeout: 120000 });

after(async () => {
  // Whatever happened: every process this file started is stopped, the cluster removed.
  for (const n of nodes) if (n.alive) n.server.proc.kill('SIGKILL');
  await Promise.all(nodes.map((n) => n.server?.exited));
  await nginx?.kill();
  await idp?.stop();
  try {
    pg?.stop();
  } finally {
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  }
}, { timeout: 90000 });

// ---------------------------------------------------------------------------------------------
// Probes for watchPropagation: what a target answers, as 'before' or 'after' the change.

const meProbe = (token, isBefore) => async (base) => {
  const res = await request(base, 'GET', '/api/user', { token });
  if (res.status === 401 && res.json?.message === UNAUTHORIZED_MESSAGE) return { state: 'after', res };
  if (res.status === 200 && isBefore(res.json)) return { state: 'before', res };
  return { state: 'unexpected', res };
};

/** Reads every target twice (through nginx, twice per node), each answer 'before': the caches
 * are warm, so the change must drop an entry, not merely find none. */
async function warm(targets, probe) {
  for (const [name, base] of Object.entries(targets)) {
    for (let i = 0; i < (name === 'nginx' ? nodes.length * 2 : 2); i++) {
      const p = await probe(base);
      assert.equal(p.state, 'before', `${name} before the change: ${p.res.status} ${p.res.text}`);
    }
  }
}

function report(t, scenario, { latencies, mixed = {}, stale = {} }) {
  latencySummary[scenario] = latencies;
  // Upper bounds: the end of the first refused probe; "(k old)" when k probes saw the old state first.
  const parts = Object.entries(latencies).map(([n, ms]) => `${n} ${ms.toFixed(1)} ms${stale[n] ? ` (${stale[n]} old)` : ''}`);
  const late = Object.entries(mixed).map(([n, c]) => `; through ${n}, ${c} answer(s) from a node not yet caught up after another had refused`);
  t.diagnostic(`revocation ${scenario}: refused after ${parts.join(', ')}${late.join('')}`);
}

/** Makes a change through one node and watches every target (the 1 s promise). */
async function revocation(t, scenario, { targets, probe, change, immediate }) {
  await warm(targets, probe);
  const res = await change();
  const t0 = res.ended;
  report(t, scenario, await watchPropagation(targets, t0, probe, { immediate }));
}

const assertStatus = (res, status, what) => assert.equal(res.status, status, `${what}: ${res.status} ${res.error || ''} ${res.text || ''}`);

// ---------------------------------------------------------------------------------------------

test('setup: three nodes share one database behind nginx, which balances round robin, retries no answer and forwards the client address', BOUNDED, async (t) => {
  for (const n of nodes) assertStatus(await request(n.url, 'GET', '/healthz'), 200, n.name);
  // Round robin over all three; an answer (here 404 and 401) is never retried on another node:
  // nginx's log shows one upstream per request, and the path is in one node's access log only.
  const paths = Array.from({ length: 6 }, (_, i) => `/api/rr-${nonce}-${i}`);
  for (const p of paths) {
    const res = await request(nginx.url, 'GET', p);
    assertStatus(res, 404, p);
    assert.ok(res.fromTessera, 'a node answered, not nginx');
  }
  const unknown = await request(nginx.url, 'GET', '/api/user', { token: makeUnknownToken() });
  assertStatus(unknown, 401, 'unknown token through nginx');
  const logged = parseNginxLog(nginx.accessLog()).filter((l) => paths.includes(l.path));
  assert.equal(logged.length, paths.length, nginx.accessLog());
  for (const l of logged) assert.equal(l.upstreams.length, 1, `one upstream, no retry: ${l.line}`);
  const used = new Set(logged.map((l) => l.upstreams[0]));
  assert.deepEqual([...used].sort(), nodes.map((n) => `127.0.0.1:${n.port}`).sort(), 'every node got requests');
  // The nodes' access logs (written within a second) agree: each path on exactly one node.
  let where;
  for (let i = 0; i < 40; i++) {
    where = paths.map((p) => nodes.filter((n) => n.accessLog().some((l) => l.path === p)).map((n) => n.name));
    if (where.every((w) => w.length === 1)) break;
    await sleep(100);
  }
  assert.ok(where.every((w) => w.length === 1), `each request reached one node: ${JSON.stringify(where)}`);
  t.diagnostic(`round robin through nginx: ${JSON.stringify(where.map((w) => w[0]))}`);

  // X-Forwarded-For: nginx replaces what the client claims with the address it sees (a client on
  // 127.0.0.2 here), and the nodes, trusting 127.0.0.1, record that client in the audit log.
  const name = `xff-${nonce}`;
  const created = await request(nginx.url, 'POST', '/api/orgs/acme/tokens', {
    token: tok.alice,
    json: { name, description: '', expires: 0, admin: false },
    headers: { 'X-Forwarded-For': '198.51.100.7' },
    localAddress: '127.0.0.2',
  });
  assertStatus(created, 200, 'org token through nginx');
  const events = await api(node(A).url, 'GET', '/api/orgs/acme/auditlogs/v2?eventFilter=organization-token-created', { token: tok.alice });
  assert.equal(events.status, 200, events.text);
  const event = events.json.auditLogEvents.find((e) => e.tokenName === name || e.description.includes(name));
  assert.ok(event, JSON.stringify(events.json.auditLogEvents));
  assert.equal(event.sourceIP, '127.0.0.2', 'the client nginx saw, not what it claimed, nor nginx');
  const line = parseNginxLog(nginx.accessLog()).find((l) => l.method === 'POST' && l.path === '/api/orgs/acme/tokens');
  assert.equal(line.client, '127.0.0.2');
  // Why nginx replaces the header rather than appending to it ($proxy_add_x_forwarded_for): a
  // client at an address the nodes trust (here 127.0.0.1 itself) would otherwise have its claim
  // believed, the nodes skipping every trusted address from the right.
  const spoofName = `xff-spoof-${nonce}`;
  const spoofed = await request(nginx.url, 'POST', '/api/orgs/acme/tokens', {
    token: tok.alice,
    json: { name: spoofName, description: '', expires: 0, admin: false },
    headers: { 'X-Forwarded-For': '198.51.100.7' },
  });
  assertStatus(spoofed, 200, 'org token through nginx from 127.0.0.1');
  const again = await api(node(B).url, 'GET', '/api/orgs/acme/auditlogs/v2?eventFilter=organization-token-created', { token: tok.alice });
  const spoofEvent = again.json.auditLogEvents.find((e) => e.description.includes(spoofName));
  assert.ok(spoofEvent, JSON.stringify(again.json.auditLogEvents));
  assert.equal(spoofEvent.sourceIP, '127.0.0.1', 'what the client claimed is not believed');
});

test('a token made through one node, or through nginx, works at once on every node and through nginx', BOUNDED, async () => {
  // Acknowledged only after commit, and no node remembers a miss: the very first use on another
  // node succeeds, no retry, no wait.
  const useEverywhere = async (value, check, what) => {
    for (const n of nodes) {
      const res = await request(n.url, 'GET', '/api/user', { token: value });
      assertStatus(res, 200, `${what} on ${n.name}`);
      check(res.json, `${what} on ${n.name}`);
    }
    for (let i = 0; i < nodes.length; i++) {
      const res = await request(nginx.url, 'GET', '/api/user', { token: value });
      assertStatus(res, 200, `${what} through nginx`);
      check(res.json, `${what} through nginx`);
    }
  };
  const isAlice = (me, what) => assert.equal(me.githubLogin, 'alice', what);
  const direct = await createToken(node(A).url, tok.alice, { description: 'made on A' });
  await useEverywhere(direct.tokenValue, isAlice, 'personal token made on A');
  const viaNginx = await createToken(nginx.url, tok.alice, { description: 'made through nginx' });
  await useEverywhere(viaNginx.tokenValue, isAlice, 'personal token made through nginx');
  // An organization token, made on B.
  const org = await api(node(B).url, 'POST', '/api/orgs/acme/tokens', { token: tok.alice, json: { name: `made-on-b-${nonce}`, description: '', expires: 0, admin: false } });
  assert.equal(org.status, 200, org.text);
  assertTokenValue(org.json.tokenValue);
  await useEverywhere(org.json.tokenValue, (me, what) => assert.equal(me.tokenInfo?.name, `made-on-b-${nonce}`, what), 'org token made on B');
});

test('revocation: a personal token deleted on A is refused on every node and through nginx within 1 s', BOUNDED, async (t) => {
  const victim = await createToken(node(A).url, tok.alice, { description: 'to delete' });
  await revocation(t, 'personal token deleted', {
    targets: everywhere(),
    probe: meProbe(victim.tokenValue, (me) => me.githubLogin === 'alice'),
    immediate: ['A'], // the deleting node: on the very next request
    change: async () => {
      const res = await request(node(A).url, 'DELETE', `/api/user/tokens/${victim.id}`, { token: tok.alice });
      assertStatus(res, 204, 'delete');
      return res;
    },
  });
});

test('revocation: an org admin demoted on B loses admin rights on every node within 1 s (and /api/user shows the role)', BOUNDED, async (t) => {
  // bob is an admin of acme (setup): he may list its tokens, and /api/user says admin.
  const probe = async (base) => {
    const list = await request(base, 'GET', '/api/orgs/acme/tokens', { token: tok.bob });
    const me = await request(base, 'GET', '/api/user', { token: tok.bob });
    const role = me.json?.organizations?.find((o) => o.name === 'acme')?.role;
    if (me.status !== 200) return { state: 'unexpected', res: me };
    if (list.status === 403 && role === 'member') return { state: 'after', res: me };
    if (list.status === 200 || role === 'admin') return { state: 'before', res: list.status === 200 ? list : me };
    return { state: 'unexpected', res: list };
  };
  await revocation(t, 'org admin demoted', {
    targets: everywhere(),
    probe,
    immediate: ['B'],
    change: async () => {
      const res = await request(node(B).url, 'PATCH', '/api/orgs/acme/members/bob', { token: tok.alice, json: { role: 'member' } });
      assertStatus(res, 204, 'demote');
      return res;
    },
  });
});

test('revocation: a member removed on C loses the organization on every node within 1 s (/api/user and access)', BOUNDED, async (t) => {
  const probe = async (base) => {
    const me = await request(base, 'GET', '/api/user', { token: tok.bob });
    const org = await request(base, 'GET', '/api/orgs/acme', { token: tok.bob });
    if (me.status !== 200) return { state: 'unexpected', res: me };
    const listed = me.json.organizations.some((o) => o.name === 'acme');
    if (!listed && org.status === 404) return { state: 'after', res: me };
    if (listed || org.status === 200) return { state: 'before', res: listed ? me : org };
    return { state: 'unexpected', res: org };
  };
  await revocation(t, 'member removed', {
    targets: everywhere(),
    probe,
    immediate: ['C'],
    change: async () => {
      const res = await request(node(C).url, 'DELETE', '/api/orgs/acme/members/bob', { token: tok.alice });
      assertStatus(res, 204, 'remove');
      return res;
    },
  });
});

test('revocation: a team deleted on A takes its tokens with it on every node within 1 s', BOUNDED, async (t) => {
  const team = await request(node(C).url, 'POST', '/api/orgs/acme/teams/pulumi', { token: tok.alice, json: { name: 'ops', displayName: 'Ops', description: '' } });
  assertStatus(team, 201, 'team');
  const made = await request(node(C).url, 'POST', '/api/orgs/acme/teams/ops/tokens', { token: tok.alice, json: { name: `ops-${nonce}`, description: '', expires: 0 } });
  assertStatus(made, 200, 'team token');
  await revocation(t, 'team deleted', {
    targets: everywhere(),
    probe: meProbe(made.json.tokenValue, (me) => me.tokenInfo?.team === 'ops'),
    immediate: ['A'],
    change: async () => {
      const res = await request(node(A).url, 'DELETE', '/api/orgs/acme/teams/ops', { token: tok.alice });
      assertStatus(res, 204, 'delete team');
      return res;
    },
  });
});

test('revocation: a token lifetime policy set on B refuses longer-lived tokens (403) on every node within 1 s', BOUNDED, async (t) => {
  // As tests/e2e/policy.test.mjs has it: with a cap of N days, every request against the org made
  // with a token that never expires (carol's) is refused with a 403 naming the org and N; a token
  // within the cap still works.
  const short = await createToken(node(A).url, tok.carol, { expires: nowSeconds() + DAY });
  const probe = async (base) => {
    const res = await request(base, 'GET', '/api/orgs/pol', { token: tok.carol });
    if (res.status === 200) return { state: 'before', res };
    if (res.status === 403 && /organization pol accepts only access tokens that expire within 30 days/.test(res.json?.message)) return { state: 'after', res };
    return { state: 'unexpected', res };
  };
  await revocation(t, 'lifetime policy set', {
    targets: everywhere(),
    probe,
    immediate: ['B'],
    change: async () => {
      const res = await request(node(B).url, 'PATCH', '/api/orgs/pol', { token: tok.alice, json: { setMaxAccessTokenExpiryDays: 30 } });
      assertStatus(res, 200, 'set policy');
      assert.equal(res.json.maxAccessTokenExpiryDays, 30);
      return res;
    },
  });
  for (const n of nodes) assertStatus(await request(n.url, 'GET', '/api/orgs/pol', { token: short.tokenValue }), 200, `a one-day token on ${n.name}`);
});

test('revocation: an OIDC issuer deleted on C revokes the tokens it issued on every node within 1 s', BOUNDED, async (t) => {
  // The mock issuer (oauth2-mock-server, plain HTTP on loopback: --allow-http-issuers), registered
  // on A, trusted for acme's repositories; the exchange made on B.
  const reg = await api(node(A).url, 'POST', '/api/orgs/acme/oidc/issuers', { token: tok.alice, json: { name: 'ci', url: idp.issuer.url } });
  assert.equal(reg.status, 200, reg.text);
  const policy = await api(node(A).url, 'GET', `/api/orgs/acme/auth/policies/oidcissuers/${reg.json.id}`, { token: tok.alice });
  assert.equal(policy.status, 200, policy.text);
  const allow = { decision: 'allow', tokenType: 'organization', authorizedPermissions: [], rules: { sub: 'repo:acme/*' } };
  const set = await api(node(A).url, 'PATCH', `/api/orgs/acme/auth/policies/${policy.json.id}`, { token: tok.alice, json: { policies: [allow] } });
  assert.equal(set.status, 200, set.text);
  const idToken = await idp.issuer.buildToken({
    expiresIn: 300,
    scopesOrTransform: (header, payload) => Object.assign(payload, { aud: 'urn:pulumi:org:acme', sub: 'repo:acme/infra:ref:refs/heads/main' }),
  });
  const form = new URLSearchParams({
    grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
    subject_token_type: 'urn:ietf:params:oauth:token-type:id_token',
    audience: 'urn:pulumi:org:acme',
    subject_token: idToken,
    requested_token_type: 'urn:pulumi:token-type:access_token:organization',
  }).toString();
  const exchanged = await request(node(B).url, 'POST', '/api/oauth/token', {
    headers: { 'Content-Type': 'application/x-www-form-urlencoded', 'Content-Length': Buffer.byteLength(form) },
    body: form,
  });
  assertStatus(exchanged, 200, 'exchange');
  await revocation(t, 'OIDC issuer deleted', {
    targets: everywhere(),
    probe: meProbe(exchanged.json.access_token, (me) => me.githubLogin === 'acme' && me.tokenInfo?.organization === 'acme'),
    immediate: ['C'],
    change: async () => {
      const res = await request(node(C).url, 'DELETE', `/api/orgs/acme/oidc/issuers/${reg.json.id}`, { token: tok.alice });
      assertStatus(res, 204, 'delete issuer');
      return res;
    },
  });
});

test('a node killed (SIGKILL) the moment it acknowledges a deletion: the others refuse the token within 1 s', BOUNDED, async (t) => {
  // The deletion committed before A answered, and its NOTIFY is PostgreSQL's to deliver, so A's
  // death cannot keep it from the others. Restarted on its port, A refuses the token too.
  const victim = await createToken(node(A).url, tok.alice, { description: 'deleted by a node about to die' });
  const keep = await createToken(node(A).url, tok.alice, { description: 'kept' });
  const probe = meProbe(victim.tokenValue, (me) => me.githubLogin === 'alice');
  const targets = everywhere(['A']);
  await warm(targets, probe);
  const a = node(A);
  t.after(() => (a.alive ? undefined : a.restart())); // the next tests need all three
  const res = await request(a.url, 'DELETE', `/api/user/tokens/${victim.id}`, {
    token: tok.alice,
    onHead: (head) => {
      if (head.statusCode === 204) a.server.proc.kill('SIGKILL');
    },
  });
  assertStatus(res, 204, 'delete on A');
  const logMark = nginx.accessLog().length;
  report(t, 'deleting node killed on its 204', await watchPropagation(targets, res.ended, probe));
  // What nginx made of the dead node while it was being probed through.
  const aAddr = `127.0.0.1:${a.port}`;
  const probes = parseNginxLog(nginx.accessLog().slice(logMark));
  const triedA = probes.filter((l) => l.upstreams.includes(aAddr));
  t.diagnostic(
    `nginx, A dead: ${probes.length} probes, ${triedA.length} tried A first (${[...new Set(triedA.map((l) => `${l.upstreams.length} upstreams, statuses ${l.upstreamStatus} → ${l.status}`))].join('; ')})`,
  );
  await a.server.exited;
  assert.equal(a.server.exitInfo.signal, 'SIGKILL');
  await a.restart();
  const again = await request(a.url, 'GET', '/api/user', { token: victim.tokenValue });
  assertStatus(again, 401, 'the deleted token on A restarted');
  assertStatus(await request(a.url, 'GET', '/api/user', { token: keep.tokenValue }), 200, 'another token on A restarted');
});

test('a node killed under creation load: every token acknowledged works on the survivors, and nginx routes around the dead node', BOUNDED, async (t) => {
  const victim = node(B);
  const survivors = [node(A), node(C)];
  const DIRECT = 4;
  const VIA_NGINX = 4;
  let killedAt = Infinity;
  let exitSeen = Infinity;
  let ackedOnB = 0;
  t.after(() => (victim.alive ? undefined : victim.restart())); // the next tests need all three
  const create = (base) => request(base, 'POST', '/api/user/tokens', { token: tok.alice, json: { description: 'under load' } });
  const directRun = load({
    clients: DIRECT,
    maxOps: 1000,
    deadlineMs: 8000,
    stop: () => now() > exitSeen,
    op: async () => {
      const r = await create(victim.url);
      if (r.status === 200) ackedOnB++;
      return { via: 'B', ...r };
    },
  });
  const nginxRun = load({
    clients: VIA_NGINX,
    maxOps: 1000,
    deadlineMs: 8000,
    stop: () => now() > exitSeen + 1000, // and a second more after the kill
    op: async () => ({ via: 'nginx', ...(await create(nginx.url)) }),
  });
  // The kill comes once B has acknowledged a good number of creations, or after a second, so that
  // the load runs on both sides of it however fast or slow the machine is.
  const killBy = now() + 1000;
  while (ackedOnB < 200 && now() < killBy) await sleep(5);
  killedAt = now();
  await victim.kill();
  exitSeen = now();
  const results = [...(await directRun), ...(await nginxRun)];

  const acked = results.filter((r) => r.status === 200);
  const direct = results.filter((r) => r.via === 'B');
  const viaNginx = results.filter((r) => r.via === 'nginx');
  const before = viaNginx.filter((r) => r.started < killedAt);
  const around = viaNginx.filter((r) => r.started >= killedAt && r.started <= exitSeen);
  const afterExit = viaNginx.filter((r) => r.started > exitSeen);
  t.diagnostic(`creations directly on B: ${JSON.stringify(statusCounts(direct))}`);
  t.diagnostic(
    `creations through nginx: sent before the kill ${JSON.stringify(statusCounts(before))}, ` +
      `between the kill and its exit ${JSON.stringify(statusCounts(around))}, after ${JSON.stringify(statusCounts(afterExit))}`,
  );
  assert.ok(direct.filter((r) => r.status === 200).length > 0 && afterExit.length > 0, 'load ran on both sides of the kill');
  // B's answers are 200, or nothing at all once it is dead.
  for (const r of direct) assert.ok(r.status === 200 || r.status === 0, `B answered ${r.status} ${r.text}`);
  // Through nginx: a creation B was handling when it died is answered 502 by nginx (never resent:
  // it may have been made), at most one per client; every other one succeeds on A or C.
  const failed = viaNginx.filter((r) => r.status !== 200);
  for (const r of failed) {
    assert.equal(r.status, 502, `through nginx: ${r.status} ${r.error || ''} ${r.text}`);
    assert.ok(!r.fromTessera, "nginx's own 502");
    assert.deepEqual(r.json, { code: 502, message: 'Bad Gateway: no Tessera node answered' });
  }
  assert.ok(failed.length <= VIA_NGINX, `at most one failed creation per client (one in flight at the kill): ${failed.length}`);
  for (const r of afterExit) assertStatus(r, 200, 'a creation sent through nginx after B was gone');

  // nginx's own account: the requests that tried B and went on to another node.
  const lines = parseNginxLog(nginx.accessLog()).filter((l) => l.method === 'POST' && l.path === '/api/user/tokens');
  const bAddr = `127.0.0.1:${victim.port}`;
  const rerouted = lines.filter((l) => l.upstreams.length > 1 && l.upstreams[0] === bAddr);
  const failedOnB = lines.filter((l) => l.status === 502);
  t.diagnostic(`nginx: ${rerouted.length} creation(s) tried B first and went on to another node (${[...new Set(rerouted.map((l) => l.upstreamStatus))].join('; ')}), ${failedOnB.length} answered 502 (${failedOnB.map((l) => l.upstreamStatus).join('; ')})`);
  const errors = nginx.errorLog().split('\n').filter((l) => l.includes(bAddr));
  t.diagnostic(`nginx error log about B: ${errors.length} line(s), e.g. ${JSON.stringify(errors.slice(0, 3).map((l) => l.replace(/^.*?\[/, '[').slice(0, 220)))}`);

  // Every acknowledged creation, on both survivors.
  assert.ok(acked.length > 0);
  const values = acked.map((r) => r.json.tokenValue);
  const checks = await load({
    clients: 8,
    maxOps: values.length * survivors.length,
    deadlineMs: 30000,
    op: async (i, k) => {
      const idx = k * 8 + i;
      if (idx >= values.length * survivors.length) return { skip: true };
      const value = values[idx % values.length];
      const n = survivors[Math.floor(idx / values.length)];
      return { value, on: n.name, ...(await request(n.url, 'GET', '/api/user', { token: value })) };
    },
  });
  const done = checks.filter((c) => !c.skip);
  assert.equal(done.length, values.length * survivors.length, 'every acknowledged token checked on both survivors');
  const lost = done.filter((c) => c.status !== 200);
  assert.deepEqual(lost.map((c) => `${c.on}: ${c.status}`), [], 'acknowledged tokens that do not work');
  t.diagnostic(`${values.length} acknowledged creations (${acked.filter((r) => r.via === 'B').length} on B, ${acked.filter((r) => r.via === 'nginx').length} through nginx), all working on A and C`);
  await victim.restart();
  assertStatus(await request(victim.url, 'GET', '/api/user', { token: values[0] }), 200, 'B restarted');
});

test('PostgreSQL stopped under load: 503 (never a stale 200, never a crash), recovery without restarts, nothing acknowledged lost', BOUNDED, async (t) => {
  const live = await createToken(nginx.url, tok.alice, { description: 'lives through the outage' });
  const doomed = await createToken(nginx.url, tok.alice, { description: 'deleted just before the outage' });
  const isAlice = (me) => me.githubLogin === 'alice';
  await warm(everywhere(), meProbe(doomed.tokenValue, isAlice));
  await warm(everywhere(), meProbe(live.tokenValue, isAlice));
  const targets = [...nodes.map((n) => [n.name, n.url]), ['nginx', nginx.url]];
  // Creations and deletions (committed another way than creations) on A and B: each deleting
  // client takes tokens made for it beforehand, one DELETE each.
  const clients = [];
  for (const [where, base] of targets) {
    for (const kind of ['live', 'live', 'doomed', ...(where === 'A' || where === 'B' ? ['create', 'delete'] : [])]) {
      clients.push({ where, base, kind, pool: [] });
    }
  }
  const pools = clients.filter((c) => c.kind === 'delete');
  await load({
    clients: 8,
    maxOps: 50 * pools.length,
    deadlineMs: 20000,
    op: async (i, k) => {
      const res = await request(nginx.url, 'POST', '/api/user/tokens', { token: tok.alice, json: { description: 'to delete during the outage test' } });
      assertStatus(res, 200, 'a token to delete');
      pools[(k * 8 + i) % pools.length].pool.push(res.json);
      return {};
    },
  });
  // The first use of a token is written (lastUsed) at the flusher's next tick, through the node's
  // writer; a tick spent, those writes are done, and C has nothing to write during the outage.
  await sleep(1500);

  const stderrMark = Object.fromEntries(nodes.map((n) => [n.name, n.server.stderr().length]));
  const marks = { deleted: Infinity, haltStart: Infinity, haltDone: Infinity, resumeStart: Infinity, resumeDone: Infinity };
  const recovered = new Set(); // `${node}:${read|create|delete}` answered 2xx after the database came back
  let finished = false;
  // Writes on A and B only. A node whose own write fails forgets its whole cache at once (it
  // cannot read the feed after it: cache.c's catch_up), so A and B go to 503 as soon as their
  // writers notice; C, only read (and with no lastUsed left to write), answers from memory until
  // its trust in the feed lapses (1 s), which is what puts the trust bound to the test. nginx's
  // clients read, through all three.
  const op = async (i) => {
    const { where, base, kind, pool } = clients[i];
    let res;
    let made;
    if (kind === 'create') {
      res = await request(base, 'POST', '/api/user/tokens', { token: tok.alice, json: { description: 'during the outage test' } });
    } else if (kind === 'delete') {
      made = pool.shift();
      if (!made) return { where, kind: 'idle', status: -1 }; // its tokens all tried
      res = await request(base, 'DELETE', `/api/user/tokens/${made.id}`, { token: tok.alice });
    } else {
      res = await request(base, 'GET', '/api/user', { token: kind === 'live' ? live.tokenValue : doomed.tokenValue });
    }
    if (res.started > marks.resumeDone && res.status === (kind === 'delete' ? 204 : 200) && where !== 'nginx') {
      recovered.add(`${where}:${kind === 'live' || kind === 'doomed' ? 'read' : kind}`);
    }
    return { where, kind, made, ...res };
  };
  const run = load({ clients: clients.length, maxOps: 2000, deadlineMs: 40000, pauseMs: 10, op, stop: () => finished });

  await sleep(300);
  // Deleted on A, then the database stopped at once: B and C may not have read the feed yet.
  const del = await request(node(A).url, 'DELETE', `/api/user/tokens/${doomed.id}`, { token: tok.alice });
  assertStatus(del, 204, 'delete before the outage');
  marks.deleted = del.ended;
  marks.haltStart = now();
  let down = false; // should this test fail while PostgreSQL is stopped, the next ones need it back
  t.after(() => (down ? pg.resume() : undefined));
  await pg.halt('immediate'); // like a crash: no checkpoint, recovery from the WAL at start
  down = true;
  marks.haltDone = now();
  await sleep(2500); // past the 1 s trust bound, and more
  // While it is down, a node's 503 passes nginx as it is, tried on one node only.
  const outagePaths = Array.from({ length: 3 }, (_, i) => `/api/orgs/outage-${nonce}-${i}`);
  const viaNginx = [];
  for (const p of outagePaths) viaNginx.push(await request(nginx.url, 'GET', p, { token: live.tokenValue }));
  marks.resumeStart = now();
  await pg.resume();
  down = false;
  marks.resumeDone = now();
  const deadline = now() + 20000;
  const want = [...nodes.map((n) => `${n.name}:read`), 'A:create', 'B:create', 'A:delete', 'B:delete'];
  while (now() < deadline && !want.every((w) => recovered.has(w))) await sleep(50);
  await sleep(300);
  finished = true;
  const results = (await run).filter((r) => r.kind !== 'idle');

  const during = results.filter((r) => r.started > marks.haltDone && r.started < marks.resumeStart);
  // What each target answered while the database was down, by request and by whether the
  // request came within the first second (caches still trusted) or after it.
  for (const [w] of targets) {
    const mine = during.filter((r) => r.where === w);
    const part = (first) =>
      Object.fromEntries(
        ['live', 'doomed', 'create', 'delete'].map((k) => [
          k,
          statusCounts(mine.filter((r) => r.kind === k && (r.started <= marks.haltDone + 1000) === first)),
        ]),
      );
    t.diagnostic(`while PostgreSQL was down, ${w}: first second ${JSON.stringify(part(true))}; after it ${JSON.stringify(part(false))}`);
  }
  t.diagnostic(
    `outage ${((marks.resumeStart - marks.haltDone) / 1000).toFixed(1)} s (pg_ctl stop -m immediate took ${(marks.haltDone - marks.haltStart).toFixed(0)} ms, ` +
      `start ${(marks.resumeDone - marks.resumeStart).toFixed(0)} ms); all answers in it: ${JSON.stringify(statusCounts(during))}`,
  );
  // How long each node went on answering the live token from memory once the stop began.
  const lastCached = Object.fromEntries(
    targets.map(([w]) => {
      const oks = results.filter((r) => r.where === w && r.kind === 'live' && r.status === 200 && r.started > marks.haltStart && r.started < marks.resumeStart);
      return [w, oks.length ? `${(Math.max(...oks.map((r) => r.started)) - marks.haltStart).toFixed(0)} ms` : 'none'];
    }),
  );
  t.diagnostic(`last 200 for the live token after the stop began (the trust bound is 1 s): ${JSON.stringify(lastCached)}`);
  const said = (n) => [...new Set(n.server.stderr().slice(stderrMark[n.name]).split('\n').filter((l) => l && !/^\s|cannot connect/.test(l)))];
  t.diagnostic(`what the nodes said (stderr, but for "cannot connect"): ${JSON.stringify(Object.fromEntries(nodes.map((n) => [n.name, said(n)])))}`);
  const slowest = Math.max(...during.map((r) => r.ended - r.started));
  const firstOk = (w, kind) => {
    const oks = results.filter((r) => r.where === w && r.kind === kind && r.status >= 200 && r.status < 300 && r.started > marks.resumeStart);
    return oks.length ? `${(Math.min(...oks.map((r) => r.ended)) - marks.resumeStart).toFixed(0)} ms` : 'none';
  };
  t.diagnostic(
    `slowest answer while down: ${slowest.toFixed(0)} ms; first 200 after the start of PostgreSQL began (it took ${(marks.resumeDone - marks.resumeStart).toFixed(0)} ms): ` +
      JSON.stringify(Object.fromEntries(targets.map(([w]) => [w, { read: firstOk(w, 'live'), create: firstOk(w, 'create') }]))),
  );
  for (const r of viaNginx) {
    assertStatus(r, 503, 'through nginx while the database is down');
    assert.ok(r.fromTessera, "a node's 503, passed through");
  }
  const outageLines = parseNginxLog(nginx.accessLog()).filter((l) => outagePaths.includes(l.path));
  assert.equal(outageLines.length, outagePaths.length);
  for (const l of outageLines) assert.equal(l.upstreams.length, 1, `a 503 is not retried: ${l.line}`);

  assert.ok(want.every((w) => recovered.has(w)), `recovered within 20 s of the restart: ${[...recovered].join(', ')}`);
  // C wrote nothing during the outage: its first write after it finds its writer's connection
  // gone, and must make a new one rather than fail.
  const cWrite = await request(node(C).url, 'POST', '/api/user/tokens', { token: tok.alice, json: { description: 'first write on C after the outage' } });
  assertStatus(cWrite, 200, "C's first write after the outage");
  for (const n of nodes) assert.ok(n.alive, `${n.name} is still running`);
  // Every answer was an answer: no hang-up, no timeout, no 5xx but 503.
  const noAnswer = results.filter((r) => r.status === 0);
  assert.deepEqual(noAnswer.map((r) => `${r.where} ${r.kind}: ${r.error}`), []);
  const when = (r) =>
    r.started < marks.haltStart ? `${(r.started - marks.haltStart).toFixed(0)} ms before the stop began`
      : r.started < marks.resumeStart ? `${(r.started - marks.haltStart).toFixed(0)} ms after the stop began`
        : `${(r.started - marks.resumeStart).toFixed(0)} ms after the start began (it took ${(marks.resumeDone - marks.resumeStart).toFixed(0)} ms)`;
  const allowed = { live: [200, 503], doomed: [200, 401, 503], create: [200, 503], delete: [204, 503] };
  const odd = results.filter((r) => !allowed[r.kind].includes(r.status));
  const stderrOf = (w) => nodes.find((n) => n.name === w)?.server.stderr().split('\n').filter((l) => l && !/cannot connect|Is the server running/.test(l)).slice(-10).join('\n');
  assert.deepEqual(
    odd.map((r) => `${r.where} ${r.kind}: ${r.status} ${r.text} (sent ${when(r)}, answered in ${(r.ended - r.started).toFixed(0)} ms)`),
    [],
    `answers other than 200 (204 for a deletion), 401 (the deleted token) and 503; the nodes' stderr:\n${[...new Set(odd.map((r) => r.where))].map((w) => `${w}:\n${stderrOf(w)}`).join('\n')}`,
  );
  // Never a stale 200: the deleted token, on the node that deleted it from its 204 on, elsewhere
  // from 1 s after it; the live one not once the trust bound (1 s without reading the feed) has
  // passed with the database down.
  const stale = results.filter(
    (r) => r.kind === 'doomed' && r.status === 200 && (r.started > marks.deleted + 1000 || (r.where === 'A' && r.started > marks.deleted)),
  );
  assert.deepEqual(stale.map((r) => `${r.where} at +${(r.started - marks.deleted).toFixed(0)} ms`), [], 'the deleted token answered 200');
  const early = results.filter((r) => r.kind === 'doomed' && r.status === 200 && r.started > marks.deleted);
  t.diagnostic(`the token deleted just before the outage: ${early.length} 200(s) within its first second (${early.map((r) => `${r.where} +${(r.started - marks.deleted).toFixed(0)} ms`).join(', ') || 'none'})`);
  const trusted = results.filter((r) => r.kind === 'live' && r.status === 200 && r.started > marks.haltDone + 1000 && r.started < marks.resumeStart);
  assert.deepEqual(trusted.map((r) => `${r.where} at +${(r.started - marks.haltDone).toFixed(0)} ms`), [], 'a 200 from a cache that could not read the feed for over 1 s');
  for (const [w] of targets) assert.ok(during.some((r) => r.where === w && r.status === 503), `${w} answered 503 while the database was down`);

  // Nothing acknowledged is lost: every creation answered 200, before, during or after.
  const values = [...results.filter((r) => r.kind === 'create' && r.status === 200), cWrite].map((r) => r.json.tokenValue);
  const lost = [];
  for (let i = 0; i < values.length; i += 8) {
    const batch = values.slice(i, i + 8);
    const answers = await Promise.all(batch.map((v, k) => request(nodes[(i + k) % 3].url, 'GET', '/api/user', { token: v })));
    answers.forEach((res, k) => res.status !== 200 && lost.push(`${batch[k].slice(0, 8)}…: ${res.status}`));
  }
  assert.deepEqual(lost, [], 'acknowledged creations that do not work after recovery');
  // Nor any deletion: every token whose deletion was answered 204 stays refused. (One answered 503
  // may or may not have been made: the node lost its connection not knowing.)
  const deleted = results.filter((r) => r.kind === 'delete' && r.status === 204).map((r) => r.made.tokenValue);
  const revived = [];
  for (let i = 0; i < deleted.length; i += 8) {
    const batch = deleted.slice(i, i + 8);
    const answers = await Promise.all(batch.map((v, k) => request(nodes[(i + k) % 3].url, 'GET', '/api/user', { token: v })));
    answers.forEach((res, k) => res.status !== 401 && revived.push(`${batch[k].slice(0, 8)}…: ${res.status}`));
  }
  assert.deepEqual(revived, [], 'tokens whose deletion was acknowledged that work after recovery');
  for (const n of nodes) assertStatus(await request(n.url, 'GET', '/api/user', { token: doomed.tokenValue }), 401, `the deleted token on ${n.name} after recovery`);
  t.diagnostic(`${values.length} creations and ${deleted.length} deletions acknowledged across the outage, all still so after it`);

  // And revocations propagate again (the nodes' NOTIFY listeners reconnected, or their polls).
  const after = await createToken(node(C).url, tok.alice, { description: 'after the outage' });
  await revocation(t, 'after PostgreSQL restarted', {
    targets: everywhere(),
    probe: meProbe(after.tokenValue, isAlice),
    immediate: ['C'],
    change: async () => {
      const res = await request(node(C).url, 'DELETE', `/api/user/tokens/${after.id}`, { token: tok.alice });
      assertStatus(res, 204, 'delete after recovery');
      return res;
    },
  });
});

test('concurrent writes on every node: one audit chain that verifies, with one record for each audited write', BOUNDED, async (t) => {
  const verify = () => {
    const r = runTessera(['admin', 'audit', 'verify', '--db', pg.url, '--audit-key', keyFile], { timeoutMs: 60000 });
    assert.equal(r.status, 0, `audit verify: ${r.stdout}${r.stderr}`);
    const m = /audit log intact: (\d+) records verified/.exec(r.stdout + r.stderr);
    assert.ok(m, r.stdout + r.stderr);
    return Number(m[1]);
  };
  const countBefore = verify();
  const seqBefore = Number(psql(pg.url, 'SELECT coalesce(max(seq), 0) FROM audit'));
  const expected = {}; // event -> count of acknowledged writes that record it
  const expect = (event) => (expected[event] = (expected[event] || 0) + 1);
  const refused = [];
  const call = async (n, method, p, json, ok, event) => {
    const res = await request(n.url, method, p, { token: tok.alice, json });
    if (res.status !== ok) refused.push(`${n.name} ${method} ${p}: ${res.status} ${res.text}`);
    else if (event) expect(event);
    return res;
  };
  // Two writers per node, each with its own user and team, so that none of them conflicts with
  // another (a 409 would be a refusal to count, not a write).
  const WRITERS = 6;
  for (let i = 0; i < WRITERS; i++) await call(node(i % 3), 'POST', '/api/orgs/acme/teams/pulumi', { name: `team-w${i}`, displayName: `W${i}`, description: '' }, 201, 'team-created');
  const writes = await load({
    clients: WRITERS,
    maxOps: 40,
    deadlineMs: 3000,
    op: async (i, k) => {
      const n = node(i % 3);
      const user = `w${i}`;
      switch (k % 4) {
        case 0:
          await call(n, 'POST', `/api/orgs/acme/members/${user}`, { role: 'member' }, 200, 'member-added');
          await call(n, 'PATCH', `/api/orgs/acme/members/${user}`, { role: 'admin' }, 204, 'member-role-changed');
          await call(n, 'DELETE', `/api/orgs/acme/members/${user}`, undefined, 204, 'member-removed');
          break;
        case 1: {
          const res = await call(n, 'POST', '/api/orgs/acme/tokens', { name: `org-w${i}-${k}`, description: '', expires: 0, admin: false }, 200, 'organization-token-created');
          if (res.status === 200) await call(n, 'DELETE', `/api/orgs/acme/tokens/${res.json.id}`, undefined, 204, 'organization-token-deleted');
          break;
        }
        case 2: {
          const res = await call(n, 'POST', '/api/user/tokens', { description: 'personal, not audited' }, 200, null);
          if (res.status === 200) await call(n, 'DELETE', `/api/user/tokens/${res.json.id}`, undefined, 204, null);
          break;
        }
        default: {
          const res = await call(n, 'POST', `/api/orgs/acme/teams/team-w${i}/tokens`, { name: `team-w${i}-${k}`, description: '', expires: 0 }, 200, 'team-token-created');
          if (res.status === 200) await call(n, 'DELETE', `/api/orgs/acme/teams/team-w${i}/tokens/${res.json.id}`, undefined, 204, 'team-token-deleted');
        }
      }
      return { status: 200 };
    },
  });
  assert.deepEqual(refused, [], 'every write succeeded');
  const audited = Object.values(expected).reduce((a, b) => a + b, 0);
  const countAfter = verify();
  const rows = psql(pg.url, `SELECT event || '=' || count(*) FROM audit WHERE seq > ${seqBefore} GROUP BY event ORDER BY event`);
  const recorded = Object.fromEntries(rows.split('\n').filter(Boolean).map((l) => l.split('=')).map(([e, c]) => [e, Number(c)]));
  t.diagnostic(`${writes.length} rounds, ${audited} audited writes from 3 nodes; verify: ${countBefore} → ${countAfter} records; by event: ${JSON.stringify(recorded)}`);
  assert.ok(countAfter - countBefore >= audited, `verify counted ${countAfter - countBefore} new records for ${audited} audited writes`);
  assert.deepEqual(recorded, Object.fromEntries(Object.entries(expected).sort()), 'one record per audited write, by event');
});

test('clean shutdown: every node exits 0 on SIGTERM, no sanitizer report from any node process', BOUNDED, async (t) => {
  await Promise.all(nodes.map((n) => n.stop())); // spawnServer's stop: exit 0, no report
  assertNoReports(nodes); // the processes killed earlier too
  await nginx.stop();
  const summary = Object.entries(latencySummary).map(([scenario, l]) => {
    const ms = Object.values(l);
    return `${scenario}: p50 ${percentile(ms, 50).toFixed(1)} ms, max ${Math.max(...ms).toFixed(1)} ms`;
  });
  t.diagnostic(`revocation latencies (ack to first refusal, per target): ${summary.join('; ')}`);
});
