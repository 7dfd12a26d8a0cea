// @ts-check
/**
 * The fault catalogue: per kind, which backends it makes sense on, how often it is
 * drawn, how it is submitted (parameters from the job's own random stream, drawn
 * before the first await so a seed replays them) and what it must end as. External
 * `kill -9` is not here: it hits whatever is running (backendRun.mjs).
 *
 * Why some kinds are process-only: a thread has no RSS of its own (an off-heap runaway
 * is not limited at all), its children are the host's (a grandchild outlives the
 * thread by design), and a SIGKILL to "itself" is a SIGKILL to the host
 * (docs/devices.md, "Threads or processes").
 */
import { createHash } from 'node:crypto';

/** @typedef {import('./random.mjs').Random} Random */
/** @typedef {import('./taskBook.mjs').Settlement} Settlement */
/** @typedef {import('./taskBook.mjs').Expectation} Expectation */
/** @typedef {{ run(name: string, payload?: unknown, options?: object): Promise<unknown>, release(): void, workerId: string }} LeaseLike */
/**
 * @typedef {object} JobContext
 * @property {number} n the job's number: unique, so payloads are too
 * @property {Random} random the job's own stream
 * @property {'process' | 'thread'} backend
 * @property {string} dir where grandchildren's pids are written
 * @property {readonly { id: number, via: 'exit' | 'timer' }[]} poisons the run's few poison payloads
 * @property {(name: string, payload: unknown, options?: object) => Promise<Settlement>} run
 * @property {(options: object) => Promise<{ ok: true, lease: LeaseLike, grantedAt: number } | { ok: false, error: Error }>} acquire
 * @property {(lease: LeaseLike, name: string, payload: unknown, options?: object) => Promise<Settlement>} runOnLease
 * @property {(settlement: Settlement, expectation: Expectation) => void} judge
 * @property {(workerId: string) => number | undefined} workerPid
 * @property {(poisonId: number, settlement: Settlement) => void} poisonEnded counts the crashes per poison input
 */
/**
 * @typedef {object} Fault
 * @property {string} kind
 * @property {readonly ('process' | 'thread')[]} backends
 * @property {number} weight
 * @property {'leaseExpiry'} [needs] a feature of the pool this kind cannot run without
 * @property {(context: JobContext) => Promise<void>} run
 */

const BOTH = /** @type {const} */ (['process', 'thread']);
const PROCESS = /** @type {const} */ (['process']);
/** A runaway's limit (process backend, per task); a process worker idles at ~50 MiB. */
const RUNAWAY_LIMIT_MB = 128;
const MEMORY = ['ERR_WORKER_MEMORY'];
const CRASHED = ['ERR_WORKER_CRASHED'];
const TIMEOUT = ['ERR_WORKER_TIMEOUT'];

