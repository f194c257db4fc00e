// The multi-node harness: one throwaway PostgreSQL cluster (scripts/pg-test-cluster), one database,
// `tessera serve` nodes on free loopback ports sharing it, and a real nginx
// (nginx.conf.template) balancing over them; a small HTTP client that reports connection errors
// as answers instead of throwing (a node killed mid-request is what these tests are about), and
// the pollers and load loops the tests share. Everything on 127.0.0.1, every wait bounded.

import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { assertNoSanitizerReport, repoRoot, sleep, spawnServer } from '../e2e/helpers.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
export const nginxTemplate = path.join(here, 'nginx.conf.template');
export const nginxBin = process.env.TESSERA_NGINX || '/usr/sbin/nginx';
const clusterScript = path.join(repoRoot, 'scripts/pg-test-cluster');
const psqlBin = fs.existsSync('/usr/lib/postgresql/15/bin/psql') ? '/usr/lib/postgresql/15/bin/psql' : 'psql';

export const now = () => performance.now();

// Processes this test process started and has not seen exit: killed outright if the process ends
// without its cleanup having run (an uncaught error, a timeout of the runner).
const children = new Set();
const clusters = new Set();
process.on('exit', () => {
  for (const p of children) {
    try {
      p.kill('SIGKILL');
    } catch {}
  }
  for (const pid of groups) killGroup(pid);
  for (const dir of clusters) spawnSync(clusterScript, ['stop', dir], { stdio: 'ignore', timeout: 60000 });
});
function track(proc) {
  children.add(proc);
  proc.on('exit', () => children.delete(proc));
}
// A process group this process made (nginx's), by its leader's pid: killed whole at exit.
const groups = new Set();
function trackGroup(proc) {
  groups.add(proc.pid);
}
function killGroup(pid) {
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {} // ESRCH: nobody left in it
  groups.delete(pid);
}

// ---------------------------------------------------------------------------------------------
// PostgreSQL

function runCluster(args, timeout = 120000) {
  try {
    return execFileSync(clusterScript, args, { encoding: 'utf8', timeout, stdio: ['ignore', 'pipe', 'pipe'] }).trim();
  } catch (e) {
    throw new Error(`scripts/pg-test-cluster ${args.join(' ')} failed: ${e.stderr || e.message}`);
  }
}

// The same, without blocking the event loop: the load loops and pollers of a test keep running
// while PostgreSQL stops or starts.
function runClusterAsync(args, timeout = 60000) {
  return new Promise((resolve, reject) => {
    const proc = spawn(clusterScript, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    track(proc);
    let out = '';
    let err = '';
    proc.stdout.on('data', (d) => (out += d));
    proc.stderr.on('data', (d) => (err += d));
    const timer = setTimeout(() => proc.kill('SIGKILL'), timeout);
    proc.on('exit', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve(out.trim());
      else reject(new Error(`scripts/pg-test-cluster ${args.join(' ')} failed (${code ?? signal}): ${err}`));
    });
  });
}

/** Starts a throwaway cluster under /tmp/tessera-pg-* and makes one database in it. */
export function startPostgres() {
  // Under /tmp/tessera-pg-*, so that a cluster this process leaves behind (killed before any
  // cleanup) is reaped by the next cluster started (its owner.pid names this process).
  const dir = fs.mkdtempSync('/tmp/tessera-pg-');
  clusters.add(dir);
  const base = runCluster(['start', dir]);
  const db = 'multinode';
  psql(base, `CREATE DATABASE ${db}`);
  const url = new URL(base);
  url.pathname = `/${db}`;
  return {
    dir,
    base,
    url: url.href,
    /** Stops the server (fast or immediate), keeping its data; returns when it is down. */
    halt: (mode = 'immediate') => runClusterAsync(['halt', dir, mode]),
    /** Starts it again on the same port and data directory; resolves when it accepts. */
    resume: () => runClusterAsync(['resume', dir]),
    stop() {
      clusters.delete(dir);
      runCluster(['stop', dir], 60000);
    },
  };
}

/** Runs SQL with psql; returns its unaligned, tuples-only output. */
export function psql(url, statement) {
  try {
    return execFileSync(psqlBin, ['-X', '-q', '-A', '-t', '-v', 'ON_ERROR_STOP=1', '-d', url, '-c', statement], {
      encoding: 'utf8',
      timeout: 20000,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, PGCONNECT_TIMEOUT: '10' },
    }).trim();
  } catch (e) {
    throw new Error(`psql on ${url} failed: ${e.stderr || e.message}\n${statement}`);
  }
}

// ---------------------------------------------------------------------------------------------
// Tessera nodes

