// The command-line client (docs/CLI.md): login/logout, whoami, token create|list|delete, where the
// URL and token come from, the credentials file, --json, --help, exit codes 0/1/2, X-Pulumi-Warning.
//
// Every run gets its own HOME and XDG_CONFIG_HOME (a temporary directory) and an environment
// without TESSERA_* or PULUMI_*, so no test reads or writes anyone's real credentials. Only
// 127.0.0.1 is contacted (the "unreachable" URL is http://127.0.0.1:1).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  api,
  assertNoSanitizerReport,
  createToken,
  listAll,
  memberAdd,
  nowSeconds,
  orgAdd,
  sleep,
  startServer,
  tesseraBin,
  tokenCreate,
  UNAUTHORIZED_MESSAGE,
  userAdd,
  UUID_V4_RE,
  validate,
} from './helpers.mjs';

const UNREACHABLE = 'http://127.0.0.1:1';
const VALUE_LINE_RE = /^pul-[a-f0-9]{40}\n$/;
const UNAUTHORIZED_LINE = `tessera: ${UNAUTHORIZED_MESSAGE}`;
const DAY = 86400;
const PAGER_EXTRA = 1004; // + pager's first token = 1005 > 1000

let srv;
const tok = {}; // login → personal token value
let shortLived; // {value, id, expires}: alice's token that expires 2 s after before()
let listerShort; // lister's token that expires 2 s after before()
let listerTen; // lister's token that expires in 10 days
let listerNever; // lister's token that never expires (with a description)

const homes = [];

before(async () => {
  srv = await startServer({
    setup(db) {
      // alice: site admin, admin of acme (bootstrap). bob: member of acme, admin of beta.
      // lister and pager: users whose personal listings the tests control.
      for (const u of ['bob', 'lister', 'pager']) userAdd(db, u);
      orgAdd(db, 'beta');
      memberAdd(db, 'acme', 'bob', 'member');
      memberAdd(db, 'beta', 'bob', 'admin');
      for (const u of ['bob', 'lister', 'pager']) tok[u] = tokenCreate(db, u);
    },
  });
  tok.alice = srv.token;
  const team = await api(srv, 'POST', '/api/orgs/acme/teams/pulumi', {
    token: tok.alice,
    json: { name: 'ops', displayName: 'Ops', description: '' },
  });
  assert.equal(team.status, 201, team.text);

  const exp = nowSeconds() + 2;
  const s = await createToken(srv, tok.alice, { description: 'short', expires: exp });
  shortLived = { value: s.tokenValue, id: s.id, expires: exp };
  const ls = await createToken(srv, tok.lister, { description: 'soon gone', expires: exp });
  listerShort = { ...ls, expires: exp };
  const tenExp = nowSeconds() + 10 * DAY + 600;
  listerTen = { ...(await createToken(srv, tok.lister, { description: 'ten days', expires: tenExp })), expires: tenExp };
  listerNever = await createToken(srv, tok.lister, { description: 'for ever', expires: 0 });

  // pager: more tokens than the API's largest page (maxResults=1000), so a listing needs two pages
  // whatever page size the client asks for.
  let made = 0;
  for (let i = 0; i < PAGER_EXTRA; i += 25) {
    const n = Math.min(25, PAGER_EXTRA - i);
    made += (await Promise.all(Array.from({ length: n }, () => createToken(srv, tok.pager, { description: 'paged' })))).length;
  }
  assert.equal(made, PAGER_EXTRA);
});

after(async () => {
  for (const h of homes) fs.rmSync(h, { recursive: true, force: true });
  await srv?.stop();
});

// ---------------------------------------------------------------------------------------------
// Running the client

/** A private HOME (with XDG_CONFIG_HOME inside it unless xdg is false) for one or more runs. */
function sandbox({ xdg = true } = {}) {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'tessera-cli-'));
  homes.push(home);
  const config = xdg ? path.join(home, 'xdg') : path.join(home, '.config');
  const credDir = path.join(config, 'tessera');
  const credPath = path.join(credDir, 'credentials.json');
  const box = {
    home,
    credDir,
    credPath,
    /** Runs tessera with this HOME; env adds variables (undefined deletes), input feeds stdin. */
    run(args, { env = {}, input } = {}) {
      const full = {};
      for (const [k, v] of Object.entries(process.env)) if (!/^(TESSERA|PULUMI)_/.test(k)) full[k] = v;
      full.HOME = home;
      if (xdg) full.XDG_CONFIG_HOME = config;
      else delete full.XDG_CONFIG_HOME;
      for (const [k, v] of Object.entries(env)) {
        if (v === undefined) delete full[k];
        else full[k] = v;
      }
      const r = spawnSync(tesseraBin, args, {
        env: full,
        input,
        stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
        encoding: 'utf8',
        timeout: 15000,
      });
      if (r.error) throw r.error;
      assertNoSanitizerReport(r.stderr, `tessera ${args.join(' ')}`);
      const res = { args, status: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
      res.show = `tessera ${args.join(' ')} → exit ${r.status}${r.signal ? ` (${r.signal})` : ''}\nstdout: ${JSON.stringify(r.stdout)}\nstderr: ${JSON.stringify(r.stderr)}`;
      return res;
    },
    /** Writes the credentials file as the contract describes it (dir 0700, file 0600). */
    save(url, token) {
      fs.mkdirSync(credDir, { recursive: true, mode: 0o700 });
      fs.writeFileSync(credPath, JSON.stringify({ url, token }), { mode: 0o600 });
    },
    saved() {
      return JSON.parse(fs.readFileSync(credPath, 'utf8'));
    },
  };
  return box;
}

