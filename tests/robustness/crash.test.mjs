// Crash consistency: concurrent clients create and delete tokens and make audited changes while
// the server is killed with SIGKILL at a random moment (every other cycle: the instant an
// acknowledgment arrives), CYCLES times over one database. After each
// kill the audit chain must verify and the server must restart cleanly on the same files; then
// everything the server acknowledged (a 2xx received before the kill) must be there:
//   - every acknowledged token (personal, organization, team) authenticates and is listed;
//   - every acknowledged deletion holds: the token gets 401 and is not listed;
//   - every acknowledged audited change is visible: member present with its role (or removed),
//     team present with its display name, the organization's lifetime policy;
//   - the audit log holds exactly one record per change that took effect.
// An operation in flight at the kill may or may not have happened: the state after the restart
// must be either the one before it or the one after it, and whichever it is becomes the expected
// state from then on (it has been read back from the restarted server, so it is durable).
//
// Knobs (environment): TESSERA_CRASH_CYCLES (default 20), TESSERA_CRASH_CLIENTS (personal-token
// creators per cycle, default 3), TESSERA_CRASH_SEED (replays the same kill times and choices;
// thread timing still differs), TESSERA_CRASH_KILL_MS (the kill window, default 50-500).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import {
  api,
  auditFilesDir,
  bootstrap,
  makeTempDir,
  newDb,
  nowSeconds,
  runTessera,
  sleep,
  spawnServer,
  sql,
  tokenCreate,
  userAdd,
} from '../e2e/helpers.mjs';

const CYCLES = Number(process.env.TESSERA_CRASH_CYCLES ?? 20);
const CLIENTS = Number(process.env.TESSERA_CRASH_CLIENTS ?? 3);
const SEED = Number(process.env.TESSERA_CRASH_SEED ?? Math.floor(Math.random() * 2 ** 31));
const [KILL_MIN_MS, KILL_MAX_MS] = (process.env.TESSERA_CRASH_KILL_MS ?? '50-500').split('-').map(Number);
// The whole file is bounded; the release build needs well under half of this.
const TIME_LIMIT_MS = Number(process.env.TESSERA_CRASH_TIME_LIMIT_MS ?? 170_000);

const ORG = 'acme';
const TEAM = 'crew'; // the team whose tokens are made
const MEMBER_POOLS = [['mem0', 'mem1', 'mem2', 'mem3'], ['mem4', 'mem5', 'mem6', 'mem7']];
const HOUR = 3600;
// Audit events the load produces; anything else in the log (a refusal, say) is a failure.
const EVENTS = [
  'organization-token-created',
  'organization-token-deleted',
  'team-token-created',
  'member-added',
  'member-role-changed',
  'member-removed',
  'team-created',
  'team-updated',
  'organization-settings-changed',
];

// mulberry32: a small seeded PRNG, so that a failing run's choices can be replayed.
function prng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}
const random = prng(SEED);
const rand = (n) => Math.floor(random() * n);
const pick = (list) => list[rand(list.length)];

/** Runs fn over items with at most `limit` in flight. */
async function eachLimit(items, limit, fn) {
  let next = 0;
  const run = async () => {
    while (next < items.length) await fn(items[next++]);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, run));
}

/** Follows continuation tokens of a listing whose items are under `key`. */
async function listAllOf(server, token, urlPath, key) {
  const all = [];
  let cont;
  for (let page = 0; page < 1000; page++) {
    const sep = urlPath.includes('?') ? '&' : '?';
    const url = cont === undefined ? urlPath : `${urlPath}${sep}continuationToken=${encodeURIComponent(cont)}`;
    const res = await api(server, 'GET', url, { token, validate: false });
    assert.equal(res.status, 200, `${url}: ${res.text}`);
    all.push(...res.json[key]);
    cont = res.json.continuationToken;
    if (cont === undefined) return all;
  }
  assert.fail(`${urlPath}: more than 1000 pages`);
}

function auditCounts(dbPath) {
  const rows = sql(dbPath, 'SELECT event, count(*) AS n FROM audit GROUP BY event', { readonly: true });
  return Object.fromEntries(rows.map((r) => [r.event, r.n]));
}

