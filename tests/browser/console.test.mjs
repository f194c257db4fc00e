// Browser tests of the web console: a real `tessera serve`, Debian's Chromium driven headless by
// playwright-core. One scenario, in order: each test builds on the state the previous one left
// (signed in, tokens made, policy set). Screenshots of every page and state go to screenshots/.
//
//   cd tests && TESSERA_BIN=../build/tessera node --test browser/

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { startServer, tesseraBin, userAdd, memberAdd, api, TOKEN_RE } from '../e2e/helpers.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const shotsDir = path.join(here, 'screenshots');
const chromiumPath = process.env.CHROMIUM || '/usr/bin/chromium';
const PASSWORD = 'correct horse';
const CSV_HEADER = 'timestamp,sourceIP,event,description,user,tokenID,tokenName,reqOrgAdmin,reqStackAdmin,authFailure';
const STEP = { timeout: 20000 };

// A static key set, so registering an issuer fetches nothing.
const JWKS = {
  keys: [
    {
      kty: 'RSA',
      kid: 'browser-test',
      alg: 'RS256',
      use: 'sig',
      e: 'AQAB',
      n: 'sXchDaQebHnPiGvyDOAT4saGEUetSyo9MKLOoWFsueri23bOdgWp4Dy1WlUzewbgBHod5pcM9H95GQRV3JDXboIRROSBigeC5yjU1hGzHHyXss8UDprecbAYxknTcQkhslANGRUZmdTOQ5qTRsLAt6BTYuyvVRdhS8exSZEy_c4gs_7svlJJQ4H9_NxsiIoLwAEk7-Q3UXERGYw_75IDrGA84-lA_-Ct4eTlXHBIY2EaV7t7LjJaynVJCpkv4LKjTTAumiGUIuQhrNhZLuF_RJLqHpM2kgWFLU7-VTdL1VbC2tejvcI2BlMkEpk1BzBZI0KQB0GaDWFLN-aEAw3vRw',
    },
  ],
};

let srv;
let browser;
let context;
let page;
let createdToken; // {value, description}

// Console errors and page errors, minus the failed requests a step provokes on purpose (a page
// load without a session, a wrong password: Chromium logs each non-2xx response as an error).
const problems = [];
const expectedFailures = [{ status: 401, path: '/console/session' }];
function watch(p) {
  p.on('console', (m) => {
    if (m.type() !== 'error' && m.type() !== 'warning') return;
    const text = m.text();
    const where = m.location().url || '';
    const failed = /^Failed to load resource: the server responded with a status of (\d+)/.exec(text);
    if (failed) {
      const pathname = where ? new URL(where).pathname : '';
      if (expectedFailures.some((e) => e.status === Number(failed[1]) && e.path === pathname)) return;
    }
    if (m.type() === 'warning' && !/Content Security Policy|Refused/i.test(text)) return;
    problems.push(`${m.type()}: ${text} (${where})`);
  });
  p.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
}

async function shot(name, p = page) {
  // caret: 'initial' keeps Playwright from writing style attributes into inputs to hide the caret.
  await p.screenshot({ path: path.join(shotsDir, `${name}.png`), fullPage: true, caret: 'initial', timeout: 10000 });
}

/** No inline style or on* handler attributes anywhere in the live DOM. */
async function assertCleanDom(p = page) {
  const bad = await p.evaluate(() => {
    const out = [];
    for (const el of document.querySelectorAll('*')) {
      for (const a of el.attributes) {
        if (a.name === 'style' || a.name.startsWith('on')) out.push(`${el.tagName.toLowerCase()}[${a.name}=${a.value}] ${el.outerHTML.slice(0, 200)}`);
      }
    }
    return out;
  });
  assert.deepEqual(bad, [], 'inline style or event-handler attributes in the DOM');
}

async function sessionCookie() {
  const cookies = await context.cookies(srv.url);
  return cookies.find((c) => c.name === 'tessera_session');
}

