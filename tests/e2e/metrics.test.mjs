// GET /metrics (docs/METRICS.md): the server started with --metrics-listen 127.0.0.1:0 serves
// Prometheus' text format on a listener of its own, read here by the official Python client's
// parser (parse_metrics.py, python3-prometheus-client), so that the format is checked by
// Prometheus' code, not ours. Requests of known kinds are made between two scrapes, and each
// family must move by exactly what they did.
//
// Exactness needs a quiet server: every token used here is stamped as just used before its first
// use (used()), and --lastused-flush-seconds 86400 keeps it so, so that no lastUsed write commits
// in the background. A token the cache loaded when it was made (store/cache.c) still has the
// lastUsed it was made with, so its first use is written once, a tick later: the test that
// counts commits waits for the writer to be quiet first (quiet()). A reply is counted before it is
// sent: a scrape after it always sees it.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import {
  api,
  createToken,
  makeUnknownToken,
  memberAdd,
  nowSeconds,
  registerIssuer,
  runTessera,
  spawnServer,
  sql,
  sqlText,
  startMockIssuer,
  startServer,
  tokenCreate,
  userAdd,
} from './helpers.mjs';

// Every family, as the text names it in # TYPE (the parser drops a counter's _total).
const FAMILIES = {
  tessera_http_requests_total: 'counter',
  tessera_http_request_duration_seconds: 'histogram',
  tessera_http_requests_unrecorded_total: 'counter',
  tessera_build_info: 'gauge',
  tessera_start_time_seconds: 'gauge',
  tessera_auth_checks_total: 'counter',
  tessera_cache_lookups_total: 'counter',
  tessera_cache_invalidations_total: 'counter',
  tessera_cache_tokens: 'gauge',
  tessera_cache_complete: 'gauge',
  tessera_store_commits_total: 'counter',
  tessera_store_commit_failures_total: 'counter',
  tessera_store_group_commit_jobs: 'histogram',
  tessera_audit_records_total: 'counter',
  tessera_oidc_exchanges_total: 'counter',
  tessera_leaked_tokens_total: 'counter',
};
const familyName = (name) => (FAMILIES[name] === 'counter' ? name.replace(/_total$/, '') : name);

// Debian's python3 (which has python3-prometheus-client), else whichever is on PATH.
const python = fs.existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';
const parser = path.join(path.dirname(fileURLToPath(import.meta.url)), 'parse_metrics.py');

let srv;
let idp;
const tok = {};

/** Stamps tokens (all of them, or the one of that id) as used now: see above. */
function used(db, id) {
  sql(db, `UPDATE tokens SET last_used = ${nowSeconds()}${id ? ` WHERE id = ${sqlText(id)}` : ''}`);
}

