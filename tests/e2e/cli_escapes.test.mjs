// Control characters and the command-line client. The server refuses them in descriptions as in
// every other text field (a team admin must not be able to run escape sequences in an org
// admin's terminal through `tessera token list`), and the client escapes anything unprintable it
// shows people: text that reached the database some other way, and whatever a hostile server
// sends (tokens, logins, organization and team names, error messages, X-Pulumi-Warning). --json
// output stays JSON, with the characters JSON-escaped.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { api, createToken, memberAdd, spawnServer, sql, sqlText, startServer, tesseraBin, tokenCreate, userAdd } from './helpers.mjs';

// Any C0 control but the newline ending each line, DEL, or a C1 control (U+0080-U+009F).
const RAW_CONTROL = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/;
const ESC_RED = '\x1b[31m';

let srv; // the first server; stopped to plant rows, then replaced by `again` on the same database
let again;
let hostile;
const tok = {};
const homes = [];

before(async () => {
  srv = await startServer({
    setup(db) {
      userAdd(db, 'bob');
      memberAdd(db, 'acme', 'bob', 'admin');
      tok.bob = tokenCreate(db, 'bob');
    },
  });
  tok.alice = srv.token;
  hostile = await hostileServer();
});

after(async () => {
  for (const h of homes) fs.rmSync(h, { recursive: true, force: true });
  await again?.stop();
  await srv?.stop();
  hostile?.close();
});

/**
 * Runs the client against url as token, with a private HOME and no TESSERA_ or PULUMI_ variables
 * from outside. Asynchronous: the hostile server below answers from this very process.
 */
function client(url, token, args) {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'tessera-cli-esc-'));
  homes.push(home);
  const env = { HOME: home, XDG_CONFIG_HOME: path.join(home, 'xdg'), TESSERA_URL: url, TESSERA_TOKEN: token };
  for (const [k, v] of Object.entries(process.env)) if (!/^(TESSERA|PULUMI)_|^HOME$|^XDG_CONFIG_HOME$/.test(k)) env[k] = v;
  const child = spawn(tesseraBin, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d) => (stdout += d));
  child.stderr.setEncoding('utf8').on('data', (d) => (stderr += d));
  const timer = setTimeout(() => child.kill('SIGKILL'), 15000);
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (status, signal) => {
      clearTimeout(timer);
      const show = `tessera ${args.join(' ')} → exit ${status}${signal ? ` (${signal})` : ''}\nstdout: ${JSON.stringify(stdout)}\nstderr: ${JSON.stringify(stderr)}`;
      resolve({ status, signal, stdout, stderr, show });
    });
  });
}

function noRawControls(r) {
  assert.doesNotMatch(r.stdout, RAW_CONTROL, `stdout carries a raw control character\n${r.show}`);
  assert.doesNotMatch(r.stderr, RAW_CONTROL, `stderr carries a raw control character\n${r.show}`);
}

test('the server refuses control characters in descriptions, for every kind of token and through the client', async () => {
  const team = await api(srv, 'POST', '/api/orgs/acme/teams/pulumi', { token: tok.alice, json: { name: 'ops', displayName: 'Ops', description: '' } });
  assert.equal(team.status, 201, team.text);
  for (const [what, description] of [
    ['ESC', `${ESC_RED}red`],
    ['BEL', 'ding\x07'],
    ['newline', 'two\nlines'],
    ['tab', 'a\tb'],
    ['carriage return', 'over\rwrite'],
    ['DEL', 'x\x7f'],
    ['C1 CSI', 'x\u009b31m'],
  ]) {
    for (const [p, extra] of [
      ['/api/user/tokens', {}],
      ['/api/orgs/acme/tokens', { name: 'n1', admin: false }],
      ['/api/orgs/acme/teams/ops/tokens', { name: 'n2' }],
    ]) {
      const res = await api(srv, 'POST', p, { token: tok.alice, json: { description, ...extra } });
      assert.equal(res.status, 400, `${what} via ${p}: ${res.text}`);
      assert.match(res.json.message, /^Bad Request: description must not contain control characters/);
    }
  }
  const r = await client(srv.url, tok.alice, ['token', 'create', '--description', `${ESC_RED}red`]);
  assert.equal(r.status, 1, r.show);
  assert.equal(r.stdout, '');
  assert.match(r.stderr, /^tessera: Bad Request: description must not contain control characters/m, r.show);
  noRawControls(r);
  // Printable text, non-ASCII included, is fine.
  await createToken(srv, tok.alice, { description: 'café ☕ ok' });
});

