// OIDC issuers over HTTPS: the server verifies the issuer's certificate (here against a test CA
// given with --issuer-ca-file), records its SHA-256 thumbprint at registration, and refuses a
// certificate that is not among thumbprints given. Without the CA, or over plain HTTP without
// --allow-http-issuers, registration fails.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { api, makeTempDir, poll, startServer, startMockIssuer } from './helpers.mjs';

let dir;
let certPath;
let fingerprint; // lower-case hex SHA-256 of the certificate's DER
const idps = [];
let trusting; // a server given the test CA, which may reach HTTPS issuers on loopback
let httpOnly; // the test CA and the plain-HTTP test flag only
let plain; // a server with neither the CA nor plain HTTP

async function startIdp({ tls }) {
  const idp = await startMockIssuer(tls ? { alg: 'ES256', keyFile: path.join(dir, 'key.pem'), certFile: certPath } : { alg: 'ES256' });
  idps.push(idp);
  return idp;
}

before(async () => {
  dir = makeTempDir();
  certPath = path.join(dir, 'cert.pem');
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '1',
    '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1',
    '-keyout', path.join(dir, 'key.pem'), '-out', certPath,
  ], { stdio: 'ignore' });
  fingerprint = new crypto.X509Certificate(fs.readFileSync(certPath)).fingerprint256.replace(/:/g, '').toLowerCase();
  // The test issuers listen on loopback, which only the test flag lets a server reach over HTTPS;
  // the one for plain HTTP does not open it to HTTPS.
  trusting = await startServer({ extraArgs: ['--issuer-ca-file', certPath, '--allow-loopback-issuers'] });
  plain = await startServer();
  httpOnly = await startServer({ extraArgs: ['--issuer-ca-file', certPath, '--allow-http-issuers'] });
});

after(async () => {
  await trusting?.stop();
  await plain?.stop();
  await httpOnly?.stop();
  for (const idp of idps) await idp.stop();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

const register = (srv, json) => api(srv, 'POST', '/api/orgs/acme/oidc/issuers', { token: srv.token, json });

test('an HTTPS issuer is registered with the thumbprint of the certificate it served', async () => {
  const idp = await startIdp({ tls: true });
  assert.match(idp.issuer.url, /^https:/);
  const res = await register(trusting, { name: 'tls', url: idp.issuer.url });
  assert.equal(res.status, 200, res.text);
  assert.deepEqual(res.json.thumbprints, [fingerprint]);
  // Regenerating fetches again and finds the same certificate.
  const regen = await api(trusting, 'POST', `/api/orgs/acme/oidc/issuers/${res.json.id}/regenerate-thumbprints`, { token: trusting.token });
  assert.equal(regen.status, 200, regen.text);
  assert.deepEqual(regen.json.thumbprints, [fingerprint]);
});

test('given thumbprints pin the certificate: another one is refused', async () => {
  const idp = await startIdp({ tls: true });
  const wrong = await register(trusting, { name: 'pinned', url: idp.issuer.url, thumbprints: ['0'.repeat(64)] });
  assert.equal(wrong.status, 400);
  // the certificate's digest is for the server's log, not for whoever chose the URL
  assert.doesNotMatch(wrong.json.message, /thumbprint|SHA-256/);
  assert.ok(await poll(() => /not among its thumbprints/.test(trusting.server.stderr()), { timeoutMs: 5000, intervalMs: 50 }));
  // Pulumi's spec has thumbprints as SHA-1: those pin too.
  const sha1 = new crypto.X509Certificate(fs.readFileSync(certPath)).fingerprint.replace(/:/g, '').toLowerCase();
  const right = await register(trusting, { name: 'pinned', url: idp.issuer.url, thumbprints: [fingerprint.toUpperCase(), sha1] });
  assert.equal(right.status, 200, right.text);
  assert.deepEqual(right.json.thumbprints, [fingerprint, sha1]);
});

test('an untrusted certificate, a loopback address, or plain HTTP without the test flag, is refused', async () => {
  const tls = await startIdp({ tls: true });
  const untrusted = await register(trusting, { name: 'tls', url: tls.issuer.url.replace('localhost', '127.0.0.2') });
  assert.equal(untrusted.status, 400); // the certificate names localhost and 127.0.0.1 only
  // Without the test flag, loopback is off limits (no probing the server's own services), and the
  // caller is not told whether a port was closed or a certificate refused: the server log is.
  const blocked = await register(plain, { name: 'tls', url: tls.issuer.url });
  assert.equal(blocked.status, 400);
  for (const r of [untrusted, blocked])
    assert.match(r.json.message, /could not get a valid OpenID configuration and key set from https:\/\/.*: it is unreachable, not an OIDC issuer, or not trusted \(the server's log says which\)/);
  assert.ok(await poll(() => /OIDC discovery at https:\/\/127\.0\.0\.2:\d+ failed: cannot fetch /.test(trusting.server.stderr()), { timeoutMs: 5000, intervalMs: 50 }), trusting.server.stderr());
  const logged = /OIDC discovery at https:\/\/localhost:\d+ failed: cannot fetch https:\/\/localhost:\d+\/\.well-known\/openid-configuration: Couldn't connect/;
  assert.ok(await poll(() => logged.test(plain.server.stderr()), { timeoutMs: 5000, intervalMs: 50 }), plain.server.stderr());
  // The flag for plain-HTTP test issuers does not open loopback to HTTPS.
  const viaHttpFlag = await register(httpOnly, { name: 'tls', url: tls.issuer.url });
  assert.equal(viaHttpFlag.status, 400, viaHttpFlag.text);
  // An issuer URL is the tokens' "iss": no query or fragment.
  for (const url of [`${tls.issuer.url}?x=1`, `${tls.issuer.url}#top`, `${tls.issuer.url}/?`]) {
    const res = await register(trusting, { name: 'q', url });
    assert.equal(res.status, 400, `${url}: ${res.text}`);
    assert.match(res.json.message, /no user name, password, query or fragment/);
  }
  assert.equal((await register(plain, { name: 'x', url: 'https://user:pw@example.com' })).status, 400);
  const http = await startIdp({ tls: false });
  const refused = await register(plain, { name: 'http', url: http.issuer.url });
  assert.equal(refused.status, 400);
  assert.match(refused.json.message, /https/);
  assert.deepEqual((await api(plain, 'GET', '/api/orgs/acme/oidc/issuers', { token: plain.token })).json.oidcIssuers, []);
});