const cookieHeader = (value) => ({ Cookie: `tessera_session=${value}` });

/** The CSRF token for a session value, as a fresh page load would get it. */
async function csrfFor(value) {
  const res = await api(srv, 'GET', '/console/session', { headers: cookieHeader(value) });
  assert.equal(res.status, 200, res.text);
  return res.json.csrfToken;
}

/** YYYY-MM-DD, in the browser's time zone, `days` from now. */
function dateInDays(days) {
  return page.evaluate((d) => {
    const t = new Date();
    t.setDate(t.getDate() + d);
    const p2 = (n) => String(n).padStart(2, '0');
    return `${t.getFullYear()}-${p2(t.getMonth() + 1)}-${p2(t.getDate())}`;
  }, days);
}

// Chromium starts in well under a second here, yet once in CI it printed nothing for 15 s and
// every test failed. A launch gets 60 s and one more try; a failed try prints what the machine
// looked like (load, memory, the temp and shared-memory file systems), so a repeat is diagnosable.
async function launchChromium() {
  for (let attempt = 1; ; attempt++) {
    const started = Date.now();
    try {
      return await chromium.launch({ executablePath: chromiumPath, args: ['--no-sandbox'], timeout: 60000 });
    } catch (err) {
      const df = spawnSync('df', ['-h', os.tmpdir(), '/dev/shm'], { encoding: 'utf8' }).stdout;
      console.log(
        `# Chromium launch ${attempt} failed after ${Date.now() - started} ms: ${err.message.split('\n')[0]}\n` +
          `# load ${os.loadavg().join(' ')}, free memory ${Math.round(os.freemem() / 2 ** 20)} MiB\n` +
          df.replace(/^/gm, '# '),
      );
      if (attempt === 2) throw err;
    }
  }
}

async function signInWithPassword(p = page, password = PASSWORD) {
  await p.getByLabel('Login', { exact: true }).fill('alice');
  await p.getByLabel('Password', { exact: true }).fill(password);
  await p.getByRole('button', { name: 'Sign in' }).click();
}

before(
  async () => {
    assert.ok(fs.existsSync(chromiumPath), `no Chromium at ${chromiumPath} (apt-get install chromium, or set CHROMIUM)`);
    fs.mkdirSync(shotsDir, { recursive: true });
    srv = await startServer({
      setup(db) {
        userAdd(db, 'bob', '--name', 'Bob Builder');
        userAdd(db, 'carol', '--name', 'Carol Jones');
        memberAdd(db, 'acme', 'bob', 'member');
        const r = spawnSync(tesseraBin, ['admin', 'user', 'passwd', '--db', db, 'alice'], {
          input: `${PASSWORD}\n`,
          encoding: 'utf8',
          timeout: 15000,
        });
        assert.equal(r.status, 0, `tessera admin user passwd failed: ${r.stderr}`);
      },
    });
    browser = await launchChromium();
    context = await browser.newContext({ viewport: { width: 1280, height: 800 }, acceptDownloads: true });
    await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: srv.url });
    // CSP violations also reach the console as errors; this makes sure none is missed.
    await context.addInitScript(() => {
      document.addEventListener('securitypolicyviolation', (e) =>
        console.error(`CSP violation: ${e.violatedDirective} ${e.blockedURI}`),
      );
    });
    page = await context.newPage();
    page.setDefaultTimeout(5000);
    page.setDefaultNavigationTimeout(10000);
    watch(page);
  },
  { timeout: 150000 },
);

after(
  async () => {
    if (browser) await browser.close();
    if (srv) await srv.stop();
  },
  { timeout: 20000 },
);