test('descriptions and names planted in the database are listed escaped, and --json keeps them as JSON', async () => {
  const personal = await createToken(srv, tok.bob, { description: 'plain' });
  const org = await api(srv, 'POST', '/api/orgs/acme/tokens', { token: tok.alice, json: { name: 'plain-org', description: 'plain', admin: false } });
  assert.equal(org.status, 200, org.text);
  await srv.server.stop();
  // What a direct write to the database (or an older version without the check) could leave.
  const planted = `${ESC_RED}red\x07\nnext\tcol\x7f\u009b2J`;
  sql(srv, [
    `UPDATE tokens SET description = ${sqlText(planted)} WHERE id IN (${sqlText(personal.id)}, ${sqlText(org.json.id)})`,
    `UPDATE tokens SET name = ${sqlText(`evil${ESC_RED}`)} WHERE id = ${sqlText(org.json.id)}`,
  ]);
  again = await spawnServer(srv.dbPath);

  const listed = await client(again.url, tok.bob, ['token', 'list']);
  assert.equal(listed.status, 0, listed.show);
  noRawControls(listed);
  const row = listed.stdout.split('\n').find((l) => l.startsWith(personal.id));
  assert.ok(row, listed.show);
  assert.match(row, /\\x1b\[31mred\\x07\\x0anext\\x09col\\x7f\\xc2\\x9b2J/, listed.show);
  assert.equal(listed.stdout.split('\n').filter((l) => l).length, 1 + 2, `one line per token (bob has two)\n${listed.show}`);

  const orgList = await client(again.url, tok.alice, ['token', 'list', '--org', 'acme']);
  assert.equal(orgList.status, 0, orgList.show);
  noRawControls(orgList);
  assert.match(orgList.stdout, /evil\\x1b\[31m/, orgList.show);

  const json = await client(again.url, tok.bob, ['token', 'list', '--json']);
  assert.equal(json.status, 0, json.show);
  assert.doesNotMatch(json.stdout, /[\u0000-\u0009\u000b-\u001f]/, 'JSON escapes C0 controls');
  const parsed = JSON.parse(json.stdout);
  assert.equal(parsed.tokens.find((t) => t.id === personal.id).description, planted);
});

/**
 * A server that is not Tessera and means harm: every string it sends carries terminal escapes, and
 * so does its X-Pulumi-Warning header (written as raw bytes, which no HTTP library would let one
 * send).
 */
function hostileServer() {
  const evil = (s) => `${s}\x1b]0;pwned\x07\x1b[2J\u009b1m`;
  const answers = {
    'GET /api/user': [200, {
      githubLogin: evil('mallory'),
      organizations: [{ githubLogin: evil('org'), role: evil('admin'), name: 'o', avatarUrl: '' }],
      tokenInfo: { name: evil('robot'), organization: evil('org'), team: evil('team') },
    }],
    'GET /api/user/tokens': [200, {
      tokens: [{ id: evil('id'), name: evil('name'), description: evil('description'), created: '2026-01-01T00:00:00Z', lastUsed: 0, expires: 0, createdBy: evil('by') }],
    }],
    'POST /api/user/tokens': [200, { id: evil('id'), tokenValue: evil('pul-') }],
  };
  const server = net.createServer((sock) => {
    let data = '';
    sock.on('data', (d) => {
      data += d.toString('latin1');
      const end = data.indexOf('\r\n\r\n');
      if (end < 0) return;
      const [method, target] = data.split(' ');
      const length = Number(/\r\ncontent-length: *(\d+)/i.exec(data)?.[1] || 0);
      if (data.length < end + 4 + length) return;
      const [status, body] = answers[`${method} ${target.split('?')[0]}`] || [404, { code: 404, message: evil('Not Found: gone') }];
      const text = Buffer.from(JSON.stringify(body));
      sock.end(Buffer.concat([
        Buffer.from(`HTTP/1.1 ${status} X\r\nContent-Type: application/json\r\nContent-Length: ${text.length}\r\nConnection: close\r\n`, 'latin1'),
        Buffer.from('X-Pulumi-Warning: expires \x1b[31msoon\x07\r\n\r\n', 'latin1'),
        text,
      ]));
    });
    sock.on('error', () => {});
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ url: `http://127.0.0.1:${server.address().port}`, close: () => server.close() })));
}

test('a hostile server cannot put escapes on the terminal: output, names, errors and warnings are escaped', async () => {
  const token = 'pul-' + '0'.repeat(40);
  for (const args of [
    ['whoami'],
    ['whoami', '-v'],
    ['token', 'list'],
    ['token', 'create'],
    ['token', 'delete', 'some-id'],
    ['login', hostile.url, '--token', token],
  ]) {
    const r = await client(hostile.url, token, args);
    noRawControls(r);
    assert.match(r.stdout + r.stderr, /\\x1b\]0;pwned\\x07\\x1b\[2J\\xc2\\x9b1m/, r.show);
    assert.match(r.stderr, /^tessera: warning: expires \\x1b\[31msoon\\x07$/m, r.show);
  }
  const failed = await client(hostile.url, token, ['token', 'delete', 'some-id']);
  assert.equal(failed.status, 1, failed.show);
  assert.match(failed.stderr, /^tessera: some-id: Not Found: gone\\x1b/m, failed.show);
  // --json is still JSON, with the C0 characters escaped by the encoder.
  const json = await client(hostile.url, token, ['whoami', '--json']);
  assert.equal(json.status, 0, json.show);
  assert.doesNotMatch(json.stdout, /[\u0000-\u0009\u000b-\u001f]/);
  assert.equal(JSON.parse(json.stdout).githubLogin, 'mallory\x1b]0;pwned\x07\x1b[2J\u009b1m');
});
