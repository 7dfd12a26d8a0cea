// Runs ONE scenario on ONE pool in this (fresh) process and prints its result as the last JSON line.
// Usage: node test/bench/scenario.mjs <scenario> <pool> [--tasks N]
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { childPids, createBenchPool, POOLS } from './pools.mjs';

const { positionals, values } = parseArgs({ allowPositionals: true, options: { tasks: { type: 'string' } } });
const [scenario, poolName] = positionals;
const MiB = 1048576;
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const quantile = (xs, q) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(q * xs.length))];
const median = (xs) => quantile(xs, 0.5);

function treeRss(pid) {
  try {
    let total = Number(readFileSync(`/proc/${pid}/statm`, 'latin1').split(' ')[1]) * 4096;
    for (const child of readFileSync(`/proc/${pid}/task/${pid}/children`, 'latin1').trim().split(' ').filter(Boolean)) total += treeRss(Number(child)) ?? 0;
    return total;
  } catch {
    return undefined;
  }
}

async function throughput(count, payload) {
  const pool = await createBenchPool(poolName);
  await Promise.all(Array.from({ length: Math.min(2000, count) }, () => pool.run('echo', payload)));
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await Promise.all(Array.from({ length: count }, () => pool.run('echo', payload)));
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  await pool.close();
  return { tasksPerSecond: count / seconds, cpuUsPerTask: (cpu.user + cpu.system) / count };
}

const scenarios = {
  /** 50,000 no-op tasks through 2 workers. */
  noop: () => throughput(Number(values.tasks ?? 50_000), undefined),

  /** 20,000 tasks with a 1 KB JSON payload, echoed back. */
  json1k: () => {
    const payload = { items: Array.from({ length: 20 }, (_, i) => ({ id: i, name: `item-${i}`, score: i / 7, tags: ['a', 'b'] })) };
    return throughput(Number(values.tasks ?? 20_000), payload);
  },

  /** One task at a time: the round trip. */
  roundtrip: async () => {
    const pool = await createBenchPool(poolName);
    const times = [];
    for (let i = 0; i < Number(values.tasks ?? 3000); i += 1) {
      const t0 = performance.now();
      await pool.run('noop');
      times.push((performance.now() - t0) * 1000);
    }
    await pool.close();
    const measured = times.slice(Math.min(500, Math.floor(times.length / 4)));
    return { p50Us: median(measured), p99Us: quantile(measured, 0.99) };
  },

  /** for(;;){} with a 200 ms deadline: how late the rejection is, and how long until the next task completes. */
  deadline: async () => {
    const pool = await createBenchPool(poolName);
    const lateness = [];
    const nextTask = [];
    for (let i = 0; i < 5; i += 1) {
      const t0 = performance.now();
      const outcome = await pool.run('spin', undefined, { timeoutMs: 200 }).then(
        () => 'resolved',
        () => 'rejected',
      );
      const rejectedAt = performance.now();
      lateness.push(rejectedAt - t0 - 200);
      if (outcome !== 'rejected') throw new Error('a spinning task resolved');
      await pool.run('noop');
      nextTask.push(performance.now() - rejectedAt);
    }
    await pool.close();
    return { latenessMs: median(lateness), latenessMaxMs: Math.max(...lateness), nextTaskMs: median(nextTask) };
  },

  /** Runaway memory at 200 MiB/s with a 256 MiB limit: stopped or not, and how far over. Capped at 1.5 GiB. */
  offheap: () => runaway('growOffHeap'),
  heap: () => runaway('growHeap'),

  /** A crash inside a task: rejection latency, tasks lost, pool size after. */
  crash: async () => {
    const results = {};
    for (const kind of ['exit1', 'uncaught', ...(POOLS[poolName].kind === 'process' ? ['sigkill'] : [])]) {
      const pool = await createBenchPool(poolName);
      const others = Array.from({ length: 10 }, () => pool.run('noop').then(() => 'ok', () => 'failed'));
      const t0 = performance.now();
      const outcome = await Promise.race([pool.run(kind).then(() => 'resolved', () => 'rejected'), sleep(10_000).then(() => 'hung')]);
      const latencyMs = performance.now() - t0;
      const settled = await Promise.race([Promise.all(others), sleep(10_000).then(() => null)]);
      const lost = settled === null ? 10 : settled.filter((s) => s !== 'ok').length;
      // Pool size after: two 100 ms tasks at once finish in ~100 ms with 2 workers, ~200 ms with 1.
      const p0 = performance.now();
      const parallel = await Promise.race([Promise.all([pool.run('echo', 1), pool.run('echo', 2)]).then(() => true), sleep(10_000).then(() => false)]);
      results[kind] = { outcome, latencyMs, tasksLost: lost, servesAfter: parallel, afterMs: performance.now() - p0 };
      await Promise.race([pool.close(), sleep(5000)]);
    }
    return results;
  },

  /** Main-thread CPU with 8 idle workers sampled at 10 Hz. */
  monitoring: async () => {
    const pool = await createBenchPool(poolName, { workers: 8 });
    await sleep(500);
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    await sleep(5000);
    const cpu = process.cpuUsage(cpu0);
    const percentOfCore = ((cpu.user + cpu.system) / 1000 / (performance.now() - t0)) * 100;
    await pool.close();
    return { percentOfCore };
  },

  /** 100,000 tasks queued at once: total time, heap growth, and per-task cost at 100k against 1k. */
  scale: async () => {
    const pool = await createBenchPool(poolName, { maxQueue: 200_000 });
    await Promise.all(Array.from({ length: 2000 }, () => pool.run('noop')));
    const perTask = async (n) => {
      global.gc?.();
      const heap0 = process.memoryUsage().heapUsed;
      const t0 = performance.now();
      let peakHeap = heap0;
      const promises = Array.from({ length: n }, () => pool.run('noop'));
      peakHeap = Math.max(peakHeap, process.memoryUsage().heapUsed);
      await Promise.all(promises);
      return { us: ((performance.now() - t0) * 1000) / n, heapGrowthMiB: (peakHeap - heap0) / MiB, ms: performance.now() - t0 };
    };
    const small = await perTask(1000);
    const big = await perTask(Number(values.tasks ?? 100_000));
    await pool.close();
    return { usPerTask1k: small.us, usPerTask100k: big.us, ratio: big.us / small.us, totalMs: big.ms, heapGrowthMiB: big.heapGrowthMiB };
  },

  /** A task module that cannot load: restarts attempted and time to `degraded` (poolvisor only: peers have no limit). */
  storm: async () => {
    const { createPool } = await import('poolvisor');
    let restarts = 0;
    const t0 = performance.now();
    const pool = await createPool({ task: new URL('./peers/brokenOnLoad.mjs', import.meta.url), maxWorkers: 2, backend: poolName === 'poolvisor-thread' ? 'thread' : 'process' });
    const startAttempts = pool.status().workers.reduce((sum, w) => sum + w.restarts, 0) + pool.status().workers.length;
    restarts = startAttempts;
    const degradedMs = performance.now() - t0;
    const state = pool.status().state;
    await pool.close();
    return { state, degradedMs, startsAttempted: restarts };
  },
};