before(async () => {
  idp = await startMockIssuer();
  srv = await startServer({
    extraArgs: ['--metrics-listen', '127.0.0.1:0', '--lastused-flush-seconds', '86400', '--allow-http-issuers'],
    setup(db) {
      userAdd(db, 'bob');
      memberAdd(db, 'acme', 'bob', 'member');
      tok.bob = tokenCreate(db, 'bob');
      used(db);
    },
  });
  tok.alice = srv.token;
  assert.match(srv.metricsUrl, /^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
  assert.notEqual(new URL(srv.metricsUrl).port, String(srv.server.port));
});

after(async () => {
  await srv?.stop();
  await idp?.stop();
});

/** The text's families as the official parser reads them: Map name → {type, help, samples}. */
function parse(text) {
  let out;
  try {
    out = execFileSync(python, [parser], { input: text, encoding: 'utf8', timeout: 20000, stdio: ['pipe', 'pipe', 'pipe'] });
  } catch (e) {
    assert.fail(`prometheus_client refused the metrics: ${e.stderr || e.message}\n${text}`);
  }
  return new Map(JSON.parse(out).map((f) => [f.name, f]));
}

/** GET a /metrics (the metrics listener's by default): {text, families}. */
async function scrape(url = srv.metricsUrl) {
  const res = await fetch(url, { signal: AbortSignal.timeout(10000) });
  const text = await res.text();
  assert.equal(res.status, 200, text);
  assert.equal(res.headers.get('content-type'), 'text/plain; version=0.0.4; charset=utf-8');
  return { text, families: parse(text) };
}

const sameLabels = (a, b) =>
  Object.keys(a).length === Object.keys(b).length && Object.entries(b).every(([k, v]) => a[k] === v);

/** The samples of a family (named as in FAMILIES). */
function samples(s, name) {
  const family = s.families.get(familyName(name));
  assert.ok(family, `no family ${name}`);
  return family.samples;
}

/** A counter's or gauge's value for exactly these labels (0 for a series not there yet). */
function value(s, name, labels = {}) {
  const m = samples(s, name).find((x) => x.name === name && sameLabels(x.labels, labels));
  return m ? m.value : 0;
}

/** A histogram's series for exactly these labels: {count, sum, buckets: {le: cumulative}}, its
 * buckets in the order written. */
function histogram(s, name, labels = {}) {
  const all = samples(s, name);
  const own = (suffix) => all.filter((x) => x.name === name + suffix);
  const bucketLabels = (x) => Object.fromEntries(Object.entries(x.labels).filter(([k]) => k !== 'le'));
  const buckets = own('_bucket').filter((x) => sameLabels(bucketLabels(x), labels));
  const one = (suffix) => own(suffix).find((x) => sameLabels(x.labels, labels))?.value ?? 0;
  return { count: one('_count'), sum: one('_sum'), les: buckets.map((x) => x.labels.le), buckets: Object.fromEntries(buckets.map((x) => [x.labels.le, x.value])) };
}

/** Every label set (le aside) a histogram has series for. */
function histogramLabelSets(s, name) {
  const seen = new Map();
  for (const x of samples(s, name).filter((m) => m.name === `${name}_count`)) seen.set(JSON.stringify(x.labels), x.labels);
  return [...seen.values()];
}

/** after - before of every named series: {key: delta}. */
function deltas(before, after, name, labelSets) {
  return Object.fromEntries(labelSets.map(([key, labels]) => [key, value(after, name, labels) - value(before, name, labels)]));
}

const AUTH_RESULTS = ['ok', 'unknown', 'expired', 'revoked', 'policy'];
const authDeltas = (b, a) => deltas(b, a, 'tessera_auth_checks_total', AUTH_RESULTS.map((r) => [r, { result: r }]));

test('the format: every family typed and described, histograms cumulative up to +Inf = count', async () => {
  assert.equal((await api(srv, 'GET', '/api/user', { token: tok.alice })).status, 200); // some series
  const s = await scrape();
  for (const [name, type] of Object.entries(FAMILIES)) {
    assert.equal(s.families.get(familyName(name))?.type, type, name);
    assert.ok(s.families.get(familyName(name)).help.length > 0, `${name} has HELP`);
    assert.ok(s.text.includes(`\n# TYPE ${name} ${type}\n`), `# TYPE ${name} ${type}`);
  }
  assert.deepEqual([...s.families.keys()].sort(), Object.keys(FAMILIES).map(familyName).sort(), 'no family left unchecked here');
  // Every sample line belongs to a family declared before it with # TYPE.
  const typed = new Set();
  for (const line of s.text.split('\n')) {
    const declared = /^# TYPE (\S+) (\S+)$/.exec(line);
    if (declared) typed.add(declared[1]);
    if (!line || line.startsWith('#')) continue;
    const name = /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(line)[0];
    const family = [name, name.replace(/_(bucket|sum|count)$/, '')].find((n) => typed.has(n));
    assert.ok(family, `sample before its # TYPE: ${line}`);
  }
  assert.ok(s.text.endsWith('\n'));
  for (const [name, type] of Object.entries(FAMILIES)) {
    if (type !== 'histogram') continue;
    const sets = histogramLabelSets(s, name);
    assert.ok(sets.length > 0, `${name} has series`);
    for (const labels of sets) {
      const h = histogram(s, name, labels);
      const what = `${name}${JSON.stringify(labels)}`;
      assert.equal(h.les.at(-1), '+Inf', `${what}: +Inf comes last`);
      const bounds = h.les.slice(0, -1).map(Number);
      assert.deepEqual(bounds, [...bounds].sort((a, b) => a - b), `${what}: bounds ascend`);
      const counts = h.les.map((le) => h.buckets[le]);
      for (let i = 1; i < counts.length; i++) assert.ok(counts[i] >= counts[i - 1], `${what}: buckets are cumulative`);
      assert.equal(counts.at(-1), h.count, `${what}: +Inf equals _count`);
    }
  }
  const durations = histogram(s, 'tessera_http_request_duration_seconds', { route: '/api/user', method: 'GET' });
  assert.deepEqual(durations.les, ['0.0001', '0.00025', '0.0005', '0.001', '0.0025', '0.005', '0.01', '0.025', '0.05', '0.1', '0.25', '0.5', '1', '2.5', '5', '10', '+Inf']);
  assert.deepEqual(histogram(s, 'tessera_store_group_commit_jobs').les, ['1', '2', '4', '8', '16', '32', '64', '128', '256', '512', '+Inf']);
  assert.equal(value(s, 'tessera_build_info', { version: '0.1.0' }), 1);
  const started = value(s, 'tessera_start_time_seconds');
  assert.ok(started > nowSeconds() - 3600 && started <= nowSeconds(), `start time ${started}`);
  assert.equal(value(s, 'tessera_http_requests_unrecorded_total'), 0);
});

test('requests are counted by route pattern, method and status; unmatched ones as other', async () => {
  const b = await scrape();
  assert.equal((await api(srv, 'GET', '/api/user', { token: tok.alice })).status, 200);
  assert.equal((await api(srv, 'GET', '/api/user', { token: tok.bob })).status, 200);
  assert.equal((await api(srv, 'GET', '/api/orgs/acme', { token: tok.alice })).status, 200);
  assert.equal((await api(srv, 'GET', '/api/orgs/nosuch', { token: tok.alice })).status, 404);
  assert.equal((await api(srv, 'GET', '/no/such/path-with-a-secret-pul-0123', { token: tok.alice })).status, 404);
  assert.equal((await api(srv, 'PUT', '/api/user', { token: tok.alice })).status, 405);
  assert.equal((await fetch(`${srv.url}/api/user`, { method: 'HEAD', headers: { Authorization: `token ${tok.alice}` } })).status, 200);
  // /metrics on the API's port is an unknown path unless --metrics-on-api.
  assert.equal((await api(srv, 'GET', '/metrics')).status, 404);
  const a = await scrape();
  const requests = (route, method, status) => ['tessera_http_requests_total', { route, method, status: String(status) }];
  const d = (route, method, status) => value(a, ...requests(route, method, status)) - value(b, ...requests(route, method, status));
  assert.equal(d('/api/user', 'GET', 200), 2);
  assert.equal(d('/api/user', 'HEAD', 200), 1);
  assert.equal(d('/api/orgs/{}', 'GET', 200), 1);
  assert.equal(d('/api/orgs/{}', 'GET', 404), 1);
  assert.equal(d('other', 'GET', 404), 2); // the unknown path and /metrics
  assert.equal(d('other', 'PUT', 405), 1);
  const total = (s) => samples(s, 'tessera_http_requests_total').reduce((n, m) => n + m.value, 0);
  assert.equal(total(a) - total(b), 8, 'nothing else counted, the scrapes on their own listener included');
  const hb = histogram(b, 'tessera_http_request_duration_seconds', { route: '/api/user', method: 'GET' });
  const ha = histogram(a, 'tessera_http_request_duration_seconds', { route: '/api/user', method: 'GET' });
  assert.equal(ha.count - hb.count, 2);
  assert.ok(ha.sum > hb.sum);
  for (const m of samples(a, 'tessera_http_requests_total')) {
    assert.deepEqual(Object.keys(m.labels).sort(), ['method', 'route', 'status']);
    assert.ok(m.labels.route === 'other' || m.labels.route.startsWith('/'), m.labels.route);
    assert.doesNotMatch(m.labels.route, /acme|nosuch|secret/, 'a route label is the pattern, never the path');
  }
});

test('credential checks are counted by result: ok, unknown, expired, revoked, policy', async () => {
  const expiring = await createToken(srv, tok.alice, { description: 'to expire', expires: nowSeconds() + 3600 });
  // Expired behind the server's back, before it was ever used (so never cached as valid).
  sql(srv, `UPDATE tokens SET expires = ${nowSeconds() - 10} WHERE id = ${sqlText(expiring.id)}`);
  const doomed = await createToken(srv, tok.alice, { description: 'to revoke' });
  used(srv, doomed.id);
  const b = await scrape();
  const user = (token) => api(srv, 'GET', '/api/user', token === undefined ? {} : { token });
  assert.equal((await user(tok.alice)).status, 200); // ok
  assert.equal((await user(undefined)).status, 401); // unknown: no credential
  assert.equal((await user('nonsense')).status, 401); // unknown: malformed
  assert.equal((await user(makeUnknownToken())).status, 401); // unknown: no such token
  assert.equal((await user(expiring.tokenValue)).status, 401); // expired
  assert.equal((await user(doomed.tokenValue)).status, 200); // ok, and now cached
  assert.equal((await api(srv, 'DELETE', `/api/user/tokens/${doomed.id}`, { token: tok.alice })).status, 204); // ok
  assert.equal((await user(doomed.tokenValue)).status, 401); // revoked
  const check = (token, query = '') => fetch(`${srv.url}/auth/check${query}`, { headers: token ? { Authorization: `token ${token}` } : {} });
  assert.equal((await check(tok.bob)).status, 204); // ok
  assert.equal((await check(tok.bob, '?org=nope')).status, 403); // policy
  assert.equal((await check(tok.bob, '?org=acme&role=admin')).status, 403); // policy
  assert.equal((await check(tok.bob, '?org=acme&role=owner')).status, 400); // ok: the token was fine
  assert.equal((await check('nonsense', '?org=acme')).status, 401); // unknown
  assert.equal((await check(doomed.tokenValue)).status, 401); // revoked
  assert.equal((await api(srv, 'GET', '/api/capabilities')).status, 200); // no credential needed: not counted
  const a = await scrape();
  assert.deepEqual(authDeltas(b, a), { ok: 5, unknown: 4, expired: 1, revoked: 2, policy: 2 });
  // The deletion dropped the revoked token's cache entry (its one dependant).
  assert.equal(value(a, 'tessera_cache_invalidations_total', { scope: 'entry' }) - value(b, 'tessera_cache_invalidations_total', { scope: 'entry' }), 1);
});

test('a console session\'s change without its CSRF token is a policy refusal', async () => {
  const signIn = await fetch(`${srv.url}/console/session`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ token: tok.bob }),
  });
  assert.equal(signIn.status, 200);
  const cookie = signIn.headers.get('set-cookie').split(';')[0];
  const b = await scrape();
  const res = await fetch(`${srv.url}/api/user/tokens`, { method: 'POST', headers: { Cookie: cookie, 'Content-Type': 'application/json' }, body: '{}' });
  assert.equal(res.status, 403);
  const a = await scrape();
  assert.deepEqual(authDeltas(b, a), { ok: 0, unknown: 0, expired: 0, revoked: 0, policy: 1 });
});

