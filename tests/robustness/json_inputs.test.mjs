// JSON-level bad input, operation by operation: for every route that takes a body (and the
// form-encoded OAuth token exchange), generated cases for each field (null, every wrong JSON type,
// empty and over-long strings, control characters, NUL, lone surrogates, invalid UTF-8, floats,
// numeric strings, huge and negative numbers) and for the body as a whole (unknown and duplicate
// keys, a BOM, UTF-16, deep nesting, non-objects, malformed JSON, an oversized body).
//
// Every invalid case must get a 4xx in the API's error shape ({code, message}; RFC 6749's
// {error, error_description} for /api/oauth/token), within a timeout: never a 2xx, never a 5xx,
// never a hang. Values just inside each documented bound must succeed. After each operation's
// invalid cases the state the API shows (tokens, teams, members, issuers, policies, settings) must
// be unchanged, and after the whole catalogue the server must still be healthy.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { api, createToken, listAll, memberAdd, nowSeconds, startServer, userAdd, startMockIssuer, passwd, registerIssuer } from '../e2e/helpers.mjs';

const TIMEOUT_MS = 5000;
const DAY = 86400;
const GRANT = 'urn:ietf:params:oauth:grant-type:token-exchange';
const ID_TOKEN = 'urn:ietf:params:oauth:token-type:id_token';
const ORG_TOKEN = 'urn:pulumi:token-type:access_token:organization';
const AUD = 'urn:pulumi:org:acme';
const SUB = 'repo:acme/infra:ref:refs/heads/main';
const PASSWORD = 'correct horse battery';
const FRESH_USERS = 6; // never members, for AddOrganizationMember's successful cases

let srv;
let idp; // the issuer the organization trusts
let idp2; // another, for RegisterOidcIssuer's successful cases (deleted again after each)
let tok; // alice's personal token, expiring in a day, so that an org lifetime cap allows it
let issuer; // {id, policyId}
const fresh = [];
const counts = new Map(); // operation → [invalid, valid]

before(async () => {
  idp = await startMockIssuer();
  idp2 = await startMockIssuer();
  srv = await startServer({
    extraArgs: ['--allow-http-issuers'],
    setup(db) {
      userAdd(db, 'bob');
      memberAdd(db, 'acme', 'bob', 'member');
      userAdd(db, 'spare'); // not a member: the target of AddOrganizationMember's refused cases
      for (let i = 0; i < FRESH_USERS; i++) {
        userAdd(db, `fresh${i}`);
        fresh.push(`fresh${i}`);
      }
      const r = passwd(db, 'alice', `${PASSWORD}\n`);
      assert.equal(r.status, 0, r.stderr);
    },
  });
  tok = (await createToken(srv, srv.token, { description: 'catalogue', expires: nowSeconds() + DAY })).tokenValue;
  const team = await api(srv, 'POST', '/api/orgs/acme/teams/pulumi', { token: tok, json: { name: 'ops', displayName: 'Ops', description: '' } });
  assert.equal(team.status, 201, team.text);
  issuer = await registerIssuer(srv, tok, 'main', idp.issuer.url);
  const allowed = await api(srv, 'PATCH', `/api/orgs/acme/auth/policies/${issuer.policyId}`, { token: tok, json: { policies: [allowOrg()] } });
  assert.equal(allowed.status, 200, allowed.text);
});

after(async () => {
  const lines = [...counts].map(([op, [bad, good]]) => `  ${op}: ${bad + good} cases (${bad} invalid, ${good} valid)`);
  const total = [...counts.values()].reduce((n, [bad, good]) => n + bad + good, 0);
  console.log(`json_inputs: ${total} cases across ${counts.size} operations\n${lines.join('\n')}`);
  await srv?.stop();
  await idp?.stop();
  await idp2?.stop();
});

function allowOrg(rules = { sub: 'repo:acme/*' }) {
  return { decision: 'allow', tokenType: 'organization', authorizedPermissions: [], rules };
}

const idToken = (server = idp, claims = {}) =>
  server.issuer.buildToken({
    expiresIn: 600,
    scopesOrTransform: (header, payload) => Object.assign(payload, { aud: AUD, sub: SUB }, claims),
  });

// ---------------------------------------------------------------------------------------------
// Values

const unique = (prefix, n) => {
  let s = prefix + crypto.randomBytes(32).toString('hex');
  while (s.length < n) s += crypto.randomBytes(32).toString('hex');
  return s.slice(0, n);
};
/** UTF-8 text of exactly n bytes made of two-byte characters (n even) or with one ASCII byte. */
const twoByte = (n) => 'é'.repeat(Math.floor(n / 2)) + (n % 2 ? 'e' : '');

const RAW = '"__raw_json__"';
/** body with one member's JSON text replaced by raw text (what JSON.stringify cannot produce). */
function rawWith(body, set, rawText) {
  const copy = structuredClone(body);
  set(copy, '__raw_json__');
  return JSON.stringify(copy).replace(RAW, rawText);
}
/** The same, spliced into bytes (invalid UTF-8 inside a string). */
function bytesWith(body, set, bytes) {
  const text = rawWith(body, set, '"\u0001"');
  const at = text.indexOf('\u0001');
  return Buffer.concat([Buffer.from(text.slice(0, at), 'utf8'), Buffer.from(bytes), Buffer.from(text.slice(at + 1), 'utf8')]);
}
const withValue = (body, set, value) => {
  const copy = structuredClone(body);
  set(copy, value);
  return copy;
};

const WRONG_TYPES = [
  ['string', 'x'],
  ['integer', 7],
  ['float', 1.5],
  ['boolean', true],
  ['array', []],
  ['object', {}],
];