async function runaway(task) {
  const limitMb = 256;
  const pool = await createBenchPool(poolName, { workers: 1, memoryLimitMb: limitMb });
  await pool.run('noop');
  const thread = POOLS[poolName].kind === 'thread';
  // A thread's growth shows in this process's RSS; a process worker's in its own tree (the largest one is the runaway).
  const measure = () => (thread ? process.memoryUsage().rss : Math.max(0, ...childPids().map((pid) => treeRss(pid) ?? 0)));
  const base = thread ? measure() : 0;
  let peak = base;
  let capped = false;
  const t0 = performance.now();
  const sampler = setInterval(() => {
    peak = Math.max(peak, measure());
    if (peak - base > 1536 * MiB) capped = true;
  }, 2);
  const outcome = await Promise.race([
    pool.run(task, { mibPerTick: 2 }).then(() => 'resolved', (error) => `rejected: ${error?.code ?? error?.name ?? error}`),
    (async () => {
      while (!capped && performance.now() - t0 < 20_000) await sleep(20);
      return capped ? 'not stopped (reached the 1.5 GiB cap)' : 'not stopped (20 s)';
    })(),
  ]);
  clearInterval(sampler);
  const killedIn = performance.now() - t0;
  await Promise.race([pool.close(), sleep(5000)]);
  // Threads: what the task added to this process; processes: the worker's whole tree, as the limit counts it.
  return { outcome, peakOverLimitMiB: (peak - base) / MiB - limitMb, msToOutcome: killedIn };
}

const run = scenarios[scenario];
if (!run || !POOLS[poolName]) {
  process.stderr.write(`usage: scenario.mjs <${Object.keys(scenarios).join('|')}> <${Object.keys(POOLS).join('|')}>\n`);
  process.exit(2);
}
const result = await run();
process.stdout.write(`${JSON.stringify({ scenario, pool: poolName, ...result })}\n`);
process.exit(0);
