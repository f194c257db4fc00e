// Tokens as code: a Pulumi YAML program run by the real Pulumi CLI, YAML language host and Pulumi
// Cloud provider (built by scripts/compat-tools), state on a local file:// backend, the provider
// pointed at Tessera with pulumiservice:apiUrl. up creates every token resource the provider has
// (api/tokens:PersonalToken, TeamToken, OrgToken, and the older index:AccessToken,
// TeamAccessToken, OrgAccessToken) and a team; each secret output works against Tessera; refresh
// keeps them; a token deleted behind the program's back is made again by `up --refresh`; destroy
// deletes them all, as Tessera's API and audit log show.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { api, listAll, nowSeconds, poll, startServer } from '../e2e/helpers.mjs';
import { hasProvider, pulumi, pulumiHome, said } from './helpers.mjs';

const skip = hasProvider ? false : 'the Pulumi Cloud provider was not built (scripts/compat-tools says why)';
const STEP = { timeout: 180000, skip };
const IN_30_DAYS = nowSeconds() + 30 * 86400;

let srv;
let home;
let program; // the program's directory
let env;

const PROGRAM = `name: tessera-tokens
runtime: yaml
description: Tokens of every kind the Pulumi Cloud provider has, kept in Tessera
resources:
  forever:
    type: pulumiservice:api/tokens:PersonalToken
    properties:
      description: made by pulumi, never expires
      expires: 0
  monthly:
    type: pulumiservice:api/tokens:PersonalToken
    properties:
      description: made by pulumi, expires in 30 days
      expires: ${IN_30_DAYS}
      reason: pulumi-up
  ops:
    type: pulumiservice:api/teams:Team
    properties:
      orgName: acme
      name: ops
      displayName: Operations
      description: the ops team
  opsToken:
    type: pulumiservice:api/tokens:TeamToken
    properties:
      orgName: acme
      teamName: \${ops.name}
      name: ops-deploy
      description: deploys for ops
      expires: 0
  orgAdmin:
    type: pulumiservice:api/tokens:OrgToken
    properties:
      orgName: acme
      name: org-admin
      description: admin org token
      admin: true
      expires: 0
  orgMember:
    type: pulumiservice:api/tokens:OrgToken
    properties:
      orgName: acme
      name: org-member
      description: member org token
      admin: false
      expires: ${IN_30_DAYS}
  legacy:
    type: pulumiservice:index:AccessToken
    properties:
      description: legacy personal token
  legacyTeam:
    type: pulumiservice:index:TeamAccessToken
    properties:
      organizationName: acme
      teamName: \${ops.name}
      name: legacy-team
      description: legacy team token
  legacyOrg:
    type: pulumiservice:index:OrgAccessToken
    properties:
      organizationName: acme
      name: legacy-org
      description: legacy org token
      admin: false
outputs:
  forever: \${forever.tokenValue}
  monthly: \${monthly.tokenValue}
  monthlyId: \${monthly.tokenId}
  opsToken: \${opsToken.tokenValue}
  orgAdmin: \${orgAdmin.tokenValue}
  orgMember: \${orgMember.tokenValue}
  legacy: \${legacy.value}
  legacyTeam: \${legacyTeam.value}
  legacyOrg: \${legacyOrg.value}
`;

const PERSONAL = ['made by pulumi, never expires', 'made by pulumi, expires in 30 days', 'legacy personal token'];
const ORG = ['org-admin', 'org-member', 'legacy-org'];
const RENAMED = 'legacy-org-2'; // org token names are never reused, deleted ones' included
const TEAM = ['ops-deploy', 'legacy-team'];

const inProgram = (args, opts = {}) => pulumi([...args, '--non-interactive', '--color', 'never'], { env, cwd: program, timeoutMs: 150000, ...opts });

async function outputs() {
  const r = await inProgram(['stack', 'output', '--show-secrets', '--json']);
  assert.equal(r.status, 0, said(r));
  return JSON.parse(r.stdout);
}

