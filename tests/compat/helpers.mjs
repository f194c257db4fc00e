// What the compatibility tests share: Pulumi's own clients (built by scripts/compat-tools), run
// in a clean environment of their own, against a real Tessera on loopback.

import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { repoRoot, makeTempDir } from '../e2e/helpers.mjs';

/** The directory of pulumi, pulumi-language-yaml and pulumi-resource-pulumiservice. */
export const toolsDir = (() => {
  if (process.env.TESSERA_COMPAT_TOOLS) return process.env.TESSERA_COMPAT_TOOLS;
  const built = spawnSync(path.join(repoRoot, 'scripts/compat-tools'), { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  if (built.status !== 0) throw new Error('scripts/compat-tools failed');
  return built.stdout.trim();
})();

export const hasProvider = fs.existsSync(path.join(toolsDir, 'pulumi-resource-pulumiservice'));

/**
 * A home of its own for one client (credentials, plugins, state): the CLI reads nothing of the
 * machine's, and nothing of the test runner's environment but PATH (so no CI variable makes it
 * non-interactive, no PULUMI_* leaks in). Returns {dir, env(extra)}.
 */
export function pulumiHome() {
  const dir = makeTempDir();
  const env = (extra = {}) => ({
    PATH: `${toolsDir}:${process.env.PATH}`,
    HOME: dir,
    PULUMI_HOME: path.join(dir, '.pulumi'),
    PULUMI_SKIP_UPDATE_CHECK: 'true',
    PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION: 'true',
    PULUMI_CONFIG_PASSPHRASE: 'compat-tests',
    TMPDIR: process.env.TMPDIR || '/tmp',
    LANG: 'C.UTF-8',
    TERM: 'dumb',
    ...extra,
  });
  return { dir, env, remove: () => fs.rmSync(dir, { recursive: true, force: true }) };
}

/** `pulumi ...args`, as run() runs it. */
export const pulumi = (args, opts) => run(path.join(toolsDir, 'pulumi'), args, opts);

/**
 * Runs a command asynchronously (an OIDC issuer may be serving from this very process) with the
 * given environment; resolves to {status, stdout, stderr}. Bounded by timeoutMs.
 */
export function run(command, args, { env, cwd, timeoutMs = 120000, input } = {}) {
  return new Promise((resolve, reject) => {
    const proc = spawn(command, args, { env, cwd, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    proc.stdout.setEncoding('utf8').on('data', (d) => (stdout += d));
    proc.stderr.setEncoding('utf8').on('data', (d) => (stderr += d));
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error(`${path.basename(command)} ${args.join(' ')} did not finish within ${timeoutMs} ms\nstdout: ${stdout}\nstderr: ${stderr}`));
    }, timeoutMs);
    proc.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    proc.on('close', (status) => {
      clearTimeout(timer);
      resolve({ status, stdout, stderr });
    });
    proc.stdin.end(input ?? '');
  });
}

/** What a failed command said, for assertion messages. */
export const said = (r) => `exit ${r.status}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`;
