// Setup of the OIDC exchange benchmark, all on loopback: registers an issuer with a static JWKS
// (a fresh RSA-2048 key; no discovery, nothing fetched) in organization ORG, sets its policy to
// allow organization tokens for sub repo:bench/*, mints COUNT distinct RS256 ID tokens with that
// key (iss the issuer's URL, aud urn:pulumi:org:ORG, an hour to live, each its own jti) into
// OUT_FILE, one a line, and checks that one of them exchanges for an organization token that
// works (GET /api/user answers 200 with it).
//
// Usage: BENCH_TOKEN=pul-... node bench/oidc_tokens.mjs BASE_URL ORG COUNT OUT_FILE
// BENCH_TOKEN must be an admin of ORG. Prints `minted: COUNT in S s` and `exchange: ok`; exits 1
// with the answer on any unexpected status.
import { generateKeyPairSync, sign } from 'node:crypto';
import { writeFileSync } from 'node:fs';

const [base, org, countArg, outFile] = process.argv.slice(2);
const token = process.env.BENCH_TOKEN;
const count = Number(countArg);
if (!base || !org || !outFile || !token || !(count >= 1)) {
  console.error('usage: BENCH_TOKEN=pul-... node bench/oidc_tokens.mjs BASE_URL ORG COUNT OUT_FILE');
  process.exit(2);
}
const ISSUER = 'https://issuer.bench.invalid'; // never fetched: the key set is static
const SUB = 'repo:bench/infra:ref:refs/heads/main';

/** An API call with the admin token; exits on any status but want. */
async function call(method, path, json, want = 200) {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: { Authorization: `token ${token}`, 'Content-Type': 'application/json' },
    body: json === undefined ? undefined : JSON.stringify(json),
    signal: AbortSignal.timeout(10000),
  });
  const text = await res.text();
  if (res.status !== want) {
    console.error(`oidc_tokens: ${method} ${path}: HTTP ${res.status}: ${text.slice(0, 300)}`);
    process.exit(1);
  }
  return text ? JSON.parse(text) : null;
}

const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const jwk = { ...publicKey.export({ format: 'jwk' }), kid: 'bench', alg: 'RS256', use: 'sig' };
const issuer = await call('POST', `/api/orgs/${org}/oidc/issuers`, { name: 'bench', url: ISSUER, jwks: { keys: [jwk] } });
const policy = await call('GET', `/api/orgs/${org}/auth/policies/oidcissuers/${issuer.id}`);
await call('PATCH', `/api/orgs/${org}/auth/policies/${policy.id}`, {
  policies: [{ decision: 'allow', tokenType: 'organization', authorizedPermissions: [], rules: { sub: 'repo:bench/*' } }],
});

const b64 = (obj) => Buffer.from(JSON.stringify(obj)).toString('base64url');
const header = b64({ alg: 'RS256', typ: 'JWT', kid: 'bench' });
const iat = Math.floor(Date.now() / 1000);
const started = performance.now();
const lines = [];
for (let i = 0; i < count; i++) {
  const payload = b64({ iss: ISSUER, aud: `urn:pulumi:org:${org}`, sub: SUB, iat, nbf: iat - 5, exp: iat + 3600, jti: `bench-${String(i).padStart(9, '0')}` });
  const input = `${header}.${payload}`;
  lines.push(`${input}.${sign('sha256', Buffer.from(input), privateKey).toString('base64url')}`);
}
writeFileSync(outFile, `${lines.join('\n')}\n`);
console.log(`minted: ${count} in ${((performance.now() - started) / 1000).toFixed(2)} s`);

// One exchange, as scripts/bench's wrk script sends it (form-encoded), and the token it gives.
const form = new URLSearchParams({
  grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
  subject_token_type: 'urn:ietf:params:oauth:token-type:id_token',
  audience: `urn:pulumi:org:${org}`,
  requested_token_type: 'urn:pulumi:token-type:access_token:organization',
  subject_token: lines[0],
});
const res = await fetch(`${base}/api/oauth/token`, {
  method: 'POST',
  headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
  body: form.toString(),
  signal: AbortSignal.timeout(10000),
});
const answer = await res.text();
const access = res.status === 200 ? JSON.parse(answer).access_token : null;
if (!/^pul-[0-9a-f]{40}$/.test(access ?? '')) {
  console.error(`oidc_tokens: the exchange answered HTTP ${res.status}: ${answer.slice(0, 300)}`);
  process.exit(1);
}
const user = await fetch(`${base}/api/user`, { headers: { Authorization: `token ${access}` }, signal: AbortSignal.timeout(10000) });
const userText = await user.text();
if (user.status !== 200) {
  console.error(`oidc_tokens: GET /api/user with the exchanged token: HTTP ${user.status}: ${userText.slice(0, 300)}`);
  process.exit(1);
}
console.log('exchange: ok');