/**
 * A `tessera serve` node on the database: port 0 the first time (the kernel picks one), the same
 * port again when restarted after a kill, so that nginx's upstream list stays right.
 */
export class Node {
  constructor(name, dbUrl, keyFile, extraArgs = []) {
    Object.assign(this, { name, dbUrl, keyFile, extraArgs, port: 0, server: null, past: [] });
  }

  get url() {
    return `http://127.0.0.1:${this.port}`;
  }

  get alive() {
    return !!this.server && !this.server.exitInfo;
  }

  async start() {
    const args = ['--audit-key', this.keyFile, ...this.extraArgs];
    const listen = ['--listen', `127.0.0.1:${this.port}`, '--db', this.dbUrl];
    // A restart binds the port the killed process held; should that fail (the port taken in the
    // meantime), say so rather than move the node where nginx does not look.
    let lastError;
    for (let attempt = 0; attempt < 5; attempt++) {
      try {
        this.server = await spawnServer(this.dbUrl, args, { listenArgs: listen, startTimeoutMs: 15000 });
        break;
      } catch (e) {
        lastError = e;
        if (!this.port || !/address already in use|bind/i.test(e.message)) throw e;
        await sleep(200);
      }
    }
    if (!this.server || this.server.exitInfo) throw lastError;
    track(this.server.proc);
    this.port = this.server.port;
    return this;
  }

  /** SIGKILL, now; resolves when the process is gone. */
  async kill() {
    const s = this.server;
    s.proc.kill('SIGKILL');
    await s.exited;
  }

  /** Starts the node again on its port, once its process (killed by kill() or by a test's own
   * SIGKILL) has exited; the old process stays among processes() for its stderr. */
  async restart() {
    assert.ok(!this.alive, `${this.name} is still running`);
    await this.server.exited;
    this.past.push(this.server);
    this.server = null;
    await this.start();
  }

  /** SIGTERM: asserts exit 0 and no sanitizer report (spawnServer's stop). */
  async stop() {
    const s = this.server;
    await s.stop('SIGTERM', 15000);
  }

  /** Every process this node has been, the current one last: their stderr, for sanitizer reports. */
  processes() {
    return [...this.past, ...(this.server ? [this.server] : [])];
  }

  /** Access-log lines (JSON) of every process this node has been. */
  accessLog() {
    const lines = [];
    for (const s of this.processes()) {
      for (const line of s.stdout().split('\n')) {
        if (!line.startsWith('{')) continue;
        try {
          lines.push(JSON.parse(line));
        } catch {}
      }
    }
    return lines;
  }
}

export function assertNoReports(nodes) {
  for (const n of nodes) for (const s of n.processes()) assertNoSanitizerReport(s.stderr(), n.name);
}

// ---------------------------------------------------------------------------------------------
// nginx

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/** The template with its placeholders filled in; any placeholder left unfilled is an error. */
export function renderNginxConf(values) {
  const text = fs.readFileSync(nginxTemplate, 'utf8').replace(/\{\{(\w+)\}\}/g, (m, key) => {
    assert.ok(key in values, `nginx template: no value for ${m}`);
    return values[key];
  });
  return text;
}

/**
 * Starts nginx in the foreground with its own prefix in dir (config, logs, pid, temporary files;
 * no system service, nothing under /etc or /var), balancing over the nodes. Resolves once it
 * answers /healthz. Returns {url, port, prefix, proc, errorLog(), accessLog(), stop()}.
 */