test('the console is served with its strict CSP and shows the sign-in form', STEP, async () => {
  const res = await page.goto(`${srv.url}/`);
  assert.equal(res.status(), 200);
  const headers = res.headers();
  assert.match(headers['content-security-policy'], /default-src 'none'/);
  assert.match(headers['content-security-policy'], /script-src 'self'/);
  assert.match(headers['content-security-policy'], /style-src 'self'/);
  assert.equal(headers['x-content-type-options'], 'nosniff');
  await page.getByRole('heading', { name: 'Sign in' }).waitFor();
  await page.getByLabel('Login', { exact: true }).waitFor();
  assert.equal(await page.evaluate(() => document.activeElement && document.activeElement.name), 'username', 'the login field has focus');
  await assertCleanDom();
  await shot('01-sign-in');
});

test('a wrong password shows the error and makes no session', STEP, async () => {
  await signInWithPassword(page, 'not the password');
  const alert = page.getByRole('alert');
  await alert.waitFor();
  assert.match(await alert.textContent(), /wrong login or password/i);
  assert.equal(await sessionCookie(), undefined, 'no session cookie after a failed sign-in');
  assert.equal(await page.getByLabel('Password', { exact: true }).inputValue(), '', 'the password field is cleared');
  await shot('02-wrong-password');
});

test('sign in with a password: the personal tokens page, and an HttpOnly SameSite=Strict cookie', STEP, async () => {
  await signInWithPassword();
  await page.getByRole('heading', { name: 'Personal access tokens' }).waitFor();
  await page.getByRole('cell', { name: 'bootstrap', exact: true }).waitFor();
  const cookie = await sessionCookie();
  assert.ok(cookie, 'a session cookie is set');
  assert.equal(cookie.httpOnly, true);
  assert.equal(cookie.sameSite, 'Strict');
  assert.equal(cookie.path, '/');
  // The page cannot read it, and the session is not listed among the tokens.
  assert.equal(await page.evaluate(() => document.cookie.includes('tessera_session')), false);
  const list = await api(srv, 'GET', '/api/user/tokens?filter=all', { headers: cookieHeader(cookie.value) });
  assert.equal(list.status, 200);
  assert.deepEqual(list.json.tokens.map((t) => t.description), ['bootstrap']);
  await assertCleanDom();
  await shot('03-personal-tokens');
});

test('create a token expiring in 10 days, copy its value once, and use it with the API', STEP, async () => {
  await page.getByRole('button', { name: 'Create token' }).click();
  const dialog = page.getByRole('dialog', { name: 'Create a personal access token' });
  await dialog.waitFor();
  assert.equal(await page.evaluate(() => document.activeElement && document.activeElement.closest('dialog') !== null), true, 'focus moves into the dialog');
  const description = `browser test ${Date.now()}`;
  await dialog.getByLabel('Description').fill(description);
  await dialog.getByLabel('Expiry date').fill(await dateInDays(10));
  assert.equal(await dialog.getByRole('radio', { name: 'On a date' }).isChecked(), true, 'picking a date selects "On a date"');
  await shot('04-create-token-dialog');
  await dialog.getByRole('button', { name: 'Create token' }).click();

  const reveal = page.getByRole('dialog', { name: 'Token created' });
  await reveal.waitFor();
  assert.match(await reveal.textContent(), /you will not see this value again/i);
  const value = await reveal.getByLabel('Token value').inputValue();
  assert.match(value, TOKEN_RE);
  await reveal.getByRole('button', { name: 'Copy' }).click();
  await reveal.getByText('Copied to the clipboard.').waitFor();
  const clipboard = await page.evaluate(() => navigator.clipboard.readText());
  assert.equal(clipboard, value, 'the clipboard holds the shown value');
  await shot('05-token-value-once');
  await reveal.getByRole('button', { name: 'Done' }).click();
  await reveal.waitFor({ state: 'detached' });
  assert.equal(await page.getByText(value).count(), 0, 'the value is gone from the page');

  const row = page.getByRole('row').filter({ hasText: description });
  await row.waitFor();
  await row.getByRole('cell', { name: 'in 10 days', exact: true }).waitFor();
  await row.getByText('active', { exact: true }).waitFor();
  await row.getByRole('cell', { name: 'Console', exact: true }).waitFor();
  await shot('06-token-in-table');

  const who = await api(srv, 'GET', '/api/user', { token: value });
  assert.equal(who.status, 200);
  assert.equal(who.json.githubLogin, 'alice');
  createdToken = { value, description };
});