const CONTROLS = [
  ['ESC', '\x1b[31m'],
  ['BEL', 'a\x07'],
  ['newline', 'a\nb'],
  ['tab', 'a\tb'],
  ['carriage return', 'a\rb'],
  ['DEL', 'a\x7f'],
  ['C1 CSI', 'a\u009b1m'],
];

/**
 * Field kinds. Each knows its own JSON types (so the others are wrong), its bounds, how to make a
 * valid value of n bytes (fill), and whether control characters are refused (text).
 */
const F = {
  text: (min, max, fill = (n) => 'd'.repeat(n)) => ({ own: ['string'], min, max, fill, controls: true }),
  string: (min, max, fill) => ({ own: ['string'], min, max, fill, controls: false }),
  pattern: (min, max, fill) => ({ own: ['string'], min, max, fill, controls: true }),
  enumeration: (values) => ({ own: ['string'], values, controls: true }),
  int: (min, max) => ({ own: ['integer'], int: true, min, max }),
  bool: () => ({ own: ['boolean'], bool: true }),
  expires: () => ({ own: ['integer', 'string'], expires: true }),
  array: (extra = []) => ({ own: ['array'], extra }),
  object: (extra = []) => ({ own: ['object'], extra }),
};

/** The invalid cases for one field: [label, body (object, string or Buffer)]. */
function fieldCases(name, spec, base, set = (b, v) => (b[name] = v)) {
  const out = [];
  const add = (label, body) => out.push([`${name}: ${label}`, body]);
  if (!spec.nullOk) add('null', withValue(base, set, null));
  for (const [type, value] of WRONG_TYPES) if (!spec.own.includes(type)) add(`a${/^[aeiou]/.test(type) ? 'n' : ''} ${type}`, withValue(base, set, value));
  if (spec.own.includes('string')) {
    if (spec.min > 0 || spec.values) add('empty string', withValue(base, set, ''));
    if (spec.max !== undefined) {
      add(`${spec.max + 1} bytes`, withValue(base, set, (spec.fill || ((n) => 'x'.repeat(n)))(spec.max + 1)));
      add(`${spec.max + 1} bytes of two-byte characters`, withValue(base, set, twoByte(spec.max + 1)));
    }
    if (spec.values) {
      add('an unknown value', withValue(base, set, `${spec.values[0]}-not`));
      if (!spec.anyCase) add('a value in other case', withValue(base, set, spec.values[0].toUpperCase()));
    }
    if (spec.controls) for (const [label, value] of CONTROLS) add(`control character ${label}`, withValue(base, set, value));
    add('NUL as \\u0000', rawWith(base, set, '"a\\u0000b"'));
    add('a lone high surrogate \\ud800', rawWith(base, set, '"a\\ud800b"'));
    add('a lone low surrogate \\udc00', rawWith(base, set, '"\\udc00"'));
    add('invalid UTF-8 (0xff)', bytesWith(base, set, [0x61, 0xff, 0x62]));
    add('overlong UTF-8 (0xc0 0xaf)', bytesWith(base, set, [0xc0, 0xaf]));
    add('a UTF-8-encoded surrogate (0xed 0xa0 0x80)', bytesWith(base, set, [0xed, 0xa0, 0x80]));
    add('a truncated UTF-8 sequence', bytesWith(base, set, [0x61, 0xe2, 0x82]));
  }
  if (spec.int) {
    add('a string of digits', withValue(base, set, String(spec.max)));
    add('1.0 (a float, though whole)', rawWith(base, set, `${spec.min}.0`));
    add('1e3 (an exponent)', rawWith(base, set, '1e3'));
    add(`${spec.min - 1} (below the minimum)`, withValue(base, set, spec.min - 1));
    add(`${spec.max + 1} (above the maximum)`, withValue(base, set, spec.max + 1));
    add('-1', withValue(base, set, -1));
    add('1e400', rawWith(base, set, '1e400'));
    add('2^63', rawWith(base, set, '9223372036854775808'));
    add('-2^63 - 1', rawWith(base, set, '-9223372036854775809'));
    add('a 30-digit integer', rawWith(base, set, '123456789012345678901234567890'));
  }
  if (spec.expires) {
    add('Unix seconds as a string', withValue(base, set, String(nowSeconds() + DAY)));
    add('"0" as a string', withValue(base, set, '0'));
    add('a float', rawWith(base, set, `${nowSeconds() + DAY}.5`));
    add('a whole float', rawWith(base, set, `${nowSeconds() + DAY}.0`));
    add('an exponent', rawWith(base, set, '1.8e9'));
    add('in the past', withValue(base, set, nowSeconds() - 60));
    add('negative', withValue(base, set, -1));
    add('more than two years ahead', withValue(base, set, nowSeconds() + 732 * DAY));
    add('2^63', rawWith(base, set, '9223372036854775808'));
    add('1e400', rawWith(base, set, '1e400'));
    add('an RFC 3339 date in the past', withValue(base, set, '2001-02-03T04:05:06Z'));
    add('a date without a time', withValue(base, set, '2030-01-01'));
    add('words', withValue(base, set, 'tomorrow'));
    add('empty string', withValue(base, set, ''));
    add('control characters', withValue(base, set, '2030-01-01T00:00:00Z\x1b'));
    add('NUL as \\u0000', rawWith(base, set, '"2030-01-01T00:00:00Z\\u0000"'));
  }
  if (spec.bool) {
    add('"true" as a string', withValue(base, set, 'true'));
    add('1', withValue(base, set, 1));
    add('0', withValue(base, set, 0));
  }
  for (const [label, value] of spec.extra || []) add(label, withValue(base, set, value));
  return out;
}