export async function startNginx(dir, nodes) {
  const prefix = path.join(dir, 'nginx');
  fs.mkdirSync(prefix, { recursive: true });
  const conf = path.join(prefix, 'nginx.conf');
  const errorLog = path.join(prefix, 'error.log');
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort(); // free a moment ago: a start that loses the race is retried
    const values = { PREFIX: prefix, LISTEN: `127.0.0.1:${port}` };
    nodes.forEach((n, i) => (values[`NODE_${i + 1}`] = `127.0.0.1:${n.port}`));
    fs.writeFileSync(conf, renderNginxConf(values));
    const args = ['-p', `${prefix}/`, '-c', conf, '-e', errorLog];
    const check = spawnSync(nginxBin, [...args, '-t', '-q'], { encoding: 'utf8', timeout: 15000 });
    assert.equal(check.status, 0, `nginx -t refused ${conf}: ${check.stderr}`);
    // Its own process group, so that the master and its workers can be killed together: a
    // worker outlives a master killed alone, still serving the port.
    const proc = spawn(nginxBin, args, { stdio: ['ignore', 'ignore', 'pipe'], detached: true });
    trackGroup(proc);
    let stderr = '';
    proc.stderr.setEncoding('utf8');
    proc.stderr.on('data', (d) => (stderr += d));
    let exitInfo;
    const exited = new Promise((r) => proc.on('exit', (code, signal) => r((exitInfo = { code, signal }))));
    const url = `http://127.0.0.1:${port}`;
    const deadline = now() + 10000;
    let up = false;
    while (!exitInfo && now() < deadline) {
      const res = await request(url, 'GET', '/healthz', { timeoutMs: 2000 });
      if (res.status === 200) {
        up = true;
        break;
      }
      await sleep(50);
    }
    const readLog = (f) => (fs.existsSync(f) ? fs.readFileSync(f, 'utf8') : '');
    if (!up) {
      proc.kill('SIGKILL');
      await exited;
      killGroup(proc.pid);
      const log = readLog(errorLog);
      if (/Address already in use/.test(log) && attempt < 2) continue;
      assert.fail(`nginx did not come up on ${url}: ${stderr}\n${log}`);
    }
    return {
      url,
      port,
      prefix,
      conf,
      proc,
      errorLog: () => readLog(errorLog),
      accessLog: () => readLog(path.join(prefix, 'access.log')),
      get alive() {
        return !exitInfo;
      },
      /** SIGQUIT (graceful: finishes the requests in flight); asserts exit 0. */
      async stop() {
        if (exitInfo) return exitInfo;
        proc.kill('SIGQUIT');
        let timer;
        const res = await Promise.race([exited, new Promise((r) => (timer = setTimeout(() => r(null), 10000)))]);
        clearTimeout(timer);
        killGroup(proc.pid); // any worker left behind
        if (!res) {
          await exited;
          assert.fail('nginx did not exit within 10 s of SIGQUIT');
        }
        assert.deepEqual(res, { code: 0, signal: null }, `nginx must exit 0 on SIGQUIT: ${stderr}`);
        return res;
      },
      /** The master and its workers, at once (cleanup after a failure). */
      async kill() {
        killGroup(proc.pid);
        await exited;
      },
    };
  }
  throw new Error('unreachable');
}

/** nginx access-log lines (our log_format) as objects. */
export function parseNginxLog(text) {
  const re = /^(\S+) \[(\S+)\] "(\S+) (\S+) [^"]*" (\d{3}) upstream=\[([^\]]*)\] upstream_status=\[([^\]]*)\] upstream_time=\[([^\]]*)\] request_time=(\S+) request_id=(\S*)$/;
  const out = [];
  for (const line of text.split('\n')) {
    const m = re.exec(line);
    if (!m) continue;
    out.push({
      client: m[1],
      method: m[3],
      path: m[4],
      status: Number(m[5]),
      upstreams: m[6].split(/\s*,\s*|\s+:\s+/).filter((s) => /^[\d.]+:\d+$/.test(s)),
      upstreamStatus: m[7],
      line,
    });
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// HTTP

// Connections kept alive per target, as a real client (and nginx) would.
export const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });

/**
 * One request. Never throws: a connection refused or reset, or no answer within timeoutMs, is
 * {status: 0, error}. Returns {status, json, text, headers, started, ended, error, fromTessera}
 * (fromTessera: the answer carries X-Pulumi-Request-ID, so a node made it, not nginx).
 * onHead(res): called as soon as the status line is in (before the body), e.g. to kill the node.
 */
export function request(base, method, urlPath, { token, json, body: rawBody, headers = {}, timeoutMs = 10000, localAddress, onHead, useAgent = agent } = {}) {
  return new Promise((resolve) => {
    const u = new URL(base);
    const h = { ...headers };
    let body = rawBody;
    if (token !== undefined) h.Authorization = `token ${token}`;
    if (json !== undefined) {
      body = JSON.stringify(json);
      h['Content-Type'] = 'application/json';
      h['Content-Length'] = Buffer.byteLength(body);
    }
    const started = now();
    let done = false;
    const finish = (r) => {
      if (!done) {
        done = true;
        resolve({ started, ended: now(), ...r });
      }
    };
    const req = http.request(
      { host: u.hostname, port: u.port, path: urlPath, method, headers: h, agent: useAgent, localAddress, timeout: timeoutMs },
      (res) => {
        if (onHead) onHead(res);
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d) => (text += d));
        res.on('end', () => {
          let parsed;
          try {
            parsed = text ? JSON.parse(text) : undefined;
          } catch {}
          finish({ status: res.statusCode, headers: res.headers, text, json: parsed, fromTessera: !!res.headers['x-pulumi-request-id'] });
        });
        res.on('error', (e) => finish({ status: 0, error: e.code || e.message }));
      },
    );
    req.on('timeout', () => req.destroy(Object.assign(new Error('timeout'), { code: 'TIMEOUT' })));
    req.on('error', (e) => finish({ status: 0, error: e.code || e.message }));
    if (body !== undefined) req.write(body);
    req.end();
  });
}