test('revoking asks first; once confirmed, the API refuses the token', STEP, async () => {
  assert.ok(createdToken, 'needs the token made above');
  const revoke = page.getByRole('button', { name: `Revoke token ${createdToken.description}` });

  // Cancel keeps it.
  await revoke.click();
  let confirm = page.getByRole('dialog', { name: 'Revoke token?' });
  await confirm.waitFor();
  assert.equal(await page.evaluate(() => document.activeElement && document.activeElement.textContent), 'Cancel', 'the safe choice has focus');
  await shot('07-revoke-confirm');
  await page.keyboard.press('Escape');
  await confirm.waitFor({ state: 'detached' });
  assert.equal(await page.evaluate(() => document.activeElement && document.activeElement.getAttribute('aria-label')), `Revoke token ${createdToken.description}`, 'focus returns to the button');
  assert.equal((await api(srv, 'GET', '/api/user', { token: createdToken.value })).status, 200, 'cancelled: still works');

  await revoke.click();
  confirm = page.getByRole('dialog', { name: 'Revoke token?' });
  await confirm.getByRole('button', { name: 'Revoke token' }).click();
  await confirm.waitFor({ state: 'detached' });
  await page.getByRole('row').filter({ hasText: createdToken.description }).waitFor({ state: 'detached' });
  const refused = await api(srv, 'GET', '/api/user', { token: createdToken.value });
  assert.equal(refused.status, 401);
  // It is listed as expired? No: revoked tokens are gone from every filter.
  await page.getByRole('radio', { name: 'All' }).check();
  await page.getByRole('cell', { name: 'bootstrap', exact: true }).waitFor();
  assert.equal(await page.getByRole('row').filter({ hasText: createdToken.description }).count(), 0);
  await shot('08-after-revoke');
});

test('CSRF: the session cookie without the right X-CSRF-Token changes nothing', STEP, async () => {
  const cookie = await sessionCookie();
  assert.ok(cookie);
  const before = await api(srv, 'GET', '/api/user/tokens?filter=all', { headers: cookieHeader(cookie.value) });
  const body = { description: 'forged', expires: 0 };
  const missing = await api(srv, 'POST', '/api/user/tokens', { headers: cookieHeader(cookie.value), json: body });
  assert.equal(missing.status, 403, missing.text);
  assert.equal(missing.json.message, 'Forbidden: CSRF token missing or wrong.');
  const wrong = await api(srv, 'POST', '/api/user/tokens', {
    headers: { ...cookieHeader(cookie.value), 'X-CSRF-Token': 'f'.repeat(64) },
    json: body,
  });
  assert.equal(wrong.status, 403, wrong.text);
  const deleteAttempt = await api(srv, 'DELETE', `/api/user/tokens/${before.json.tokens[0].id}`, { headers: cookieHeader(cookie.value) });
  assert.equal(deleteAttempt.status, 403);
  const afterList = await api(srv, 'GET', '/api/user/tokens?filter=all', { headers: cookieHeader(cookie.value) });
  assert.deepEqual(afterList.json.tokens, before.json.tokens, 'nothing was created or deleted');

  // Control: the same cookie with the session's own CSRF token is accepted.
  const csrf = await csrfFor(cookie.value);
  const ok = await api(srv, 'POST', '/api/user/tokens', { headers: { ...cookieHeader(cookie.value), 'X-CSRF-Token': csrf }, json: body });
  assert.equal(ok.status, 200, ok.text);
  const gone = await api(srv, 'DELETE', `/api/user/tokens/${ok.json.id}`, { headers: { ...cookieHeader(cookie.value), 'X-CSRF-Token': csrf } });
  assert.equal(gone.status, 204);
});