/** Valid values just inside the bounds: [label, body]. */
function fieldBoundaries(name, spec, base, set = (b, v) => (b[name] = v)) {
  const out = [];
  if (spec.fill && spec.max !== undefined) {
    out.push([`${name}: ${spec.max} bytes`, withValue(base, set, spec.fill(spec.max))]);
    if (spec.min > 0) out.push([`${name}: ${spec.min} byte${spec.min > 1 ? 's' : ''}`, withValue(base, set, spec.fill(spec.min))]);
    if (spec.controls && spec.max % 2 === 0 && !spec.asciiOnly)
      out.push([`${name}: ${spec.max} bytes of two-byte characters`, withValue(base, set, twoByte(spec.max))]);
  }
  if (spec.int) {
    out.push([`${name}: ${spec.min} (the minimum)`, withValue(base, set, spec.min)]);
    out.push([`${name}: ${spec.max} (the maximum)`, withValue(base, set, spec.max)]);
  }
  return out;
}

/** Cases about the body as a whole. */
function bodyCases(base, { firstKey, nestKey, nestSet }) {
  const text = JSON.stringify(base);
  const deep = (n) => '['.repeat(n) + ']'.repeat(n);
  const set = nestSet || ((b, v) => (b[nestKey] = v));
  const cases = [
    ['an unknown key', JSON.stringify({ ...base, unknownField: 1 })],
    ['a misspelt key', JSON.stringify({ ...base, [`${firstKey}s`]: base[firstKey] ?? 'x' })],
    ['an empty key', JSON.stringify({ ...base, '': 1 })],
    ['a key with a NUL (\\u0000)', text.replace(/^\{/, `{"${firstKey}\\u0000x":1,`)],
    ['a key with invalid UTF-8', Buffer.concat([Buffer.from('{"'), Buffer.from([0xff]), Buffer.from(`":1,${text.slice(1)}`)])],
    ['a duplicate key', text.replace(/^\{/, `{"${firstKey}":${JSON.stringify(base[firstKey] ?? 'x')},`)],
    ['a duplicate key differing in value', text.replace(/^\{/, `{"${firstKey}":null,`)],
    ['a UTF-8 BOM before the object', Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(text)])],
    ['UTF-16LE with a BOM', Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(text, 'utf16le')])],
    ['UTF-16LE without a BOM', Buffer.from(text, 'utf16le')],
    ['UTF-16BE', Buffer.from(text, 'utf16le').swap16()],
    ['nesting 17 deep under a known key', rawWith(base, set, deep(17))],
    ['nesting 3000 deep under a known key', rawWith(base, set, deep(3000))],
    ['nesting 17 deep under an unknown key', text.replace(/^\{/, `{"deep":${deep(17)},`)],
    ['an array', '[]'],
    ['an array holding the object', `[${text}]`],
    ['a string', '"x"'],
    ['a number', '1'],
    ['null', 'null'],
    ['true', 'true'],
    ['malformed: unterminated', text.slice(0, -1)],
    ['malformed: trailing garbage', `${text} x`],
    ['malformed: two objects', `${text}${text}`],
    ['malformed: single quotes', text.replace(/"/g, "'")],
    ['malformed: trailing comma', text.replace(/\}$/, ',}')],
    ['malformed: a comment', `/* c */${text}`],
    ['NaN', rawWith(base, set, 'NaN')],
    ['Infinity', rawWith(base, set, 'Infinity')],
    ['a raw NUL byte', Buffer.concat([Buffer.from(text.slice(0, -1)), Buffer.from([0]), Buffer.from('}')])],
    ['a body over 64 KiB', JSON.stringify({ ...base, [nestKey || firstKey]: 'x'.repeat(66 * 1024) })],
  ];
  return cases;
}

// ---------------------------------------------------------------------------------------------
// Running cases

async function send(op, body, { path, headers } = {}) {
  const opts = { token: op.noAuth ? undefined : tok, headers: { ...(op.headers || {}), ...(headers || {}) }, timeoutMs: TIMEOUT_MS, validate: true };
  if (body !== undefined) opts.body = typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body);
  return api(srv, op.method, path || op.path(), opts);
}

/** Runs an operation's invalid cases (state unchanged afterwards) and then its valid ones. */
async function runOperation(op, invalid, valid) {
  const failures = [];
  const before = await snapshot();
  for (const [label, body] of invalid) {
    try {
      const res = await send(op, body, { path: op.path('invalid') });
      // api() has checked the error shape ({code, message}) of any 4xx.
      if (res.status < 400 || res.status >= 500) failures.push(`${label}: expected a 4xx, got ${res.status} ${res.text.slice(0, 200)}`);
    } catch (e) {
      failures.push(`${label}: ${e.message.split('\n')[0]}`);
    }
  }
  const afterInvalid = await snapshot();
  if (afterInvalid !== before) failures.push(`refused requests changed the state:\nbefore ${before}\nafter  ${afterInvalid}`);
  for (const [label, body] of valid) {
    try {
      const res = await send(op, body, { path: op.path('valid') });
      if (res.status < 200 || res.status >= 300) failures.push(`valid ${label}: expected a 2xx, got ${res.status} ${res.text.slice(0, 300)}`);
      else if (op.cleanup) await op.cleanup(res);
    } catch (e) {
      failures.push(`valid ${label}: ${e.message.split('\n')[0]}`);
    }
  }
  counts.set(op.id, [invalid.length, valid.length]);
  assert.deepEqual(failures, [], `${op.id}: ${failures.length} of ${invalid.length + valid.length} cases failed`);
}

