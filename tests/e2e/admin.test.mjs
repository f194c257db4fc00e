// Offline admin CLI: bootstrap, user/org/member add, token create; exit codes 0/1/2.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import {
  api,
  assertTokenValue,
  auditKeyFile,
  listTokens,
  makeTempDir,
  memberAdd,
  newDb,
  nowSeconds,
  onPostgres,
  orgAdd,
  postgresOnly,
  runTessera,
  spawnServer,
  sql,
  sqliteOnly,
  userAdd,
} from './helpers.mjs';

let dir;
let dbPath;
let aliceToken;
let freshDb;

before(() => {
  dir = makeTempDir();
  dbPath = newDb(dir);
});
after(() => {
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

function assertFails(r, code, what) {
  assert.equal(r.status, code, `${what}: exit ${r.status}, want ${code}; stderr: ${r.stderr}`);
  assert.ok(r.stderr.trim().length > 0, `${what}: an error message is expected on stderr`);
  assert.equal(r.stdout, '', `${what}: nothing on stdout`);
}

const modeOf = (file) => (fs.statSync(file).mode & 0o777).toString(8);

test('bootstrap prints exactly one line, a valid token', () => {
  if (!onPostgres) assert.ok(!fs.existsSync(dbPath), 'bootstrap is what creates the database file');
  const r = runTessera(['admin', 'bootstrap', '--db', dbPath, '--user', 'alice', '--org', 'acme']);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^pul-[a-f0-9]{40}\n$/, `stdout must be exactly one token line: ${JSON.stringify(r.stdout)}`);
  aliceToken = r.stdout.trim();
  assertTokenValue(aliceToken);
});

test('bootstrap created the database file with mode 0600', sqliteOnly('a PostgreSQL database is no file of ours'), () => {
  assert.equal(modeOf(dbPath), '600');
});

test('the audit key file (TESSERA_AUDIT_KEY) is mode 0600', postgresOnly('on SQLite the key is beside the database: audit_cli.test.mjs'), () => {
  assert.equal(modeOf(auditKeyFile(dbPath)), '600');
});

test('bootstrap twice for the same user fails with exit 1', () => {
  const r = runTessera(['admin', 'bootstrap', '--db', dbPath, '--user', 'alice', '--org', 'acme2']);
  assertFails(r, 1, 'second bootstrap');
});

test('admin user add, org add, member add, token create succeed', () => {
  for (const args of [
    ['admin', 'user', 'add', '--db', dbPath, 'bob', '--name', 'Bob B', '--email', 'bob@example.com'],
    ['admin', 'user', 'add', '--db', dbPath, 'nora'],
    ['admin', 'user', 'add', '--db', dbPath, 'sam', '--site-admin'],
    ['admin', 'org', 'add', '--db', dbPath, 'widgets'],
    ['admin', 'member', 'add', '--db', dbPath, 'widgets', 'bob', '--role', 'member'],
    ['admin', 'member', 'add', '--db', dbPath, 'acme', 'bob', '--role', 'admin'],
  ]) {
    const r = runTessera(args);
    assert.equal(r.status, 0, `${args.join(' ')}: ${r.stderr}`);
  }
  const r = runTessera(['admin', 'token', 'create', '--db', dbPath, '--user', 'bob', '--description', 'bob laptop']);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^pul-[a-f0-9]{40}\n$/, `token create prints one token line: ${JSON.stringify(r.stdout)}`);
  assertTokenValue(r.stdout.trim());
});

test('token create --expires in the past fails with exit 1', () => {
  const r = runTessera(['admin', 'token', 'create', '--db', dbPath, '--user', 'bob', '--expires', '2001-01-01T00:00:00Z']);
  assertFails(r, 1, '--expires in the past');
});

test('token create for an unknown user fails with exit 1', () => {
  const r = runTessera(['admin', 'token', 'create', '--db', dbPath, '--user', 'nobody']);
  assertFails(r, 1, 'unknown user');
});

test('member add for an unknown org or user fails with exit 1', () => {
  assertFails(runTessera(['admin', 'member', 'add', '--db', dbPath, 'no-such-org', 'bob', '--role', 'member']), 1, 'unknown org');
  assertFails(runTessera(['admin', 'member', 'add', '--db', dbPath, 'acme', 'nobody', '--role', 'member']), 1, 'unknown user');
});