test('org admin: organization tokens (create an admin token, see it listed)', STEP, async () => {
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: /acme/ }).click();
  await page.getByRole('heading', { name: 'Organization tokens' }).waitFor();
  await page.getByRole('button', { name: 'Create token' }).click();
  const dialog = page.getByRole('dialog', { name: 'Create an organization token' });
  await dialog.waitFor();
  await dialog.getByLabel('Name').fill('ci-deploy');
  await dialog.getByLabel('Description').fill('Deploys from CI');
  await dialog.getByRole('radio', { name: '90 days' }).check();
  await dialog.getByLabel('Admin token').check();
  await shot('09-org-token-dialog');
  await dialog.getByRole('button', { name: 'Create token' }).click();
  const reveal = page.getByRole('dialog', { name: 'Token created' });
  await reveal.waitFor();
  const value = await reveal.getByLabel('Token value').inputValue();
  assert.match(value, TOKEN_RE);
  await reveal.getByRole('button', { name: 'Done' }).click();
  const row = page.getByRole('row').filter({ hasText: 'ci-deploy' });
  await row.waitFor();
  await row.getByText('admin', { exact: true }).waitFor();
  await row.getByRole('cell', { name: 'in 90 days', exact: true }).waitFor();
  const who = await api(srv, 'GET', '/api/user', { token: value });
  assert.deepEqual(who.json.tokenInfo, { name: 'ci-deploy', organization: 'acme', team: '' });
  await assertCleanDom();
  await shot('10-org-tokens');
});

test('org admin: teams (create one, add a member, make a team token)', STEP, async () => {
  await page.getByRole('link', { name: 'Teams' }).click();
  await page.getByRole('heading', { name: 'Teams', level: 2 }).waitFor();
  await page.getByRole('button', { name: 'Create team' }).click();
  const dialog = page.getByRole('dialog', { name: 'Create a team' });
  await dialog.getByLabel('Name', { exact: true }).fill('platform');
  await dialog.getByLabel('Display name').fill('Platform team');
  await dialog.getByLabel('Description').fill('Runs the build fleet');
  await dialog.getByRole('button', { name: 'Create team' }).click();
  await dialog.waitFor({ state: 'detached' });
  await page.getByRole('link', { name: 'platform', exact: true }).click();
  await page.getByRole('heading', { name: 'Platform team' }).waitFor();

  await page.getByRole('button', { name: 'Add member' }).click();
  const add = page.getByRole('dialog', { name: 'Add a member to platform' });
  await add.getByLabel('Login').fill('bob');
  await add.getByRole('button', { name: 'Add to team' }).click();
  await add.waitFor({ state: 'detached' });
  await page.getByRole('cell', { name: 'Bob Builder' }).waitFor();

  await page.getByRole('button', { name: 'Create team token' }).click();
  const tok = page.getByRole('dialog', { name: 'Create a token for team platform' });
  await tok.getByLabel('Name').fill('platform-bot');
  await tok.getByRole('button', { name: 'Create token' }).click();
  const reveal = page.getByRole('dialog', { name: 'Token created' });
  await reveal.waitFor();
  await reveal.getByRole('button', { name: 'Done' }).click();
  await page.getByRole('row').filter({ hasText: 'platform-bot' }).getByRole('cell', { name: 'in 30 days', exact: true }).waitFor();
  await shot('11-team');
});

test('org admin: members (list, add one)', STEP, async () => {
  await page.getByRole('link', { name: 'Members' }).click();
  await page.getByRole('heading', { name: 'Members', level: 2 }).waitFor();
  await page.getByRole('cell', { name: 'Bob Builder' }).waitFor();
  await page.getByRole('button', { name: 'Add member' }).click();
  const dialog = page.getByRole('dialog', { name: 'Add a member to acme' });
  await dialog.getByLabel('Login').fill('carol');
  await dialog.getByLabel('Role').selectOption('member');
  await dialog.getByRole('button', { name: 'Add member' }).click();
  await dialog.waitFor({ state: 'detached' });
  await page.getByRole('cell', { name: 'Carol Jones' }).waitFor();
  // A login that does not exist: the server's message, in the dialog.
  expectedFailures.push({ status: 404, path: '/api/orgs/acme/members/nobody' });
  await page.getByRole('button', { name: 'Add member' }).click();
  const again = page.getByRole('dialog', { name: 'Add a member to acme' });
  await again.getByLabel('Login').fill('nobody');
  await again.getByRole('button', { name: 'Add member' }).click();
  await again.getByRole('alert').filter({ hasText: /nobody/ }).waitFor();
  await shot('12-add-member-error');
  await again.getByRole('button', { name: 'Cancel' }).click();
  await again.waitFor({ state: 'detached' });
  await shot('13-members');
});