/** A run against srv as `login` through TESSERA_URL/TESSERA_TOKEN. */
const as = (login, args, opts = {}) =>
  sandbox().run(args, { ...opts, env: { TESSERA_URL: srv.url, TESSERA_TOKEN: tok[login] ?? login, ...(opts.env || {}) } });

function ok(r) {
  assert.equal(r.status, 0, r.show);
  return r;
}

function failsWith(r, status, stderrRe) {
  assert.equal(r.status, status, r.show);
  assert.equal(r.stdout, '', `nothing on stdout on failure\n${r.show}`);
  if (stderrRe) assert.match(r.stderr, stderrRe, r.show);
  return r;
}

const stderrLines = (r) => r.stderr.split('\n').filter((l) => l !== '');
function hasStderrLine(r, line) {
  assert.ok(stderrLines(r).includes(line), `stderr should have the line ${JSON.stringify(line)}\n${r.show}`);
}
/** `tessera: <message>`, where token delete may name the ID it failed on: `tessera: ID: <message>`. */
function hasDeleteError(r, id, message) {
  const lines = stderrLines(r);
  assert.ok(
    lines.includes(`tessera: ${message}`) || lines.includes(`tessera: ${id}: ${message}`),
    `stderr should have the line ${JSON.stringify(`tessera: ${message}`)}\n${r.show}`,
  );
}

function parseJson(r) {
  try {
    return JSON.parse(r.stdout);
  } catch {
    assert.fail(`stdout is not JSON\n${r.show}`);
  }
}