const personalTokens = async () => (await listAll(srv, srv.token)).filter((t) => PERSONAL.includes(t.description));
const orgTokens = async () => (await api(srv, 'GET', '/api/orgs/acme/tokens', { token: srv.token })).json.tokens.filter((t) => [...ORG, RENAMED].includes(t.name));
const teamTokens = async () => {
  const res = await api(srv, 'GET', '/api/orgs/acme/teams/ops/tokens', { token: srv.token });
  return res.status === 404 ? [] : res.json.tokens;
};

before(
  async () => {
    if (skip) return;
    srv = await startServer();
    home = pulumiHome();
    program = path.join(home.dir, 'program');
    fs.mkdirSync(program);
    fs.mkdirSync(path.join(home.dir, 'state'));
    fs.writeFileSync(path.join(program, 'Pulumi.yaml'), PROGRAM);
    env = home.env({ PULUMI_BACKEND_URL: `file://${path.join(home.dir, 'state')}` });
    for (const args of [
      ['stack', 'init', 'dev'],
      ['config', 'set', 'pulumiservice:apiUrl', srv.url],
      ['config', 'set', '--secret', 'pulumiservice:accessToken', srv.token],
    ]) {
      const r = await inProgram(args);
      assert.equal(r.status, 0, said(r));
    }
  },
  { timeout: 60000 },
);

after(async () => {
  await srv?.stop();
  home?.remove();
});

test('pulumi up creates every token and the team; every secret output works against Tessera', STEP, async () => {
  const r = await inProgram(['up', '--yes', '--skip-preview']);
  assert.equal(r.status, 0, said(r));
  assert.match(r.stdout, /\+ 10 created/, said(r));
  const out = await outputs();
  const user = async (value) => {
    const res = await api(srv, 'GET', '/api/user', { token: value });
    assert.equal(res.status, 200, res.text);
    return res.json;
  };
  for (const k of ['forever', 'monthly', 'legacy']) assert.equal((await user(out[k])).githubLogin, 'alice', k);
  for (const k of ['opsToken', 'legacyTeam']) assert.equal((await user(out[k])).tokenInfo.team, 'ops', k);
  assert.deepEqual((await user(out.orgAdmin)).organizations.map((o) => o.role), ['admin']);
  for (const k of ['orgMember', 'legacyOrg']) assert.deepEqual((await user(out[k])).organizations.map((o) => o.role), ['member'], k);

  // What Tessera holds is what the program said.
  const personal = await personalTokens();
  assert.equal(personal.length, 3);
  const monthly = personal.find((t) => t.description === 'made by pulumi, expires in 30 days');
  assert.equal(monthly.expires, IN_30_DAYS);
  // The provider takes `reason` but sends no query string (its REST layer builds none), so the
  // reason never reaches the server: against Pulumi Cloud neither (docs/COMPATIBILITY.md).
  assert.equal('reason' in monthly, false, 'the provider has started sending reason: update docs/COMPATIBILITY.md');
  assert.equal(monthly.id, out.monthlyId);
  assert.equal(personal.find((t) => t.description === 'made by pulumi, never expires').expires, 0);
  const org = await orgTokens();
  assert.deepEqual(org.map((t) => t.name).sort(), [...ORG].sort());
  assert.equal(org.find((t) => t.name === 'org-admin').admin, true);
  assert.equal(org.find((t) => t.name === 'org-member').expires, IN_30_DAYS);
  assert.deepEqual((await teamTokens()).map((t) => t.name).sort(), [...TEAM].sort());
  const team = await api(srv, 'GET', '/api/orgs/acme/teams/ops', { token: srv.token });
  assert.equal(team.json.displayName, 'Operations');
  assert.equal(team.json.description, 'the ops team');
});

test('pulumi refresh keeps every resource', STEP, async () => {
  const r = await inProgram(['refresh', '--yes', '--skip-preview']);
  assert.equal(r.status, 0, said(r));
  assert.doesNotMatch(r.stdout, /deleted|updated/, said(r));
  const state = JSON.parse((await inProgram(['stack', 'export'])).stdout);
  const types = state.deployment.resources.filter((x) => x.type.startsWith('pulumiservice:') && !x.type.startsWith('pulumi:providers')).map((x) => x.type);
  assert.equal(types.length, 9, `${types}`);
  const again = await inProgram(['up', '--yes', '--skip-preview']);
  assert.equal(again.status, 0, said(again));
  assert.doesNotMatch(again.stdout, /created|deleted|updated|replaced/, `a second up changes nothing: ${said(again)}`);
});