function auditVerify(dbPath, when) {
  const r = runTessera(['admin', 'audit', 'verify', '--db', dbPath], { timeoutMs: 60000 });
  assert.equal(r.status, 0, `audit verify ${when}: exit ${r.status}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
}

// ---------------------------------------------------------------------------------------------
// The model: what the server acknowledged, and what was in flight at the kill.

function newModel() {
  return {
    // id -> {id, value, kind: personal|organization|team, name, state: alive|deleting|unknown|deleted, checked}
    tokens: new Map(),
    // names of machine tokens whose creation got no answer: they may exist (seen in the listing)
    unackedNames: new Set(),
    // login -> {state: absent|admin|member, pending}
    members: new Map(),
    // team name -> {state: creating|exists, display, pending}
    teams: new Map(),
    policy: { value: 0, pending: undefined },
    // event -> number of changes known to have taken effect (acknowledged or read back)
    applied: Object.fromEntries(EVENTS.map((e) => [e, 0])),
    stats: { requests: 0, acked: 0, inFlightAtKill: 0 },
    serial: 0,
  };
}

/**
 * One request of the load. Returns the response, or null when there was none because the server
 * had been killed. A failure while the server was up, or any non-2xx answer, fails the test: the
 * load only makes requests that must succeed.
 */
async function send(ctx, method, urlPath, json, expected) {
  ctx.model.stats.requests++;
  let res;
  try {
    res = await api(ctx.server, method, urlPath, { token: ctx.driver, json, validate: false, timeoutMs: 30000 });
  } catch (e) {
    if (e instanceof assert.AssertionError) throw e;
    if (!ctx.killed) throw new Error(`${method} ${urlPath} failed while the server was up: ${e.message}`);
    ctx.model.stats.inFlightAtKill++;
    return null;
  }
  assert.equal(res.status, expected, `${method} ${urlPath} → ${res.status} under load: ${res.text}`);
  ctx.model.stats.acked++;
  if (ctx.killOnAck) ctx.kill(); // the instant an answer is in: whatever it acknowledged must be durable
  return res;
}

// ---------------------------------------------------------------------------------------------
// Load clients. Each loops until the kill; the ones making audited changes each own their
// resources and work sequentially, so at most one change per resource is ever in flight.

async function personalCreator(ctx, i) {
  const { model } = ctx;
  while (!ctx.killed) {
    const description = `crash ${ctx.cycle}.${i}.${model.serial++}`;
    const res = await send(ctx, 'POST', '/api/user/tokens', { description }, 200);
    if (!res) return;
    const { id, tokenValue } = res.json;
    assert.ok(!model.tokens.has(id), `token id ${id} handed out twice`);
    model.tokens.set(id, { id, value: tokenValue, kind: 'personal', name: description, state: 'alive', checked: false });
  }
}

async function machineCreator(ctx, kind) {
  const { model } = ctx;
  while (!ctx.killed) {
    const name = `${kind === 'team' ? 't' : 'o'}${ctx.runTag}-${model.serial++}`;
    const json = { name, description: `crash ${ctx.cycle}`, expires: nowSeconds() + 12 * HOUR };
    if (kind === 'organization') json.admin = false;
    const urlPath = kind === 'team' ? `/api/orgs/${ORG}/teams/${TEAM}/tokens` : `/api/orgs/${ORG}/tokens`;
    model.unackedNames.add(name);
    const res = await send(ctx, 'POST', urlPath, json, 200);
    if (!res) return;
    model.unackedNames.delete(name);
    model.applied[`${kind === 'team' ? 'team' : 'organization'}-token-created`]++;
    model.tokens.set(res.json.id, { id: res.json.id, value: res.json.tokenValue, kind, name, state: 'alive', checked: false });
  }
}

/** Deletes acknowledged tokens (personal, sometimes organization ones), keeping most alive. */
async function deleter(ctx) {
  const { model } = ctx;
  while (!ctx.killed) {
    const all = [...model.tokens.values()];
    const alive = all.filter((t) => t.state === 'alive' && t.kind !== 'team');
    if (alive.length < 2 * (all.length - alive.length) || alive.length === 0) {
      await sleep(5);
      continue;
    }
    const t = pick(alive);
    t.state = 'deleting';
    const urlPath = t.kind === 'personal' ? `/api/user/tokens/${t.id}` : `/api/orgs/${ORG}/tokens/${t.id}`;
    const res = await send(ctx, 'DELETE', urlPath, undefined, 204);
    if (!res) {
      t.state = 'unknown';
      return;
    }
    t.state = 'deleted';
    t.checked = false;
    if (t.kind === 'organization') model.applied['organization-token-deleted']++;
  }
}

async function memberChanger(ctx, pool) {
  const { model } = ctx;
  while (!ctx.killed) {
    const login = pick(pool);
    const m = model.members.get(login);
    let res;
    if (m.state === 'absent') {
      m.pending = pick(['admin', 'member']);
      res = await send(ctx, 'POST', `/api/orgs/${ORG}/members/${login}`, { role: m.pending }, 200);
    } else if (rand(4) === 0) {
      m.pending = 'absent';
      res = await send(ctx, 'DELETE', `/api/orgs/${ORG}/members/${login}`, undefined, 204);
    } else {
      m.pending = m.state === 'admin' ? 'member' : 'admin';
      res = await send(ctx, 'PATCH', `/api/orgs/${ORG}/members/${login}`, { role: m.pending }, 204);
    }
    if (!res) return;
    model.applied[memberEvent(m.state, m.pending)]++;
    m.state = m.pending;
    m.pending = undefined;
  }
}

const memberEvent = (from, to) => (from === 'absent' ? 'member-added' : to === 'absent' ? 'member-removed' : 'member-role-changed');

async function teamChanger(ctx) {
  const { model } = ctx;
  while (!ctx.killed) {
    const existing = [...model.teams.entries()].filter(([name, t]) => t.state === 'exists' && name !== TEAM);
    if (existing.length === 0 || rand(3) === 0) {
      const name = `team-${ctx.runTag}-${model.serial++}`;
      const t = { state: 'creating', display: `Team ${name}`, pending: undefined };
      model.teams.set(name, t);
      const res = await send(ctx, 'POST', `/api/orgs/${ORG}/teams/pulumi`, { name, displayName: t.display, description: 'crash test' }, 201);
      if (!res) return;
      t.state = 'exists';
      model.applied['team-created']++;
    } else {
      const [name, t] = pick(existing);
      t.pending = `shown as ${model.serial++}`; // never the same twice: a no-op change writes no record
      const res = await send(ctx, 'PATCH', `/api/orgs/${ORG}/teams/${name}`, { newDisplayName: t.pending }, 204);
      if (!res) return;
      t.display = t.pending;
      t.pending = undefined;
      model.applied['team-updated']++;
    }
  }
}

async function policyChanger(ctx) {
  const { model } = ctx;
  const p = model.policy;
  while (!ctx.killed) {
    // 0 clears; 1 day is the least, still longer than every token the load uses lives.
    do p.pending = rand(4) === 0 ? 0 : 1 + rand(3650);
    while (p.pending === p.value);
    const res = await send(ctx, 'PATCH', `/api/orgs/${ORG}`, { setMaxAccessTokenExpiryDays: p.pending }, 200);
    if (!res) return;
    assert.equal(res.json.maxAccessTokenExpiryDays, p.pending || undefined, `policy reply: ${res.text}`);
    p.value = p.pending;
    p.pending = undefined;
    model.applied['organization-settings-changed']++;
  }
}

// ---------------------------------------------------------------------------------------------
// Checks after a restart.

const TOKEN_LISTS = {
  personal: { path: '/api/user/tokens?filter=all&maxResults=1000' },
  organization: { path: `/api/orgs/${ORG}/tokens?filter=all&maxResults=1000` },
  team: { path: `/api/orgs/${ORG}/teams/${TEAM}/tokens?filter=all&maxResults=1000` },
};

async function whoami(server, value) {
  const res = await api(server, 'GET', '/api/user', { token: value, validate: false });
  assert.ok(res.status === 200 || res.status === 401, `GET /api/user → ${res.status}: ${res.text}`);
  return res;
}

function assertActsAs(t, res, where) {
  assert.equal(res.status, 200, `${where}: acknowledged ${t.kind} token ${t.id} (${t.name}) must authenticate: ${res.text}`);
  if (t.kind === 'personal') {
    assert.equal(res.json.githubLogin, 'alice');
    assert.equal(res.json.tokenInfo, undefined);
  } else {
    assert.equal(res.json.githubLogin, ORG);
    assert.deepEqual(res.json.tokenInfo, { name: t.name, organization: ORG, team: t.kind === 'team' ? TEAM : '' });
  }
}

/**
 * Checks every token the model knows against the listings; authenticates with those not yet
 * checked since their last change (with `all`, with every one).
 */
async function checkTokens(ctx, server, where, all) {
  const { model } = ctx;
  const listed = {};
  for (const [kind, l] of Object.entries(TOKEN_LISTS)) {
    listed[kind] = new Map((await listAllOf(server, ctx.driver, l.path, 'tokens')).map((t) => [t.id, t]));
  }
  // In flight at the kill: a deletion may or may not have happened; a machine token creation
  // may have (it is listed under its name). Either way, the answer now is final. (The listing
  // decides: a token adopted from it below has no value to authenticate with.)
  for (const t of model.tokens.values()) {
    if (t.state !== 'unknown') continue;
    t.state = listed[t.kind].has(t.id) ? 'alive' : 'deleted';
    t.checked = false; // authenticates (or not) as the listing says: checked below
    if (t.state === 'deleted' && t.kind === 'organization') model.applied['organization-token-deleted']++;
  }
  for (const kind of ['organization', 'team']) {
    for (const t of listed[kind].values()) {
      if (!model.unackedNames.delete(t.name)) continue;
      // Created, though the answer never came: it counts from now on (but we never had its value).
      model.tokens.set(t.id, { id: t.id, value: null, kind, name: t.name, state: 'alive', checked: true });
      model.applied[`${kind}-token-created`]++;
    }
  }
  model.unackedNames.clear(); // the rest never happened, and never will

  for (const t of model.tokens.values()) {
    const shown = listed[t.kind].get(t.id);
    if (t.state === 'alive') {
      assert.ok(shown, `${where}: acknowledged ${t.kind} token ${t.id} (${t.name}) must be listed`);
      assert.equal(t.kind === 'personal' ? shown.description : shown.name, t.name);
    } else {
      assert.equal(t.state, 'deleted');
      assert.equal(shown, undefined, `${where}: deleted ${t.kind} token ${t.id} must not be listed`);
    }
  }
  const todo = [...model.tokens.values()].filter((t) => t.value && (all || !t.checked));
  await eachLimit(todo, 8, async (t) => {
    const res = await whoami(server, t.value);
    if (t.state === 'alive') assertActsAs(t, res, where);
    else assert.equal(res.status, 401, `${where}: deleted ${t.kind} token ${t.id} must get 401, got ${res.status}`);
    t.checked = true;
  });
}

async function checkMembers(ctx, server, where) {
  const { model } = ctx;
  const roles = new Map(
    (await listAllOf(server, ctx.driver, `/api/orgs/${ORG}/members`, 'members')).map((m) => [m.user.githubLogin, m.role]),
  );
  assert.equal(roles.get('alice'), 'admin');
  for (const [login, m] of model.members) {
    const actual = roles.get(login) ?? 'absent';
    const allowed = m.pending === undefined ? [m.state] : [m.state, m.pending];
    assert.ok(allowed.includes(actual), `${where}: member ${login} is ${actual}; acknowledged ${m.state}, in flight ${m.pending}`);
    if (m.pending !== undefined && actual === m.pending) model.applied[memberEvent(m.state, m.pending)]++;
    m.state = actual;
    m.pending = undefined;
  }
}

async function checkTeams(ctx, server, where) {
  const { model } = ctx;
  const res = await api(server, 'GET', `/api/orgs/${ORG}/teams`, { token: ctx.driver, validate: false });
  assert.equal(res.status, 200, res.text);
  const shown = new Map(res.json.teams.map((t) => [t.name, t]));
  for (const [name, t] of model.teams) {
    const s = shown.get(name);
    if (t.state === 'creating') {
      if (!s) {
        model.teams.delete(name); // never made
        continue;
      }
      model.applied['team-created']++;
      t.state = 'exists';
    }
    assert.ok(s, `${where}: acknowledged team ${name} must exist`);
    const allowed = t.pending === undefined ? [t.display] : [t.display, t.pending];
    assert.ok(allowed.includes(s.displayName), `${where}: team ${name} shows ${JSON.stringify(s.displayName)}; expected one of ${JSON.stringify(allowed)}`);
    if (t.pending !== undefined && s.displayName === t.pending) model.applied['team-updated']++;
    t.display = s.displayName;
    t.pending = undefined;
  }
}

async function checkPolicy(ctx, server, where) {
  const p = ctx.model.policy;
  const res = await api(server, 'GET', `/api/orgs/${ORG}/metadata`, { token: ctx.driver, validate: false });
  assert.equal(res.status, 200, res.text);
  const actual = res.json.maxAccessTokenExpiryDays ?? 0;
  const allowed = p.pending === undefined ? [p.value] : [p.value, p.pending];
  assert.ok(allowed.includes(actual), `${where}: policy is ${actual} days; acknowledged ${p.value}, in flight ${p.pending}`);
  if (p.pending !== undefined && actual === p.pending) ctx.model.applied['organization-settings-changed']++;
  p.value = actual;
  p.pending = undefined;
}

/** Exactly one audit record per change that took effect, none for anything else. */
function checkAuditCounts(ctx, where) {
  const counts = auditCounts(ctx.dbPath);
  for (const [event, n] of Object.entries(counts)) {
    assert.ok(EVENTS.includes(event), `${where}: unexpected audit events ${event} × ${n}`);
  }
  for (const event of EVENTS) {
    const want = (ctx.baseline[event] ?? 0) + ctx.model.applied[event];
    assert.equal(counts[event] ?? 0, want, `${where}: audit records of ${event}: ${counts[event] ?? 0}, changes that took effect: ${want}`);
  }
}

async function checkAll(ctx, server, where, all) {
  await checkTokens(ctx, server, where, all);
  await checkMembers(ctx, server, where);
  await checkTeams(ctx, server, where);
  await checkPolicy(ctx, server, where);
  checkAuditCounts(ctx, where);
}

// ---------------------------------------------------------------------------------------------

const serve = (dbPath) => spawnServer(dbPath, [], { startTimeoutMs: 30000 });

/**
 * Nothing but the listening line on stderr, and no files left behind by the killed process beside
 * the audit files (beside the database on SQLite, beside the audit key on PostgreSQL).
 */
function assertCleanStart(server, dbPath, where) {
  const lines = server.stderr().split('\n').filter(Boolean);
  assert.equal(lines.length, 1, `${where}: the restarted server printed more than its listening line:\n${server.stderr()}`);
  // The running server's own temporary file may come and go; a dead process's must be gone.
  const left = fs.readdirSync(auditFilesDir(dbPath)).filter((f) => f.includes('.tmp.') && !f.endsWith(`.tmp.${server.proc.pid}`));
  assert.deepEqual(left, [], `${where}: temporary files of killed processes remain beside the audit files`);
}

test(`crash consistency: ${CYCLES} SIGKILLs under concurrent load`, { timeout: TIME_LIMIT_MS }, async (t) => {
  t.diagnostic(`seed ${SEED} (TESSERA_CRASH_SEED replays it), ${CYCLES} cycles, ${CLIENTS} personal-token clients`);
  const started = Date.now();
  const dir = makeTempDir();
  const dbPath = newDb(dir);
  let server;
  try {
    bootstrap(dbPath, 'alice', ORG);
    // The load's token: alice, site admin and admin of acme, expiring well within any policy.
    const driver = tokenCreate(dbPath, 'alice', '--expires', String(nowSeconds() + 20 * HOUR));
    for (const login of MEMBER_POOLS.flat()) userAdd(dbPath, login);
    const ctx = { dbPath, driver, model: newModel(), runTag: SEED.toString(36), baseline: {} };
    for (const login of MEMBER_POOLS.flat()) ctx.model.members.set(login, { state: 'absent', pending: undefined });

    server = await serve(dbPath);
    const team = await api(server, 'POST', `/api/orgs/${ORG}/teams/pulumi`, {
      token: driver,
      json: { name: TEAM, displayName: 'Crew', description: '' },
    });
    assert.equal(team.status, 201, team.text);
    ctx.model.teams.set(TEAM, { state: 'exists', display: 'Crew', pending: undefined });
    ctx.baseline = auditCounts(dbPath);

    const killTimes = [];
    for (let cycle = 1; cycle <= CYCLES; cycle++) {
      const where = `cycle ${cycle} (seed ${SEED})`;
      Object.assign(ctx, { server, cycle, killed: false, killOnAck: false });
      const clients = [
        ...Array.from({ length: CLIENTS }, (_, i) => personalCreator(ctx, i)),
        machineCreator(ctx, 'organization'),
        machineCreator(ctx, 'team'),
        deleter(ctx),
        ...MEMBER_POOLS.map((pool) => memberChanger(ctx, pool)),
        teamChanger(ctx),
        policyChanger(ctx),
      ];
      const failures = [];
      const load = Promise.all(clients.map((c) => c.catch((e) => failures.push(e))));
      // Every other cycle the kill waits, after the delay, for the next acknowledgment to arrive
      // and strikes the moment it has: a reply sent before its commit was written would be lost.
      const killAfter = KILL_MIN_MS + rand(KILL_MAX_MS - KILL_MIN_MS + 1);
      const onAck = cycle % 2 === 0;
      killTimes.push(`${killAfter}${onAck ? '+ack' : ''}`);
      const dead = new Promise((resolve) => {
        ctx.kill = () => {
          if (ctx.killed) return;
          ctx.killed = true;
          ctx.killOnAck = false;
          server.proc.kill('SIGKILL');
          resolve();
        };
      });
      await sleep(killAfter);
      if (onAck) {
        ctx.killOnAck = true;
        let timer;
        // bounded, though the load always has answers coming
        await Promise.race([dead, new Promise((r) => (timer = setTimeout(r, 2000)))]);
        clearTimeout(timer);
      }
      ctx.kill();
      assert.deepEqual(await server.exited, { code: null, signal: 'SIGKILL' }, `${where}: ${server.stderr()}`);
      await load;
      if (failures.length) throw failures[0];

      auditVerify(dbPath, `after the kill of ${where}`);
      server = await serve(dbPath);
      await checkAll(ctx, server, where, false);
      assertCleanStart(server, dbPath, where);
    }

    // Everything again, against a server that has been through every crash, and after a clean stop.
    await checkAll(ctx, server, 'after the last cycle', true);
    await server.stop();
    server = undefined;
    auditVerify(dbPath, 'after the final clean stop');
    server = await serve(dbPath);
    await checkAll(ctx, server, 'after a clean restart', true);
    assertCleanStart(server, dbPath, 'after a clean restart');
    await server.stop();
    server = undefined;

    const m = ctx.model;
    const tokens = [...m.tokens.values()];
    const count = (kind, state) => tokens.filter((x) => x.kind === kind && x.state === state).length;
    t.diagnostic(
      `${m.stats.requests} requests, ${m.stats.acked} acknowledged, ${m.stats.inFlightAtKill} in flight at a kill; ` +
        `tokens alive/deleted: personal ${count('personal', 'alive')}/${count('personal', 'deleted')}, ` +
        `org ${count('organization', 'alive')}/${count('organization', 'deleted')}, team ${count('team', 'alive')}; ` +
        `audited changes ${Object.values(m.applied).reduce((a, b) => a + b, 0)}; ` +
        `kills at ${killTimes.join(',')} ms; ${Date.now() - started} ms`,
    );
  } finally {
    if (server && !server.exitInfo) {
      server.proc.kill('SIGKILL');
      await server.exited;
    }
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