/** Builds and runs the generated cases for an operation described by fields. */
async function catalogue(op) {
  const base = op.base();
  const invalid = [];
  const valid = [];
  for (const [name, spec] of Object.entries(op.fields)) {
    invalid.push(...fieldCases(name, spec, op.base(), spec.set));
    valid.push(...fieldBoundaries(name, spec, op.base(), spec.set));
  }
  invalid.push(...bodyCases(base, { firstKey: Object.keys(op.fields)[0], nestKey: op.nestKey || Object.keys(op.fields)[0], nestSet: op.nestSet }));
  invalid.push(...(op.invalid || []));
  valid.push(['the base body', op.base()], ...(op.valid || []));
  // Bodies made from base() once must stay unique where the operation needs it (names).
  const regen = (list) => list.map(([label, body]) => [label, op.refresh && typeof body === 'object' && !Buffer.isBuffer(body) ? op.refresh(body) : body]);
  await runOperation(op, regen(invalid), regen(valid));
}

/** The state a refused request must not change, as the API shows it. */
async function snapshot() {
  const get = async (p) => {
    const res = await api(srv, 'GET', p, { token: tok, timeoutMs: TIMEOUT_MS });
    assert.equal(res.status, 200, `${p}: ${res.text}`);
    return res.json;
  };
  const tokens = (list) => list.map(({ lastUsed, ...t }) => t).sort((a, b) => a.id.localeCompare(b.id));
  const pages = async (p) => {
    const all = [];
    let q = '?filter=all&maxResults=1000';
    for (let i = 0; i < 20; i++) {
      const page = await get(p + q);
      all.push(...page.tokens);
      if (page.continuationToken === undefined) break;
      q = `?filter=all&maxResults=1000&continuationToken=${encodeURIComponent(page.continuationToken)}`;
    }
    return all;
  };
  return JSON.stringify({
    personal: tokens(await listAll(srv, tok, '?filter=all&maxResults=1000')),
    org: tokens(await pages('/api/orgs/acme/tokens')),
    team: tokens(await pages('/api/orgs/acme/teams/ops/tokens')),
    teams: (await get('/api/orgs/acme/teams')).teams,
    ops: await get('/api/orgs/acme/teams/ops'),
    members: (await get('/api/orgs/acme/members')).members.map((m) => [m.user.githubLogin, m.role]),
    organization: await get('/api/orgs/acme'),
    issuers: (await get('/api/orgs/acme/oidc/issuers')).oidcIssuers.map(({ lastUsed, ...i }) => i),
    policy: await get(`/api/orgs/acme/auth/policies/oidcissuers/${issuer.id}`),
  });
}

// ---------------------------------------------------------------------------------------------
// Operations

const usedShort = new Set();
/** A token name of n characters of [A-Za-z0-9_-], never the same twice (names are never reused). */
const tokenName = (n) => {
  if (n > 1) return unique('n', n);
  const chars = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
  const c = [...chars].find((x) => !usedShort.has(x));
  usedShort.add(c);
  return c;
};
const teamName = (n) => unique('t', n);
const description = F.text(0, 1024);
const withName = (body) => ('name' in body && typeof body.name === 'string' && /^n[0-9a-f]+$/.test(body.name) ? { ...body, name: tokenName(body.name.length) } : body);

test('CreatePersonalToken: POST /api/user/tokens', async () => {
  await catalogue({
    id: 'CreatePersonalToken',
    method: 'POST',
    path: () => '/api/user/tokens',
    base: () => ({ description: 'catalogue', expires: nowSeconds() + DAY }),
    fields: { description, expires: F.expires() },
    valid: [
      ['no fields at all', {}],
      ['description ""', { description: '' }],
      ['expires 0 (never)', { expires: 0 }],
      ['expires absent', { description: 'x' }],
      ['expires as RFC 3339', { expires: new Date((nowSeconds() + DAY) * 1000).toISOString() }],
      ['expires just under two years ahead', { expires: nowSeconds() + 730 * DAY }],
      ['description with non-ASCII text', { description: 'café ☕ 🔑 日本' }],
    ],
  });
});

test('CreateOrgToken: POST /api/orgs/{org}/tokens', async () => {
  await catalogue({
    id: 'CreateOrgToken',
    method: 'POST',
    path: () => '/api/orgs/acme/tokens',
    base: () => ({ name: tokenName(12), description: 'catalogue', expires: 0, admin: false }),
    refresh: withName,
    fields: {
      name: { ...F.string(1, 40, tokenName), controls: true, asciiOnly: true },
      description,
      expires: F.expires(),
      admin: F.bool(),
      roleID: { ...F.string(0, 64), extra: [['a role', 'custom-role']] },
    },
    invalid: [
      ['name with a space', { name: 'a b', admin: false }],
      ['name with a dot', { name: 'a.b', admin: false }],
      ['name missing', { description: 'x', admin: false }],
    ],
    valid: [
      ['as Pulumi\'s Cloud provider sends it', { name: tokenName(10), description: 'provider', admin: true }],
      ['roleID ""', { name: tokenName(10), admin: false, roleID: '' }],
      ['admin absent', { name: tokenName(10) }],
    ],
  });
});

test('CreateTeamToken: POST /api/orgs/{org}/teams/{team}/tokens', async () => {
  await catalogue({
    id: 'CreateTeamToken',
    method: 'POST',
    path: () => '/api/orgs/acme/teams/ops/tokens',
    base: () => ({ name: tokenName(12), description: 'catalogue', expires: 0 }),
    refresh: withName,
    fields: { name: { ...F.string(1, 40, tokenName), controls: true, asciiOnly: true }, description, expires: F.expires() },
    invalid: [
      ['admin (org tokens only)', { name: tokenName(10), admin: true }],
      ['name missing', { description: 'x' }],
    ],
    valid: [['as Pulumi\'s Cloud provider sends it', { name: tokenName(10), description: 'provider' }]],
  });
});

