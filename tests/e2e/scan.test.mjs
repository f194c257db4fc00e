// tessera scan (docs/CLI.md): token values in files, directories, git history and the index;
// exit codes 0/1/2; nothing printed whole; --report against a real server's leak endpoint.
//
// Every run gets a private HOME and an environment without TESSERA_*, PULUMI_* or GIT_*, so that
// no one's git configuration or credentials take part. Repositories are made in temp dirs with
// `git -c user.name=… -c user.email=…`. Only 127.0.0.1 is contacted.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import http from 'node:http';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  api,
  assert401,
  assertNoSanitizerReport,
  corruptChecksum,
  createToken,
  makeUnknownToken,
  startServer,
  tesseraBin,
} from './helpers.mjs';

const dirs = [];
const home = fs.mkdtempSync(path.join(os.tmpdir(), 'tessera-scan-home-'));
dirs.push(home);

after(() => {
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

function tempDir() {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'tessera-scan-'));
  dirs.push(d);
  return d;
}

function cleanEnv(extra = {}) {
  const env = {};
  for (const [k, v] of Object.entries(process.env)) if (!/^(TESSERA|PULUMI|GIT)_/.test(k)) env[k] = v;
  return { ...env, HOME: home, XDG_CONFIG_HOME: path.join(home, 'xdg'), GIT_CONFIG_NOSYSTEM: '1', ...extra };
}

