// Token expiry: X-Pulumi-Warning within 7 days of expiry, 401 once expired, filter=expired.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { api, assert401, createToken, listTokens, nowSeconds, sleep, startServer } from './helpers.mjs';

let srv;
before(async () => {
  srv = await startServer();
});
after(async () => {
  await srv?.stop();
});

/** Does the warning text mention the instant `epoch` in some common notation? */
function mentionsTime(text, epoch) {
  const d = new Date(epoch * 1000);
  const iso = d.toISOString().replace(/\.\d{3}Z$/, 'Z');
  const forms = [String(epoch), iso, iso.slice(0, 19), iso.slice(0, 19).replace('T', ' '), d.toUTCString()];
  return forms.some((f) => text.includes(f));
}

const ids = (body) => body.tokens.map((t) => t.id);

test('a token expiring within 7 days carries X-Pulumi-Warning on every authenticated response', async () => {
  const exp = nowSeconds() + 6 * 86400;
  const t = await createToken(srv, srv.token, { description: 'six days', expires: exp });
  const responses = {
    'GET /api/user': await api(srv, 'GET', '/api/user', { token: t.tokenValue }),
    'GET /api/user/tokens': await api(srv, 'GET', '/api/user/tokens', { token: t.tokenValue }),
    'GET /api/user/organizations/default': await api(srv, 'GET', '/api/user/organizations/default', {
      token: t.tokenValue,
    }),
    'POST /api/user/tokens': await api(srv, 'POST', '/api/user/tokens', { token: t.tokenValue, json: {} }),
  };
  for (const [what, res] of Object.entries(responses)) {
    assert.equal(res.status, 200, `${what}: ${res.text}`);
    const w = res.headers.get('x-pulumi-warning');
    assert.ok(w, `${what}: X-Pulumi-Warning expected`);
    assert.ok(mentionsTime(w, exp), `${what}: warning ${JSON.stringify(w)} should mention the expiry time ${exp}`);
  }
});

test('no X-Pulumi-Warning for a never-expiring token or one expiring in 30 days', async () => {
  const never = await api(srv, 'GET', '/api/user', { token: srv.token });
  assert.equal(never.status, 200);
  assert.equal(never.headers.get('x-pulumi-warning'), null);
  const t = await createToken(srv, srv.token, { expires: nowSeconds() + 30 * 86400 });
  const res = await api(srv, 'GET', '/api/user', { token: t.tokenValue });
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('x-pulumi-warning'), null);
});

test('a token with expires = now + 2 s works, warns, then gets 401 and is listed as expired', async () => {
  const exp = nowSeconds() + 2;
  const t = await createToken(srv, srv.token, { description: 'two seconds', expires: exp });

  const ok = await api(srv, 'GET', '/api/user', { token: t.tokenValue });
  assert.equal(ok.status, 200, ok.text);
  const w = ok.headers.get('x-pulumi-warning');
  assert.ok(w, 'X-Pulumi-Warning expected for a token about to expire');
  assert.ok(mentionsTime(w, exp), `warning ${JSON.stringify(w)} should mention ${exp}`);

  const active = await listTokens(srv, srv.token, '?filter=active&maxResults=1000');
  assert.ok(ids(active).includes(t.id), 'not yet expired: listed as active');
  const expiredBefore = await listTokens(srv, srv.token, '?filter=expired&maxResults=1000');
  assert.ok(!ids(expiredBefore).includes(t.id), 'not yet expired: not under filter=expired');

  // Wait until strictly past the expiry second (about 3 s from creation).
  const waitMs = (exp + 1) * 1000 + 150 - Date.now();
  if (waitMs > 0) await sleep(waitMs);

  assert401(await api(srv, 'GET', '/api/user', { token: t.tokenValue }), 'expired token');
  assert401(await api(srv, 'GET', '/api/user/tokens', { token: t.tokenValue }), 'expired token');

  const expired = await listTokens(srv, srv.token, '?filter=expired&maxResults=1000');
  assert.ok(ids(expired).includes(t.id), 'listed under filter=expired');
  const entry = expired.tokens.find((x) => x.id === t.id);
  assert.equal(entry.expires, exp);
  assert.equal(entry.description, 'two seconds');
  for (const x of expired.tokens) assert.ok(x.expires > 0 && x.expires <= nowSeconds(), 'only expired tokens');

  const activeAfter = await listTokens(srv, srv.token, '?filter=active&maxResults=1000');
  assert.ok(!ids(activeAfter).includes(t.id), 'no longer active');
  const def = await listTokens(srv, srv.token, '?maxResults=1000');
  assert.ok(!ids(def).includes(t.id), 'default filter is active');
  const all = await listTokens(srv, srv.token, '?filter=all&maxResults=1000');
  assert.ok(ids(all).includes(t.id), 'filter=all includes expired');
  assert.ok(ids(all).includes(activeAfter.tokens[0].id), 'filter=all includes active');
  assert.equal(all.tokens.length, activeAfter.tokens.length + expired.tokens.length);
  const legacy = await listTokens(srv, srv.token, '?show_expired=true&maxResults=1000');
  assert.deepEqual(ids(legacy), ids(all), 'show_expired=true equals filter=all');
});

test('an RFC 3339 expiry at or before the Unix epoch is in the past, not "never"', async () => {
  for (const expires of ['1970-01-01T00:00:00Z', '1970-01-01T01:00:00+01:00', '1969-12-31T23:59:59Z']) {
    const res = await api(srv, 'POST', '/api/user/tokens', { token: srv.token, json: { expires } });
    assert.equal(res.status, 400, expires);
    assert.match(res.json.message, /past/);
  }
});