test('org admin: the token lifetime policy is saved and survives a reload', STEP, async () => {
  await page.getByRole('link', { name: 'Token policy' }).click();
  const input = page.getByLabel('Maximum token lifetime (days)');
  await page.getByText(/no limit/i).waitFor();
  assert.equal(await input.inputValue(), '0');
  await input.fill('30');
  await page.getByRole('button', { name: 'Save' }).click();
  await page.getByText('Token policy saved.').waitFor();
  await page.getByText(/within 30 days/).waitFor();
  await page.reload();
  await page.getByLabel('Maximum token lifetime (days)').waitFor();
  await page.getByText(/within 30 days/).waitFor();
  assert.equal(await page.getByLabel('Maximum token lifetime (days)').inputValue(), '30');
  const cookie = await sessionCookie();
  const meta = await api(srv, 'GET', '/api/orgs/acme/metadata', { headers: cookieHeader(cookie.value) });
  assert.equal(meta.json.maxAccessTokenExpiryDays, 30);
  await shot('14-policy');
});

test('org admin: OIDC issuers and their policy JSON', STEP, async () => {
  await page.getByRole('link', { name: 'OIDC issuers' }).click();
  await page.getByRole('heading', { name: 'OIDC issuers', level: 2 }).waitFor();
  await page.getByRole('button', { name: 'Register issuer' }).click();
  const dialog = page.getByRole('dialog', { name: 'Register an OIDC issuer' });
  await dialog.getByLabel('Name').fill('CI');
  await dialog.getByLabel('Issuer URL').fill('https://ci.example.com');
  await dialog.getByLabel('Static key set (JWKS JSON)').fill(JSON.stringify(JWKS));
  await dialog.getByRole('button', { name: 'Register' }).click();
  await dialog.waitFor({ state: 'detached' });
  await page.getByRole('cell', { name: 'https://ci.example.com' }).waitFor();

  await page.getByRole('button', { name: 'Authorization policy of issuer CI' }).click();
  const policy = page.getByRole('dialog', { name: 'Policy of CI' });
  const text = policy.getByLabel('Rules (JSON array)');
  await text.waitFor();
  assert.deepEqual(JSON.parse(await text.inputValue()), []);
  const rules = [{ decision: 'allow', tokenType: 'organization', authorizedPermissions: ['admin'], rules: { sub: 'repo:acme/*' } }];
  await text.fill('[not json');
  await policy.getByRole('button', { name: 'Save policy' }).click();
  await policy.getByRole('alert').filter({ hasText: /Not valid JSON/ }).waitFor();
  await text.fill(JSON.stringify(rules, null, 2));
  await shot('15-oidc-policy');
  await policy.getByRole('button', { name: 'Save policy' }).click();
  await policy.waitFor({ state: 'detached' });
  await page.getByText(/Policy of CI saved/).waitFor();

  const cookie = await sessionCookie();
  const issuers = await api(srv, 'GET', '/api/orgs/acme/oidc/issuers', { headers: cookieHeader(cookie.value) });
  const id = issuers.json.oidcIssuers.find((i) => i.name === 'CI').id;
  const stored = await api(srv, 'GET', `/api/orgs/acme/auth/policies/oidcissuers/${id}`, { headers: cookieHeader(cookie.value) });
  assert.equal(stored.json.policies.length, 1);
  assert.deepEqual(stored.json.policies[0].rules, { sub: 'repo:acme/*' });
  await shot('16-oidc-issuers');
});