/** Runs tessera scan ARGS in cwd; every value in `secrets` must not appear whole in its output. */
function scan(cwd, args, { secrets = [], env } = {}) {
  const r = spawnSync(tesseraBin, ['scan', ...args], {
    cwd,
    env: cleanEnv(env),
    encoding: 'utf8',
    timeout: 60000,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  if (r.error) throw r.error;
  assertNoSanitizerReport(r.stderr, `tessera scan ${args.join(' ')}`);
  const res = { status: r.status, stdout: r.stdout, stderr: r.stderr };
  res.show = `tessera scan ${args.join(' ')} (in ${cwd}) → exit ${r.status}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`;
  for (const s of secrets) {
    assert.ok(!r.stdout.includes(s) && !r.stderr.includes(s), `a value was printed whole:\n${res.show}`);
    // Not even all but the hint: nothing past its first 8 characters.
    assert.ok(!r.stdout.includes(s.slice(4, 20)), `more of a value than its hint was printed:\n${res.show}`);
  }
  return res;
}

function git(dir, ...args) {
  return execFileSync('git', ['-C', dir, '-c', 'user.name=Scan Test', '-c', 'user.email=scan@example.com', ...args], {
    env: cleanEnv(),
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  }).trim();
}

function newRepo() {
  const d = tempDir();
  git(d, 'init', '-q', '-b', 'main');
  return d;
}

function commitAll(dir, message) {
  git(dir, 'add', '-A');
  git(dir, 'commit', '-q', '--allow-empty', '-m', message);
  return git(dir, 'rev-parse', 'HEAD');
}

const hint = (v) => `${v.slice(0, 8)}…`;
const lines = (text) => text.split('\n').filter((l) => l !== '');

test('a directory: values anywhere in a line, in name order, as file:line with only a hint', () => {
  const d = tempDir();
  const [a, b, c, e] = [makeUnknownToken(), makeUnknownToken(), makeUnknownToken(), makeUnknownToken()];
  fs.writeFileSync(path.join(d, 'a.env'), `# settings\nTOKEN=${a}\n`);
  fs.mkdirSync(path.join(d, 'sub', 'deeper'), { recursive: true });
  // CRLF lines, two values on one line, one at the very end without a newline.
  fs.writeFileSync(path.join(d, 'sub', 'b.json'), `{\r\n"x": 1,\r\n"t": "${b}", "u": "${c}"\r\n}\r\n${e}`);
  // A binary file: NUL bytes and invalid UTF-8 around a value.
  fs.writeFileSync(path.join(d, 'sub', 'deeper', 'blob.bin'), Buffer.concat([
    Buffer.from([0, 1, 2, 0xff, 10, 0]), Buffer.from(a), Buffer.from([0, 0xfe]),
  ]));
  const r = scan(d, [], { secrets: [a, b, c, e] });
  assert.equal(r.status, 1, r.show);
  assert.deepEqual(lines(r.stdout), [
    `a.env:2: ${hint(a)}`,
    `sub/b.json:3: ${hint(b)}`,
    `sub/b.json:3: ${hint(c)}`,
    `sub/b.json:5: ${hint(e)}`,
    `sub/deeper/blob.bin:2: ${hint(a)}`,
  ], r.show);
  assert.equal(r.stderr, '', r.show);
});

test('look-alikes are not values: broken checksum, uppercase, glued to letters or digits, split', () => {
  const d = tempDir();
  const v = makeUnknownToken();
  const upper = v.slice(0, 4) + v.slice(4).toUpperCase();
  fs.writeFileSync(path.join(d, 'lookalikes.txt'), [
    corruptChecksum(v),
    `PUL-${v.slice(4)}`,
    upper,
    `x${v}`,
    `9${v}`,
    `${v}0`,
    `${v}g`,
    `${v.slice(0, 20)}\n${v.slice(20)}`,
    v.slice(0, 43),
    '',
  ].join('\n'));
  const r = scan(d, ['--no-history'], { secrets: [v] });
  assert.equal(r.status, 0, r.show);
  assert.equal(r.stdout, '');
  assert.equal(r.stderr, '');
  fs.appendFileSync(path.join(d, 'lookalikes.txt'), `and then "${v}".\n`);
  const found = scan(d, ['--no-history'], { secrets: [v] });
  assert.equal(found.status, 1, found.show);
  assert.equal(found.stdout, `lookalikes.txt:11: ${hint(v)}\n`);
});

test('PATH arguments: files and directories as given, symbolic links and .git passed over', () => {
  const d = tempDir();
  const outside = tempDir();
  const [v, w, x] = [makeUnknownToken(), makeUnknownToken(), makeUnknownToken()];
  fs.mkdirSync(path.join(d, 'proj', '.git'), { recursive: true });
  fs.writeFileSync(path.join(d, 'proj', 'main.c'), `const char *t = "${v}";\n`);
  fs.writeFileSync(path.join(d, 'proj', '.git', 'config'), `${w}\n`); // not a file of the project
  fs.writeFileSync(path.join(outside, 'far.txt'), `${x}\n`);
  fs.symlinkSync(path.join(outside, 'far.txt'), path.join(d, 'proj', 'link.txt'));
  fs.symlinkSync(outside, path.join(d, 'proj', 'linkdir'));
  fs.writeFileSync(path.join(d, 'clean.txt'), 'nothing here\n');

  let r = scan(d, ['proj'], { secrets: [v, w, x] });
  assert.equal(r.status, 1, r.show);
  assert.equal(r.stdout, `proj/main.c:1: ${hint(v)}\n`, r.show);
  r = scan(d, ['./proj/'], { secrets: [v] });
  assert.equal(r.stdout, `proj/main.c:1: ${hint(v)}\n`, r.show);
  r = scan(path.join(d, 'proj'), [], { secrets: [v] });
  assert.equal(r.stdout, `main.c:1: ${hint(v)}\n`, r.show);
  // A file named on the command line is read, even through a link: the user asked for it.
  r = scan(d, ['proj/link.txt', 'clean.txt'], { secrets: [x] });
  assert.equal(r.status, 1, r.show);
  assert.equal(r.stdout, `proj/link.txt:1: ${hint(x)}\n`, r.show);
  r = scan(d, ['clean.txt'], {});
  assert.deepEqual([r.status, r.stdout, r.stderr], [0, '', ''], r.show);
});

test('exit status: 0 clean, 1 found or not readable, 2 usage', () => {
  const d = tempDir();
  fs.writeFileSync(path.join(d, 'ok.txt'), 'fine\n');
  let r = scan(d, []);
  assert.deepEqual([r.status, r.stdout, r.stderr], [0, '', ''], r.show);

  r = scan(d, ['missing.txt']);
  assert.equal(r.status, 1, r.show);
  assert.equal(r.stdout, '');
  assert.equal(r.stderr, 'tessera: scan: missing.txt: No such file or directory\n');

  if (process.getuid?.() !== 0) { // root reads anything: no unreadable file to be had
    fs.writeFileSync(path.join(d, 'locked.txt'), 'x\n', { mode: 0o000 });
    r = scan(d, []);
    assert.equal(r.status, 1, r.show);
    assert.equal(r.stderr, 'tessera: scan: locked.txt: Permission denied\n');
    fs.chmodSync(path.join(d, 'locked.txt'), 0o600);
  }

  for (const args of [['--bogus'], ['--report'], ['--report', 'ftp://127.0.0.1/'], ['--report', 'http://a b']]) {
    r = scan(d, args);
    assert.equal(r.status, 2, r.show);
    assert.match(r.stderr, /usage: tessera scan/, r.show);
    assert.equal(r.stdout, '');
  }
  r = scan(d, ['--staged']);
  assert.equal(r.status, 2, r.show);
  assert.match(r.stderr, /^tessera: --staged: \. is not in a git work tree\n/, r.show);

  r = scan(d, ['--help']);
  assert.equal(r.status, 0, r.show);
  assert.match(r.stdout, /^usage: tessera scan \[PATH\.\.\.\]/);
});

test('a file over 64 MiB is skipped, saying so; one at the bound is read', () => {
  const d = tempDir();
  const v = makeUnknownToken();
  const limit = 64 * 1024 * 1024;
  // Sparse files: the size without the disk space.
  for (const [name, size] of [['big.bin', limit + 1], ['edge.bin', limit]]) {
    const fd = fs.openSync(path.join(d, name), 'w');
    fs.writeSync(fd, v, size - v.length);
    fs.closeSync(fd);
  }
  const r = scan(d, [], { secrets: [v] });
  assert.equal(r.status, 1, r.show);
  assert.equal(r.stdout, `edge.bin:1: ${hint(v)}\n`, r.show);
  assert.equal(r.stderr, 'tessera: scan: big.bin: skipped: larger than 64 MiB\n');
});

test('--json: the findings, a hint for each value, the error count', () => {
  const d = tempDir();
  const v = makeUnknownToken();
  fs.writeFileSync(path.join(d, 'f.txt'), `\n\n${v}\n`);
  const r = scan(d, ['--json', '.', 'nope'], { secrets: [v] });
  assert.equal(r.status, 1, r.show);
  assert.deepEqual(JSON.parse(r.stdout), {
    findings: [{ source: 'file', path: 'f.txt', line: 3, token_hint: hint(v) }],
    errors: 1,
  });
  assert.equal(r.stderr, 'tessera: scan: nope: No such file or directory\n');
});

describe('git history', () => {
  let repo;
  const c = {};
  const v = {};

  before(() => {
    for (const k of ['deleted', 'kept', 'branch', 'merge', 'sub']) v[k] = makeUnknownToken();
    repo = newRepo();
    fs.writeFileSync(path.join(repo, 'README'), 'hello\n');
    c.first = commitAll(repo, 'first');
    fs.writeFileSync(path.join(repo, 'deploy.env'), `USER=ci\nTOKEN=${v.deleted}\n`);
    c.added = commitAll(repo, 'add a token by mistake');
    fs.rmSync(path.join(repo, 'deploy.env'));
    c.removed = commitAll(repo, 'remove it again');
    // A value that stays in a file through many commits is reported once, at the first one.
    fs.writeFileSync(path.join(repo, 'config.txt'), `key = ${v.kept}\n`);
    c.kept = commitAll(repo, 'config');
    for (let i = 0; i < 30; i++) {
      fs.appendFileSync(path.join(repo, 'config.txt'), `line ${i}\n`);
      commitAll(repo, `edit ${i}`);
    }
    fs.mkdirSync(path.join(repo, 'sub'));
    fs.writeFileSync(path.join(repo, 'sub', 'x.txt'), `${v.sub}\n`);
    c.sub = commitAll(repo, 'sub');
    fs.rmSync(path.join(repo, 'sub'), { recursive: true });
    commitAll(repo, 'no more sub');
    // Only on another branch, never checked out here.
    git(repo, 'checkout', '-q', '-b', 'other', c.first);
    fs.writeFileSync(path.join(repo, 'other.txt'), `${v.branch}\n`);
    c.branch = commitAll(repo, 'on a branch');
    git(repo, 'checkout', '-q', 'main');
    // A merge whose own change (resolution) brings a value.
    git(repo, 'merge', '-q', '--no-ff', '--no-commit', 'other');
    fs.writeFileSync(path.join(repo, 'merged.txt'), `${v.merge}\n`);
    git(repo, 'add', 'merged.txt');
    git(repo, 'commit', '-q', '-m', 'merge with a resolution');
    c.merge = git(repo, 'rev-parse', 'HEAD');
    fs.rmSync(path.join(repo, 'merged.txt'));
    fs.rmSync(path.join(repo, 'other.txt'));
    commitAll(repo, 'clean up');
  });

  const secrets = () => Object.values(v);

  test('a value added then deleted is still found in history, once per path, at its first commit', () => {
    const r = scan(repo, [], { secrets: secrets() });
    assert.equal(r.status, 1, r.show);
    // config.txt still holds v.kept: it is a working file finding as well as a history one.
    const expected = [
      `config.txt:1: ${hint(v.kept)}`,
      `${c.added.slice(0, 12)}:deploy.env:2: ${hint(v.deleted)}`,
      `${c.kept.slice(0, 12)}:config.txt:1: ${hint(v.kept)}`,
      `${c.sub.slice(0, 12)}:sub/x.txt:1: ${hint(v.sub)}`,
      `${c.branch.slice(0, 12)}:other.txt:1: ${hint(v.branch)}`,
      `${c.merge.slice(0, 12)}:merged.txt:1: ${hint(v.merge)}`,
    ];
    assert.deepEqual(lines(r.stdout).sort(), [...expected].sort(), r.show);
    assert.equal(lines(r.stdout)[0], expected[0], 'working files come first');
    assert.equal(r.stderr, '', r.show);
  });

  test('--no-history: the working files only', () => {
    const r = scan(repo, ['--no-history'], { secrets: secrets() });
    assert.equal(r.status, 1, r.show);
    assert.equal(r.stdout, `config.txt:1: ${hint(v.kept)}\n`);
    fs.writeFileSync(path.join(repo, 'config.txt'), 'key = from-the-environment\n');
    try {
      const clean = scan(repo, ['--no-history'], { secrets: secrets() });
      assert.deepEqual([clean.status, clean.stdout, clean.stderr], [0, '', ''], clean.show);
      // The history still has it, and the rest.
      const all = scan(repo, [], { secrets: secrets() });
      assert.equal(all.status, 1, all.show);
      assert.equal(lines(all.stdout).length, 5, all.show);
    } finally {
      git(repo, 'checkout', '-q', '--', 'config.txt');
    }
  });

  test('a PATH inside the work tree limits the history to that place', () => {
    const sub = scan(repo, ['sub'], { secrets: secrets() });
    assert.equal(sub.status, 1, sub.show);
    assert.equal(sub.stdout, `${c.sub.slice(0, 12)}:sub/x.txt:1: ${hint(v.sub)}\n`, sub.show);
    assert.equal(sub.stderr, 'tessera: scan: sub: No such file or directory\n', 'gone from the work tree');
    fs.mkdirSync(path.join(repo, 'sub'));
    try {
      const inside = scan(path.join(repo, 'sub'), [], { secrets: secrets() });
      assert.equal(inside.stdout, `${c.sub.slice(0, 12)}:sub/x.txt:1: ${hint(v.sub)}\n`, inside.show);
      assert.equal(inside.stderr, '');
    } finally {
      fs.rmdirSync(path.join(repo, 'sub'));
    }
    const file = scan(repo, ['config.txt'], { secrets: secrets() });
    assert.deepEqual(lines(file.stdout), [
      `config.txt:1: ${hint(v.kept)}`,
      `${c.kept.slice(0, 12)}:config.txt:1: ${hint(v.kept)}`,
    ], file.show);
  });

  test('--json names the full commit and the source', () => {
    const r = scan(repo, ['--json', 'sub', 'deploy.env'], { secrets: secrets() });
    const out = JSON.parse(r.stdout);
    assert.deepEqual(out.findings, [
      { source: 'history', commit: c.sub, path: 'sub/x.txt', line: 1, token_hint: hint(v.sub) },
      { source: 'history', commit: c.added, path: 'deploy.env', line: 2, token_hint: hint(v.deleted) },
    ]);
    assert.equal(out.errors, 2, 'neither PATH is in the work tree now');
  });
});

describe('--staged (a pre-commit hook)', () => {
  test('finds what the index would commit, not what is only in the work tree', () => {
    const repo = newRepo();
    const [staged, unstaged, committed] = [makeUnknownToken(), makeUnknownToken(), makeUnknownToken()];
    // An unborn branch: everything staged is new.
    fs.writeFileSync(path.join(repo, 'a.txt'), `first\n${staged}\n`);
    git(repo, 'add', 'a.txt');
    fs.writeFileSync(path.join(repo, 'b.txt'), `${unstaged}\n`); // untracked
    let r = scan(repo, ['--staged'], { secrets: [staged, unstaged] });
    assert.equal(r.status, 1, r.show);
    assert.equal(r.stdout, `a.txt:2: ${hint(staged)}\n`, r.show);

    // What the index holds counts, not what the file has become since.
    fs.writeFileSync(path.join(repo, 'a.txt'), 'first\n');
    r = scan(repo, ['--staged'], { secrets: [staged] });
    assert.equal(r.stdout, `a.txt:2: ${hint(staged)}\n`, r.show);
    git(repo, 'add', 'a.txt');
    r = scan(repo, ['--staged'], { secrets: [staged] });
    assert.deepEqual([r.status, r.stdout, r.stderr], [0, '', ''], r.show);

    // Once committed, a file the commit does not touch is not the hook's business.
    fs.writeFileSync(path.join(repo, 'old.txt'), `${committed}\n`);
    commitAll(repo, 'old');
    fs.writeFileSync(path.join(repo, 'a.txt'), 'second\n');
    git(repo, 'add', 'a.txt');
    r = scan(repo, ['--staged'], { secrets: [committed] });
    assert.deepEqual([r.status, r.stdout, r.stderr], [0, '', ''], r.show);
    fs.appendFileSync(path.join(repo, 'old.txt'), 'more\n');
    git(repo, 'add', 'old.txt');
    r = scan(repo, ['--staged'], { secrets: [committed] });
    assert.equal(r.stdout, `old.txt:1: ${hint(committed)}\n`, r.show);
  });

  test('a repository\'s configuration cannot make the scan run a program', () => {
    const repo = newRepo();
    const v = makeUnknownToken();
    const marker = path.join(tempDir(), 'ran');
    const program = path.join(tempDir(), 'fsmonitor.sh');
    fs.writeFileSync(program, `#!/bin/sh\ntouch '${marker}'\n`, { mode: 0o755 });
    fs.writeFileSync(path.join(repo, 'a.txt'), `${v}\n`);
    git(repo, 'add', 'a.txt');
    git(repo, 'config', 'core.fsmonitor', program); // git diff --cached would run it
    for (const args of [['--staged'], []]) {
      const r = scan(repo, args, { secrets: [v] });
      assert.equal(r.status, 1, r.show);
      assert.ok(!fs.existsSync(marker), `tessera scan ${args.join(' ')} ran the repository's fsmonitor`);
    }
  });

  test('a partial clone\'s promisor remote is never fetched from, so its configuration runs nothing', () => {
    const repo = newRepo();
    fs.writeFileSync(path.join(repo, 'a'), 'hello\n');
    commitAll(repo, 'a');
    // A commit whose tree names a blob this clone does not have, as a partial clone's would.
    const blob = execFileSync('git', ['hash-object', '--stdin'], { input: 'missing\n', encoding: 'utf8' }).trim();
    const tree = execFileSync('git', ['-C', repo, 'mktree', '--missing'], {
      input: `100644 blob ${blob}\tb\n100644 blob ${git(repo, 'rev-parse', 'HEAD:a')}\ta\n`,
      encoding: 'utf8',
      env: cleanEnv(),
    }).trim();
    git(repo, 'update-ref', 'refs/heads/other', git(repo, 'commit-tree', tree, '-p', 'HEAD', '-m', 'b'));
    const marker = path.join(tempDir(), 'ran');
    git(repo, 'config', 'core.repositoryformatversion', '1');
    git(repo, 'config', 'extensions.partialClone', 'origin');
    git(repo, 'config', 'remote.origin.url', path.join(tempDir(), 'nowhere'));
    git(repo, 'config', 'remote.origin.promisor', 'true');
    git(repo, 'config', 'remote.origin.uploadpack', `touch '${marker}';`);
    const r = scan(repo, []);
    assert.ok(!fs.existsSync(marker), `tessera scan ran the promisor remote's upload-pack:\n${r.show}`);
    assert.equal(r.status, 1, r.show);
    assert.match(r.stderr, /:b: skipped: the object is not in this clone/, r.show);
  });

  test('a work tree git will not read is an error, not a clean scan', () => {
    const repo = newRepo();
    fs.writeFileSync(path.join(repo, 'a.txt'), 'clean\n');
    commitAll(repo, 'clean');
    // git itself missing: the history cannot be read, and the scan must say so.
    const noGit = spawnSync(tesseraBin, ['scan', '.'], { cwd: repo, env: cleanEnv({ PATH: '/nonexistent' }), encoding: 'utf8', timeout: 60000 });
    assert.equal(noGit.status, 1, noGit.stderr);
    assert.match(noGit.stderr, /tessera: scan: \.: git could not read its history/);
    const staged = spawnSync(tesseraBin, ['scan', '--staged'], { cwd: repo, env: cleanEnv({ PATH: '/nonexistent' }), encoding: 'utf8', timeout: 60000 });
    assert.equal(staged.status, 1, staged.stderr);
    assert.match(staged.stderr, /git could not read its work tree/);
    assert.equal(scan(repo, ['--no-history']).status, 0, 'without history git is not needed');
  });

  test('a repository owned by someone else (safe.directory) is an error, not a clean scan', { skip: process.getuid() !== 0 && 'needs root to give the repository away' }, () => {
    const repo = newRepo();
    const v = makeUnknownToken();
    fs.writeFileSync(path.join(repo, 'a.txt'), `${v}\n`);
    commitAll(repo, 'leak');
    fs.writeFileSync(path.join(repo, 'a.txt'), 'gone\n');
    commitAll(repo, 'gone');
    execFileSync('chown', ['-R', '65534:65534', repo]);
    const r = scan(repo, [], { secrets: [v] });
    assert.equal(r.status, 1, r.show);
    assert.match(r.stderr, /dubious ownership/, r.show); // git's own reason, passed on
    assert.match(r.stderr, /git could not read its history/, r.show);
  });

  test('as a pre-commit hook, it stops the commit that would add a value', () => {
    const repo = newRepo();
    const v = makeUnknownToken();
    const hook = path.join(repo, '.git', 'hooks', 'pre-commit');
    fs.writeFileSync(hook, `#!/bin/sh\nexec "${tesseraBin}" scan --staged\n`, { mode: 0o755 });
    fs.writeFileSync(path.join(repo, 'fine.txt'), 'fine\n');
    git(repo, 'add', 'fine.txt');
    git(repo, 'commit', '-q', '-m', 'fine');
    fs.writeFileSync(path.join(repo, 'leak.txt'), `token: ${v}\n`);
    git(repo, 'add', 'leak.txt');
    const r = spawnSync('git', ['-C', repo, '-c', 'user.name=T', '-c', 'user.email=t@example.com', 'commit', '-m', 'leak'], {
      env: cleanEnv(),
      encoding: 'utf8',
      timeout: 60000,
    });
    assert.notEqual(r.status, 0, `the commit must be refused: ${r.stdout} ${r.stderr}`);
    assert.match(r.stdout + r.stderr, new RegExp(`leak\\.txt:1: ${hint(v)}`));
    assert.ok(!(r.stdout + r.stderr).includes(v));
    assert.equal(git(repo, 'rev-list', '--count', 'HEAD'), '1', 'nothing was committed');
    // `git commit -a` stages into a temporary index (GIT_INDEX_FILE): that one is read.
    fs.writeFileSync(path.join(repo, 'fine.txt'), `${v}\n`);
    git(repo, 'rm', '-q', '--cached', 'leak.txt');
    const all = spawnSync('git', ['-C', repo, '-c', 'user.name=T', '-c', 'user.email=t@example.com', 'commit', '-a', '-m', 'leak 2'], {
      env: cleanEnv(),
      encoding: 'utf8',
      timeout: 60000,
    });
    assert.notEqual(all.status, 0, `commit -a must be refused: ${all.stdout} ${all.stderr}`);
    assert.match(all.stdout + all.stderr, new RegExp(`fine\\.txt:1: ${hint(v)}`));
  });
});

describe('--report', () => {
  let srv;
  before(async () => {
    srv = await startServer();
  });
  after(async () => {
    await srv?.stop();
  });

  test('a live token found is revoked, an unknown value says unknown, each value once', async () => {
    const live = (await createToken(srv, srv.token, { description: 'leaked' })).tokenValue;
    const unknown = makeUnknownToken();
    assert.equal((await api(srv, 'GET', '/api/user', { token: live })).status, 200);
    const d = tempDir();
    fs.writeFileSync(path.join(d, 'a.txt'), `${live}\n${live}\n`);
    fs.writeFileSync(path.join(d, 'b.txt'), `x ${unknown} ${live}\n`);
    const r = scan(d, ['--report', `${srv.url}/`], { secrets: [live, unknown] });
    assert.equal(r.status, 1, r.show);
    assert.deepEqual(lines(r.stdout), [
      `a.txt:1: ${hint(live)}`,
      `a.txt:2: ${hint(live)}`,
      `b.txt:1: ${hint(unknown)}`,
      `b.txt:1: ${hint(live)}`,
      `revoked: ${hint(live)} (a.txt:1)`,
      `unknown: ${hint(unknown)} (b.txt:1)`,
      `reported 2 values to ${srv.url}/: 1 revoked, 1 unknown`,
    ], r.show);
    assert.equal(r.stderr, '', r.show);
    assert401(await api(srv, 'GET', '/api/user', { token: live }), 'the reported token');
    assert.equal((await api(srv, 'GET', '/api/user', { token: srv.token })).status, 200, 'others still work');

    // Reported again: it is no longer live.
    const again = scan(d, ['--report', srv.url, '--json'], { secrets: [live, unknown] });
    assert.equal(again.status, 1, again.show);
    assert.deepEqual(JSON.parse(again.stdout).findings.map((f) => f.result), ['unknown', 'unknown', 'unknown', 'unknown']);
  });

  test('more than 100 values go in batches; history findings are reported too', async () => {
    const repo = newRepo();
    const values = Array.from({ length: 130 }, () => makeUnknownToken());
    const live = (await createToken(srv, srv.token, { description: 'in history' })).tokenValue;
    fs.writeFileSync(path.join(repo, 'many.txt'), values.join('\n') + '\n');
    fs.writeFileSync(path.join(repo, 'old.txt'), `${live}\n`);
    commitAll(repo, 'values');
    fs.rmSync(path.join(repo, 'old.txt'));
    commitAll(repo, 'gone');
    const r = scan(repo, ['--report', srv.url], { secrets: [...values, live] });
    assert.equal(r.status, 1, r.show);
    const out = lines(r.stdout);
    assert.equal(out.at(-1), `reported 131 values to ${srv.url}: 1 revoked, 130 unknown`, r.show);
    assert.equal(out.filter((l) => l.startsWith('unknown: ')).length, 130);
    assert.ok(out.some((l) => l.startsWith(`revoked: ${hint(live)} (`) && l.endsWith(':old.txt:1)')), r.show);
    assert401(await api(srv, 'GET', '/api/user', { token: live }), 'the token from history');
  });

  test('nothing found: nothing is sent; a server out of reach: exit 1, saying so', () => {
    const d = tempDir();
    fs.writeFileSync(path.join(d, 'ok.txt'), 'fine\n');
    let r = scan(d, ['--report', 'http://127.0.0.1:1']);
    assert.deepEqual([r.status, r.stdout, r.stderr], [0, '', ''], r.show);
    const v = makeUnknownToken();
    fs.writeFileSync(path.join(d, 'v.txt'), `${v}\n`);
    r = scan(d, ['--report', 'http://127.0.0.1:1'], { secrets: [v] });
    assert.equal(r.status, 1, r.show);
    assert.equal(r.stdout, `v.txt:1: ${hint(v)}\n`);
    assert.match(r.stderr, /^tessera: scan: cannot reach http:\/\/127\.0\.0\.1:1: .+; 1 value not reported\n$/, r.show);
  });
});

// What --report sends, as a peer that records each request sees it: the server above shows what
// it does with a report, this one the report itself (headers, batches, the 429 rule).
describe('--report, as a recording peer sees it', () => {
  let peer;
  let peerUrl;
  const requests = [];
  let answer; // (request number, parsed body) → {status, headers, body}

  before(async () => {
    peer = http.createServer((req, res) => {
      let body = '';
      req.setEncoding('utf8');
      req.on('data', (d) => (body += d));
      req.on('end', () => {
        const parsed = JSON.parse(body);
        requests.push({ method: req.method, url: req.url, headers: req.headers, body: parsed });
        const a = answer(requests.length, parsed);
        res.writeHead(a.status, { 'Content-Type': 'application/json', ...(a.headers || {}) });
        res.end(JSON.stringify(a.body));
      });
    });
    await new Promise((resolve) => peer.listen(0, '127.0.0.1', resolve));
    peerUrl = `http://127.0.0.1:${peer.address().port}`;
  });
  after(() => new Promise((resolve) => peer.close(resolve)));

  const results = (items) =>
    items.map((i) => ({ token_hash: crypto.createHash('sha256').update(i.token).digest('hex'), type: i.type, result: 'unknown' }));

  /** tessera scan, asynchronously: the peer answers from this same process. */
  function scanAsync(cwd, args, env = {}) {
    return new Promise((resolve, reject) => {
      const p = spawn(tesseraBin, ['scan', ...args], { cwd, env: cleanEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      p.stdout.setEncoding('utf8').on('data', (d) => (stdout += d));
      p.stderr.setEncoding('utf8').on('data', (d) => (stderr += d));
      const timer = setTimeout(() => p.kill('SIGKILL'), 60000);
      p.on('error', reject);
      p.on('close', (status) => {
        clearTimeout(timer);
        assertNoSanitizerReport(stderr, 'tessera scan');
        resolve({ status, stdout, stderr, show: `exit ${status}\nstdout: ${stdout}\nstderr: ${stderr}` });
      });
    });
  }

  test('batches of at most 100, each value once, no Authorization, a short 429 waited out once', async () => {
    const d = tempDir();
    const values = Array.from({ length: 130 }, () => makeUnknownToken());
    fs.writeFileSync(path.join(d, 'many values.txt'), values.join('\n') + '\n' + values[0] + '\n');
    requests.length = 0;
    answer = (n, body) => (n === 1 ? { status: 429, headers: { 'Retry-After': '1' }, body: { code: 429, message: 'Too Many Requests: wait.' } } : { status: 200, body: results(body) });
    // A token in the environment and in saved credentials must not be sent with a report.
    const r = await scanAsync(d, ['--report', `${peerUrl}//`], { TESSERA_TOKEN: makeUnknownToken(), PULUMI_ACCESS_TOKEN: makeUnknownToken() });
    assert.equal(r.status, 1, r.show);
    assert.equal(r.stderr, 'tessera: scan: the server is rate limiting reports; trying again in 1 s\n', r.show);
    assert.equal(requests.length, 3, 'the refused batch again, then the second one');
    for (const q of requests) {
      assert.equal(q.method, 'POST');
      assert.equal(q.url, '/api/tokens/leaks');
      assert.equal(q.headers.authorization, undefined);
      assert.match(q.headers['content-type'], /^application\/json/);
    }
    assert.deepEqual(requests[0].body, requests[1].body);
    assert.deepEqual([requests[1].body.length, requests[2].body.length], [100, 30]);
    const sent = [...requests[1].body, ...requests[2].body];
    assert.deepEqual(sent.map((i) => i.token), values, 'each value once, in the order found');
    const real = fs.realpathSync(d);
    sent.forEach((item, k) => {
      assert.deepEqual(Object.keys(item).sort(), ['source', 'token', 'type', 'url']);
      assert.equal(item.type, 'tessera_token');
      assert.equal(item.source, 'tessera-scan');
      assert.equal(item.url, `file://${real.split('/').map(encodeURIComponent).join('/')}/many%20values.txt:${k + 1}`);
    });
    assert.equal(lines(r.stdout).at(-1), `reported 130 values to ${peerUrl}//: 0 revoked, 130 unknown`);
  });

  test('a second 429, a long Retry-After, or an answer that does not fit: exit 1, saying so', async () => {
    const d = tempDir();
    const v = makeUnknownToken();
    fs.writeFileSync(path.join(d, 'v.txt'), `${v}\n`);
    const tooMany = { status: 429, headers: { 'Retry-After': '1' }, body: { code: 429, message: 'Too Many Requests: wait.' } };
    const cases = [
      [() => tooMany, 2, /^tessera: scan: the server is rate limiting reports; trying again in 1 s\ntessera: scan: the server's rate limit for reports is spent: try again in 1 s; 1 value not reported\n$/],
      [() => ({ ...tooMany, headers: { 'Retry-After': '3600' } }), 1, /^tessera: scan: the server's rate limit for reports is spent: try again in 3600 s; 1 value not reported\n$/],
      [() => ({ status: 200, body: [] }), 1, /answered \/api\/tokens\/leaks with something other than one result a value; 1 value not reported\n$/],
      [(n, body) => ({ status: 200, body: results(body).map((x) => ({ ...x, token_hash: '0'.repeat(64) })) }), 1, /something other than one result a value/],
      [() => ({ status: 413, body: { code: 413, message: 'Payload Too Large: \u001b[31mno.' } }), 1, /refused the report \(HTTP 413\): Payload Too Large: \\x1b\[31mno\.; 1 value not reported\n$/],
    ];
    for (const [fn, count, stderrRe] of cases) {
      requests.length = 0;
      answer = fn;
      const r = await scanAsync(d, ['--report', peerUrl]);
      assert.equal(r.status, 1, r.show);
      assert.equal(requests.length, count, r.show);
      assert.match(r.stderr, stderrRe, r.show);
      assert.equal(r.stdout, `v.txt:1: ${hint(v)}\n`, r.show);
      assert.ok(!r.stderr.includes(v) && !r.stdout.includes(v));
    }
  });
});