test('cache lookups: a new token is held from its making, each use one lookup; tokens held, complete', async () => {
  const b0 = await scrape();
  assert.equal(value(b0, 'tessera_cache_complete'), 1);
  const fresh = await createToken(srv, tok.alice, { description: 'fresh' });
  used(srv, fresh.id);
  const principal = (result) => ['tessera_cache_lookups_total', { cache: 'principal', result }];
  const b = await scrape();
  assert.equal(value(b, 'tessera_cache_tokens') - value(b0, 'tessera_cache_tokens'), 1, 'loaded when made');
  assert.equal((await api(srv, 'GET', '/api/user', { token: fresh.tokenValue })).status, 200);
  const between = await scrape();
  // A hit, unless the cache stopped trusting memory meanwhile (its feed unread for a second).
  assert.equal(['hit', 'miss'].reduce((n, r) => n + value(between, ...principal(r)) - value(b, ...principal(r)), 0), 1);
  assert.equal((await api(srv, 'GET', '/api/user', { token: fresh.tokenValue })).status, 200);
  const a = await scrape();
  // A hit, unless the cache stopped trusting memory meanwhile (its feed unread for a second).
  const lookups = ['hit', 'miss'].reduce((n, r) => n + value(a, ...principal(r)) - value(between, ...principal(r)), 0);
  assert.equal(lookups, 1);
});