test('AddOrganizationMember: POST /api/orgs/{org}/members/{login}', async () => {
  await catalogue({
    id: 'AddOrganizationMember',
    method: 'POST',
    path: (kind) => `/api/orgs/acme/members/${kind === 'valid' ? fresh.shift() : 'spare'}`,
    base: () => ({ role: 'member' }),
    fields: { role: F.enumeration(['admin', 'member']) },
    invalid: [
      ['role missing', {}],
      ['fgaRoleId (updates only)', { role: 'member', fgaRoleId: 'member' }],
      ['role billing-manager (Tessera has none)', { role: 'billing-manager' }],
    ],
    valid: [['role admin', { role: 'admin' }]],
  });
});

test('UpdateOrganizationMember: PATCH /api/orgs/{org}/members/{login}', async () => {
  await catalogue({
    id: 'UpdateOrganizationMember',
    method: 'PATCH',
    path: () => '/api/orgs/acme/members/bob',
    base: () => ({ role: 'member' }),
    fields: { role: F.enumeration(['admin', 'member']), fgaRoleId: F.enumeration(['member', 'admin']) },
    invalid: [['neither role nor fgaRoleId', {}]],
    valid: [
      ['fgaRoleId member', { fgaRoleId: 'member' }],
      ['role admin and fgaRoleId member (fgaRoleId wins)', { role: 'admin', fgaRoleId: 'member' }],
    ],
  });
  const bob = (await api(srv, 'GET', '/api/orgs/acme/members', { token: tok })).json.members.find((m) => m.user.githubLogin === 'bob');
  assert.equal(bob.role, 'member');
});

test('CreatePulumiTeam: POST /api/orgs/{org}/teams/pulumi', async () => {
  await catalogue({
    id: 'CreatePulumiTeam',
    method: 'POST',
    path: () => '/api/orgs/acme/teams/pulumi',
    base: () => ({ name: teamName(10), displayName: 'Team', description: 'catalogue' }),
    refresh: (b) => (typeof b.name === 'string' && /^t[0-9a-f]+$/.test(b.name) ? { ...b, name: teamName(b.name.length) } : b),
    fields: {
      name: { ...F.string(1, 64, teamName), controls: true, asciiOnly: true },
      displayName: F.text(0, 128),
      description,
      organization: { ...F.enumeration(['acme']), anyCase: true }, // organization names ignore case
      teamType: F.enumeration(['pulumi']),
    },
    invalid: [
      ['name missing', { displayName: 'x', description: '' }],
      ['name starting with a dot', { name: '.team', displayName: 'x', description: '' }],
      ['organization of another org', { name: teamName(8), organization: 'other' }],
      ['teamType github', { name: teamName(8), teamType: 'github' }],
      ['githubTeamID', { name: teamName(8), githubTeamID: 5 }],
    ],
    valid: [
      ['as Pulumi\'s Cloud provider sends it', { organization: 'acme', teamType: 'pulumi', name: teamName(8), displayName: 'P', description: 'provider' }],
      ['only a name', { name: teamName(8) }],
    ],
  });
});

test('UpdateTeam: PATCH /api/orgs/{org}/teams/{team}', async () => {
  await catalogue({
    id: 'UpdateTeam',
    method: 'PATCH',
    path: () => '/api/orgs/acme/teams/ops',
    base: () => ({ newDisplayName: 'Ops', newDescription: '' }),
    fields: {
      newDisplayName: F.text(0, 128),
      newDescription: description,
      memberAction: { ...F.enumeration(['add', 'remove', 'promote', 'demote']), set: (b, v) => Object.assign(b, { memberAction: v, member: 'bob' }) },
      member: { ...F.string(1, 64), controls: true, set: (b, v) => Object.assign(b, { memberAction: 'add', member: v }) },
    },
    invalid: [
      ['nothing to change', {}],
      ['memberAction without member', { memberAction: 'add' }],
      ['member without memberAction', { member: 'bob' }],
      ['a stack permission', { addStackPermission: { projectName: 'p', stackName: 's', permission: 1 } }],
      ['a stack permission: null', { addStackPermission: null }],
    ],
    valid: [
      ['as Pulumi\'s Cloud provider sends it', { newDisplayName: 'Ops', newDescription: 'provider' }],
      ['add bob, then remove him', { memberAction: 'add', member: 'bob' }],
      ['remove bob', { memberAction: 'remove', member: 'bob' }],
      ['back to the start', { newDisplayName: 'Ops', newDescription: '' }],
    ],
  });
});

