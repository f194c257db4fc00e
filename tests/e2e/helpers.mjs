// Shared helpers for the Tessera end-to-end tests (node:test + node:assert + global fetch).
//
// Every test file starts its own server(s) on 127.0.0.1 with a kernel-chosen port and its own
// temporary database, so files can run in parallel.

import assert from 'node:assert/strict';
import { spawn, execFileSync, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import zlib from 'node:zlib';
import OpenAPIResponseValidatorModule from 'openapi-response-validator';
import { OAuth2Server } from 'oauth2-mock-server';

const here = path.dirname(fileURLToPath(import.meta.url));
export const repoRoot = path.resolve(here, '..', '..');

// TESSERA_BIN from the environment is taken relative to the current directory (as a shell user
// would expect: `cd tests && TESSERA_BIN=../build/tessera npm run test:e2e`); the default
// `build/tessera` is relative to the repository root.
export const tesseraBin = process.env.TESSERA_BIN
  ? path.resolve(process.env.TESSERA_BIN)
  : path.resolve(repoRoot, 'build/tessera');

// Pulumi's OpenAPI document: the shared reference beside the repository when it is there (the
// authority), else the byte-exact copy vendored in tests/reference/ so a bare clone can test too.
export const sharedSpecPath = path.resolve(repoRoot, '../shared/reference/spec.json');
export const vendoredSpecPath = path.resolve(repoRoot, 'tests/reference/spec.json');
export const specPath = process.env.TESSERA_SPEC
  ? path.resolve(process.env.TESSERA_SPEC)
  : fs.existsSync(sharedSpecPath)
    ? sharedSpecPath
    : vendoredSpecPath;

export const UNAUTHORIZED_MESSAGE = 'Unauthorized: No credentials provided or are invalid.';
export const TOKEN_RE = /^pul-[a-f0-9]{40}$/;
export const UUID_V4_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/i;
export const RFC3339_Z_RE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/;

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
export const nowSeconds = () => Math.floor(Date.now() / 1000);

// ---------------------------------------------------------------------------------------------
// CRC-32 (zlib polynomial). Node >= 20.15 has zlib.crc32; otherwise a small table implementation.

let crcTable;
function crc32Fallback(buf) {
  if (!crcTable) {
    crcTable = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      crcTable[n] = c >>> 0;
    }
  }
  let crc = 0xffffffff;
  for (const b of buf) crc = crcTable[(crc ^ b) & 0xff] ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

export function crc32(text) {
  const buf = Buffer.from(text, 'utf8');
  return typeof zlib.crc32 === 'function' ? zlib.crc32(buf) >>> 0 : crc32Fallback(buf);
}

export function crc32Hex(text) {
  return crc32(text).toString(16).padStart(8, '0');
}

/** Asserts the token format `pul-` + 32 hex + %08x crc32(first 36 chars). */
export function assertTokenValue(value) {
  assert.equal(typeof value, 'string', 'token value must be a string');
  assert.match(value, TOKEN_RE, `token value ${JSON.stringify(value)} has the wrong shape`);
  assert.equal(value.slice(36), crc32Hex(value.slice(0, 36)), 'token checksum must be crc32 of its first 36 chars');
}

/** A syntactically valid token (correct checksum) that no server has issued. */
export function makeUnknownToken() {
  const head = 'pul-' + crypto.randomBytes(16).toString('hex');
  return head + crc32Hex(head);
}

/** The same token with its checksum corrupted (still 40 hex chars). */
export function corruptChecksum(value) {
  const last = value[value.length - 1];
  const repl = last === '0' ? '1' : '0';
  return value.slice(0, -1) + repl;
}

// ---------------------------------------------------------------------------------------------
// OpenAPI response validation against the Pulumi spec (openapi-response-validator: ajv 8 based,
// resolves #/components/... $refs and allOf).

const OpenAPIResponseValidator = OpenAPIResponseValidatorModule.default || OpenAPIResponseValidatorModule;
let specDoc;
const operations = new Map();
const validators = new Map();

// Where the spec describes a field in a way no real Pulumi body takes, responses are checked against
// what the field carries in practice. Each erratum says why; nothing else is relaxed.
const SPEC_ERRATA = [
  {
    // AuthPolicyDefinition.rules is Go's map[string]interface{}, which the generator renders as
    // "values are objects"; the claim rules Pulumi documents and clients send are strings
    // ("sub": "repo:org/*"), which Tessera also takes as arrays of strings.
    apply: (spec) => {
      spec.components.schemas.AuthPolicyDefinition.properties.rules.additionalProperties = {
        oneOf: [{ type: 'string' }, { type: 'array', items: { type: 'string' } }],
      };
    },
  },
];

function loadSpec() {
  if (!specDoc) {
    specDoc = JSON.parse(fs.readFileSync(specPath, 'utf8'));
    for (const erratum of SPEC_ERRATA) erratum.apply(specDoc);
    for (const [p, item] of Object.entries(specDoc.paths)) {
      for (const [method, op] of Object.entries(item)) {
        if (op && typeof op === 'object' && op.operationId) operations.set(op.operationId, { path: p, method, op });
      }
    }
  }
  return specDoc;
}

/** The spec operation (path, method, op object) for an operationId. */
export function specOperation(operationId) {
  loadSpec();
  const entry = operations.get(operationId);
  assert.ok(entry, `operationId ${operationId} not found in ${specPath}`);
  return entry;
}

/**
 * Validates a response body against the spec's schema for operationId + status.
 * Throws an AssertionError listing the schema violations.
 */
export function validate(operationId, status, body) {
  const spec = loadSpec();
  const { op } = specOperation(operationId);
  const response = op.responses?.[String(status)];
  assert.ok(response, `spec has no ${status} response for ${operationId}`);
  assert.ok(
    response.content?.['application/json']?.schema,
    `spec has no application/json schema for ${operationId} ${status}`,
  );
  let v = validators.get(operationId);
  if (!v) {
    v = new OpenAPIResponseValidator({ responses: op.responses, components: spec.components });
    validators.set(operationId, v);
  }
  const result = v.validateResponse(status, body);
  if (result) {
    assert.fail(
      `${operationId} ${status} response does not match the spec: ${JSON.stringify(result.errors)}\nbody: ${JSON.stringify(body)}`,
    );
  }
}

// Which 2xx responses are validated automatically by api(): method + path (no query) → operationId.
const AUTO_VALIDATE = [
  ['GET', /^\/api\/user$/, 'GetCurrentUser'],
  ['POST', /^\/api\/user\/tokens$/, 'CreatePersonalToken'],
  ['GET', /^\/api\/user\/tokens$/, 'ListPersonalTokens'],
  ['GET', /^\/api\/capabilities$/, 'Capabilities'],
  ['GET', /^\/api\/user\/organizations\/default$/, 'GetDefaultOrganization'],
  ['GET', /^\/api\/orgs\/[^/]+$/, 'GetOrganization'],
  ['GET', /^\/api\/orgs\/[^/]+\/members$/, 'ListOrganizationMembers'],
  ['POST', /^\/api\/orgs\/[^/]+\/members\/[^/]+$/, 'AddOrganizationMember'],
  ['GET', /^\/api\/orgs\/[^/]+\/teams$/, 'ListTeams'],
  ['GET', /^\/api\/orgs\/[^/]+\/auditlogs$/, 'ListAuditLogEventsHandlerV1'],
  ['GET', /^\/api\/orgs\/[^/]+\/auditlogs\/v2$/, 'ListAuditLogEventsHandlerV2'],
  ['POST', /^\/api\/orgs\/[^/]+\/teams\/pulumi$/, 'CreatePulumiTeam'],
  ['GET', /^\/api\/orgs\/[^/]+\/teams\/[^/]+$/, 'GetTeam'],
  ['PATCH', /^\/api\/orgs\/[^/]+$/, 'UpdateOrganizationSettings'],
  ['GET', /^\/api\/orgs\/[^/]+\/metadata$/, 'GetOrganizationMetadata'],
  ['POST', /^\/api\/orgs\/[^/]+\/tokens$/, 'CreateOrgToken'],
  ['GET', /^\/api\/orgs\/[^/]+\/tokens$/, 'ListOrgTokens'],
  ['POST', /^\/api\/orgs\/[^/]+\/teams\/[^/]+\/tokens$/, 'CreateTeamToken'],
  ['GET', /^\/api\/orgs\/[^/]+\/teams\/[^/]+\/tokens$/, 'ListTeamTokens'],
  ['POST', /^\/api\/orgs\/[^/]+\/oidc\/issuers$/, 'RegisterOidcIssuer'],
  ['GET', /^\/api\/orgs\/[^/]+\/oidc\/issuers$/, 'List_orgs_oidc_issuers'],
  ['GET', /^\/api\/orgs\/[^/]+\/oidc\/issuers\/[^/]+$/, 'GetOidcIssuer'],
  ['PATCH', /^\/api\/orgs\/[^/]+\/oidc\/issuers\/[^/]+$/, 'UpdateOidcIssuer'],
  ['POST', /^\/api\/orgs\/[^/]+\/oidc\/issuers\/[^/]+\/regenerate-thumbprints$/, 'RegenerateThumbprints'],
  ['GET', /^\/api\/orgs\/[^/]+\/auth\/policies\/oidcissuers\/[^/]+$/, 'GetAuthPolicy'],
  ['PATCH', /^\/api\/orgs\/[^/]+\/auth\/policies\/[^/]+$/, 'UpdateAuthPolicy'],
  ['POST', /^\/api\/oauth\/token$/, 'Token'],
];

// Accepted reason phrases per status (RFC 9110 renamed a few; any of the historical names is fine).
const STATUS_TEXTS = {
  413: ['Payload Too Large', 'Content Too Large', 'Request Entity Too Large'],
  414: ['URI Too Long', 'Request-URI Too Long'],
  431: ['Request Header Fields Too Large'],
};

export function statusTexts(status) {
  return STATUS_TEXTS[status] || [http.STATUS_CODES[status]];
}

/** Asserts an error body is exactly {code, message} with code === status and "<Status text>: ..." */
export function assertErrorBody(status, json, text) {
  assert.ok(json && typeof json === 'object' && !Array.isArray(json), `error body must be a JSON object, got ${text}`);
  assert.deepEqual(Object.keys(json).sort(), ['code', 'message'], `error body keys must be code, message: ${text}`);
  assert.equal(json.code, status, `error body code must equal the HTTP status: ${text}`);
  assert.equal(typeof json.message, 'string');
  const texts = statusTexts(status);
  assert.ok(
    texts.some((t) => json.message.startsWith(`${t}: `)),
    `error message must start with "${texts.join('" or "')}: ", got ${JSON.stringify(json.message)}`,
  );
}

// ---------------------------------------------------------------------------------------------
// HTTP client

/**
 * Performs a request against a running server and checks the invariants every response must
 * satisfy (X-Pulumi-Request-ID, JSON content, error body shape, spec validation of 2xx bodies).
 *
 * opts: token (sends `Authorization: token <v>`), auth (raw Authorization header value),
 *       headers, json (object → JSON body), body (raw string/Buffer body), validate (default true).
 * Returns {status, headers, text, json, requestId}.
 */
export async function api(server, method, urlPath, opts = {}) {
  const url = typeof server === 'string' ? server : server.url;
  const headers = { ...(opts.headers || {}) };
  if (opts.token !== undefined) headers.Authorization = `token ${opts.token}`;
  if (opts.auth !== undefined) headers.Authorization = opts.auth;
  let body;
  if (opts.json !== undefined) {
    body = JSON.stringify(opts.json);
    headers['Content-Type'] = headers['Content-Type'] || 'application/json';
  } else if (opts.body !== undefined) {
    body = opts.body;
    headers['Content-Type'] = headers['Content-Type'] || 'application/json';
  }
  let res;
  let text;
  try {
    res = await fetch(url + urlPath, {
      method,
      headers,
      body,
      signal: AbortSignal.timeout(opts.timeoutMs ?? 10000),
    });
    text = await res.text();
  } catch (e) {
    const cause = e.cause ? ` (${e.cause.code || ''} ${e.cause.message || e.cause})` : '';
    throw new Error(`${method} ${urlPath}: ${e.message}${cause}`);
  }
  const requestId = res.headers.get('x-pulumi-request-id');
  const where = `${method} ${urlPath} → ${res.status}`;
  assert.ok(requestId && requestId.trim().length > 0, `${where}: missing X-Pulumi-Request-ID header`);

  let json;
  if (res.status === 204) {
    assert.equal(text, '', `${where}: 204 must have an empty body`);
  } else {
    assert.match(res.headers.get('content-type') || '', /application\/json/, `${where}: Content-Type must be JSON`);
    try {
      json = JSON.parse(text);
    } catch {
      assert.fail(`${where}: body is not JSON: ${JSON.stringify(text.slice(0, 300))}`);
    }
  }
  if (res.status >= 400) assertErrorBody(res.status, json, `${where}: ${text}`);

  if (opts.validate !== false && res.status >= 200 && res.status < 300 && res.status !== 204) {
    const p = urlPath.split('?')[0];
    for (const [m, re, operationId] of AUTO_VALIDATE) {
      if (m === method && re.test(p)) validate(operationId, res.status, json);
    }
  }
  return { status: res.status, headers: res.headers, text, json, requestId };
}

/** Asserts a 401 with the exact contract body. */
export function assert401(res, what = '') {
  assert.equal(res.status, 401, `${what} expected 401, got ${res.status}: ${res.text}`);
  assert.deepEqual(res.json, { code: 401, message: UNAUTHORIZED_MESSAGE });
}

/** Asserts a 400 Bad Request. */
export function assert400(res, what = '') {
  assert.equal(res.status, 400, `${what} expected 400, got ${res.status}: ${res.text}`);
}

/** POST /api/user/tokens, asserting 200; returns {id, tokenValue}. */
export async function createToken(server, token, body = {}, query = '') {
  const res = await api(server, 'POST', `/api/user/tokens${query}`, { token, json: body });
  assert.equal(res.status, 200, `create token: ${res.text}`);
  assert.match(res.json.id, UUID_V4_RE);
  assertTokenValue(res.json.tokenValue);
  return res.json;
}

/** GET /api/user/tokens with a query string, asserting 200; returns the body. */
export async function listTokens(server, token, query = '') {
  const res = await api(server, 'GET', `/api/user/tokens${query}`, { token });
  assert.equal(res.status, 200, `list tokens: ${res.text}`);
  return res.json;
}

/** Follows continuation tokens; returns all tokens of the listing. */
export async function listAll(server, token, query = '') {
  const sep = query ? '&' : '?';
  let page = await listTokens(server, token, query);
  const all = [...page.tokens];
  for (let i = 0; i < 100 && page.continuationToken !== undefined; i++) {
    page = await listTokens(server, token, `${query}${sep}continuationToken=${encodeURIComponent(page.continuationToken)}`);
    all.push(...page.tokens);
  }
  return all;
}

/** Polls fn() (async, returns truthy when done) every intervalMs until timeoutMs; returns the last value. */
export async function poll(fn, { timeoutMs = 5000, intervalMs = 200 } = {}) {
  const deadline = Date.now() + timeoutMs;
  let v;
  for (;;) {
    v = await fn();
    if (v || Date.now() >= deadline) return v;
    await sleep(intervalMs);
  }
}

// ---------------------------------------------------------------------------------------------
// Admin CLI

// A sanitizer's report on stderr: ThreadSanitizer's warnings, ASan's and LSan's errors, UBSan's
// summary. scripts/test makes each of them end the process with a non-zero status as well; this
// also catches a report from a process whose status a test does not look at, or one run without
// those options.
const SANITIZER_REPORT_RE = /WARNING: ThreadSanitizer|ERROR: \w*Sanitizer|SUMMARY: \w*Sanitizer/;

/** Fails when a process's stderr holds a sanitizer report. */
export function assertNoSanitizerReport(stderr, what) {
  assert.ok(!SANITIZER_REPORT_RE.test(stderr), `${what}: sanitizer report on stderr:\n${stderr}`);
}

/** Runs `tessera args...`; returns {status, stdout, stderr} without throwing (but a sanitizer
 * report fails the test). */
export function runTessera(args, { env, timeoutMs = 15000 } = {}) {
  const r = spawnSync(tesseraBin, args, {
    encoding: 'utf8',
    timeout: timeoutMs,
    env: env ? { ...process.env, ...env } : process.env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  if (r.error) throw r.error;
  assertNoSanitizerReport(r.stderr, `tessera ${args.join(' ')}`);
  return { status: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
}

/** Runs an admin command that must succeed; returns stdout trimmed. */
export function admin(args) {
  try {
    return execFileSync(tesseraBin, ['admin', ...args], {
      encoding: 'utf8',
      timeout: 15000,
      stdio: ['ignore', 'pipe', 'pipe'],
    }).trim();
  } catch (e) {
    assert.fail(`tessera admin ${args.join(' ')} failed (status ${e.status}): ${e.stderr}`);
  }
}

export const bootstrap = (dbPath, user, org) => admin(['bootstrap', '--db', dbPath, '--user', user, '--org', org]);
export const userAdd = (dbPath, login, ...extra) => admin(['user', 'add', '--db', dbPath, login, ...extra]);
export const orgAdd = (dbPath, org) => admin(['org', 'add', '--db', dbPath, org]);
export const memberAdd = (dbPath, org, login, role) => admin(['member', 'add', '--db', dbPath, org, login, '--role', role]);
/** `tessera admin user passwd` with `input` on stdin; returns spawnSync's result. */
export const passwd = (dbPath, login, input) =>
  spawnSync(tesseraBin, ['admin', 'user', 'passwd', '--db', dbPath, login], { input, encoding: 'utf8', timeout: 15000 });
export const tokenCreate = (dbPath, login, ...extra) =>
  admin(['token', 'create', '--db', dbPath, '--user', login, ...extra]);

// ---------------------------------------------------------------------------------------------
// A real OIDC issuer: oauth2-mock-server on loopback, with one signing key of `alg` (over TLS when
// given a key and certificate file).

export async function startMockIssuer({ alg = 'RS256', keyFile, certFile } = {}) {
  const idp = keyFile ? new OAuth2Server(keyFile, certFile) : new OAuth2Server();
  await idp.issuer.keys.generate(alg);
  await idp.start(0, '127.0.0.1');
  return idp;
}

/** Registers an OIDC issuer in acme (RegisterOidcIssuer, asserting 200); returns {id, policyId}. */
export async function registerIssuer(server, token, name, url) {
  const reg = await api(server, 'POST', '/api/orgs/acme/oidc/issuers', { token, json: { name, url } });
  assert.equal(reg.status, 200, reg.text);
  const policy = await api(server, 'GET', `/api/orgs/acme/auth/policies/oidcissuers/${reg.json.id}`, { token });
  assert.equal(policy.status, 200, policy.text);
  return { id: reg.json.id, policyId: policy.json.id };
}

// ---------------------------------------------------------------------------------------------
// The store under test: SQLite (the default) or PostgreSQL (TESSERA_TEST_STORE=postgres). Tests
// get their databases from newDb() and read or change them behind the server's back with sql(),
// so the same test runs unchanged on either.

export const testStore = process.env.TESSERA_TEST_STORE || 'sqlite';
if (testStore !== 'sqlite' && testStore !== 'postgres') {
  throw new Error(`TESSERA_TEST_STORE must be sqlite or postgres, not ${JSON.stringify(testStore)}`);
}
export const onPostgres = testStore === 'postgres';

/** Options for test(): skips it on PostgreSQL, saying why (a test about the SQLite file itself). */
export const sqliteOnly = (why) => (onPostgres ? { skip: `SQLite only: ${why}` } : {});
/** Options for test(): skips it on SQLite, saying why. */
export const postgresOnly = (why) => (onPostgres ? {} : { skip: `PostgreSQL only: ${why}` });

export function makeTempDir() {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'tessera-e2e-'));
}

// Debian's client of the same major version as the clusters, else whichever psql is on PATH.
const psqlBin = fs.existsSync('/usr/lib/postgresql/15/bin/psql') ? '/usr/lib/postgresql/15/bin/psql' : 'psql';
const clusterScript = path.join(repoRoot, 'scripts/pg-test-cluster');

const pg = {
  base: process.env.TESSERA_TEST_PG || null, // postgres://tessera@127.0.0.1:PORT/postgres
  ownCluster: null, // the directory of the cluster this process started, if it started one
  databases: [], // made by newDb(), dropped at exit from a cluster that outlives this process
  keyDir: null,
};

// One audit key for every database and command of this process: a PostgreSQL database has no
// file beside it to keep one in. Set here, before any command runs, so that every admin command
// and server the tests start inherits it.
if (onPostgres) {
  pg.keyDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tessera-e2e-key-'));
  process.env.TESSERA_AUDIT_KEY = path.join(pg.keyDir, 'audit-key');
  process.on('exit', pgCleanup);
}
let pgCleanupRegistered = onPostgres;

// Synchronous, as an 'exit' handler must be: drops this process's databases (or stops its own
// cluster, which takes them along) and removes the audit key's directory.
function pgCleanup() {
  try {
    if (pg.ownCluster) {
      spawnSync(clusterScript, ['stop', pg.ownCluster], { stdio: 'ignore', timeout: 60000 });
    } else if (pg.base && pg.databases.length) {
      const drops = pg.databases.map((db) => `DROP DATABASE IF EXISTS ${db} WITH (FORCE);\n`).join('');
      spawnSync(psqlBin, ['-X', '-q', '-d', pg.base], { input: drops, stdio: ['pipe', 'ignore', 'ignore'], timeout: 60000, env: psqlEnv() });
    }
  } finally {
    if (pg.keyDir) fs.rmSync(pg.keyDir, { recursive: true, force: true });
  }
}

function psqlEnv(extra = {}) {
  return { ...process.env, PGCONNECT_TIMEOUT: '10', ...extra };
}

/** The cluster's base URL: TESSERA_TEST_PG's, else one of this process's own, started once. */
function pgBase() {
  if (!pg.base) {
    // Under /tmp/tessera-pg-*, as pg_cluster.h makes them: a cluster whose owner (this process)
    // was killed before its exit handler ran is reaped by the next cluster started.
    pg.ownCluster = fs.mkdtempSync('/tmp/tessera-pg-');
    try {
      pg.base = execFileSync(clusterScript, ['start', pg.ownCluster], {
        encoding: 'utf8',
        timeout: 180000,
        stdio: ['ignore', 'pipe', 'pipe'],
      }).trim();
    } catch (e) {
      throw new Error(`scripts/pg-test-cluster start failed: ${e.stderr || e.message}`);
    }
  }
  return pg.base;
}

/**
 * A fresh, empty database for a test: a file path in dir on SQLite (`name`.db, not created yet),
 * on PostgreSQL a new database of the cluster, by its URL (the server makes the schema).
 */
export function newDb(dir, name = 't') {
  return onPostgres ? newPostgresDb() : path.join(dir, `${name}.db`);
}

/**
 * A new PostgreSQL database, whichever store the suite runs on (for tests of both at once, such
 * as `tessera admin copy`), by its URL. Dropped at exit like newDb's.
 */
export function newPostgresDb() {
  if (!pgCleanupRegistered) {
    pgCleanupRegistered = true;
    process.on('exit', pgCleanup);
  }
  const db = `t_${crypto.randomBytes(8).toString('hex')}`;
  const base = pgBase();
  try {
    execFileSync(psqlBin, ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', base, '-c', `CREATE DATABASE ${db}`], {
      encoding: 'utf8',
      timeout: 30000,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: psqlEnv(),
    });
  } catch (e) {
    throw new Error(`CREATE DATABASE ${db} on ${base} failed: ${e.stderr || e.message}`);
  }
  pg.databases.push(db);
  const url = new URL(base);
  url.pathname = `/${db}`;
  return url.href;
}

/** The audit key file of a database: beside it on SQLite, TESSERA_AUDIT_KEY's on PostgreSQL. */
export function auditKeyFile(db) {
  return onPostgres ? process.env.TESSERA_AUDIT_KEY : `${db}.audit-key`;
}

/** The directory of a database's audit key and head files (and their temporary files). */
export function auditFilesDir(db) {
  return path.dirname(auditKeyFile(db));
}

const SQL_END = '--tessera-e2e-end-of-statement--';
const isQuery = (statement) => /^\s*(select|with|values)\b/i.test(statement);

/**
 * Runs SQL on a test database (a server from startServer, or what newDb returned) with sqlite3 or
 * psql, beside a running server or not. `statements` is one statement, whose rows are returned,
 * or an array of them, run by one process, whose rows are returned in an array. Rows are objects
 * in one shape on both stores, SQLite's: booleans are 0 and 1 (select blobs through hex()). A
 * query (SELECT, WITH, VALUES) must be a single statement; anything else may be several, and
 * returns no rows. readonly: the connection cannot write.
 */
export function sql(db, statements, { readonly = false } = {}) {
  const target = typeof db === 'string' ? db : db.dbPath;
  const list = Array.isArray(statements) ? statements : [statements];
  const bare = (s) => s.trim().replace(/;+$/, '');
  // By the database itself, not the suite's store: a test may use both (tessera admin copy).
  const postgres = /^postgres(ql)?:\/\//.test(target);
  let out;
  try {
    if (postgres) {
      // One JSON object per row: the same values sqlite3 -json gives, without psql's formatting.
      const script = list
        .map((s) => `${isQuery(s) ? `SELECT row_to_json(r) FROM (${bare(s)}) r` : bare(s)};\n\\echo ${SQL_END}\n`)
        .join('');
      out = execFileSync(psqlBin, ['-X', '-q', '-A', '-t', '-v', 'ON_ERROR_STOP=1', '-d', target], {
        input: script,
        encoding: 'utf8',
        timeout: 20000,
        stdio: ['pipe', 'pipe', 'pipe'],
        env: psqlEnv(readonly ? { PGOPTIONS: '-c default_transaction_read_only=on' } : {}),
      });
    } else {
      const script = list.map((s) => `${bare(s)};\n.print ${SQL_END}\n`).join('');
      const open = readonly ? ['-readonly', `file:${target}?mode=ro`] : [target];
      out = execFileSync('sqlite3', ['-bail', '-json', '-cmd', '.timeout 5000', ...open], {
        input: script,
        encoding: 'utf8',
        timeout: 20000,
        stdio: ['pipe', 'pipe', 'pipe'],
      });
    }
  } catch (e) {
    throw new Error(`SQL on ${target} failed: ${e.stderr || e.message}\n${list.join(';\n')}`);
  }
  const results = out
    .split(`${SQL_END}\n`)
    .slice(0, list.length)
    .map((chunk) => {
      const text = chunk.trim();
      if (!text) return [];
      const rows = postgres ? text.split('\n').map((line) => JSON.parse(line)) : JSON.parse(text);
      return rows.map((row) =>
        Object.fromEntries(Object.entries(row).map(([k, v]) => [k, typeof v === 'boolean' ? Number(v) : v])),
      );
    });
  return Array.isArray(statements) ? results : results[0];
}

/** An SQL expression for a blob column as lowercase hex, for sql() (which cannot show blobs). */
export const sqlHex = (column) => (onPostgres ? `encode(${column}, 'hex')` : `lower(hex(${column}))`);

/** A string as an SQL literal (the same quoting on both stores). */
export const sqlText = (s) => `'${String(s).replace(/'/g, "''")}'`;

// ---------------------------------------------------------------------------------------------
// Server processes

const LISTEN_RE = /^tessera: listening on (http:\/\/127\.0\.0\.1:(\d+))$/;
// Printed before the listening line when the server has a metrics listener (--metrics-listen).
const METRICS_RE = /^tessera: metrics on (http:\/\/127\.0\.0\.1:\d+\/metrics)$/;

/**
 * Spawns `tessera serve --listen 127.0.0.1:0 --db dbPath ...extraArgs` and waits (bounded) for the
 * listening line on stderr. Returns {url, port, metricsUrl, proc, stdout(), stderr(), stop(signal)};
 * metricsUrl is the metrics listener's /metrics (with --metrics-listen 127.0.0.1:0), else null.
 * stop() sends SIGTERM (or the given signal), awaits exit and asserts exit status 0 and no sanitizer
 * report on stderr.
 */
export async function spawnServer(dbPath, extraArgs = [], { env, listenArgs, startTimeoutMs = 10000 } = {}) {
  const args = ['serve', ...(listenArgs ?? ['--listen', '127.0.0.1:0', '--db', dbPath]), ...extraArgs];
  const proc = spawn(tesseraBin, args, {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: env ? { ...process.env, ...env } : process.env,
  });
  let out = '';
  let err = '';
  proc.stdout.setEncoding('utf8');
  proc.stderr.setEncoding('utf8');
  proc.stdout.on('data', (d) => (out += d));
  const exited = new Promise((resolve) => proc.on('exit', (code, signal) => resolve({ code, signal })));
  let exitInfo;
  exited.then((e) => (exitInfo = e));

  let metricsUrl = null;
  const url = await new Promise((resolve, reject) => {
    let done = false;
    const finish = (fn, v) => {
      if (!done) {
        done = true;
        clearTimeout(timer);
        fn(v);
      }
    };
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      finish(reject, new Error(`server did not print the listening line within ${startTimeoutMs} ms; stderr: ${err}`));
    }, startTimeoutMs);
    proc.stderr.on('data', (d) => {
      err += d;
      for (const line of err.split('\n').slice(0, -1)) {
        metricsUrl = METRICS_RE.exec(line)?.[1] ?? metricsUrl;
        const m = LISTEN_RE.exec(line);
        if (m) finish(resolve, m[1]);
      }
    });
    proc.on('error', (e) => finish(reject, e));
    exited.then((e) => finish(reject, new Error(`server exited early (${JSON.stringify(e)}); stderr: ${err}`)));
  });

  let stopping;
  const server = {
    url,
    port: Number(new URL(url).port),
    metricsUrl,
    proc,
    stdout: () => out,
    stderr: () => err,
    exited,
    get exitInfo() {
      return exitInfo;
    },
    async stop(signal = 'SIGTERM', timeoutMs = 10000) {
      if (!stopping) {
        stopping = (async () => {
          if (!exitInfo) proc.kill(signal);
          let timer;
          const res = await Promise.race([
            exited,
            new Promise((r) => (timer = setTimeout(() => r(null), timeoutMs))),
          ]);
          clearTimeout(timer);
          if (!res) {
            proc.kill('SIGKILL');
            await exited;
            assert.fail(`server did not exit within ${timeoutMs} ms of ${signal}; stderr: ${err}`);
          }
          assertNoSanitizerReport(err, 'server');
          assert.deepEqual(res, { code: 0, signal: null }, `server must exit 0 on ${signal}; stderr: ${err}`);
          return res;
        })();
      }
      return stopping;
    },
  };
  return server;
}

/**
 * Makes a temp dir, bootstraps alice (site admin, admin of acme), runs setup(dbPath) (offline admin
 * commands), then starts the server. Returns {url, metricsUrl, token, dbPath, dir, server, stop()}.
 * stop() stops the server (asserting exit 0) and removes the temp dir.
 */
export async function startServer({ extraArgs = [], setup, user = 'alice', org = 'acme' } = {}) {
  const dir = makeTempDir();
  const dbPath = newDb(dir);
  let server;
  try {
    const token = bootstrap(dbPath, user, org);
    const setupResult = setup ? await setup(dbPath) : undefined;
    server = await spawnServer(dbPath, extraArgs);
    return {
      url: server.url,
      metricsUrl: server.metricsUrl,
      token,
      dbPath,
      dir,
      server,
      setupResult,
      async stop() {
        try {
          await server.stop();
        } finally {
          fs.rmSync(dir, { recursive: true, force: true });
        }
      },
    };
  } catch (e) {
    if (server) server.proc.kill('SIGKILL');
    fs.rmSync(dir, { recursive: true, force: true });
    throw e;
  }
}