/** Waits (bounded) until no commit happened for 1.5 s: any lastUsed write pending has landed. */
async function quiet() {
  let last = value(await scrape(), 'tessera_store_commits_total');
  for (let i = 0; i < 10; i++) {
    await new Promise((r) => setTimeout(r, 1500));
    const now = value(await scrape(), 'tessera_store_commits_total');
    if (now === last) return;
    last = now;
  }
  assert.fail('the writer never went quiet');
}

test('token creations: commits, jobs per commit and audit records', async () => {
  await quiet();
  const b = await scrape();
  const jobsBefore = histogram(b, 'tessera_store_group_commit_jobs');
  // Five organization tokens at once (each audited): they may share commits, never more than five.
  const made = await Promise.all(
    Array.from({ length: 5 }, (_, i) => api(srv, 'POST', '/api/orgs/acme/tokens', { token: tok.alice, json: { name: `ci-${i}`, description: '' } })),
  );
  for (const r of made) assert.equal(r.status, 200, r.text);
  const a = await scrape();
  const jobs = histogram(a, 'tessera_store_group_commit_jobs');
  const commits = value(a, 'tessera_store_commits_total') - value(b, 'tessera_store_commits_total');
  assert.equal(jobs.sum - jobsBefore.sum, 5, 'five jobs committed');
  assert.equal(jobs.count - jobsBefore.count, commits, 'one observation per commit');
  assert.ok(commits >= 1 && commits <= 5, `${commits} commits`);
  assert.equal(value(a, 'tessera_audit_records_total') - value(b, 'tessera_audit_records_total'), 5);
  assert.equal(value(a, 'tessera_store_commit_failures_total') - value(b, 'tessera_store_commit_failures_total'), 0);
  // One more, alone: exactly one commit of one job.
  const one = await api(srv, 'POST', '/api/orgs/acme/tokens', { token: tok.alice, json: { name: 'ci-alone', description: '' } });
  assert.equal(one.status, 200, one.text);
  const c = await scrape();
  assert.equal(value(c, 'tessera_store_commits_total') - value(a, 'tessera_store_commits_total'), 1);
  assert.equal(histogram(c, 'tessera_store_group_commit_jobs').buckets['1'] - jobs.buckets['1'], 1);
  assert.equal(value(c, 'tessera_audit_records_total') - value(a, 'tessera_audit_records_total'), 1);
});

