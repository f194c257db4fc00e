// The audit-log API: ListAuditLogEventsHandlerV1/V2 (JSON pages, filters, paging) and
// ExportAuditLogEventsHandlerV2 (gzipped CSV). Org admins only.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { api, memberAdd, sleep, startServer, tokenCreate, userAdd } from './helpers.mjs';

let srv;
const tok = {};

before(async () => {
  srv = await startServer({
    setup(db) {
      userAdd(db, 'bob'); // member
      userAdd(db, 'carol'); // outsider
      userAdd(db, 'erin');
      memberAdd(db, 'acme', 'bob', 'member');
      for (const u of ['bob', 'carol']) tok[u] = tokenCreate(db, u);
    },
  });
  tok.alice = srv.token;
  assert.equal((await api(srv, 'POST', '/api/orgs/acme/members/erin', { token: tok.alice, json: { role: 'member' } })).status, 200);
  assert.equal((await api(srv, 'PATCH', '/api/orgs/acme/members/erin', { token: tok.alice, json: { role: 'admin' } })).status, 204);
  // A refused attempt whose path carries a comma and a quote, for the CSV below.
  assert.equal((await api(srv, 'POST', '/api/orgs/acme/members/x,"y', { token: tok.bob, json: { role: 'member' } })).status, 403);
  // Refusal records are queued for the next group commit, not awaited: let it land first.
  for (let i = 0; i < 30; i++) {
    const res = await api(srv, 'GET', '/api/orgs/acme/auditlogs/v2?userFilter=bob', { token: tok.alice });
    if (res.json.auditLogEvents.length > 0) break;
    await sleep(100);
  }
});

after(async () => {
  await srv?.stop();
});

const v2 = (query = '', as = 'alice') => api(srv, 'GET', `/api/orgs/acme/auditlogs/v2${query}`, { token: tok[as] });

test('admins read the events of their organization, newest first', async () => {
  const res = await v2();
  assert.equal(res.status, 200);
  const events = res.json.auditLogEvents.map((e) => e.event);
  assert.deepEqual(events.slice(0, 3), ['auth-failure-organization-role', 'member-role-changed', 'member-added']);
  const added = res.json.auditLogEvents.find((e) => e.event === 'member-added');
  assert.equal(added.user.githubLogin, 'alice');
  assert.equal(added.sourceIP, '127.0.0.1');
  assert.equal(added.reqOrgAdmin, true);
  assert.equal(added.authFailure, false);
  assert.match(added.tokenID, /^[0-9a-f-]{36}$/);
  const refusal = res.json.auditLogEvents[0];
  assert.equal(refusal.authFailure, true);
  assert.equal(refusal.user.githubLogin, 'bob');
  assert.equal(res.json.continuationToken, undefined);
});

test('members get 403, outsiders 404', async () => {
  assert.equal((await v2('', 'bob')).status, 403);
  assert.equal((await v2('', 'carol')).status, 404);
  assert.equal((await api(srv, 'GET', '/api/orgs/acme/auditlogs/v2/export', { token: tok.bob })).status, 403);
});

test('filters: event, user and time bounds; V1 needs startTime or a continuation token', async () => {
  assert.deepEqual((await v2('?eventFilter=member-added')).json.auditLogEvents.map((e) => e.event), ['member-added']);
  assert.ok((await v2('?userFilter=bob')).json.auditLogEvents.every((e) => e.user.githubLogin === 'bob'));
  const now = Math.floor(Date.now() / 1000);
  assert.equal((await v2(`?startTime=${now + 3600}`)).json.auditLogEvents.length, 0);
  assert.ok((await v2(`?startTime=${now - 3600}&endTime=${now + 3600}`)).json.auditLogEvents.length >= 3);
  const v1 = (q) => api(srv, 'GET', `/api/orgs/acme/auditlogs${q}`, { token: tok.alice });
  assert.equal((await v1('')).status, 400);
  assert.ok((await v1(`?startTime=${now + 3600}`)).json.auditLogEvents.length >= 3, 'V1 startTime is "older than"');
  assert.equal((await v1(`?startTime=${now - 3600}`)).json.auditLogEvents.length, 0);
  for (const bad of ['?startTime=abc', '?endTime=-1', '?format=xml', '?continuationToken=zz', '?userFilter=no%20such']) {
    assert.equal((await v2(bad)).status, 400, bad);
  }
});

test('pages of 100 with a continuation token, every event exactly once', async () => {
  for (let i = 0; i < 105; i++) {
    assert.equal((await api(srv, 'PATCH', '/api/orgs/acme/members/erin', { token: tok.bob, json: { role: 'member' } })).status, 403);
  }
  // Refusal records are queued for the next group commit, not awaited: read until all have landed.
  const readAll = async () => {
    const seen = [];
    let token;
    let pages = 0;
    do {
      const res = await v2(token ? `?continuationToken=${encodeURIComponent(token)}` : '');
      assert.equal(res.status, 200);
      seen.push(...res.json.auditLogEvents.map((e) => `${e.timestamp}|${e.event}|${e.description}|${e.user.githubLogin}`));
      token = res.json.continuationToken;
      pages++;
    } while (token && pages < 10);
    return { seen, pages };
  };
  let result = await readAll();
  for (let i = 0; i < 30 && result.seen.length < 108; i++) {
    await sleep(100);
    result = await readAll();
  }
  const { seen, pages } = result;
  assert.equal(pages, 2);
  assert.ok(seen.length >= 108, `only ${seen.length} events`);
  assert.equal(seen.filter((s) => s.includes('member-added')).length, 1);
});

test('the export is gzipped CSV with the spec columns, cells quoted as RFC 4180 says', async () => {
  const res = await fetch(`${srv.url}/api/orgs/acme/auditlogs/v2/export?eventFilter=auth-failure-organization-role&userFilter=bob`, {
    headers: { Authorization: `token ${tok.alice}` },
  });
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('content-encoding'), 'gzip');
  assert.match(res.headers.get('content-type'), /^text\/plain/);
  const csv = await res.text(); // fetch undoes the gzip
  const lines = csv.split('\r\n').filter(Boolean);
  assert.equal(lines[0], 'timestamp,sourceIP,event,description,user,tokenID,tokenName,reqOrgAdmin,reqStackAdmin,authFailure');
  assert.ok(lines.length >= 107);
  // the path x,"y was percent-encoded in the record, so its comma needs quoting
  const odd = lines.find((l) => l.includes('x,%22y'));
  assert.ok(odd, 'the refusal with the odd path is exported');
  assert.match(odd, /^\d+,127\.0\.0\.1,auth-failure-organization-role,"POST \/api\/orgs\/acme\/members\/x,%22y refused: requires/);
  assert.ok(lines.slice(1).every((l) => /,bob,[0-9a-f-]{36},,true,false,true$/.test(l)));
  const bad = await fetch(`${srv.url}/api/orgs/acme/auditlogs/v2/export?format=cef`, { headers: { Authorization: `token ${tok.alice}` } });
  assert.equal(bad.status, 400);
});
