// @ts-check
/**
 * One backend's chaos run. test/chaos/run.mjs starts one per backend, each in a process
 * of its own, so that the host RSS and the processes left over are this pool's alone.
 * Prints a progress line every 10 s and, last, one line `CHAOS-SUMMARY {json}`.
 *
 * The run: a random mix of healthy tasks and faults (faults.mjs), at most 2 × workers
 * jobs in flight, plus `kill -9` of random workers from outside (process backend);
 * a pause after the warm-up to measure RSS; at the end, everything settles, the pool
 * must be back to full size, RSS near the warm-up's, and nothing left after close().
 * A pool that degrades is a violation; it is then closed (and checked) and replaced, so
 * that the rest of the run still tests something.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import * as poolvisor from 'poolvisor';
import { FAULTS } from './faults.mjs';
import { ChaosLedger } from './invariants.mjs';
import { threadCount } from './processes.mjs';
import { ProcessWatch } from './processWatch.mjs';
import { Random } from './random.mjs';
import { TaskBook } from './taskBook.mjs';

/** @typedef {import('poolvisor').Pool} Pool */
/** @typedef {import('poolvisor').PoolAuditEvent} PoolAuditEvent */
/** @typedef {import('./faults.mjs').JobContext} JobContext */
/** @typedef {import('./faults.mjs').LeaseLike} LeaseLike */

const { values } = parseArgs({
  options: {
    backend: { type: 'string', default: 'process' },
    minutes: { type: 'string', default: '1' },
    seed: { type: 'string', default: '1' },
    workers: { type: 'string', default: '2' },
    'max-tasks': { type: 'string', default: '500000' },
  },
});
const backend = /** @type {'process' | 'thread'} */ (values.backend);
if (backend !== 'process' && backend !== 'thread') throw new Error(`--backend: expected process or thread, got ${backend}`);
const minutes = Number(values.minutes);
const seed = Number(values.seed);
const workers = Number(values.workers);
const maxJobs = Number(values['max-tasks']);

const MiB = 1024 * 1024;
const DURATION_MS = minutes * 60_000;
const MAX_IN_FLIGHT = 2 * workers;
/** The pause where the RSS baseline is taken: a fifth of the run, 5–60 s in. */
const WARM_UP_MS = Math.min(DURATION_MS / 2, Math.max(5_000, Math.min(60_000, DURATION_MS / 5)));
/** How long jobs may take to settle once submitting stops: every deadline is ≤ 10 s. */
const SETTLE_MS = 30_000;
const FULL_SIZE_MS = 5_000;
const CLOSE_GRACE_MS = 1_000;
/**
 * A slot is killed from outside at most every 10 s: at most 3 in the pool's 30 s restart
 * window. A worker that dies while idle is the worker's own failure and counts towards
 * degrading; the harness must not degrade the pool by itself.
 */
const KILL_SLOT_EVERY_MS = 10_000;
/** How long a pid the harness killed still excuses a crash once its worker has exited (pids are reused). */
const KILLED_PID_KEPT_MS = 10_000;
const RSS_BOUND = { bytes: 64 * MiB, ratio: 0.25 };
const ALIVE = new Set(['idle', 'busy', 'monitoring']);

const exported = /** @type {Record<string, unknown>} */ (/** @type {unknown} */ (poolvisor));
const features = {
  quarantine: typeof exported.TaskQuarantinedError === 'function',
  leaseExpiry: typeof exported.LeaseExpiredError === 'function',
};
/** @type {string[]} */
const notes = [];
if (!features.quarantine) notes.push('no TaskQuarantinedError export: poison inputs run, and may only end as WorkerCrashedError');
if (!features.leaseExpiry) notes.push("no LeaseExpiredError export: 'lease held too long' skipped");
if (typeof globalThis.gc !== 'function') notes.push('run without --expose-gc: RSS is compared without a forced gc');

