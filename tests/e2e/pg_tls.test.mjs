// TLS to PostgreSQL through libpq's own conninfo: a cluster of this file's own that takes only TLS
// connections from TCP clients (hostssl), with a certificate from a test CA. The nodes' URL says
// `sslmode=verify-full&sslrootcert=CA`: they connect and serve, every connection they hold is
// encrypted, and the same URL with another CA, or without TLS, does not get in. Runs whatever
// store the suite is on: it needs a cluster configured its own way.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';

import { api, createToken, makeTempDir, repoRoot, runTessera, spawnServer } from './helpers.mjs';

const clusterScript = path.join(repoRoot, 'scripts/pg-test-cluster');
const psql = fs.existsSync('/usr/lib/postgresql/15/bin/psql') ? '/usr/lib/postgresql/15/bin/psql' : 'psql';

let dir; // certificates, the audit key
let clusterDir;
let base; // postgres://tessera@127.0.0.1:PORT/postgres, plain
let ca;
let otherCa;

function openssl(args) {
  execFileSync('openssl', args, { stdio: 'ignore', timeout: 30000 });
}

/** A CA, and a certificate for 127.0.0.1 it signed, in the cluster's directory for the server. */
function makeCertificates() {
  ca = path.join(dir, 'ca.pem');
  otherCa = path.join(dir, 'other-ca.pem');
  for (const [key, cert, cn] of [
    [path.join(dir, 'ca.key'), ca, 'tessera test CA'],
    [path.join(dir, 'other-ca.key'), otherCa, 'another CA'],
  ]) {
    openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '1', '-subj', `/CN=${cn}`, '-keyout', key, '-out', cert]);
  }
  const serverKey = path.join(clusterDir, 'server.key');
  const serverCert = path.join(clusterDir, 'server.pem');
  const csr = path.join(dir, 'server.csr');
  const ext = path.join(dir, 'server.ext');
  fs.writeFileSync(ext, 'subjectAltName=IP:127.0.0.1\n');
  openssl(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-subj', '/CN=127.0.0.1', '-keyout', serverKey, '-out', csr]);
  openssl(['x509', '-req', '-in', csr, '-CA', ca, '-CAkey', path.join(dir, 'ca.key'), '-CAcreateserial', '-days', '1', '-extfile', ext, '-out', serverCert]);
  // The server runs as postgres and refuses a key others can read.
  execFileSync('chown', ['postgres', serverKey, serverCert]);
  fs.chmodSync(serverKey, 0o600);
  return { serverKey, serverCert };
}

before(() => {
  dir = makeTempDir();
  clusterDir = fs.mkdtempSync('/tmp/tessera-pg-');
  base = execFileSync(clusterScript, ['start', clusterDir], {
    encoding: 'utf8',
    timeout: 180000,
    env: { ...process.env, PG_TEST_CLUSTER_OWNER: String(process.pid) },
  }).trim();
  const { serverKey, serverCert } = makeCertificates();
  const run = (statement) => execFileSync(psql, ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', base, '-c', statement], { timeout: 30000 });
  run(`ALTER SYSTEM SET ssl_cert_file = '${serverCert}'`);
  run(`ALTER SYSTEM SET ssl_key_file = '${serverKey}'`);
  run('ALTER SYSTEM SET ssl = on');
  run("CREATE DATABASE tls");
  // TCP clients only over TLS from now on; the Unix socket (the script's own use) stays open.
  const hba = path.join(clusterDir, 'data', 'pg_hba.conf');
  fs.writeFileSync(hba, 'local all all trust\nhostssl all all 127.0.0.1/32 trust\n');
  run('SELECT pg_reload_conf()');
});

after(() => {
  if (clusterDir) execFileSync(clusterScript, ['stop', clusterDir], { stdio: 'ignore', timeout: 60000 });
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

const url = (params) => {
  const u = new URL(base);
  u.pathname = '/tls';
  for (const [k, v] of Object.entries(params)) u.searchParams.set(k, v);
  return u.href;
};

test('nodes reach PostgreSQL over verified TLS given in the URL, and every connection is encrypted', async () => {
  const db = url({ sslmode: 'verify-full', sslrootcert: ca });
  const env = { TESSERA_AUDIT_KEY: path.join(dir, 'audit-key') };
  const boot = runTessera(['admin', 'bootstrap', '--db', db, '--user', 'alice', '--org', 'acme'], { env, timeoutMs: 60000 });
  assert.equal(boot.status, 0, boot.stderr);
  const srv = await spawnServer(db, [], { env });
  try {
    const token = boot.stdout.trim();
    const made = await createToken(srv, token, { description: 'over TLS' });
    assert.equal((await api(srv, 'GET', '/api/user', { token: made.tokenValue })).status, 200);
    // Asked over the Unix socket, which needs no TLS: the node's connections, and whether each
    // is over TCP and encrypted.
    const port = new URL(base).port;
    const rows = execFileSync(psql, ['-X', '-A', '-t', '-h', clusterDir, '-p', port, '-U', 'tessera', '-d', 'tls', '-c',
      "SELECT (a.client_addr IS NOT NULL) || '/' || s.ssl FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid) " +
      "WHERE a.datname = 'tls' AND a.backend_type = 'client backend' AND a.pid <> pg_backend_pid()"], { encoding: 'utf8', timeout: 30000 })
      .trim().split('\n').filter(Boolean);
    assert.ok(rows.length >= 2, `the node holds connections (${JSON.stringify(rows)})`);
    for (const row of rows) assert.equal(row, 'true/true');
  } finally {
    await srv.stop();
  }
});

test('a certificate from another CA, or no TLS at all, does not get in', () => {
  const env = { TESSERA_AUDIT_KEY: path.join(dir, 'audit-key') };
  for (const db of [url({ sslmode: 'verify-full', sslrootcert: otherCa }), url({ sslmode: 'disable' })]) {
    const r = runTessera(['admin', 'audit', 'verify', '--db', db], { env, timeoutMs: 60000 });
    assert.equal(r.status, 1, `${db}: ${r.stdout}`);
    assert.match(r.stderr, /PostgreSQL: cannot connect/);
    assert.ok(!r.stderr.includes(otherCa) || r.stderr.includes('certificate'), r.stderr);
  }
  const serve = runTessera(['serve', '--listen', '127.0.0.1:0', '--db', url({ sslmode: 'verify-full', sslrootcert: otherCa })], { env, timeoutMs: 60000 });
  assert.equal(serve.status, 1);
  assert.match(serve.stderr, /cannot open the PostgreSQL database/);
});
