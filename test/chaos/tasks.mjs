// @ts-check
/**
 * The chaos suite's task module: one export per behaviour, its parameters in the
 * payload. Every fault's payload carries the harness's task number `n`, so no two are
 * alike (a pool that quarantines a payload after repeated crashes must not quarantine
 * these); only `poison` repeats the very same payload on purpose.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

/** @param {number} ms */
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// ── healthy: small real work with a value the harness can check ────────────────

/** @param {{ n: number, upTo: number }} payload 1 + 2 + … + upTo, the long way */
export async function sum({ upTo }) {
  let total = 0;
  for (let i = 1; i <= upTo; i += 1) total += i;
  return total;
}

/** @param {{ n: number, text: string, repeat: number }} payload sha256 of `text` repeated, hex */
export async function hash({ text, repeat }) {
  return createHash('sha256').update(text.repeat(repeat)).digest('hex');
}

/** @param {{ n: number, ms: number }} payload waits (a timer, not the CPU), then returns `ms` */
export async function sleepFor({ ms }) {
  await sleep(ms);
  return ms;
}

/** @param {{ n: number, ms: number }} payload keeps the CPU busy for `ms`, then returns it: only a kill stops it early */
export function busyFor({ ms }) {
  const end = performance.now() + ms;
  while (performance.now() < end) {
    // synchronous on purpose
  }
  return ms;
}

// ── faults ─────────────────────────────────────────────────────────────────────

/** @param {{ n: number, message: string }} payload a plain task error: the worker is fine */
export async function fail({ message }) {
  throw new RangeError(message);
}

/** Never returns, never yields: only a kill at the deadline stops it. */
export function spin() {
  for (;;) {
    // a runaway
  }
}

/** Like spin, and SIGTERM does nothing: only the SIGKILL after the grace period ends it. */
export function spinIgnoringTerm() {
  process.on('SIGTERM', () => {});
  return spin();
}

/** @type {unknown[]} */
const kept = [];

/** @param {{ n: number, chunkMiB: number, everyMs: number }} payload JS-heap growth (arrays of numbers), never released */
export function growHeap({ chunkMiB, everyMs }) {
  return new Promise(() => {
    setInterval(() => {
      const numbers = new Array((chunkMiB * 1024 * 1024) / 8);
      for (let i = 0; i < numbers.length; i += 1) numbers[i] = i + 0.5;
      kept.push(numbers);
    }, everyMs);
  });
}

/** @param {{ n: number, chunkMiB: number, everyMs: number }} payload off-heap growth (Buffers, filled so the pages are resident) */
export function growOffHeap({ chunkMiB, everyMs }) {
  return new Promise(() => {
    setInterval(() => kept.push(Buffer.alloc(chunkMiB * 1024 * 1024, 1)), everyMs);
  });
}

/** @param {{ n: number, code: number }} payload */
export function exitWith({ code }) {
  process.exit(code);
}

/** @param {{ n: number, via: 'timer' | 'rejection' }} payload an error thrown outside the task's own promise */
export function throwUncaught({ n, via }) {
  const error = new Error(`chaos: thrown outside the task promise (task ${n})`);
  if (via === 'timer') {
    setTimeout(() => {
      throw error;
    }, 0);
  } else {
    void Promise.reject(error);
  }
  return new Promise(() => {});
}

export function killSelf() {
  process.kill(process.pid, 'SIGKILL');
}

/**
 * The same payload always crashes its worker (think of a record that makes a native
 * parser segfault): resubmitting it can only crash another worker.
 * @param {{ id: number, via: 'exit' | 'timer' }} payload
 */
export function poison({ id, via }) {
  if (via === 'exit') process.exit(100 + id);
  return throwUncaught({ n: -id, via: 'timer' });
}

/**
 * What a grandchild runs: ignore SIGTERM (an ignored signal stays ignored across exec),
 * report itself to the harness as `<its pid> <the worker's pid> <detached|grouped>`
 * (whole: written aside, then renamed), then sleep. It reports itself, not the task,
 * so that a worker killed the moment after the spawn leaves no grandchild unknown.
 */
// The worker's pid is passed in ($2), not read from $PPID: a worker killed during the spawn
// is gone before the shell runs, and $PPID is then 1, which names no worker to the harness.
const GRANDCHILD = 'trap "" TERM; echo "$$ $2 $1" > "$0/$$.tmp" && mv "$0/$$.tmp" "$0/$$.grandchild"; exec sleep 3600';

/**
 * Starts a grandchild that ignores SIGTERM (`detached`: in a process group of its own,
 * where a signal to the worker's group does not reach it), waits until it has reported
 * itself in `dir`, then runs away (`spin`) or crashes (`exit`). Either way the worker
 * dies, and the grandchild must die with it.
 * @param {{ n: number, dir: string, detached: boolean, then: 'spin' | 'exit' }} payload
 */
export async function spawnGrandchild({ dir, detached, then }) {
  const child = spawn('sh', ['-c', GRANDCHILD, dir, detached ? 'detached' : 'grouped', String(process.pid)], { stdio: 'ignore', detached });
  const report = join(dir, `${child.pid}.grandchild`);
  // Bounded by the clock, not by a count of sleeps: on a loaded machine each sleep runs long.
  const giveUpAt = Date.now() + 2000;
  while (Date.now() < giveUpAt && !existsSync(report)) await sleep(5);
  if (then === 'exit') process.exit(9);
  return spin();
}