/** Counts of a list of answers by status (0 = no answer: its error code). */
export function statusCounts(results) {
  const counts = {};
  for (const r of results) {
    const k = r.status ? String(r.status) : `no answer (${r.error})`;
    counts[k] = (counts[k] || 0) + 1;
  }
  return counts;
}

export function percentile(values, p) {
  if (!values.length) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

// ---------------------------------------------------------------------------------------------
// Propagation: a change made through one node, watched on every target

/**
 * Polls every target (name → base URL) with probe(base), which returns {state: 'before' |
 * 'after', res, ...} or throws on an answer that is neither. Measures, per target, how long after
 * t0 (when the change was acknowledged) the 'after' state was first answered, and checks what the
 * product promises: every probe that started more than boundMs after t0 sees 'after', and once a
 * node has shown 'after' it never shows 'before' again (no stale refill). A balanced target
 * (nginx) is several nodes, one probe on this one, the next on another: one of them may still
 * show 'before' after another has shown 'after', within the bound. Keeps polling each
 * target until a probe started after the bound has answered (so the promise is tested, not
 * assumed), within giveUpMs. immediate: targets whose very first probe must already see 'after'
 * (the node that made the change: it reads the feed before acknowledging).
 * Returns {latencies: {name: ms}, probes: {name: count}, mixed: {name: count of such 'before's},
 * stale: {name: 'before' answers after t0 and before the first 'after'}}.
 */
export async function watchPropagation(targets, t0, probe, { boundMs = 1000, giveUpMs = 4000, immediate = [], balanced = ['nginx'], intervalMs = 5 } = {}) {
  const latencies = {};
  const probes = {};
  const mixed = {}; // balanced target -> 'before' answers seen after its first 'after'
  const stale = {}; // target -> 'before' answers after t0, before its first 'after'
  const failures = [];
  await Promise.all(
    Object.entries(targets).map(async ([name, base]) => {
      let first;
      let n = 0;
      for (;;) {
        const p = await probe(base);
        n++;
        if (p.state === 'after') {
          if (first === undefined) first = p;
        } else if (p.state === 'before') {
          if (!first) stale[name] = (stale[name] || 0) + 1;
          if (first) mixed[name] = (mixed[name] || 0) + 1;
          if (first && !balanced.includes(name))
            failures.push(`${name}: answered as before the change again after it had shown it (${p.res.status} ${p.res.text})`);
          if (p.res.started - t0 > boundMs)
            failures.push(`${name}: a request sent ${(p.res.started - t0).toFixed(0)} ms after the change still saw the old state (${p.res.status} ${p.res.text?.slice(0, 200)})`);
          if (n === 1 && immediate.includes(name)) failures.push(`${name}: made the change, yet its next request saw the old state`);
        } else {
          failures.push(`${name}: unexpected answer ${p.res.status} ${p.res.error || ''} ${p.res.text?.slice(0, 200) || ''}`);
        }
        if (failures.length) break;
        const lastStarted = p.res.started;
        if (first && lastStarted - t0 > boundMs) break;
        if (now() - t0 > giveUpMs) {
          failures.push(`${name}: still not refused ${giveUpMs} ms after the change`);
          break;
        }
        await sleep(intervalMs);
      }
      probes[name] = n;
      if (first) latencies[name] = Math.max(0, first.res.ended - t0);
    }),
  );
  assert.deepEqual(failures, [], failures.join('\n'));
  return { latencies, probes, mixed, stale };
}

// ---------------------------------------------------------------------------------------------
// Load

/**
 * Runs `clients` loops of op(i, k) (client i, its k-th call) until stop() says so, each loop at
 * most maxOps calls and none past deadlineMs from now; returns every op's result, in order of
 * completion, with {client} added.
 */
export async function load({ clients, op, maxOps = 1000, deadlineMs = 10000, stop = () => false, pauseMs = 0 }) {
  const until = now() + deadlineMs;
  const results = [];
  await Promise.all(
    Array.from({ length: clients }, async (_, i) => {
      for (let k = 0; k < maxOps && now() < until && !stop(i); k++) {
        const r = await op(i, k);
        results.push({ client: i, ...r });
        if (pauseMs) await sleep(pauseMs);
      }
    }),
  );
  return results;
}

export const tmpdir = () => fs.mkdtempSync(path.join(os.tmpdir(), 'tessera-multinode-'));