test('RegisterOidcIssuer: POST /api/orgs/{org}/oidc/issuers', async () => {
  const thumb = 'a'.repeat(64);
  await catalogue({
    id: 'RegisterOidcIssuer',
    method: 'POST',
    path: () => '/api/orgs/acme/oidc/issuers',
    base: () => ({ name: 'second', url: idp2.issuer.url }),
    cleanup: async (res) => {
      const del = await api(srv, 'DELETE', `/api/orgs/acme/oidc/issuers/${res.json.id}`, { token: tok });
      assert.equal(del.status, 204, del.text);
    },
    fields: {
      name: F.text(1, 128),
      url: { ...F.text(1, 512), fill: null }, // no valid URL of every length: only refusals
      maxExpiration: F.int(60, 31 * DAY),
      thumbprints: F.array([
        ['[null]', [null]],
        ['[1]', [1]],
        ['[{}]', [{}]],
        ['a short thumbprint', ['abc']],
        ['a thumbprint that is not hex', ['g'.repeat(64)]],
        ['nine thumbprints', Array(9).fill(thumb)],
        ['a thumbprint ending in ESC', [`${thumb.slice(1)}\x1b`]],
      ]),
      jwks: F.object([
        ['{}', {}],
        ['keys null', { keys: null }],
        ['keys []', { keys: [] }],
        ['a symmetric key', { keys: [{ kty: 'oct', k: 'c2VjcmV0' }] }],
      ]),
    },
    invalid: [
      ['url missing', { name: 'x' }],
      ['name missing', { url: idp2.issuer.url }],
      ['url not http(s)', { name: 'x', url: 'ftp://127.0.0.1/' }],
      ['thumbprints null (Register takes none)', { name: 'x', url: idp2.issuer.url, thumbprints: null }],
    ],
    valid: [
      ['as Pulumi\'s Cloud provider sends it', { name: 'provider', url: idp2.issuer.url, maxExpiration: 3600 }],
      ['thumbprints []', { name: 'second', url: idp2.issuer.url, thumbprints: [] }],
    ],
  });
});

test('UpdateOidcIssuer: PATCH /api/orgs/{org}/oidc/issuers/{id}', async () => {
  await catalogue({
    id: 'UpdateOidcIssuer',
    method: 'PATCH',
    path: () => `/api/orgs/acme/oidc/issuers/${issuer.id}`,
    base: () => ({ name: 'main' }),
    fields: {
      name: F.text(1, 128),
      maxExpiration: F.int(60, 31 * DAY),
      // null is what Pulumi's Cloud provider sends for "none configured": no change.
      thumbprints: { ...F.array([['[1]', [1]], ['a short thumbprint', ['abc']], ['nine thumbprints', Array(9).fill('b'.repeat(40))]]), nullOk: true },
      jwks: F.object([['{}', {}], ['keys []', { keys: [] }]]),
    },
    invalid: [['url (cannot change)', { url: idp.issuer.url }]],
    valid: [
      ['as Pulumi\'s Cloud provider sends it, with thumbprints null', { name: 'main', thumbprints: null }],
      ['thumbprints []', { thumbprints: [] }],
      ['maxExpiration back to 25 h', { maxExpiration: 25 * 3600 }],
      ['nothing', {}],
    ],
  });
});

test('explain: POST /api/orgs/{org}/oidc/issuers/{id}/explain', async () => {
  await catalogue({
    id: 'explain',
    method: 'POST',
    path: () => `/api/orgs/acme/oidc/issuers/${issuer.id}/explain`,
    base: () => ({ token: 'x.y.z' }),
    fields: {
      token: F.string(0, 8192, (n) => 'x'.repeat(n)),
      requested_token_type: F.string(0, 8192),
      scope: F.string(0, 8192),
    },
    invalid: [
      ['token missing', {}],
      ['an unknown token type', { token: 'x', requested_token_type: 'urn:nope' }],
      ['a team token without scope', { token: 'x', requested_token_type: 'urn:pulumi:token-type:access_token:team' }],
    ],
    valid: [
      ['an empty token', { token: '' }],
      ['a real ID token, admin scope', { token: await idToken(), scope: 'admin' }],
      ['a team token for team ops', { token: 'x', requested_token_type: 'urn:pulumi:token-type:access_token:team', scope: 'team:ops' }],
    ],
  });
});

test('UpdateAuthPolicy: PATCH /api/orgs/{org}/auth/policies/{policyId}', async () => {
  const policyAt = (k) => (b, v) => (b.policies[0][k] = v);
  const rules32 = Object.fromEntries(Array.from({ length: 32 }, (_, i) => [`c${i}`, '*']));
  await catalogue({
    id: 'UpdateAuthPolicy',
    method: 'PATCH',
    path: () => `/api/orgs/acme/auth/policies/${issuer.policyId}`,
    base: () => ({ policies: [allowOrg()] }),
    fields: {
      policies: F.array([
        ['[]', []],
        ['[null]', [null]],
        ['[1]', [1]],
        ['["x"]', ['x']],
        ['65 policies', Array(65).fill(allowOrg())],
      ]),
      decision: { ...F.enumeration(['allow', 'deny']), set: policyAt('decision') },
      tokenType: { ...F.enumeration(['organization', 'team', 'personal']), set: policyAt('tokenType') },
      authorizedPermissions: {
        ...F.array([['["root"]', ['root']], ['[1]', [1]], ['["admin", "admin"]', ['admin', 'admin']]]),
        set: policyAt('authorizedPermissions'),
      },
      rules: {
        ...F.object([
          ['{} on an allow policy', {}],
          ['a rule of null', { sub: null }],
          ['a rule of 1', { sub: 1 }],
          ['a rule of []', { sub: [] }],
          ['a rule of [1]', { sub: [1] }],
          ['a rule of {}', { sub: {} }],
          ['a pattern of 513 bytes', { sub: 'p'.repeat(513) }],
          ['a pattern with ESC', { sub: 'repo:\x1b[31m' }],
          ['a pattern with a C1 control', { sub: 'repo:\u009b' }],
          ['a claim path of 257 bytes', { ['c'.repeat(257)]: '*' }],
          ['a claim path with a newline', { 'a\nb': '*' }],
          ['a malformed claim path', { 'a..b': '*' }],
          ['33 rules', Object.fromEntries(Array.from({ length: 33 }, (_, i) => [`c${i}`, '*']))],
        ]),
        set: policyAt('rules'),
      },
      teamName: {
        own: ['string'],
        nullOk: true, // "not set", as some clients spell it
        controls: true,
        extra: [['on an organization policy', 'ops']],
        set: policyAt('teamName'),
      },
      roleID: { own: ['string'], nullOk: true, controls: true, extra: [['a role', 'r']], set: policyAt('roleID') },
    },
    nestKey: 'policies',
    invalid: [
      ['policies missing', {}],
      ['an unknown policy field', { policies: [{ ...allowOrg(), extra: 1 }] }],
      ['a team policy without teamName', { policies: [{ ...allowOrg(), tokenType: 'team' }] }],
      ['a team policy with a bad teamName', { policies: [{ ...allowOrg(), tokenType: 'team', teamName: 'a b' }] }],
      ['admin for a team token', { policies: [{ ...allowOrg(), tokenType: 'team', teamName: 'ops', authorizedPermissions: ['admin'] }] }],
      ['a personal policy without userLogin', { policies: [{ ...allowOrg(), tokenType: 'personal' }] }],
    ],
    valid: [
      ['64 policies', { policies: Array(64).fill(allowOrg()) }],
      ['32 rules', { policies: [allowOrg(rules32)] }],
      ['a pattern of 512 bytes', { policies: [allowOrg({ sub: 'p'.repeat(512) })] }],
      ['a claim path of 256 bytes', { policies: [allowOrg({ ['c'.repeat(256)]: '*' })] }],
      ['teamName, userLogin, roleID and runnerID null', { policies: [{ ...allowOrg(), teamName: null, userLogin: null, roleID: null, runnerID: null }] }],
      ['as Pulumi\'s Cloud provider sends it', { policies: [{ decision: 'allow', tokenType: 'team', teamName: 'ops', authorizedPermissions: [], rules: { sub: 'x' } }] }],
      ['back to allowing the organization', { policies: [allowOrg()] }],
    ],
  });
});

