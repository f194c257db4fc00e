// The web console's server side: `tessera admin user passwd`, sign-in with a password or a token,
// the session cookie and its CSRF token on every change, sign-out, and the embedded files with
// their Content-Security-Policy. The pages themselves are tested in Chromium (tests/browser/).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { api, nowSeconds, poll, startServer, tesseraBin, tokenCreate, userAdd, memberAdd, passwd } from './helpers.mjs';

let srv;
let secure;
const tok = {};


before(async () => {
  srv = await startServer({
    setup(db) {
      userAdd(db, 'bob');
      memberAdd(db, 'acme', 'bob', 'member');
      tok.bob = tokenCreate(db, 'bob');
      assert.equal(passwd(db, 'alice', 'correct horse battery\n').status, 0);
      assert.equal(passwd(db, 'bob', 'bobs password\n').status, 0);
    },
  });
  tok.alice = srv.token;
  secure = await startServer({ extraArgs: ['--secure-cookies'], setup: (db) => passwd(db, 'alice', 'correct horse battery\n') });
});

after(async () => {
  await srv?.stop();
  await secure?.stop();
});

/** POST /console/session; returns {res, cookie (name=value), csrf}. */
async function signIn(server, body) {
  const res = await fetch(`${server.url}/console/session`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
  });
  const json = await res.json();
  const setCookie = res.headers.get('set-cookie') || '';
  return { res, json, setCookie, cookie: setCookie.split(';')[0], csrf: json.csrfToken };
}

const withCookie = (session, method, path, { csrf, json } = {}) =>
  fetch(`${srv.url}${path}`, {
    method,
    headers: {
      Cookie: session.cookie,
      ...(csrf ? { 'X-CSRF-Token': csrf } : {}),
      ...(json ? { 'Content-Type': 'application/json' } : {}),
    },
    body: json ? JSON.stringify(json) : undefined,
  });

test('user passwd reads the password from stdin and refuses weak or unknown input', () => {
  const short = passwd(srv.dbPath, 'alice', 'short\n');
  assert.equal(short.status, 1);
  assert.match(short.stderr, /8 to 256 characters/);
  assert.equal(passwd(srv.dbPath, 'nobody', 'long enough password\n').status, 1);
  assert.equal(spawnSync(tesseraBin, ['admin', 'user', 'passwd', '--db', srv.dbPath], { encoding: 'utf8' }).status, 2);
});

test('a password sign-in sets a private session cookie; wrong passwords and unknown logins look alike', async () => {
  const ok = await signIn(srv, { login: 'alice', password: 'correct horse battery' });
  assert.equal(ok.res.status, 200);
  assert.equal(ok.json.user.login, 'alice');
  assert.equal(ok.json.user.siteAdmin, true);
  assert.match(ok.csrf, /^[0-9a-f]{64}$/);
  assert.ok(Math.abs(ok.json.expires - (nowSeconds() + 12 * 3600)) <= 5);
  assert.match(ok.setCookie, /^tessera_session=[0-9a-f]{64}; HttpOnly; SameSite=Strict; Path=\/; Max-Age=43200$/);
  // A 12-hour session ends by itself: the API does not warn on each of its requests.
  const used = await withCookie(ok, 'GET', '/api/user');
  assert.equal(used.status, 200);
  assert.equal(used.headers.get('x-pulumi-warning'), null);
  const wrong = await signIn(srv, { login: 'alice', password: 'correct horse batterx' });
  const unknown = await signIn(srv, { login: 'mallory', password: 'correct horse battery' });
  for (const r of [wrong, unknown]) {
    assert.equal(r.res.status, 401);
    assert.equal(r.json.message, 'Unauthorized: wrong login or password.');
    assert.equal(r.setCookie, '');
  }
  assert.equal((await signIn(srv, { login: 'alice' })).res.status, 401);
  assert.equal((await signIn(srv, { login: 'alice', password: 'x', extra: 1 })).res.status, 400);
  // With --secure-cookies the cookie is Secure as well.
  const s = await signIn(secure, { login: 'alice', password: 'correct horse battery' });
  assert.match(s.setCookie, /; Secure$/);
});

test('after ten failed sign-ins an address waits out the minute, right password or not', async () => {
  // On its own server: the budget is per server process and client address.
  for (let i = 0; i < 10; i++) assert.equal((await signIn(secure, { login: 'alice', password: `guess ${i} wrong` })).res.status, 401);
  const blocked = await signIn(secure, { login: 'alice', password: 'correct horse battery' });
  assert.equal(blocked.res.status, 429);
  assert.equal(blocked.setCookie, '');
  assert.match(blocked.json.message, /^Too Many Requests: too many failed sign-ins/);
});

test('sign-in takes JSON from the console itself: no cross-site forms', async () => {
  const form = await fetch(`${srv.url}/console/session`, {
    method: 'POST',
    headers: { 'Content-Type': 'text/plain' },
    body: '{"login":"bob","password":"bobs password"}',
  });
  assert.equal(form.status, 415);
  assert.equal(form.headers.get('set-cookie'), null);
  const cross = await fetch(`${srv.url}/console/session`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', 'Sec-Fetch-Site': 'cross-site' },
    body: JSON.stringify({ login: 'bob', password: 'bobs password' }),
  });
  assert.equal(cross.status, 403);
  assert.equal(cross.headers.get('set-cookie'), null);
});