const iso = (epoch) => new Date(epoch * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
const withoutLastUsed = (tokens) => tokens.map(({ lastUsed, ...rest }) => rest);
const byId = (tokens) => [...tokens].sort((a, b) => a.id.localeCompare(b.id));

async function apiUser(value) {
  const res = await api(srv, 'GET', '/api/user', { token: value });
  assert.equal(res.status, 200, res.text);
  return res.json;
}

/** Every token of an API listing (all pages), e.g. '/api/orgs/acme/tokens'. */
async function apiList(listPath, token = tok.alice, filter = 'all') {
  const all = [];
  let q = `?filter=${filter}`;
  for (let i = 0; i < 50; i++) {
    const res = await api(srv, 'GET', `${listPath}${q}`, { token });
    assert.equal(res.status, 200, res.text);
    all.push(...res.json.tokens);
    if (res.json.continuationToken === undefined) return all;
    q = `?filter=${filter}&continuationToken=${encodeURIComponent(res.json.continuationToken)}`;
  }
  assert.fail('too many pages');
}

async function personalToken(id, owner = tok.alice) {
  const t = (await listAll(srv, owner, '?filter=all')).find((x) => x.id === id);
  assert.ok(t, `token ${id} should be listed`);
  return t;
}

// ---------------------------------------------------------------------------------------------
// The token list table

const COLUMNS = ['ID', 'NAME', 'DESCRIPTION', 'CREATED', 'LAST USED', 'EXPIRES'];

/**
 * Parses `token list` output: asserts the header, that every column's values start at the header
 * column's offset, and that columns are separated by at least two spaces. Returns rows as objects.
 */
function parseTable(r) {
  assert.ok(r.stdout.endsWith('\n'), `table must end with a newline\n${r.show}`);
  const lines = r.stdout.slice(0, -1).split('\n');
  const header = lines[0];
  assert.match(header, /^ID {2,}NAME {2,}DESCRIPTION {2,}CREATED {2,}LAST USED {2,}EXPIRES *$/, `header\n${r.show}`);
  const offs = [];
  let from = 0;
  for (const c of COLUMNS) {
    const at = header.indexOf(c, from);
    offs.push(at);
    from = at + c.length;
  }
  return lines.slice(1).map((line) => {
    const row = {};
    COLUMNS.forEach((c, i) => {
      const raw = i < COLUMNS.length - 1 ? line.slice(offs[i], offs[i + 1]) : line.slice(offs[i]);
      const value = raw.trim();
      if (value !== '') {
        assert.notEqual(raw[0], ' ', `column ${c} of ${JSON.stringify(line)} must start at offset ${offs[i]}\n${r.show}`);
        if (offs[i] > 0) assert.equal(line[offs[i] - 1], ' ', `column ${c} of ${JSON.stringify(line)} must start at offset ${offs[i]}\n${r.show}`);
      }
      if (i < COLUMNS.length - 1)
        assert.ok(raw.endsWith('  ') && raw.length === offs[i + 1] - offs[i], `column ${c} of ${JSON.stringify(line)} must be followed by two spaces\n${r.show}`);
      row[c] = value;
    });
    return row;
  });
}

// Just made: "moments ago", "just now", "2 seconds ago", ... (the contract fixes only "N days ago").
const CREATED_RE = /^(just now|now|.*\bago)$/;

// =============================================================================================

describe('login and logout', () => {
  test('login URL --token verifies, saves {url, token} 0600 in a 0700 directory, prints who', async () => {
    const box = sandbox();
    const r = ok(box.run(['login', srv.url, '--token', tok.alice]));
    assert.equal(r.stdout, `Logged in to ${srv.url} as alice\n`, r.show);
    assert.equal(fs.statSync(box.credPath).mode & 0o777, 0o600, 'credentials file mode');
    assert.equal(fs.statSync(box.credDir).mode & 0o777, 0o700, 'credentials directory mode');
    assert.deepEqual(box.saved(), { url: srv.url, token: tok.alice });
    // The saved credentials are then used.
    assert.equal(ok(box.run(['whoami'])).stdout, 'alice\n');
  });

  test('login takes the token from stdin (first line) when stdin is not a terminal', async () => {
    const box = sandbox();
    const r = ok(box.run(['login', srv.url], { input: `${tok.bob}\nignored second line\n` }));
    assert.equal(r.stdout, `Logged in to ${srv.url} as bob\n`, r.show);
    assert.deepEqual(box.saved(), { url: srv.url, token: tok.bob });
  });

  test('login takes PULUMI_ACCESS_TOKEN (and TESSERA_TOKEN) when there is no --token or stdin', async () => {
    const box = sandbox();
    const r = ok(box.run(['login', srv.url], { env: { PULUMI_ACCESS_TOKEN: tok.bob } }));
    assert.equal(r.stdout, `Logged in to ${srv.url} as bob\n`, r.show);
    assert.deepEqual(box.saved(), { url: srv.url, token: tok.bob });
    const box2 = sandbox();
    ok(box2.run(['login', srv.url], { env: { TESSERA_TOKEN: tok.alice, PULUMI_ACCESS_TOKEN: tok.bob } }));
    assert.deepEqual(box2.saved(), { url: srv.url, token: tok.alice }, 'TESSERA_TOKEN before PULUMI_ACCESS_TOKEN');
  });

  test('login: --token before stdin before TESSERA_TOKEN', async () => {
    const box = sandbox();
    ok(box.run(['login', srv.url, '--token', tok.alice], { input: `${tok.bob}\n`, env: { TESSERA_TOKEN: tok.bob } }));
    assert.equal(box.saved().token, tok.alice, '--token wins');
    const box2 = sandbox();
    ok(box2.run(['login', srv.url], { input: `${tok.bob}\n`, env: { TESSERA_TOKEN: tok.alice } }));
    assert.equal(box2.saved().token, tok.bob, 'stdin before TESSERA_TOKEN');
  });

  test('login: the URL argument before TESSERA_URL; without it, TESSERA_URL then PULUMI_BACKEND_URL', async () => {
    const box = sandbox();
    ok(box.run(['login', srv.url, '--token', tok.alice], { env: { TESSERA_URL: UNREACHABLE } }));
    assert.equal(box.saved().url, srv.url);
    const box2 = sandbox();
    const r = ok(box2.run(['login', '--token', tok.alice], { env: { TESSERA_URL: srv.url, PULUMI_BACKEND_URL: UNREACHABLE } }));
    assert.equal(r.stdout, `Logged in to ${srv.url} as alice\n`, r.show);
    assert.equal(box2.saved().url, srv.url);
    const box3 = sandbox();
    ok(box3.run(['login', '--token', tok.alice], { env: { PULUMI_BACKEND_URL: srv.url } }));
    assert.equal(box3.saved().url, srv.url);
  });

  test('without XDG_CONFIG_HOME the credentials go to ~/.config/tessera/credentials.json', async () => {
    const box = sandbox({ xdg: false });
    ok(box.run(['login', srv.url, '--token', tok.alice]));
    assert.equal(box.credPath, path.join(box.home, '.config', 'tessera', 'credentials.json'));
    assert.deepEqual(box.saved(), { url: srv.url, token: tok.alice });
    assert.equal(fs.statSync(box.credPath).mode & 0o777, 0o600);
    assert.equal(fs.statSync(box.credDir).mode & 0o777, 0o700);
  });

  test('login --json prints {url, user}', async () => {
    const box = sandbox();
    const r = ok(box.run(['login', srv.url, '--token', tok.alice, '--json']));
    const j = parseJson(r);
    assert.deepEqual(Object.keys(j).sort(), ['url', 'user'], r.show);
    assert.equal(j.url, srv.url);
    // "user": the login (a User object naming alice is accepted too).
    assert.ok(j.user === 'alice' || j.user?.githubLogin === 'alice', r.show);
    assert.deepEqual(box.saved(), { url: srv.url, token: tok.alice });
  });

  test('a rejected token: exit 1, the server message on stderr, nothing saved (nor overwritten)', async () => {
    const box = sandbox();
    const bad = 'pul-' + crypto.randomBytes(20).toString('hex');
    const r = failsWith(box.run(['login', srv.url, '--token', bad]), 1);
    hasStderrLine(r, UNAUTHORIZED_LINE);
    assert.equal(fs.existsSync(box.credPath), false, 'no credentials file');
    // An earlier login survives a failed one.
    ok(box.run(['login', srv.url, '--token', tok.alice]));
    failsWith(box.run(['login', srv.url, '--token', bad]), 1);
    assert.deepEqual(box.saved(), { url: srv.url, token: tok.alice });
  });

  test('an unreachable URL: exit 1 with a clear message, nothing saved', async () => {
    const box = sandbox();
    const t0 = Date.now();
    const r = failsWith(box.run(['login', UNREACHABLE, '--token', tok.alice]), 1, /^tessera: \S/);
    assert.match(r.stderr, /127\.0\.0\.1:1\b|connect|reach|refused/i, `the message should say what failed\n${r.show}`);
    assert.ok(Date.now() - t0 < 10000, 'fails promptly');
    assert.equal(fs.existsSync(box.credPath), false);
  });

  test('logout removes the saved credentials; exit 0 even when there are none; --json prints {}', async () => {
    const box = sandbox();
    ok(box.run(['login', srv.url, '--token', tok.alice]));
    assert.ok(fs.existsSync(box.credPath));
    ok(box.run(['logout']));
    assert.equal(fs.existsSync(box.credPath), false, 'credentials removed');
    ok(box.run(['logout']));
    const j = ok(box.run(['logout', '--json']));
    assert.deepEqual(parseJson(j), {}, j.show);
    ok(box.run(['login', srv.url, '--token', tok.alice]));
    assert.deepEqual(parseJson(ok(box.run(['logout', '--json']))), {});
    assert.equal(fs.existsSync(box.credPath), false);
    // Logged out: whoami has no token any more and fails.
    failsWith(box.run(['whoami'], { env: { TESSERA_URL: srv.url } }), 1, /^tessera: /m);
  });
});

// =============================================================================================

describe('whoami', () => {
  test('prints the login', async () => {
    const r = ok(as('alice', ['whoami']));
    assert.equal(r.stdout, 'alice\n', r.show);
    assert.equal(ok(as('bob', ['whoami'])).stdout, 'bob\n');
  });

  test('-v / --verbose: User, Organizations with roles, Token: personal, Expires: never', async () => {
    const user = await apiUser(tok.bob);
    const orgs = user.organizations.map((o) => `${o.githubLogin} (${o.role})`).join(', ');
    assert.match(orgs, /acme \(member\)/);
    assert.match(orgs, /beta \(admin\)/);
    for (const flag of ['-v', '--verbose']) {
      const r = ok(as('bob', ['whoami', flag]));
      const lines = r.stdout.split('\n');
      assert.equal(lines.pop(), '', r.show);
      for (const want of ['User: bob', `Organizations: ${orgs}`, 'Token: personal', 'Expires: never'])
        assert.ok(lines.includes(want), `expected line ${JSON.stringify(want)}\n${r.show}`);
      for (const l of lines) assert.match(l, /^(bob|(User|Organizations|Token|Expires): .*)$/, `unexpected line ${JSON.stringify(l)}\n${r.show}`);
    }
    const a = ok(as('alice', ['whoami', '-v']));
    assert.ok(a.stdout.split('\n').includes('Organizations: acme (admin)'), a.show);
  });

  test('-v for a token with an expiry: Expires: <RFC 3339> (in N days)', async () => {
    const exp = nowSeconds() + 10 * DAY + 600;
    const t = await createToken(srv, tok.alice, { description: 'whoami ten days', expires: exp });
    const r = ok(as(t.tokenValue, ['whoami', '-v']));
    assert.ok(r.stdout.split('\n').includes(`Expires: ${iso(exp)} (in 10 days)`), `expected Expires: ${iso(exp)} (in 10 days)\n${r.show}`);
  });

  test('an org token: whoami prints the org; -v says organization "name" and the role', async () => {
    const res = await api(srv, 'POST', '/api/orgs/acme/tokens', {
      token: tok.alice,
      json: { name: 'whoami-robot', description: '', expires: 0, admin: true },
    });
    assert.equal(res.status, 200, res.text);
    const value = res.json.tokenValue;
    assert.equal(ok(as(value, ['whoami'])).stdout, 'acme\n');
    const r = ok(as(value, ['whoami', '-v']));
    const lines = r.stdout.split('\n');
    for (const want of ['User: acme', 'Organizations: acme (admin)', 'Expires: never'])
      assert.ok(lines.includes(want), `expected line ${JSON.stringify(want)}\n${r.show}`);
    // `organization "name"`; the contract's "(org/team)" may be read as "(org)" for org tokens.
    assert.ok(
      lines.includes('Token: organization "whoami-robot"') || lines.includes('Token: organization "whoami-robot" (acme)'),
      `expected line "Token: organization \\"whoami-robot\\""\n${r.show}`,
    );
    const j = parseJson(ok(as(value, ['whoami', '--json'])));
    assert.deepEqual(j, await apiUser(value));
    assert.deepEqual(j.tokenInfo, { name: 'whoami-robot', organization: 'acme', team: '' });
  });

  test('a team token: -v says team "name" (org/team)', async () => {
    const res = await api(srv, 'POST', '/api/orgs/acme/teams/ops/tokens', {
      token: tok.alice,
      json: { name: 'whoami-team', description: '', expires: 0 },
    });
    assert.equal(res.status, 200, res.text);
    const r = ok(as(res.json.tokenValue, ['whoami', '-v']));
    const lines = r.stdout.split('\n');
    for (const want of ['User: acme', 'Token: team "whoami-team" (acme/ops)', 'Organizations: acme (member)'])
      assert.ok(lines.includes(want), `expected line ${JSON.stringify(want)}\n${r.show}`);
  });

  test('--json is the server\'s /api/user object', async () => {
    for (const login of ['alice', 'bob']) {
      const r = ok(as(login, ['whoami', '--json']));
      const j = parseJson(r);
      validate('GetCurrentUser', 200, j);
      assert.deepEqual(j, await apiUser(tok[login]));
    }
  });

  test('X-Pulumi-Warning (token expiring within 7 days) goes to stderr; stdout is unaffected', async () => {
    const exp = nowSeconds() + 6 * DAY;
    const t = await createToken(srv, tok.alice, { description: 'six days', expires: exp });
    const r = ok(as(t.tokenValue, ['whoami']));
    assert.equal(r.stdout, 'alice\n', r.show);
    const warnings = stderrLines(r).filter((l) => l.startsWith('tessera: warning: '));
    assert.equal(warnings.length, 1, `one "tessera: warning: " line expected\n${r.show}`);
    assert.ok(warnings[0].includes(iso(exp)), `the warning is the server's, naming ${iso(exp)}\n${r.show}`);
    const j = ok(as(t.tokenValue, ['whoami', '--json']));
    assert.equal(parseJson(j).githubLogin, 'alice');
    assert.match(j.stderr, /^tessera: warning: /m);
    // Other commands too: the output is still only what was asked for.
    const c = ok(as(t.tokenValue, ['token', 'create']));
    assert.match(c.stdout, VALUE_LINE_RE, c.show);
    assert.match(c.stderr, /^tessera: warning: /m, c.show);
    // No warning for a token that never expires.
    assert.doesNotMatch(ok(as('alice', ['whoami'])).stderr, /warning/);
  });

  test('a token but nothing answering, or no token at all: exit 1', async () => {
    failsWith(sandbox().run(['whoami'], { env: { TESSERA_URL: UNREACHABLE, TESSERA_TOKEN: tok.alice } }), 1, /^tessera: \S/);
    failsWith(sandbox().run(['whoami'], { env: { TESSERA_URL: srv.url } }), 1, /^tessera: \S/);
  });
});

// =============================================================================================

describe('where the URL and token come from', () => {
  test('saved credentials are used when nothing else is given', async () => {
    const box = sandbox();
    box.save(srv.url, tok.bob);
    assert.equal(ok(box.run(['whoami'])).stdout, 'bob\n');
  });

  test('TESSERA_URL and TESSERA_TOKEN win over the saved credentials', async () => {
    const box = sandbox();
    box.save(UNREACHABLE, tok.alice);
    assert.equal(ok(box.run(['whoami'], { env: { TESSERA_URL: srv.url } })).stdout, 'alice\n', 'TESSERA_URL over saved url');
    box.save(srv.url, tok.alice);
    assert.equal(ok(box.run(['whoami'], { env: { TESSERA_TOKEN: tok.bob } })).stdout, 'bob\n', 'TESSERA_TOKEN over saved token');
    box.save(UNREACHABLE, tok.alice);
    assert.equal(ok(box.run(['whoami'], { env: { TESSERA_URL: srv.url, TESSERA_TOKEN: tok.bob } })).stdout, 'bob\n');
  });

  test('PULUMI_BACKEND_URL and PULUMI_ACCESS_TOKEN are used when TESSERA_* are absent', async () => {
    const fresh = sandbox();
    const r = ok(fresh.run(['whoami'], { env: { PULUMI_BACKEND_URL: srv.url, PULUMI_ACCESS_TOKEN: tok.bob } }));
    assert.equal(r.stdout, 'bob\n', r.show);
    const box = sandbox();
    box.save(UNREACHABLE, tok.alice);
    assert.equal(ok(box.run(['whoami'], { env: { PULUMI_BACKEND_URL: srv.url } })).stdout, 'alice\n', 'PULUMI_BACKEND_URL over saved url');
    box.save(srv.url, tok.alice);
    assert.equal(ok(box.run(['whoami'], { env: { PULUMI_ACCESS_TOKEN: tok.bob } })).stdout, 'bob\n', 'PULUMI_ACCESS_TOKEN over saved token');
  });

  test('TESSERA_* win over PULUMI_*', async () => {
    const r = ok(
      sandbox().run(['whoami'], {
        env: { TESSERA_URL: srv.url, PULUMI_BACKEND_URL: UNREACHABLE, TESSERA_TOKEN: tok.alice, PULUMI_ACCESS_TOKEN: tok.bob },
      }),
    );
    assert.equal(r.stdout, 'alice\n', r.show);
  });
});

// =============================================================================================

describe('token create', () => {
  test('prints only the value, newline-terminated, and the value works', async () => {
    const r = ok(as('alice', ['token', 'create', '--description', 'from the cli']));
    assert.match(r.stdout, VALUE_LINE_RE, r.show);
    const value = r.stdout.trim();
    assert.equal((await apiUser(value)).githubLogin, 'alice');
    const t = (await listAll(srv, tok.alice, '?filter=all')).find((x) => x.description === 'from the cli');
    assert.ok(t, 'listed with its description');
    assert.equal(t.expires, 0, 'no --expires: never');
    assert.equal(t.type, 'personal');
  });

  test('--json prints {id, tokenValue}', async () => {
    const r = ok(as('alice', ['token', 'create', '--json']));
    const j = parseJson(r);
    assert.deepEqual(Object.keys(j).sort(), ['id', 'tokenValue'], r.show);
    assert.match(j.id, UUID_V4_RE);
    assert.match(j.tokenValue + '\n', VALUE_LINE_RE);
    await personalToken(j.id);
    assert.equal((await apiUser(j.tokenValue)).githubLogin, 'alice');
  });

  const durations = [
    ['30d', 30 * DAY],
    ['2w', 14 * DAY],
    ['12h', 12 * 3600],
    ['90m', 90 * 60],
  ];
  for (const [when, seconds] of durations) {
    test(`--expires ${when} → now + ${seconds} s`, async () => {
      const t0 = nowSeconds();
      const j = parseJson(ok(as('alice', ['token', 'create', '--expires', when, '--json'])));
      const t1 = nowSeconds();
      const { expires } = await personalToken(j.id);
      assert.ok(expires >= t0 + seconds - 3 && expires <= t1 + seconds + 3, `expires ${expires}, expected about ${t0 + seconds}`);
    });
  }

  test('--expires DATE → midnight UTC of that day (within a day)', async () => {
    const day = new Date(Date.now() + 100 * DAY * 1000).toISOString().slice(0, 10);
    const midnight = Date.parse(`${day}T00:00:00Z`) / 1000;
    const j = parseJson(ok(as('alice', ['token', 'create', '--expires', day, '--json'])));
    const { expires } = await personalToken(j.id);
    assert.ok(Math.abs(expires - midnight) <= DAY, `expires ${iso(expires)}, expected about ${iso(midnight)}`);
  });

  test('--expires RFC 3339 (Z and with an offset) → that instant', async () => {
    const at = nowSeconds() + 5 * DAY;
    const j = parseJson(ok(as('alice', ['token', 'create', '--expires', iso(at), '--json'])));
    assert.equal((await personalToken(j.id)).expires, at);
    const at2 = nowSeconds() + 7 * DAY;
    const plus2 = new Date((at2 + 7200) * 1000).toISOString().slice(0, 19) + '+02:00';
    const j2 = parseJson(ok(as('alice', ['token', 'create', '--expires', plus2, '--json'])));
    assert.equal((await personalToken(j2.id)).expires, at2, `--expires ${plus2}`);
  });

  test('--expires never → expires 0', async () => {
    const j = parseJson(ok(as('alice', ['token', 'create', '--expires', 'never', '--json'])));
    assert.equal((await personalToken(j.id)).expires, 0);
  });

  test('--org ORG --name N --admin makes an admin organization token', async () => {
    const r = ok(as('alice', ['token', 'create', '--org', 'acme', '--name', 'cli-admin', '--admin', '--description', 'made by cli']));
    assert.match(r.stdout, VALUE_LINE_RE, r.show);
    const row = (await apiList('/api/orgs/acme/tokens')).find((t) => t.name === 'cli-admin');
    assert.ok(row, 'listed by the API');
    assert.equal(row.type, 'organization');
    assert.equal(row.admin, true);
    assert.equal(row.description, 'made by cli');
    assert.equal(row.createdBy, 'alice');
    const u = await apiUser(r.stdout.trim());
    assert.deepEqual(u.tokenInfo, { name: 'cli-admin', organization: 'acme', team: '' });
    assert.deepEqual(u.organizations.map((o) => [o.githubLogin, o.role]), [['acme', 'admin']]);
  });

  test('--org without --admin is a member token; without --name it gets a generated name', async () => {
    const j = parseJson(ok(as('alice', ['token', 'create', '--org', 'acme', '--expires', '30d', '--json'])));
    const row = (await apiList('/api/orgs/acme/tokens')).find((t) => t.id === j.id);
    assert.ok(row, 'listed by the API');
    assert.equal(row.type, 'organization');
    assert.equal(row.admin, false);
    assert.match(row.name, /^[A-Za-z0-9_-]{1,40}$/);
    assert.ok(Math.abs(row.expires - (nowSeconds() + 30 * DAY)) <= 5, `expires ${row.expires}`);
  });

  test('generated names do not collide: two --org tokens without --name in a row', async () => {
    const j1 = parseJson(ok(as('alice', ['token', 'create', '--org', 'acme', '--json'])));
    const j2 = parseJson(ok(as('alice', ['token', 'create', '--org', 'acme', '--json'])));
    const list = await apiList('/api/orgs/acme/tokens');
    const [n1, n2] = [j1, j2].map((j) => list.find((t) => t.id === j.id).name);
    assert.notEqual(n1.toLowerCase(), n2.toLowerCase(), 'generated names differ');
  });

  test('--team ORG/TEAM --name N makes a team token', async () => {
    const r = ok(as('alice', ['token', 'create', '--team', 'acme/ops', '--name', 'cli-deploy']));
    assert.match(r.stdout, VALUE_LINE_RE, r.show);
    const row = (await apiList('/api/orgs/acme/teams/ops/tokens')).find((t) => t.name === 'cli-deploy');
    assert.ok(row, 'listed by the API');
    assert.equal(row.type, 'team');
    assert.equal(row.admin, false);
    assert.deepEqual((await apiUser(r.stdout.trim())).tokenInfo, { name: 'cli-deploy', organization: 'acme', team: 'ops' });
  });

  test('a refusal by the server: exit 1 with its message', async () => {
    const refused = await api(srv, 'POST', '/api/orgs/acme/tokens', {
      token: tok.bob,
      json: { name: 'by-bob', description: '', expires: 0, admin: false },
    });
    assert.equal(refused.status, 403);
    const r = failsWith(as('bob', ['token', 'create', '--org', 'acme', '--name', 'by-bob']), 1);
    hasStderrLine(r, `tessera: ${refused.json.message}`);
    ok(as('alice', ['token', 'create', '--org', 'acme', '--name', 'dup-name']));
    failsWith(as('alice', ['token', 'create', '--org', 'acme', '--name', 'dup-name']), 1, /^tessera: Conflict: /m);
  });
});

// =============================================================================================

describe('usage errors and --help', () => {
  // Credentials that would reach nothing: a client that went to the network would exit 1, not 2.
  const env = { TESSERA_URL: UNREACHABLE, TESSERA_TOKEN: 'pul-' + '0'.repeat(40) };
  const cases = [
    ['--admin without --org', ['token', 'create', '--admin']],
    ['--admin with --team', ['token', 'create', '--team', 'acme/ops', '--name', 'x', '--admin']],
    ['--name without --org or --team', ['token', 'create', '--name', 'x']],
    ['both --org and --team', ['token', 'create', '--org', 'acme', '--team', 'acme/ops', '--name', 'x']],
    ['bad --expires (word)', ['token', 'create', '--expires', 'soon']],
    ['bad --expires (unit)', ['token', 'create', '--expires', '30x']],
    ['bad --expires (date)', ['token', 'create', '--expires', '2027-02-30']],
    ['--expires without its value', ['token', 'create', '--expires']],
    ['unknown flag (create)', ['token', 'create', '--bogus']],
    ['unknown flag (list)', ['token', 'list', '--bogus']],
    ['unknown flag (whoami)', ['whoami', '--bogus']],
    ['unknown flag (login)', ['login', '--bogus']],
    ['unknown token command', ['token', 'frobnicate']],
    ['unknown command', ['frobnicate']],
    ['token without a command', ['token']],
    ['delete without an ID', ['token', 'delete']],
  ];
  for (const [what, args] of cases) {
    test(`${what}: exit 2, usage on stderr`, () => {
      const r = sandbox().run(args, { env });
      failsWith(r, 2, /usage/i);
    });
  }

  const commands = [['login'], ['logout'], ['whoami'], ['token', 'create'], ['token', 'list'], ['token', 'delete']];
  for (const cmd of commands) {
    test(`tessera ${cmd.join(' ')} --help: usage on stdout, exit 0`, () => {
      const box = sandbox();
      const r = ok(box.run([...cmd, '--help'], { env }));
      assert.match(r.stdout, /usage/i, r.show);
      assert.ok(r.stdout.includes(`tessera ${cmd.join(' ')}`), `the usage names the command\n${r.show}`);
      assert.equal(r.stderr, '', r.show);
      assert.equal(fs.existsSync(box.credPath), false, '--help saves nothing');
    });
  }
});

// =============================================================================================

describe('token list', () => {
  test('an aligned table, one row per token, relative times', async () => {
    const r = ok(as('lister', ['token', 'list']));
    const rows = parseTable(r);
    // (The 2-second token may expire between the two listings: it is left out of the comparison.)
    const active = await listAll(srv, tok.lister); // active (default)
    const ids = (list) => list.filter((id) => id !== listerShort.id).sort();
    assert.deepEqual(ids(rows.map((x) => x.ID)), ids(active.map((t) => t.id)), `one row per token\n${r.show}`);
    const row = (id) => rows.find((x) => x.ID === id);
    const ten = row(listerTen.id);
    assert.equal(ten.DESCRIPTION, 'ten days');
    assert.equal(ten.EXPIRES, 'in 10 days', r.show);
    assert.equal(ten['LAST USED'], 'never', r.show);
    assert.match(ten.CREATED, CREATED_RE, r.show);
    assert.ok(['', '-'].includes(ten.NAME), `personal tokens have no name\n${r.show}`);
    const never = row(listerNever.id);
    assert.equal(never.DESCRIPTION, 'for ever');
    assert.equal(never.EXPIRES, 'never', r.show);
    assert.equal(never['LAST USED'], 'never', r.show);
  });

  test('--json is {"tokens": [...]} as the API lists them', async () => {
    const j = parseJson(ok(as('lister', ['token', 'list', '--json'])));
    assert.deepEqual(Object.keys(j), ['tokens']);
    const api = await listAll(srv, tok.lister);
    const notShort = (list) => list.filter((t) => t.id !== listerShort.id);
    assert.deepEqual(byId(withoutLastUsed(notShort(j.tokens))), byId(withoutLastUsed(notShort(api))));
    for (const t of j.tokens) assert.equal(typeof t.lastUsed, 'number');
  });

  test('all pages are followed', async () => {
    const api = await listAll(srv, tok.pager);
    assert.equal(api.length, PAGER_EXTRA + 1);
    const j = parseJson(ok(as('pager', ['token', 'list', '--json'])));
    assert.deepEqual(j.tokens.map((t) => t.id).sort(), api.map((t) => t.id).sort());
    const rows = parseTable(ok(as('pager', ['token', 'list'])));
    assert.equal(rows.length, PAGER_EXTRA + 1);
  });

  test('--org ORG and --team ORG/TEAM list machine tokens, table and --json', async () => {
    const mk = (p, name) =>
      api(srv, 'POST', p, { token: tok.alice, json: { name, description: `d-${name}`, expires: 0, ...(p.includes('/teams/') ? {} : { admin: false }) } });
    const o = await mk('/api/orgs/acme/tokens', 'list-org');
    const t = await mk('/api/orgs/acme/teams/ops/tokens', 'list-team');
    assert.equal(o.status, 200, o.text);
    assert.equal(t.status, 200, t.text);
    for (const [flag, value, listPath, id, name] of [
      ['--org', 'acme', '/api/orgs/acme/tokens', o.json.id, 'list-org'],
      ['--team', 'acme/ops', '/api/orgs/acme/teams/ops/tokens', t.json.id, 'list-team'],
    ]) {
      const expected = await apiList(listPath, tok.alice, 'active');
      const r = ok(as('alice', ['token', 'list', flag, value]));
      const rows = parseTable(r);
      assert.deepEqual(rows.map((x) => x.ID).sort(), expected.map((x) => x.id).sort(), r.show);
      const row = rows.find((x) => x.ID === id);
      assert.equal(row.NAME, name, r.show);
      assert.equal(row.DESCRIPTION, `d-${name}`);
      assert.equal(row.EXPIRES, 'never');
      const j = parseJson(ok(as('alice', ['token', 'list', flag, value, '--json'])));
      assert.deepEqual(Object.keys(j), ['tokens']);
      assert.deepEqual(byId(withoutLastUsed(j.tokens)), byId(withoutLastUsed(expected)));
    }
  });
});

// =============================================================================================

describe('token delete', () => {
  const mkPersonal = async () => (await createToken(srv, tok.alice, { description: 'to delete' })).id;
  const gone = async (id) => !(await listAll(srv, tok.alice, '?filter=all')).some((t) => t.id === id);

  test('one ID: Deleted ID', async () => {
    const id = await mkPersonal();
    const r = ok(as('alice', ['token', 'delete', id]));
    assert.equal(r.stdout, `Deleted ${id}\n`, r.show);
    assert.ok(await gone(id));
  });

  test('several IDs: one Deleted line each', async () => {
    const a = await mkPersonal();
    const b = await mkPersonal();
    const r = ok(as('alice', ['token', 'delete', a, b]));
    assert.equal(r.stdout, `Deleted ${a}\nDeleted ${b}\n`, r.show);
    assert.ok(await gone(a));
    assert.ok(await gone(b));
  });

  test('an unknown ID: exit 1 with the server message, the other IDs still deleted', async () => {
    const a = await mkPersonal();
    const b = await mkPersonal();
    const unknown = crypto.randomUUID();
    const refused = await api(srv, 'DELETE', `/api/user/tokens/${unknown}`, { token: tok.alice });
    assert.equal(refused.status, 404);
    const r = as('alice', ['token', 'delete', a, unknown, b]);
    assert.equal(r.status, 1, r.show);
    assert.equal(r.stdout, `Deleted ${a}\nDeleted ${b}\n`, r.show);
    hasDeleteError(r, unknown, refused.json.message);
    assert.ok(await gone(a));
    assert.ok(await gone(b));
  });

  test('--org and --team delete machine tokens', async () => {
    const o = await api(srv, 'POST', '/api/orgs/acme/tokens', { token: tok.alice, json: { name: 'del-org', description: '', expires: 0, admin: false } });
    const t = await api(srv, 'POST', '/api/orgs/acme/teams/ops/tokens', { token: tok.alice, json: { name: 'del-team', description: '', expires: 0 } });
    assert.equal(o.status, 200, o.text);
    assert.equal(t.status, 200, t.text);
    const r1 = ok(as('alice', ['token', 'delete', '--org', 'acme', o.json.id]));
    assert.equal(r1.stdout, `Deleted ${o.json.id}\n`, r1.show);
    const r2 = ok(as('alice', ['token', 'delete', '--team', 'acme/ops', t.json.id]));
    assert.equal(r2.stdout, `Deleted ${t.json.id}\n`, r2.show);
    assert.ok(!(await apiList('/api/orgs/acme/tokens')).some((x) => x.id === o.json.id));
    assert.ok(!(await apiList('/api/orgs/acme/teams/ops/tokens')).some((x) => x.id === t.json.id));
    assert.equal((await api(srv, 'GET', '/api/user', { token: o.json.tokenValue })).status, 401);
  });

  test('--json prints {"deleted": [ids]}', async () => {
    const a = await mkPersonal();
    const b = await mkPersonal();
    const r = ok(as('alice', ['token', 'delete', '--json', a, b]));
    assert.deepEqual(parseJson(r), { deleted: [a, b] }, r.show);
    assert.ok(await gone(a));
    assert.ok(await gone(b));
  });
});

// =============================================================================================

describe('expired tokens', () => {
  before(async () => {
    // The short-lived tokens were made with expires = now + 2 s in the file's before().
    const wait = (shortLived.expires + 1) * 1000 + 200 - Date.now();
    if (wait > 0) await sleep(wait);
  });

  test('any command with an expired token: exit 1 with the server\'s 401 message', async () => {
    for (const args of [['whoami'], ['whoami', '-v'], ['token', 'list'], ['token', 'create']]) {
      const r = failsWith(as(shortLived.value, args), 1);
      hasStderrLine(r, UNAUTHORIZED_LINE);
    }
    const id = crypto.randomUUID();
    hasDeleteError(failsWith(as(shortLived.value, ['token', 'delete', id]), 1), id, UNAUTHORIZED_MESSAGE);
    const box = sandbox();
    const r = failsWith(box.run(['login', srv.url, '--token', shortLived.value]), 1);
    hasStderrLine(r, UNAUTHORIZED_LINE);
    assert.equal(fs.existsSync(box.credPath), false);
  });

  test('token list --filter expired|active|all', async () => {
    const expired = parseTable(ok(as('lister', ['token', 'list', '--filter', 'expired'])));
    assert.deepEqual(expired.map((x) => x.ID), [listerShort.id]);
    assert.equal(expired[0].EXPIRES, 'expired');
    assert.equal(expired[0].DESCRIPTION, 'soon gone');
    const active = parseTable(ok(as('lister', ['token', 'list'])));
    assert.ok(!active.some((x) => x.ID === listerShort.id), 'the default (active) listing leaves it out');
    const activeToo = parseTable(ok(as('lister', ['token', 'list', '--filter', 'active'])));
    assert.deepEqual(activeToo.map((x) => x.ID).sort(), active.map((x) => x.ID).sort());
    const all = parseTable(ok(as('lister', ['token', 'list', '--filter', 'all'])));
    assert.equal(all.length, active.length + 1);
    const j = parseJson(ok(as('lister', ['token', 'list', '--filter', 'expired', '--json'])));
    assert.deepEqual(withoutLastUsed(j.tokens), withoutLastUsed(await listAll(srv, tok.lister, '?filter=expired')));
  });
});