const usageErrors = () => [
  ['no arguments', []],
  ['unknown command', ['frobnicate']],
  ['admin without subcommand', ['admin']],
  ['unknown admin subcommand', ['admin', 'frobnicate', '--db', dbPath]],
  ['bootstrap without --db', ['admin', 'bootstrap', '--user', 'zed', '--org', 'zorg']],
  ['bootstrap without --user', ['admin', 'bootstrap', '--db', dbPath, '--org', 'zorg']],
  ['bootstrap without --org', ['admin', 'bootstrap', '--db', dbPath, '--user', 'zed']],
  ['bootstrap with an unknown flag', ['admin', 'bootstrap', '--db', dbPath, '--user', 'zed', '--org', 'zorg', '--bogus']],
  ['user add without LOGIN', ['admin', 'user', 'add', '--db', dbPath]],
  ['org add without ORG', ['admin', 'org', 'add', '--db', dbPath]],
  ['member add without --role', ['admin', 'member', 'add', '--db', dbPath, 'acme', 'nora']],
  ['member add with an invalid role', ['admin', 'member', 'add', '--db', dbPath, 'acme', 'nora', '--role', 'overlord']],
  ['token create without --user', ['admin', 'token', 'create', '--db', dbPath]],
  ['token create with --user missing its value', ['admin', 'token', 'create', '--db', dbPath, '--user']],
  ['token create with ESC in --description', ['admin', 'token', 'create', '--db', dbPath, '--user', 'bob', '--description', '\x1b[31mred']],
  ['token create with a newline in --description', ['admin', 'token', 'create', '--db', dbPath, '--user', 'bob', '--description', 'two\nlines']],
];

for (const [name] of usageErrors()) {
  test(`usage error exits 2: ${name}`, () => {
    const args = usageErrors().find(([n]) => n === name)[1];
    const r = runTessera(args);
    assert.equal(r.status, 2, `tessera ${args.join(' ')}: exit ${r.status}, want 2; stderr: ${r.stderr}`);
    assert.ok(r.stderr.trim().length > 0, 'usage message on stderr');
  });
}

test('usage errors did not create users (zed cannot be bootstrapped twice later)', () => {
  const r = runTessera(['admin', 'bootstrap', '--db', dbPath, '--user', 'zed', '--org', 'zorg']);
  assert.equal(r.status, 0, `zed must not exist yet: ${r.stderr}`);
});

test('the admin-created data is served over HTTP', async () => {
  const exp = nowSeconds() + 5 * 86400;
  const iso = new Date(exp * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
  const r = runTessera(['admin', 'token', 'create', '--db', dbPath, '--user', 'bob', '--expires', iso, '--description', 'five days']);
  assert.equal(r.status, 0, r.stderr);
  const bobToken = r.stdout.trim();
  assertTokenValue(bobToken);
  const samToken = runTessera(['admin', 'token', 'create', '--db', dbPath, '--user', 'sam']).stdout.trim();
  const noraToken = runTessera(['admin', 'token', 'create', '--db', dbPath, '--user', 'nora']).stdout.trim();

  const srv = await spawnServer(dbPath);
  try {
    const bob = await api(srv, 'GET', '/api/user', { token: bobToken });
    assert.equal(bob.status, 200, bob.text);
    assert.equal(bob.json.githubLogin, 'bob');
    assert.equal(bob.json.name, 'Bob B');
    assert.equal(bob.json.email, 'bob@example.com');
    assert.equal(bob.json.siteAdmin, false);
    const roles = Object.fromEntries(bob.json.organizations.map((o) => [o.githubLogin, o.role]));
    assert.deepEqual(roles, { acme: 'admin', widgets: 'member' });
    assert.ok(bob.headers.get('x-pulumi-warning'), 'token expiring in 5 days warns');

    const list = await listTokens(srv, bobToken, '?maxResults=1000');
    const mine = list.tokens.find((t) => t.description === 'five days');
    assert.ok(mine, 'admin-created token with description is listed');
    assert.equal(mine.expires, exp);
    assert.equal(mine.createdBy, 'bob');
    assert.ok(list.tokens.some((t) => t.description === 'bob laptop'));

    const def = await api(srv, 'GET', '/api/user/organizations/default', { token: bobToken });
    assert.deepEqual(def.json, { GitHubLogin: 'acme', Messages: [] });

    const sam = await api(srv, 'GET', '/api/user', { token: samToken });
    assert.equal(sam.status, 200);
    assert.equal(sam.json.siteAdmin, true, '--site-admin');
    const nora = await api(srv, 'GET', '/api/user', { token: noraToken });
    assert.equal(nora.status, 200);
    assert.deepEqual(nora.json.organizations, []);
    assert.equal(nora.json.siteAdmin, false);

    const alice = await api(srv, 'GET', '/api/user', { token: aliceToken });
    assert.equal(alice.status, 200);
    assert.equal(alice.json.siteAdmin, true);
  } finally {
    await srv.stop();
  }
});

// SQLite: a file that does not exist yet; PostgreSQL: an empty database, without the schema.
test('admin commands set up a database that has nothing in it yet', () => {
  freshDb = newDb(dir, 'fresh');
  const r = runTessera(['admin', 'user', 'add', '--db', freshDb, 'solo']);
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(sql(freshDb, 'SELECT login, site_admin FROM users'), [{ login: 'solo', site_admin: 0 }]);
});

test('admin commands create a missing database file with mode 0600', sqliteOnly('a PostgreSQL database is no file of ours'), () => {
  assert.equal(modeOf(freshDb), '600');
});
