// Revocation propagation between two Tessera nodes sharing one PostgreSQL database: how long
// after node A confirms a DELETE does node B stop accepting the token?
//
// Usage: node bench/revocation.mjs URL_A URL_B COUNT SECONDS [DELAYS_FILE]
//   with the admin's token in BENCH_TOKEN (not on the command line).
// For each of COUNT tokens, one after another:
//   1. POST URL_A/api/user/tokens → 200 {id, tokenValue};
//   2. GET URL_B/api/user with the new token, twice → 200 both times, so that B has it cached;
//   3. DELETE URL_A/api/user/tokens/{id} → 204; the clock starts when that answer arrives;
//   4. GET URL_B/api/user with the token until it answers 401, each poll starting at least
//      POLL_MS after the previous one started and none after GIVE_UP_MS; the delay is the time
//      from A's 204 to B's 401 (both as seen here, performance.now()).
// Bounded in count (COUNT) and time (SECONDS overall: the run stops early, saying so, when the
// next token could not finish in time; GIVE_UP_MS per token). Prints, for scripts/bench:
//   revocations: N            tokens measured
//   p50_ms: X / p99_ms: X / max_ms: X   (nearest rank; a token never refused counts as GIVE_UP_MS)
//   over_1000ms: K            delays over 1 s (a broken promise)
//   never_refused: K          tokens B still accepted after GIVE_UP_MS
//   unexpected: K [STATUS:N ...]  answers other than 200 or 401 while polling (e.g. 503)
//   polls_accepted: K         polls answered 200 after A's 204, over all tokens
//   stopped_early: 0|1        the SECONDS bound cut the run short
// and, with DELAYS_FILE, every delay in ms (one a line, in order). Exits 1 on anything that is not
// a measurement: a create, cache-warming GET or delete that did not answer as expected, or a
// network error.
import { writeFileSync } from "node:fs";
import { performance } from "node:perf_hooks";
import { setTimeout as sleep } from "node:timers/promises";

const POLL_MS = 1;
const GIVE_UP_MS = 5000;
const REQUEST_TIMEOUT_MS = 10000;

const [urlA, urlB, countArg, secondsArg, delaysFile] = process.argv.slice(2);
const count = Number(countArg);
const seconds = Number(secondsArg);
const adminToken = process.env.BENCH_TOKEN;
if (!urlA || !urlB || !(count >= 1) || !(seconds > 0) || !adminToken) {
  console.error("usage: BENCH_TOKEN=pul-… node revocation.mjs URL_A URL_B COUNT SECONDS [DELAYS_FILE]");
  process.exit(2);
}

function die(message) {
  console.error(`revocation: ${message}`);
  process.exit(1);
}

// One request; the body is read whole (so the connection is reused) and returned as text.
async function call(method, url, token, body) {
  const headers = { Authorization: `token ${token}` };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let res;
  try {
    res = await fetch(url, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    });
  } catch (err) {
    die(`${method} ${url}: ${err.cause?.message ?? err.message}`);
  }
  const at = performance.now(); // the answer's head has arrived
  return { status: res.status, text: await res.text(), at };
}

const delays = [];
const unexpected = new Map();
let overSecond = 0;
let neverRefused = 0;
let pollsAccepted = 0;
let stoppedEarly = 0;
const start = performance.now();

for (let i = 0; i < count; i++) {
  // Stop before a token that could not be finished (given up on) within the overall bound.
  if (performance.now() - start > seconds * 1000 - GIVE_UP_MS) {
    stoppedEarly = 1;
    break;
  }
  const created = await call("POST", `${urlA}/api/user/tokens`, adminToken, { description: "bench" });
  if (created.status !== 200) die(`create on A answered ${created.status}: ${created.text.slice(0, 300)}`);
  let id, value;
  try {
    ({ id, tokenValue: value } = JSON.parse(created.text));
  } catch {
    die(`create on A answered 200 with no JSON: ${created.text.slice(0, 300)}`);
  }
  if (typeof id !== "string" || typeof value !== "string") die(`create on A: no id or tokenValue in ${created.text.slice(0, 300)}`);

  for (let k = 0; k < 2; k++) {
    const seen = await call("GET", `${urlB}/api/user`, value);
    if (seen.status !== 200) die(`token ${i}: B answered ${seen.status} before the delete (expected 200): ${seen.text.slice(0, 300)}`);
  }

  const deleted = await call("DELETE", `${urlA}/api/user/tokens/${encodeURIComponent(id)}`, adminToken);
  if (deleted.status !== 204) die(`delete on A answered ${deleted.status}: ${deleted.text.slice(0, 300)}`);
  const t0 = deleted.at;

  let delay;
  for (;;) {
    const pollStart = performance.now();
    const poll = await call("GET", `${urlB}/api/user`, value);
    if (poll.status === 401) {
      delay = poll.at - t0;
      break;
    }
    if (poll.status === 200) pollsAccepted++;
    else unexpected.set(poll.status, (unexpected.get(poll.status) ?? 0) + 1);
    if (poll.at - t0 >= GIVE_UP_MS) {
      neverRefused++;
      delay = GIVE_UP_MS;
      break;
    }
    const wait = pollStart + POLL_MS - performance.now();
    if (wait > 0) await sleep(wait);
  }
  delays.push(delay);
  if (delay > 1000) overSecond++;
}

if (delays.length === 0) die("no token measured within the time bound");
const sorted = [...delays].sort((a, b) => a - b);
const rank = (p) => sorted[Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length))) - 1];
const ms = (v) => v.toFixed(2);
let unexpectedTotal = 0;
for (const n of unexpected.values()) unexpectedTotal += n;
const unexpectedList = [...unexpected].map(([s, n]) => `${s}:${n}`).join(" ");
if (delaysFile) writeFileSync(delaysFile, delays.map(ms).join("\n") + "\n");
console.log(`revocations: ${delays.length}`);
console.log(`p50_ms: ${ms(rank(50))}`);
console.log(`p99_ms: ${ms(rank(99))}`);
console.log(`max_ms: ${ms(sorted[sorted.length - 1])}`);
console.log(`over_1000ms: ${overSecond}`);
console.log(`never_refused: ${neverRefused}`);
console.log(`unexpected: ${unexpectedTotal}${unexpectedList ? " " + unexpectedList : ""}`);
console.log(`polls_accepted: ${pollsAccepted}`);
console.log(`stopped_early: ${stoppedEarly}`);
console.error(`revocation: ${delays.length} tokens in ${((performance.now() - start) / 1000).toFixed(1)} s`);