const ledger = new ChaosLedger();
const book = new TaskBook(ledger);
const root = new Random(seed);
const mix = root.fork();
const killer = root.fork();
const poisons = /** @type {const} */ ([
  { id: 1, via: 'exit' },
  { id: 2, via: 'timer' },
  { id: 3, via: 'exit' },
]);
const faults = FAULTS.filter((fault) => fault.backends.includes(backend) && (fault.needs === undefined || features[fault.needs]));
if (!features.quarantine) ledger.notApplicable('quarantine', 'the pool does not quarantine');
if (backend === 'thread') {
  ledger.notApplicable('descendants', 'a thread has no process tree of its own');
  notes.push('thread backend: no off-heap, self SIGKILL, grandchild or external kill -9 faults (they would hit the host: docs/devices.md)');
}
const dir = mkdtempSync(join(tmpdir(), 'poolvisor-chaos-'));
const processes = new ProcessWatch(ledger, dir);

/** @param {number} ms */
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * @param {() => boolean} predicate
 * @param {number} timeoutMs
 */
async function eventually(predicate, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() >= deadline) return false;
    await sleep(25);
  }
  return true;
}

function measureRss() {
  globalThis.gc?.();
  globalThis.gc?.();
  return process.memoryUsage().rss;
}

// ── the pool and what it started ─────────────────────────────────────────────

/** @type {Pool} */
let pool;
/** @type {PoolAuditEvent | undefined} set when the current pool degraded */
let degraded;
let poolsOpened = 0;
let poolOpenedAt = 0;
/** Per poison input, the workers it crashed in the current pool (a new pool forgets, and so does this). */
const poisonCrashes = new Map();

async function openPool() {
  const opened = await poolvisor.createPool({
    task: new URL('./tasks.mjs', import.meta.url),
    backend,
    maxWorkers: workers,
    taskTimeoutMs: 10_000,
    // With threads this is the V8 heap limit, the only one a thread has.
    memoryLimitMb: backend === 'process' ? 256 : 96,
    killGraceMs: 500,
  });
  poolsOpened += 1;
  poolOpenedAt = Date.now();
  degraded = undefined;
  poisonCrashes.clear();
  opened.on('event', (event) => {
    book.onAudit(event);
    switch (event.type) {
      case 'worker.spawned':
      case 'worker.restarted':
        processes.rememberWorker(event.pid);
        break;
      case 'worker.killed':
        ledger.count(`audit: worker killed, ${event.termination.reason}`);
        break;
      case 'worker.exited': {
        // Its tasks have settled by now (and a lease's late runs within seconds); forgetting the
        // pid keeps the set small, and a reused pid from being taken for the harness's kill.
        const pid = event.pid;
        if (pid !== undefined && book.killedPids.has(pid)) setTimeout(() => book.killedPids.delete(pid), KILLED_PID_KEPT_MS).unref();
        break;
      }
      case 'worker.restart-scheduled':
        if (event.counted) ledger.count('audit: restarts counted towards degrading');
        break;
      case 'task.retrying':
        ledger.count('audit: tasks retried');
        break;
      case 'task.quarantined':
        ledger.count('audit: inputs quarantined');
        break;
      case 'pool.degraded':
        degraded = event;
        ledger.check('notDegraded', false, () => ({ event: 'pool.degraded', reason: event.reason, lastError: event.lastError?.message }));
        break;
    }
  });
  for (const worker of opened.status().workers) processes.rememberWorker(worker.pid);
  return opened;
}

/** @param {Pool} of */
function atFullSize(of) {
  const status = of.status();
  return status.state === 'running' && status.workers.every((worker) => ALIVE.has(worker.state));
}

/** @param {Pool} of */
function describeWorkers(of) {
  const status = of.status();
  return { state: status.state, workers: status.workers.map((worker) => `${worker.id} ${worker.state}`) };
}

/** Follows what the pool started: its workers now, the grandchildren that reported. */
function sweepProcesses() {
  processes.sweep();
  if (pool.status().state !== 'closed') for (const worker of pool.status().workers) processes.rememberWorker(worker.pid);
}

/**
 * Each poison input may crash `failures` workers, plus the others that were already
 * running it when the last of those crashes came in; then it is refused, until the
 * window has passed since its last crash.
 */
function checkQuarantine() {
  const policy = /** @type {{ quarantine?: false | { failures: number, windowMs: number } }} */ (pool.options).quarantine;
  if (!features.quarantine || !policy) return;
  const windows = 1 + Math.floor((Date.now() - poolOpenedAt) / policy.windowMs);
  const bound = (policy.failures + workers - 1) * windows;
  for (const { id } of poisons) {
    const crashes = poisonCrashes.get(id) ?? 0;
    ledger.check('quarantine', crashes <= bound, () => ({ poison: id, crashes, bound, failures: policy.failures, workers }));
  }
}