test('org admin: the audit log lists events, filters them, and exports CSV', STEP, async () => {
  await page.getByRole('link', { name: 'Audit log' }).click();
  await page.getByRole('heading', { name: 'Audit log', level: 2 }).waitFor();
  for (const event of ['organization-token-created', 'team-created', 'member-added', 'organization-settings-changed']) {
    await page.getByRole('cell', { name: event, exact: true }).first().waitFor();
  }
  await shot('17-audit-log');

  await page.getByLabel('Event').fill('member-added');
  await page.getByRole('button', { name: 'Apply' }).click();
  await page.getByRole('cell', { name: 'team-created', exact: true }).waitFor({ state: 'detached' });
  const events = await page.locator('td.col-event').allTextContents();
  assert.ok(events.length >= 1 && events.every((e) => e === 'member-added'), `filtered: ${events}`);
  await shot('18-audit-log-filtered');

  const link = page.getByRole('link', { name: 'Export CSV' });
  assert.match(await link.getAttribute('href'), /\/api\/orgs\/acme\/auditlogs\/v2\/export\?eventFilter=member-added$/);
  const [download] = await Promise.all([page.waitForEvent('download', { timeout: 10000 }), link.click()]);
  assert.equal(download.suggestedFilename(), 'acme-audit-log.csv');
  const file = await download.path();
  const csv = fs.readFileSync(file, 'utf8');
  const lines = csv.split('\r\n').filter(Boolean);
  assert.equal(lines[0], CSV_HEADER, 'the browser undid the gzip encoding and the header has the spec columns');
  assert.ok(lines.length >= 2 && lines.slice(1).every((l) => l.includes(',member-added,')), csv);
});

test('a session ended elsewhere brings back the sign-in form; sign in with a token', STEP, async () => {
  await page.getByRole('link', { name: 'My tokens' }).click();
  await page.getByRole('heading', { name: 'Personal access tokens' }).waitFor();
  await page.getByRole('button', { name: 'Create token' }).click();
  const dialog = page.getByRole('dialog', { name: 'Create a personal access token' });
  await dialog.getByLabel('Description').fill('too late');
  // The session ends (revoked from elsewhere) while the dialog is open...
  const cookie = await sessionCookie();
  const csrf = await csrfFor(cookie.value);
  const ended = await api(srv, 'DELETE', '/console/session', { headers: { ...cookieHeader(cookie.value), 'X-CSRF-Token': csrf } });
  assert.equal(ended.status, 204);
  // ...and the page learns it from its next request's 401.
  expectedFailures.push({ status: 401, path: '/api/user/tokens' });
  await dialog.getByRole('button', { name: 'Create token' }).click();
  await page.getByRole('heading', { name: 'Sign in' }).waitFor();
  await page.getByText('Your session has ended. Sign in again to continue.').waitFor();
  await dialog.waitFor({ state: 'detached' });
  assert.equal(await page.evaluate(() => document.activeElement && document.activeElement.name), 'username', 'focus is on the login field');
  await shot('19-session-ended');

  await page.getByRole('radio', { name: 'Token' }).check();
  await page.getByLabel('Access token').fill(srv.token);
  await shot('20-sign-in-with-token');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { name: 'Personal access tokens' }).waitFor();
  const fresh = await sessionCookie();
  assert.ok(fresh && fresh.value !== cookie.value, 'a new session');
});

test('sign out brings back the sign-in form and ends the session at once', STEP, async () => {
  const cookie = await sessionCookie();
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.getByRole('heading', { name: 'Sign in' }).waitFor();
  await page.getByText('You have signed out.').waitFor();
  assert.equal(await sessionCookie(), undefined, 'the cookie is cleared');
  const after = await api(srv, 'GET', '/console/session', { headers: cookieHeader(cookie.value) });
  assert.equal(after.status, 401, 'the old cookie no longer works');
  const apiAfter = await api(srv, 'GET', '/api/user', { headers: cookieHeader(cookie.value) });
  assert.equal(apiAfter.status, 401);
  await shot('21-signed-out');
});