test('tokens deleted behind the program\'s back: refresh drops those the provider can read, up makes them again', STEP, async () => {
  const before = await outputs();
  const mine = await personalTokens();
  const legacy = mine.find((t) => t.description === 'legacy personal token');
  assert.equal((await api(srv, 'DELETE', `/api/user/tokens/${legacy.id}`, { token: srv.token })).status, 204);
  const org = (await orgTokens()).find((t) => t.name === 'legacy-org');
  assert.equal((await api(srv, 'DELETE', `/api/orgs/acme/tokens/${org.id}`, { token: srv.token })).status, 204);
  // The api/tokens resources have no read operation in the provider: refresh cannot see this one
  // go, and it stays in the state (as against Pulumi Cloud); destroy copes with it below.
  assert.equal((await api(srv, 'DELETE', `/api/user/tokens/${before.monthlyId}`, { token: srv.token })).status, 204);
  // up alone trusts the state; with --refresh the legacy resources read the listings and find
  // their tokens gone. The personal one is made again; the organization token cannot be, under
  // the name it had: as Pulumi Cloud's API says, names are unique among deleted tokens too.
  const r = await inProgram(['up', '--refresh', '--yes', '--skip-preview']);
  assert.notEqual(r.status, 0, said(r));
  assert.match(r.stdout, /\+ 1 created/, said(r));
  assert.match(r.stdout, /409 API error: Conflict: organization acme already has or had a token named legacy-org; token names are never reused/, said(r));
  // A new name in the program, and the next up makes it.
  const file = path.join(program, 'Pulumi.yaml');
  fs.writeFileSync(file, fs.readFileSync(file, 'utf8').replace('name: legacy-org\n', `name: ${RENAMED}\n`));
  const renamed = await inProgram(['up', '--yes', '--skip-preview']);
  assert.equal(renamed.status, 0, said(renamed));
  assert.match(renamed.stdout, /\+ 1 created/, said(renamed));
  const after = await outputs();
  for (const k of ['legacy', 'legacyOrg']) {
    assert.notEqual(after[k], before[k], k);
    assert.equal((await api(srv, 'GET', '/api/user', { token: before[k] })).status, 401, `${k}: the deleted token stays dead`);
    assert.equal((await api(srv, 'GET', '/api/user', { token: after[k] })).status, 200, k);
  }
  assert.equal(after.monthlyId, before.monthlyId, 'unread, the deleted api/tokens:PersonalToken stays in the state');
  assert.equal((await personalTokens()).length, 2);
});

test('pulumi destroy deletes them all; the API and the audit log show it', STEP, async () => {
  const out = await outputs();
  const r = await inProgram(['destroy', '--yes', '--skip-preview']);
  assert.equal(r.status, 0, said(r));
  assert.match(r.stdout, /- 10 deleted/, said(r));
  assert.deepEqual(await personalTokens(), []);
  assert.deepEqual(await orgTokens(), []);
  assert.equal((await api(srv, 'GET', '/api/orgs/acme/teams/ops', { token: srv.token })).status, 404);
  for (const [k, value] of Object.entries(out)) if (k !== 'monthlyId') assert.equal((await api(srv, 'GET', '/api/user', { token: value })).status, 401, k);
  const events = await poll(async () => {
    const all = (await api(srv, 'GET', '/api/orgs/acme/auditlogs/v2', { token: srv.token })).json.auditLogEvents;
    return all.some((e) => e.event === 'team-deleted') && all;
  });
  const deleted = (event) => events.filter((e) => e.event === event).map((e) => e.description);
  for (const name of [...ORG, RENAMED]) assert.ok(deleted('organization-token-deleted').some((d) => d.includes(name)), name);
  // The team's tokens go with it or before it.
  for (const name of TEAM) assert.ok([...deleted('team-token-deleted'), ...deleted('team-deleted')].some((d) => d.includes(name) || d.includes('ops')), name);
});