/** @param {number} ms */
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** @type {readonly Fault[]} */
export const FAULTS = [
  {
    kind: 'healthy',
    backends: BOTH,
    weight: 55,
    async run({ n, random, run, judge }) {
      const work = random.pick(['sum', 'hash', 'sleepFor']);
      /** @type {{ payload: object, value: unknown }} */
      let task;
      if (work === 'sum') {
        const upTo = random.int(1_000, 200_000);
        task = { payload: { n, upTo }, value: (upTo * (upTo + 1)) / 2 };
      } else if (work === 'hash') {
        const text = `chaos-${n}-${random.int(0, 1e9)}`;
        const repeat = random.int(1, 2_000);
        task = { payload: { n, text, repeat }, value: createHash('sha256').update(text.repeat(repeat)).digest('hex') };
      } else {
        const ms = random.int(1, 40);
        task = { payload: { n, ms }, value: ms };
      }
      judge(await run(work, task.payload, { retries: 1 }), { value: task.value, healthy: true });
    },
  },
  {
    kind: 'deadline runaway',
    backends: BOTH,
    weight: 5,
    async run({ n, random, backend, run, judge }) {
      const name = backend === 'process' && random.chance(0.3) ? 'spinIgnoringTerm' : 'spin';
      judge(await run(name, { n }, { timeoutMs: random.int(100, 400) }), { codes: TIMEOUT });
    },
  },
  {
    kind: 'heap runaway',
    backends: BOTH,
    weight: 3,
    async run({ n, random, backend, run, judge }) {
      // A thread's limit is the pool's heap limit; a process's is the RSS limit given per task.
      const options = backend === 'process' ? { memoryLimitMb: RUNAWAY_LIMIT_MB } : {};
      judge(await run('growHeap', { n, chunkMiB: 2, everyMs: random.int(5, 15) }, options), { codes: MEMORY, resources: ['rss', 'heap'] });
    },
  },
  {
    kind: 'off-heap runaway',
    backends: PROCESS,
    weight: 3,
    async run({ n, random, run, judge }) {
      const payload = { n, chunkMiB: random.int(1, 4), everyMs: random.int(5, 15) };
      judge(await run('growOffHeap', payload, { memoryLimitMb: RUNAWAY_LIMIT_MB }), { codes: MEMORY, resources: ['rss'] });
    },
  },
  {
    kind: 'process.exit',
    backends: BOTH,
    weight: 3,
    async run({ n, random, run, judge }) {
      judge(await run('exitWith', { n, code: random.pick([0, 1, 2, 42, 255]) }), { codes: CRASHED });
    },
  },
  {
    kind: 'uncaught throw',
    backends: BOTH,
    weight: 3,
    async run({ n, random, run, judge }) {
      judge(await run('throwUncaught', { n, via: random.pick(['timer', 'rejection']) }), { codes: CRASHED });
    },
  },
  {
    kind: 'self SIGKILL',
    backends: PROCESS,
    weight: 3,
    async run({ n, run, judge }) {
      judge(await run('killSelf', { n }), { codes: CRASHED });
    },
  },
  {
    kind: 'grandchild ignoring SIGTERM',
    backends: PROCESS,
    weight: 4,
    async run({ n, random, dir, run, judge }) {
      const detached = random.chance(0.5);
      const then = random.pick(/** @type {const} */ (['spin', 'exit']));
      // The deadline leaves time to spawn the grandchild and see it exec. One that is to exit
      // must do so before its deadline even on a loaded machine (it waits at most 2 s for the
      // grandchild): with 1.5 s, a slow spawn during the full test run made it a timeout.
      const settlement = await run('spawnGrandchild', { n, dir, detached, then }, { timeoutMs: then === 'exit' ? 6_000 : 1_500 });
      judge(settlement, { codes: then === 'spin' ? TIMEOUT : CRASHED });
    },
  },
  {
    kind: 'poison input',
    backends: BOTH,
    weight: 3,
    async run({ random, poisons, run, judge, poisonEnded }) {
      // The very same payload each time: a pool that quarantines it fails it fast.
      const payload = random.pick(poisons);
      const settlement = await run('poison', payload);
      judge(settlement, { codes: ['ERR_WORKER_CRASHED', 'ERR_TASK_QUARANTINED'] });
      poisonEnded(payload.id, settlement);
    },
  },
  {
    kind: 'cancel',
    backends: BOTH,
    weight: 6,
    async run({ n, random, run, judge }) {
      const name = random.pick(['sleepFor', 'busyFor']);
      const ms = random.int(50, 400);
      const abortAfterMs = random.int(0, 400);
      const controller = new AbortController();
      const timer = setTimeout(() => controller.abort(new Error(`chaos: cancelled after ${abortAfterMs} ms`)), abortAfterMs);
      const settlement = await run(name, { n, ms }, { signal: controller.signal });
      clearTimeout(timer);
      // Finishing before the abort is a fine outcome too.
      judge(settlement, { codes: ['ERR_TASK_CANCELLED'], value: ms });
    },
  },
  {
    kind: 'plain task error',
    backends: BOTH,
    weight: 6,
    async run({ n, run, judge }) {
      const message = `chaos: bad input ${n}`;
      judge(await run('fail', { n, message }), { codes: ['ERR_TASK_FAILED'], causeMessage: message });
    },
  },
  {
    kind: 'lease held too long',
    backends: BOTH,
    weight: 3,
    needs: 'leaseExpiry',
    async run({ n, random, acquire, runOnLease, judge, workerPid }) {
      const timeoutMs = random.int(200, 500);
      const busyAtExpiry = random.chance(0.5);
      const upTo = random.int(1_000, 50_000);
      const acquired = await acquire({ timeoutMs });
      if (!acquired.ok) {
        judge({ ok: false, error: acquired.error }, { codes: [] });
        return;
      }
      const { lease, grantedAt } = acquired;
      const leasePids = [workerPid(lease.workerId)];
      try {
        // Used at once, it serves; only a machine too slow to run a sum in `timeoutMs` sees it expire.
        const first = await runOnLease(lease, 'sum', { n, upTo });
        const late = Date.now() - grantedAt >= timeoutMs;
        judge(first, { value: (upTo * (upTo + 1)) / 2, codes: late ? ['ERR_LEASE_EXPIRED', 'ERR_WORKER_TIMEOUT'] : [], leasePids });
        if (busyAtExpiry) {
          // Still running when the lease runs out: its worker is killed under it.
          const leftMs = grantedAt + timeoutMs - Date.now();
          const codes = leftMs <= 0 ? ['ERR_LEASE_EXPIRED'] : leftMs < 50 ? ['ERR_WORKER_TIMEOUT', 'ERR_LEASE_EXPIRED'] : ['ERR_WORKER_TIMEOUT'];
          judge(await runOnLease(lease, 'sleepFor', { n, ms: timeoutMs * 4 }, { timeoutMs: 10_000 }), { codes, leasePids });
        } else {
          await sleep(Math.max(0, grantedAt + timeoutMs + 200 - Date.now()));
        }
        judge(await runOnLease(lease, 'sum', { n, upTo }), { codes: ['ERR_LEASE_EXPIRED'], leasePids });
      } finally {
        lease.release();
      }
    },
  },
];