test('375 px wide: no sideways scrolling, tables become cards, dialogs fit', STEP, async () => {
  const narrow = await context.newPage();
  narrow.setDefaultTimeout(5000);
  watch(narrow);
  try {
    await narrow.setViewportSize({ width: 375, height: 740 });
    await narrow.goto(`${srv.url}/#/tokens`);
    await signInWithPassword(narrow);
    await narrow.getByRole('heading', { name: 'Personal access tokens' }).waitFor();
    await narrow.getByText('bootstrap', { exact: true }).waitFor();
    const overflow = () => narrow.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok((await overflow()) <= 0, 'personal tokens page fits 375 px');
    await shot('22-narrow-tokens', narrow);
    await narrow.getByRole('button', { name: 'Create token' }).click();
    const dialog = narrow.getByRole('dialog', { name: 'Create a personal access token' });
    await dialog.waitFor();
    const box = await dialog.boundingBox();
    assert.ok(box.x >= 0 && box.x + box.width <= 375, `dialog fits: ${JSON.stringify(box)}`);
    await shot('23-narrow-create-dialog', narrow);
    await narrow.keyboard.press('Escape');
    await dialog.waitFor({ state: 'detached' });
    for (const [section, name] of [
      ['tokens', '24-narrow-org-tokens'],
      ['audit', '25-narrow-audit-log'],
    ]) {
      await narrow.goto(`${srv.url}/#/orgs/acme/${section}`);
      await narrow.locator('table.data').waitFor();
      assert.ok((await overflow()) <= 0, `${section} fits 375 px`);
      await shot(name, narrow);
    }
    await assertCleanDom(narrow);
  } finally {
    await narrow.close();
  }
});

test('keyboard: the create dialog opens, traps focus and closes with the keyboard alone', STEP, async () => {
  // Signed in again by the narrow page (same cookie jar): a reload restores the session.
  await page.reload();
  await page.getByRole('heading', { name: 'Personal access tokens' }).waitFor();
  await page.getByRole('button', { name: 'Create token' }).focus();
  await page.keyboard.press('Enter');
  const dialog = page.getByRole('dialog', { name: 'Create a personal access token' });
  await dialog.waitFor();
  for (let i = 0; i < 15; i++) {
    await page.keyboard.press('Tab');
    const inside = await page.evaluate(() => {
      const a = document.activeElement;
      return !a || a === document.body || a.closest('dialog') !== null;
    });
    assert.ok(inside, `focus left the dialog after ${i + 1} Tab presses`);
  }
  await page.keyboard.press('Escape');
  await dialog.waitFor({ state: 'detached' });
  assert.equal(await page.evaluate(() => document.activeElement.textContent), 'Create token', 'focus returns to the opener');
});

test('when the session reaches its expiry time, the sign-in form comes back', STEP, async () => {
  const p = await context.newPage();
  p.setDefaultTimeout(5000);
  watch(p);
  try {
    await p.clock.install(); // the page's own clock, so 12 hours can pass at once
    await p.goto(`${srv.url}/#/tokens`);
    await p.getByRole('heading', { name: 'Personal access tokens' }).waitFor();
    await p.getByRole('button', { name: 'Create token' }).click();
    await p.getByRole('dialog', { name: 'Create a personal access token' }).waitFor();
    await p.clock.fastForward('12:00:02');
    await p.getByRole('heading', { name: 'Sign in' }).waitFor();
    await p.getByText('Your session has ended. Sign in again to continue.').waitFor();
    assert.equal(await p.locator('dialog[open]').count(), 0, 'no dialog left over the sign-in form');
  } finally {
    await p.close();
  }
});

test('no console errors, page errors or CSP violations during the run', () => {
  assert.deepEqual(problems, []);
});