test('console sign-in: POST /console/session', async () => {
  await catalogue({
    id: 'ConsoleSignIn',
    method: 'POST',
    noAuth: true,
    path: () => '/console/session',
    base: () => ({ login: 'alice', password: PASSWORD }),
    // Wrong passwords count towards the sign-in budget (ten a minute): only types are generated
    // for these fields, which are refused before any check, and empty strings.
    fields: { login: F.string(0), password: F.string(0), token: { own: ['string'] } },
    invalid: [['login of 65 characters', { login: 'a'.repeat(65), password: PASSWORD }]],
  });
});

test('console sign-in: content types', async () => {
  const res = await api(srv, 'POST', '/console/session', { body: JSON.stringify({ login: 'alice', password: PASSWORD }), headers: { 'Content-Type': 'text/plain' }, timeoutMs: TIMEOUT_MS });
  assert.equal(res.status, 415, res.text);
  const ok = await api(srv, 'POST', '/console/session', { json: { login: 'alice', password: PASSWORD }, timeoutMs: TIMEOUT_MS });
  assert.equal(ok.status, 200, ok.text);
  counts.set('ConsoleSignIn', [counts.get('ConsoleSignIn')[0] + 1, counts.get('ConsoleSignIn')[1] + 1]);
});

// ---------------------------------------------------------------------------------------------
// The OAuth token exchange answers in RFC 6749's shape, JSON or form-encoded.

async function oauth(body, contentType) {
  const res = await fetch(`${srv.url}/api/oauth/token`, {
    method: 'POST',
    headers: contentType ? { 'Content-Type': contentType } : {},
    body,
    signal: AbortSignal.timeout(TIMEOUT_MS),
  });
  const text = await res.text();
  let json;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, text, json };
}

function oauthProblem(res, valid) {
  if (valid) return res.status === 200 && /^pul-[0-9a-f]{40}$/.test(res.json?.access_token) ? null : `expected 200, got ${res.status} ${res.text.slice(0, 200)}`;
  if (res.status < 400 || res.status >= 500) return `expected a 4xx, got ${res.status} ${res.text.slice(0, 200)}`;
  const keys = res.json && typeof res.json === 'object' ? Object.keys(res.json).sort().join(',') : '';
  if (keys !== 'error,error_description' && keys !== 'code,message') return `not an error body: ${res.text.slice(0, 200)}`;
  return null;
}

async function runOauth(id, invalid, valid, contentType) {
  const failures = [];
  const before = await snapshot();
  for (const [label, body] of invalid) {
    try {
      const p = oauthProblem(await oauth(body, contentType), false);
      if (p) failures.push(`${label}: ${p}`);
    } catch (e) {
      failures.push(`${label}: ${e.message}`);
    }
  }
  const afterInvalid = await snapshot();
  if (afterInvalid !== before) failures.push('refused exchanges changed the state');
  for (const [label, body] of valid) {
    try {
      const p = oauthProblem(await oauth(body, contentType), true);
      if (p) failures.push(`valid ${label}: ${p}`);
    } catch (e) {
      failures.push(`valid ${label}: ${e.message}`);
    }
  }
  counts.set(id, [invalid.length, valid.length]);
  assert.deepEqual(failures, [], `${id}: ${failures.length} of ${invalid.length + valid.length} cases failed`);
}