test('a session opened with a token lives no longer than it, ends with it, and obeys the org cap as it', async () => {
  const shortLived = (await api(srv, 'POST', '/api/user/tokens', { token: tok.bob, json: { expires: nowSeconds() + 600 } })).json;
  const s = await signIn(srv, { token: shortLived.tokenValue });
  assert.equal(s.res.status, 200);
  assert.ok(Math.abs(s.json.expires - (nowSeconds() + 600)) <= 5, 'capped at the token\'s expiry');
  assert.equal((await withCookie(s, 'GET', '/api/user')).status, 200);
  assert.equal((await api(srv, 'DELETE', `/api/user/tokens/${shortLived.id}`, { token: tok.bob })).status, 204);
  assert.equal((await withCookie(s, 'GET', '/api/user')).status, 401, 'revoking the token ended the session');
  // Under a lifetime cap, a session opened with a never-expiring token is that token.
  const short = (await api(srv, 'POST', '/api/user/tokens', { token: tok.alice, json: { expires: nowSeconds() + 3600 } })).json.tokenValue;
  assert.equal((await api(srv, 'PATCH', '/api/orgs/acme', { token: short, json: { setMaxAccessTokenExpiryDays: 1 } })).status, 200);
  try {
    const laundered = await signIn(srv, { token: tok.bob });
    assert.equal((await withCookie(laundered, 'GET', '/api/orgs/acme/members')).status, 403);
  } finally {
    assert.equal((await api(srv, 'PATCH', '/api/orgs/acme', { token: short, json: { setMaxAccessTokenExpiryDays: 0 } })).status, 200);
  }
});

test('a new password ends the user\'s console sessions', async () => {
  const s = await signIn(srv, { login: 'bob', password: 'bobs password' });
  assert.equal((await withCookie(s, 'GET', '/api/user')).status, 200);
  assert.equal(passwd(srv.dbPath, 'bob', 'bobs new password\n').status, 0);
  try {
    // Another process's write: the server's cache sees it at its next change poll (every 100 ms),
    // so wait for it as cache.test.mjs does rather than race the poll.
    let status;
    await poll(async () => (status = (await withCookie(s, 'GET', '/api/user')).status) === 401, {
      timeoutMs: 3000,
      intervalMs: 20,
    });
    assert.equal(status, 401);
    assert.equal((await signIn(srv, { login: 'bob', password: 'bobs password' })).res.status, 401);
  } finally {
    assert.equal(passwd(srv.dbPath, 'bob', 'bobs password\n').status, 0); // the later tests sign in with it
  }
});

test('a person may sign in with their own access token; machine tokens may not', async () => {
  const ok = await signIn(srv, { token: tok.bob });
  assert.equal(ok.res.status, 200);
  assert.equal(ok.json.user.login, 'bob');
  const org = (await api(srv, 'POST', '/api/orgs/acme/tokens', { token: tok.alice, json: { name: 'robot', description: '', expires: 0, admin: true } })).json.tokenValue;
  assert.equal((await signIn(srv, { token: org })).res.status, 401);
  assert.equal((await signIn(srv, { token: 'pul-' + '0'.repeat(40) })).res.status, 401);
  assert.equal((await signIn(srv, { token: tok.bob, login: 'bob' })).res.status, 401);
});

test('the cookie authenticates the API; every change needs the CSRF token', async () => {
  const s = await signIn(srv, { login: 'bob', password: 'bobs password' });
  const me = await withCookie(s, 'GET', '/api/user');
  assert.equal(me.status, 200);
  assert.equal((await me.json()).githubLogin, 'bob');
  const before = (await api(srv, 'GET', '/api/user/tokens', { token: tok.bob })).json.tokens.length;
  for (const csrf of [undefined, 'f'.repeat(64), s.csrf.slice(0, 63)]) {
    const res = await withCookie(s, 'POST', '/api/user/tokens', { csrf, json: { description: 'csrf' } });
    assert.equal(res.status, 403, `csrf ${csrf}`);
    assert.deepEqual(await res.json(), { code: 403, message: 'Forbidden: CSRF token missing or wrong.' });
  }
  assert.equal((await api(srv, 'GET', '/api/user/tokens', { token: tok.bob })).json.tokens.length, before);
  const made = await withCookie(s, 'POST', '/api/user/tokens', { csrf: s.csrf, json: { description: 'from the console', expires: nowSeconds() + 86400 } });
  assert.equal(made.status, 200);
  const listed = (await api(srv, 'GET', '/api/user/tokens', { token: tok.bob })).json.tokens;
  assert.equal(listed.length, before + 1);
  assert.equal(listed.find((t) => t.description === 'from the console').source, 'console');
  // Sessions are not tokens to list.
  assert.ok(listed.every((t) => t.source !== 'session'));
  // GET /console/session restores the session (same CSRF token) for a reloaded page.
  const again = await withCookie(s, 'GET', '/console/session');
  assert.equal(again.status, 200);
  assert.equal((await again.json()).csrfToken, s.csrf);
});

