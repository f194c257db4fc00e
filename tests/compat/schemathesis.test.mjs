// Schemathesis (property-based, from PyPI) against a real Tessera, over every operation of
// ../shared/reference/pulumi-tokens-subset.json that Tessera implements, authenticated as a site
// admin: no server errors, and status codes, content types, headers and bodies that conform
// (scripts/schemathesis and tests/compat/schemathesis/ say which checks and why). Seeded and
// bounded here (SCHEMATHESIS_EXAMPLES per operation, default 10); `make fuzz` runs it longer.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { api, registerIssuer, repoRoot, startMockIssuer, startServer } from '../e2e/helpers.mjs';
import { run, said } from './helpers.mjs';

const examples = process.env.SCHEMATHESIS_EXAMPLES || '10';
const seed = process.env.SCHEMATHESIS_SEED || '1';

let srv;
let idp;
let issuer;

before(async () => {
  idp = await startMockIssuer();
  srv = await startServer({ extraArgs: ['--allow-http-issuers'] });
  const team = await api(srv, 'POST', '/api/orgs/acme/teams/pulumi', { token: srv.token, json: { name: 'ops', displayName: 'Ops', description: '' } });
  assert.equal(team.status, 201, team.text);
  issuer = await registerIssuer(srv, srv.token, 'mock', idp.issuer.url);
});

after(async () => {
  await srv?.stop(); // asserts a clean exit: no crash, no sanitizer report
  await idp?.stop();
});

test(`schemathesis: ${examples} examples per operation, seed ${seed}, every check passes`, { timeout: 600000 }, async (t) => {
  const env = { ...process.env, TESSERA_TOKEN: srv.token, TESSERA_ISSUER_ID: issuer.id, TESSERA_POLICY_ID: issuer.policyId };
  const r = await run(path.join(repoRoot, 'scripts/schemathesis'), ['--url', srv.url, '--max-examples', examples, '--seed', seed, '--workers', '2'], { env, timeoutMs: 580000 });
  assert.equal(r.status, 0, said(r));
  assert.match(r.stdout, /Tested: 26\b/, 'every implemented operation was tested');
  const counts = /(\d+) generated, (\d+) passed/.exec(r.stdout);
  assert.ok(counts && Number(counts[1]) > 0 && counts[1] === counts[2], `every generated case passed:\n${r.stdout.slice(-2000)}`);
  t.diagnostic(`${counts[1]} cases generated, all passed`);
  assert.doesNotMatch(r.stdout, /FAILURES/);
  // The server answered all of it and is still healthy.
  assert.equal((await api(srv, 'GET', '/healthz')).status, 200);
});