test('OIDC exchanges are counted by result: ok and each RFC 6749 error code', async () => {
  const issuer = await registerIssuer(srv, tok.alice, 'ci', idp.issuer.url);
  const policy = await api(srv, 'PATCH', `/api/orgs/acme/auth/policies/${issuer.policyId}`, {
    token: tok.alice,
    json: { policies: [{ decision: 'allow', tokenType: 'organization', authorizedPermissions: [], rules: { sub: 'repo:acme/*' } }] },
  });
  assert.equal(policy.status, 200, policy.text);
  const idToken = await idp.issuer.buildToken({
    scopesOrTransform: (header, payload) => Object.assign(payload, { aud: 'urn:pulumi:org:acme', sub: 'repo:acme/infra' }),
  });
  const exchange = async (fields) => {
    const body = {
      grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
      subject_token_type: 'urn:ietf:params:oauth:token-type:id_token',
      subject_token: idToken,
      audience: 'urn:pulumi:org:acme',
      requested_token_type: 'urn:pulumi:token-type:access_token:organization',
      ...fields,
    };
    const res = await fetch(`${srv.url}/api/oauth/token`, { method: 'POST', body: new URLSearchParams(body) });
    return { status: res.status, json: await res.json() };
  };
  const b = await scrape();
  assert.equal((await exchange({})).status, 200);
  assert.equal((await exchange({ grant_type: 'password' })).json.error, 'unsupported_grant_type');
  assert.equal((await exchange({ audience: 'acme' })).json.error, 'invalid_target');
  assert.equal((await exchange({ requested_token_type: 'urn:x' })).json.error, 'invalid_request');
  assert.equal((await exchange({ audience: 'urn:pulumi:org:nosuch' })).json.error, 'invalid_grant');
  assert.equal((await exchange({ audience: 'urn:pulumi:org:nosuch' })).json.error, 'invalid_grant');
  const a = await scrape();
  const results = ['ok', 'invalid_request', 'invalid_grant', 'invalid_target', 'unsupported_grant_type', 'server_error'];
  assert.deepEqual(deltas(b, a, 'tessera_oidc_exchanges_total', results.map((r) => [r, { result: r }])), {
    ok: 1,
    invalid_request: 1,
    invalid_grant: 2,
    invalid_target: 1,
    unsupported_grant_type: 1,
    server_error: 0,
  });
  // The issued token and its audit record committed together.
  assert.equal(value(a, 'tessera_audit_records_total') - value(b, 'tessera_audit_records_total'), 1);
});