test('Token exchange, JSON: POST /api/oauth/token', async () => {
  const good = await idToken();
  const base = () => ({ grant_type: GRANT, audience: AUD, subject_token: good, subject_token_type: ID_TOKEN, requested_token_type: ORG_TOKEN });
  const fields = {
    grant_type: F.string(1, 8192),
    audience: F.string(1, 8192),
    subject_token: F.string(1, 8192),
    subject_token_type: F.string(1, 8192),
    requested_token_type: F.string(1, 8192),
    scope: { ...F.string(0, 8192), extra: [['a scope an org token cannot have', 'team:ops']] },
    expiration: F.int(1, 31 * DAY),
  };
  const invalid = [];
  const valid = [];
  for (const [name, spec] of Object.entries(fields)) {
    for (const [label, body] of fieldCases(name, spec, base())) {
      // Strings of 1..8192 bytes are well-formed but wrong values here, and refused all the same;
      // an over-long one must be refused for its length. Unknown keys are ignored, as in a form.
      invalid.push([label, typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body)]);
    }
  }
  for (const [label, body] of bodyCases(base(), { firstKey: 'grant_type', nestKey: 'grant_type' })) {
    if (/unknown key|misspelt key|an empty key|deep under an unknown key/.test(label)) valid.push([`${label} (ignored, as OAuth requires)`, body]);
    else invalid.push([label, body]);
  }
  valid.push(
    ['the base body', JSON.stringify(base())],
    ['expiration 1', JSON.stringify({ ...base(), expiration: 1 })],
    ['expiration 2678400', JSON.stringify({ ...base(), expiration: 31 * DAY })],
    ['scope ""', JSON.stringify({ ...base(), scope: '' })],
    ['as pulumi/auth-actions sends it', JSON.stringify({ ...base(), expiration: 3600 })],
  );
  await runOauth('Token (JSON)', invalid, valid, 'application/json');
});

test('Token exchange, form-encoded: POST /api/oauth/token', async () => {
  const good = await idToken();
  const base = { grant_type: GRANT, audience: AUD, subject_token: good, subject_token_type: ID_TOKEN, requested_token_type: ORG_TOKEN };
  const form = (fields) => new URLSearchParams({ ...base, ...fields }).toString();
  const invalid = [
    ['grant_type repeated', `${form({})}&grant_type=${encodeURIComponent(GRANT)}`],
    ['subject_token repeated', `${form({})}&subject_token=x`],
    ['a NUL as %00 in a value', `${form({})}&scope=a%00b`],
    ['a raw NUL byte', Buffer.concat([Buffer.from(form({})), Buffer.from([0])])],
    ['invalid UTF-8 as %ff in subject_token', form({}).replace(/subject_token=[^&]*/, 'subject_token=%ff%fe')],
    ['an invalid percent escape in grant_type', form({}).replace(/grant_type=[^&]*/, 'grant_type=%zz')],
    ['a value of 8193 bytes', form({ scope: 's'.repeat(8193) })],
    ['an empty body', ''],
    ['a JSON body sent as a form', JSON.stringify(base)],
    ['no grant_type', new URLSearchParams({ ...base, grant_type: undefined }).toString().replace(/grant_type=undefined&?/, '')],
    ['grant_type empty', form({ grant_type: '' })],
    ['audience of another shape', form({ audience: 'acme' })],
    ['subject_token empty', form({ subject_token: '' })],
    ['subject_token_type empty', form({ subject_token_type: '' })],
    ['requested_token_type unknown', form({ requested_token_type: 'urn:pulumi:token-type:access_token:robot' })],
    ['scope for a team without its name', form({ requested_token_type: 'urn:pulumi:token-type:access_token:team', scope: 'team:' })],
    ...['0', '-1', '1.5', '1e3', ' 60', '+60', '60s', '2678401', '99999999999999999999', '', 'soon'].map((e) => [`expiration ${JSON.stringify(e)}`, form({ expiration: e })]),
    ['a body over 64 KiB', form({ scope: 'x'.repeat(66 * 1024) })],
  ];
  const valid = [
    ['as the Pulumi CLI sends it', form({ scope: '', expiration: '3600' })],
    ['an unknown parameter (ignored)', `${form({})}&client_id=ci`],
    ['+ for a space in an ignored parameter', `${form({})}&note=a+b`],
  ];
  await runOauth('Token (form)', invalid, valid, 'application/x-www-form-urlencoded');
});

// The org lifetime cap binds the whole organization, so its cases run last, and end cleared.
test('UpdateOrganizationSettings: PATCH /api/orgs/{org}', async () => {
  await catalogue({
    id: 'UpdateOrganizationSettings',
    method: 'PATCH',
    path: () => '/api/orgs/acme',
    base: () => ({ setMaxAccessTokenExpiryDays: 0 }),
    fields: { setMaxAccessTokenExpiryDays: F.int(0, 3650) },
    invalid: [
      ['another setting of Pulumi\'s', { setAiEnablement: 'enabled' }],
      ['another setting, null', { setDefaultAccountPermission: null }],
    ],
    valid: [
      ['1 day', { setMaxAccessTokenExpiryDays: 1 }],
      ['nothing (no change)', {}],
      ['cleared again', { setMaxAccessTokenExpiryDays: 0 }],
    ],
  });
  assert.equal((await api(srv, 'GET', '/api/orgs/acme', { token: tok })).json.maxAccessTokenExpiryDays, undefined);
});

test('after the catalogue the server is healthy and has logged no sanitizer report', async () => {
  assert.equal((await api(srv, 'GET', '/healthz', { timeoutMs: TIMEOUT_MS })).status, 200);
  assert.equal((await api(srv, 'GET', '/api/user', { token: tok, timeoutMs: TIMEOUT_MS })).status, 200);
  assert.equal(srv.server.exitInfo, undefined, 'the server is still running');
  assert.doesNotMatch(srv.server.stderr(), /runtime error|AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer/);
  const total = [...counts.values()].reduce((n, [bad, good]) => n + bad + good, 0);
  assert.ok(total >= 300, `several hundred cases expected, ran ${total}`);
});
