// The writer of the reads-during-writes benchmark: POST /api/user/tokens at a steady RATE per
// second for at most SECONDS seconds and at most RATE * SECONDS creations, over kept-alive
// connections (node:http with a keep-alive agent: Node's fetch cost about 0.7 ms of CPU a
// request, a third of a core at 500/s, taken from the reads it is meant to run beside), while wrk
// reads. Request i is sent at start + i / RATE (those
// that fall due together go out together); at most MAX_IN_FLIGHT wait for an answer at once, and a
// creation that would exceed it is not sent (counted as skipped: the server could not keep up).
//
// Usage: BENCH_TOKEN=pul-... node bench/create_paced.mjs BASE_URL RATE SECONDS
// Prints `created:`, `rate:` (creations answered 200 per second of the run), `other:` (answers
// other than 200), `errors:` (network errors, timeouts), `skipped:`, `p50_ms:` and `p99_ms:`
// lines (and `first_error:` if any); exits 1 when any answer was not a 200 or any request failed.
import http from 'node:http';

const [base, rateArg, secondsArg] = process.argv.slice(2);
const token = process.env.BENCH_TOKEN;
const rate = Number(rateArg);
const seconds = Number(secondsArg);
if (!base || !token || !(rate > 0) || !(seconds > 0)) {
  console.error('usage: BENCH_TOKEN=pul-... node bench/create_paced.mjs BASE_URL RATE SECONDS');
  process.exit(2);
}
// Far below the server's --max-connections-per-ip (256), with wrk's connections on top.
const MAX_IN_FLIGHT = 64;
const max = Math.floor(rate * seconds);
const url = new URL(`${base}/api/user/tokens`);
const body = JSON.stringify({ description: 'bench paced' });
const headers = {
  Authorization: `token ${token}`,
  'Content-Type': 'application/json',
  'Content-Length': Buffer.byteLength(body),
};
const agent = new http.Agent({ keepAlive: true, maxSockets: MAX_IN_FLIGHT });

/** POST body to url: resolves with the status once the whole answer is read. */
function post() {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: 'POST', headers, agent, timeout: 10000 }, (res) => {
      res.on('data', () => {});
      res.on('end', () => resolve(res.statusCode));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('timed out after 10 s')));
    req.on('error', reject);
    req.end(body);
  });
}

let created = 0;
let other = 0;
let errors = 0;
let skipped = 0;
let inFlight = 0;
let firstError = '';
const latencies = [];
const pending = new Set();

/** One creation; its latency is kept when it answers 200. */
async function createOne() {
  const t0 = performance.now();
  inFlight++;
  try {
    if ((await post()) === 200) {
      created++;
      latencies.push(performance.now() - t0);
    } else {
      other++;
    }
  } catch (e) {
    errors++;
    firstError ||= String(e?.cause ?? e);
  } finally {
    inFlight--;
  }
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const start = performance.now();
const deadline = start + seconds * 1000;
let sent = 0;
while (sent + skipped < max && performance.now() < deadline) {
  const due = Math.min(max, Math.floor(((performance.now() - start) * rate) / 1000) + 1);
  for (; sent + skipped < due; ) {
    if (inFlight >= MAX_IN_FLIGHT) {
      skipped++;
      continue;
    }
    const p = createOne();
    pending.add(p);
    p.finally(() => pending.delete(p));
    sent++;
  }
  await sleep(1);
}
await Promise.all([...pending]);
agent.destroy();
const elapsed = (performance.now() - start) / 1000;
latencies.sort((a, b) => a - b);
const pct = (q) => (latencies.length ? latencies[Math.max(0, Math.ceil(q * latencies.length) - 1)] : 0);
console.log(`created: ${created}`);
console.log(`rate: ${(created / elapsed).toFixed(1)}`);
console.log(`other: ${other}`);
console.log(`errors: ${errors}`);
console.log(`skipped: ${skipped}`);
console.log(`p50_ms: ${pct(0.5).toFixed(2)}`);
console.log(`p99_ms: ${pct(0.99).toFixed(2)}`);
if (firstError) console.log(`first_error: ${firstError}`);
process.exit(other || errors ? 1 : 0);