test('leak reports are counted by value: revoked or unknown; a refused report counts none', async () => {
  const t = await createToken(srv, tok.bob, { description: 'leaked' });
  const report = (body) =>
    fetch(`${srv.url}/api/tokens/leaks`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
  const b = await scrape();
  const leak = (token) => ({ token, type: 'tessera_token', url: 'https://example.com/x', source: 'test' });
  assert.equal((await report([leak(t.tokenValue), leak(makeUnknownToken()), leak('nonsense')])).status, 200);
  assert.equal((await report([{ type: 'no token' }])).status, 400);
  const a = await scrape();
  assert.deepEqual(deltas(b, a, 'tessera_leaked_tokens_total', [['revoked', { result: 'revoked' }], ['unknown', { result: 'unknown' }]]),
    { revoked: 1, unknown: 2 });
});

test('the metrics listener answers GET /metrics only; labels hold no secret', async () => {
  const base = new URL(srv.metricsUrl).origin;
  const head = await fetch(`${base}/metrics`, { method: 'HEAD' });
  assert.equal(head.status, 200);
  assert.equal(await head.text(), '');
  const user = await api(base, 'GET', '/api/user', { token: tok.alice });
  assert.equal(user.status, 404);
  assert.equal(user.json.message, 'Not Found: no route for /api/user.');
  const post = await api(base, 'POST', '/metrics', { json: {} });
  assert.equal(post.status, 405);
  assert.equal(post.headers.get('allow'), 'GET, HEAD');
  assert.equal((await api(base, 'GET', '/metrics/x')).status, 404);
  // Everything this file did is in there, and none of who did it.
  const { text } = await scrape();
  for (const secret of [tok.alice, tok.bob, tok.alice.slice(4), 'alice', 'bob', 'acme', 'nosuch', 'repo:acme']) {
    assert.ok(!text.includes(secret), `the metrics mention ${secret}`);
  }
});

test('--metrics-on-api serves /metrics on the API\'s port; --metrics-listen may not be --listen', async () => {
  const on = await spawnServer(srv.dbPath, ['--metrics-on-api']);
  try {
    assert.equal(on.metricsUrl, null, 'no listener of its own');
    const s = await scrape(`${on.url}/metrics`);
    assert.equal(value(s, 'tessera_build_info', { version: '0.1.0' }), 1);
    const again = await scrape(`${on.url}/metrics`);
    assert.equal(value(again, 'tessera_http_requests_total', { route: '/metrics', method: 'GET', status: '200' }), 1, 'the scrape before, by its own route');
    assert.equal((await api(on, 'DELETE', '/metrics')).status, 405);
  } finally {
    await on.stop();
  }
  const env = await spawnServer(srv.dbPath, [], { env: { TESSERA_METRICS_ON_API: '1', TESSERA_METRICS_LISTEN: '127.0.0.1:0' } });
  try {
    assert.ok(env.metricsUrl, 'TESSERA_METRICS_LISTEN starts the listener');
    assert.equal((await fetch(`${env.url}/metrics`)).status, 200, 'TESSERA_METRICS_ON_API=1');
    assert.equal((await fetch(env.metricsUrl)).status, 200);
  } finally {
    await env.stop();
  }
  const same = runTessera(['serve', '--db', srv.dbPath, '--listen', '127.0.0.1:18089', '--metrics-listen', '127.0.0.1:18089']);
  assert.equal(same.status, 2, same.stderr);
  assert.match(same.stderr, /--metrics-listen must differ from --listen/);
  const bad = runTessera(['serve', '--db', srv.dbPath, '--metrics-listen', 'nowhere']);
  assert.equal(bad.status, 2, bad.stderr);
  assert.match(bad.stderr, /--metrics-listen must be HOST:PORT/);
  const env2 = runTessera(['serve', '--db', srv.dbPath, '--listen', '127.0.0.1:0'], { env: { TESSERA_METRICS_ON_API: 'yes' } });
  assert.equal(env2.status, 2, env2.stderr);
  assert.match(env2.stderr, /TESSERA_METRICS_ON_API must be 1 or 0/);
  const help = runTessera(['serve', '--help']);
  assert.match(help.stdout, /--metrics-listen/);
  assert.match(help.stdout, /--metrics-on-api/);
});