test('cookies and headers do not mix: a session value is no bearer token, a token is no cookie', async () => {
  const s = await signIn(srv, { login: 'bob', password: 'bobs password' });
  const value = s.cookie.split('=')[1];
  assert.equal((await api(srv, 'GET', '/api/user', { token: value })).status, 401);
  const asCookie = await fetch(`${srv.url}/api/user`, { headers: { Cookie: `tessera_session=${tok.bob}` } });
  assert.equal(asCookie.status, 401);
  // A header wins over the cookie.
  const both = await fetch(`${srv.url}/api/user`, { headers: { Cookie: s.cookie, Authorization: `token ${tok.alice}` } });
  assert.equal((await both.json()).githubLogin, 'alice');
  // The session routes answer to the cookie only.
  assert.equal((await api(srv, 'GET', '/console/session', { token: tok.bob })).status, 401);
});

test('sign-out revokes the session at once and clears the cookie', async () => {
  const s = await signIn(srv, { login: 'bob', password: 'bobs password' });
  assert.equal((await withCookie(s, 'DELETE', '/console/session')).status, 403); // no CSRF token
  const out = await withCookie(s, 'DELETE', '/console/session', { csrf: s.csrf });
  assert.equal(out.status, 204);
  assert.match(out.headers.get('set-cookie'), /^tessera_session=; HttpOnly; SameSite=Strict; Path=\/; Max-Age=0$/);
  assert.equal((await withCookie(s, 'GET', '/api/user')).status, 401);
  assert.equal((await withCookie(s, 'GET', '/console/session')).status, 401);
});

test('console sessions are exempt from the org lifetime policy, like Pulumi web sessions', async () => {
  const short = (await api(srv, 'POST', '/api/user/tokens', { token: tok.alice, json: { expires: nowSeconds() + 3600 } })).json.tokenValue;
  assert.equal((await api(srv, 'PATCH', '/api/orgs/acme', { token: short, json: { setMaxAccessTokenExpiryDays: 1 } })).status, 200);
  try {
    assert.equal((await api(srv, 'GET', '/api/orgs/acme', { token: tok.bob })).status, 403);
    const s = await signIn(srv, { login: 'bob', password: 'bobs password' });
    assert.equal((await withCookie(s, 'GET', '/api/orgs/acme')).status, 200);
  } finally {
    assert.equal((await api(srv, 'PATCH', '/api/orgs/acme', { token: short, json: { setMaxAccessTokenExpiryDays: 0 } })).status, 200);
  }
});

test('the console is served from the binary under a strict Content-Security-Policy', async () => {
  const page = await fetch(`${srv.url}/`);
  assert.equal(page.status, 200);
  assert.match(page.headers.get('content-type'), /^text\/html/);
  const csp = page.headers.get('content-security-policy');
  assert.match(csp, /default-src 'none'/);
  assert.match(csp, /script-src 'self'(;|$)/);
  assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
  assert.match(csp, /frame-ancestors 'none'/);
  const html = await page.text();
  assert.doesNotMatch(html, /<script(?![^>]*\bsrc=)[^>]*>/i, 'no inline script');
  assert.doesNotMatch(html, /\son[a-z]+=/i, 'no inline handlers');
  const scripts = [...html.matchAll(/<script[^>]*\bsrc="\/console\/([^"]+)"/g)].map((m) => m[1]);
  assert.ok(scripts.length >= 1, 'the page loads its script from /console/');
  const js = await fetch(`${srv.url}/console/${scripts[0]}`);
  assert.equal(js.status, 200);
  assert.match(js.headers.get('content-type'), /^text\/javascript/);
  assert.ok(js.headers.get('content-security-policy'));
  for (const [bad, status] of [
    ['/console/nope.js', 404], // no such asset
    ['/console/..%2Fsecret', 400], // an encoded '/' is refused before routing
    ['/console/index.exe', 404],
    ['/console/session', 401], // a real route, but no session cookie
    ['/cli-login', 400], // the CLI's browser login, without its query: the error page
    ['/cli-login?cliSessionPort=8080&cliSessionNonce=aaaaaaaaaaaaaaaa', 200],
    ['/welcome/cli', 200],
    // The path as routed, decoded, decides: an encoded letter is no way around the policy.
    ['/%63onsole/index.html', 200],
    ['/%63li-login?x=1', 400],
    ['/cli-logi%6E?cliSessionPort=8080&cliSessionNonce=aaaaaaaaaaaaaaaa', 200],
    ['/welcome/%63li', 200],
  ]) {
    const res = await fetch(`${srv.url}${bad}`);
    assert.equal(res.status, status, bad);
    assert.match(res.headers.get('content-security-policy') || '', /default-src 'none'/, `CSP on ${bad}`);
  }
});