/** Closes the pool; nothing it started may be left a moment later. */
async function closeAndCheck() {
  checkQuarantine();
  sweepProcesses();
  const closed = await Promise.race([pool.close({ drainTimeoutMs: 5_000 }).then(() => true), sleep(30_000).then(() => false)]);
  ledger.check('closeLeavesNothing', closed, () => ({ problem: 'close() did not resolve within 30 s', ...describeWorkers(pool) }));
  await sleep(CLOSE_GRACE_MS);
  const survivors = processes.takeSurvivors();
  // A worker thread that outlives close() is an OS thread more than before the first pool.
  const extraThreads = threadCount() - threadsBeforePools;
  ledger.check('closeLeavesNothing', survivors.length === 0 && extraThreads <= 0, () => ({
    survivors: survivors.length,
    first: survivors.slice(0, 5),
    threadsMoreThanBefore: extraThreads,
  }));
  // Evidence taken: clean up, so that the machine is not left with them.
  for (const { pid } of survivors) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone meanwhile
    }
  }
  if (survivors.length > 0) ledger.count('survivors the harness killed after close()', survivors.length);
}

// ── jobs ─────────────────────────────────────────────────────────────────────

/** @type {Set<Promise<void>>} */
const inFlight = new Set();
let jobs = 0;
let harnessErrors = 0;
/** @type {string[]} */
const harnessErrorSamples = [];
let killerPaused = false;

/** @param {import('./faults.mjs').Fault} fault */
function startJob(fault) {
  const on = pool;
  const kind = fault.kind;
  /** @type {JobContext} */
  const context = {
    n: ++jobs,
    random: mix.fork(),
    backend,
    dir,
    poisons,
    run: (name, payload, options) =>
      book.track(kind, (taskId) => {
        const submission = on.submit(name, payload, { ...options, taskId });
        return { result: submission.result, refusal: submission.refusal };
      }),
    acquire: (options) =>
      on.acquire(/** @type {import('poolvisor').AcquireOptions} */ (options)).then(
        (lease) => ({ ok: /** @type {const} */ (true), lease, grantedAt: Date.now() }),
        (error) => ({ ok: /** @type {const} */ (false), error }),
      ),
    runOnLease: (lease, name, payload, options) =>
      book.track(kind, (taskId) => ({ result: lease.run(name, payload, { ...options, taskId }), onLease: true })),
    judge: (settlement, expectation) => book.judge(kind, settlement, expectation),
    workerPid: (workerId) => on.status().workers.find((worker) => worker.id === workerId)?.pid,
    poisonEnded: (poisonId, settlement) => {
      if (!settlement.ok && settlement.error.code === 'ERR_WORKER_CRASHED' && !book.killedPids.has(settlement.error.pid)) {
        poisonCrashes.set(poisonId, (poisonCrashes.get(poisonId) ?? 0) + 1);
      }
    },
  };
  ledger.injected(kind);
  const job = fault
    .run(context)
    .catch((/** @type {unknown} */ error) => {
      harnessErrors += 1;
      if (harnessErrorSamples.length < 5) harnessErrorSamples.push(`${kind}: ${error instanceof Error ? error.stack : String(error)}`);
    })
    .finally(() => inFlight.delete(job));
  inFlight.add(job);
}

/**
 * Waits for the jobs in flight; what is still open after `SETTLE_MS` is a violation.
 * @param {string} when
 */
async function settle(when) {
  await Promise.race([Promise.all(inFlight), sleep(SETTLE_MS)]);
  book.reportPending(when);
}

/**
 * `kill -9` of a random worker, now and then (process backend).
 * @param {number} until
 */
async function killWorkersFromOutside(until) {
  /** @type {Map<string, number>} */
  const lastKill = new Map();
  while (Date.now() < until) {
    await sleep(killer.int(1_000, 4_000));
    if (killerPaused || Date.now() >= until || degraded !== undefined) continue;
    const now = Date.now();
    const candidates = pool
      .status()
      .workers.filter((worker) => worker.pid !== undefined && ALIVE.has(worker.state) && now - (lastKill.get(worker.id) ?? -Infinity) >= KILL_SLOT_EVERY_MS);
    if (candidates.length === 0) continue;
    const victim = killer.pick(candidates);
    const pid = /** @type {number} */ (victim.pid);
    // The machine is shared: never signal a pid that is not (or no longer) the worker the pool reported.
    if (!processes.isWorker(pid)) continue;
    book.killedPids.add(pid); // before the kill: the victim's task settles after it
    processes.killedFromOutside(pid);
    lastKill.set(victim.id, now);
    try {
      process.kill(pid, 'SIGKILL');
      ledger.injected('external kill -9');
      ledger.outcome('external kill -9', `worker was ${victim.state === 'idle' ? 'idle' : 'busy'}`);
    } catch {
      ledger.count('external kills that found the worker gone');
    }
  }
}

// ── the run ──────────────────────────────────────────────────────────────────

const rss = { warmUp: 0, end: 0 };
// libuv starts its whole threadpool on first use: use it now, so the count is stable.
await stat('.');
const threadsBeforePools = threadCount();
const startedAt = Date.now();
const endAt = startedAt + DURATION_MS;
pool = await openPool();
const sweeper = setInterval(sweepProcesses, 500);
const progress = setInterval(() => {
  const seconds = Math.round((Date.now() - startedAt) / 1000);
  console.log(`[${backend}] ${seconds} s · ${jobs} jobs · ${book.submitted} tasks · ${inFlight.size} in flight · ${ledger.violations} violations · pool #${poolsOpened}`);
}, 10_000);
const killing = backend === 'process' ? killWorkersFromOutside(endAt) : Promise.resolve();

/**
 * Stops injecting until what runs has settled and the pool is whole again.
 * @param {string} when
 */
async function quiesce(when) {
  killerPaused = true;
  await settle(when);
  const whole = await eventually(() => atFullSize(pool), FULL_SIZE_MS);
  ledger.check('fullSize', whole, () => ({ when, ...describeWorkers(pool) }));
  killerPaused = false;
}

let warmedUp = false;
while (Date.now() < endAt && jobs < maxJobs) {
  if (degraded !== undefined) {
    killerPaused = true;
    await settle('when the pool degraded');
    await closeAndCheck();
    pool = await openPool();
    killerPaused = false;
    continue;
  }
  if (!warmedUp && Date.now() - startedAt >= WARM_UP_MS) {
    warmedUp = true;
    await quiesce('after the warm-up');
    rss.warmUp = measureRss();
    continue;
  }
  if (inFlight.size >= MAX_IN_FLIGHT) {
    await Promise.race(inFlight);
    continue;
  }
  startJob(mix.weighted(faults));
  // A short, random gap: a service's arrivals, not a benchmark's (and the host keeps a core to itself).
  await sleep(mix.int(0, 10));
}
const chaosMs = Date.now() - startedAt;
await killing;
await quiesce('after the last fault');
rss.end = measureRss();
if (rss.warmUp === 0) rss.warmUp = rss.end;
const bound = rss.warmUp + Math.max(RSS_BOUND.bytes, rss.warmUp * RSS_BOUND.ratio);
ledger.check('memory', rss.end <= bound, () => ({ warmUpMiB: Math.round(rss.warmUp / MiB), endMiB: Math.round(rss.end / MiB), boundMiB: Math.round(bound / MiB) }));
clearInterval(sweeper);
clearInterval(progress);
await closeAndCheck();
rmSync(dir, { recursive: true, force: true });

const summary = {
  backend,
  seed,
  minutes,
  workers,
  chaosMs,
  jobs,
  tasks: book.submitted,
  poolsOpened,
  features,
  notes,
  rss: { warmUpMiB: +(rss.warmUp / MiB).toFixed(1), endMiB: +(rss.end / MiB).toFixed(1), boundMiB: +(bound / MiB).toFixed(1) },
  harnessErrors: { count: harnessErrors, samples: harnessErrorSamples },
  ...ledger.toJSON(),
};
const failed = ledger.violations > 0 || harnessErrors > 0;
process.stdout.write(`CHAOS-SUMMARY ${JSON.stringify(summary)}\n`, () => process.exit(failed ? 1 : 0));
