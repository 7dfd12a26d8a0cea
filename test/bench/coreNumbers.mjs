// The numbers of the core pool, measured on real processes. Run: npm run bench:core
// (builds first). Prints one line per figure; medians and p99 over repeated runs.
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { createPool } from 'poolvisor';

const tasks = new URL('../fixtures/tasks.mjs', import.meta.url);
const MiB = 1024 * 1024;
const quantile = (values, q) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
};
const fmt = (n) => n.toFixed(2);

/** `concurrent` spinning tasks at a time on 2 workers, each with a 200 ms deadline. */
async function deadlineAndReplacement(rounds, concurrent) {
  const pool = await createPool({ task: tasks, maxWorkers: 2, spareWorkers: Number(process.env.SPARES ?? 1) });
  const started = new Map();
  const killedAt = new Map();
  const replacement = [];
  pool.on('event', (event) => {
    const now = performance.now();
    if (event.type === 'task.started') started.set(event.taskId, now);
    if (event.type === 'worker.killed') killedAt.set(event.workerId, now);
    if (event.type === 'worker.restarted' && killedAt.has(event.workerId)) replacement.push(now - killedAt.get(event.workerId));
  });
  const lateness = [];
  for (let i = 0; i < rounds; i += 1) {
    await Promise.all(
      Array.from({ length: concurrent }, () =>
        pool.run('spin', null, { timeoutMs: 200 }).catch((error) => {
          lateness.push(performance.now() - started.get(error.taskId) - 200);
        }),
      ),
    );
    // Let the replacements come up and the spare refill before the next round.
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  await pool.close();
  return { lateness, replacement };
}

function treeRss(pid) {
  try {
    const pages = Number(readFileSync(`/proc/${pid}/statm`, 'latin1').split(' ')[1]);
    let total = pages * 4096;
    for (const child of readFileSync(`/proc/${pid}/task/${pid}/children`, 'latin1').trim().split(' ').filter(Boolean)) {
      total += treeRss(Number(child)) ?? 0;
    }
    return total;
  } catch {
    return undefined;
  }
}

async function runaway(rounds, variant) {
  // The same runaway five times on purpose: quarantine would refuse it from the third on.
  const pool = await createPool({ task: tasks, maxWorkers: 1, memoryLimitMb: 256, quarantine: false });
  const overByError = [];
  const overObserved = [];
  const detectMs = [];
  for (let i = 0; i < rounds; i += 1) {
    const pid = pool.status().workers[0].pid;
    let peak = 0;
    let crossedAt;
    const watch = setInterval(() => {
      const rss = treeRss(pid);
      if (rss !== undefined) peak = Math.max(peak, rss);
      if (rss !== undefined && rss > 256 * MiB && crossedAt === undefined) crossedAt = performance.now();
    }, 1);
    const task = variant === 'offheap' ? 'growOffHeap' : 'growHeap';
    const payload = variant === 'offheap' ? { everyMs: 10, chunkMiB: 2 } : { everyMs: 10, perTickMiB: 2 };
    const error = await pool.run(task, payload, { timeoutMs: 30_000 }).catch((e) => e);
    const failedAt = performance.now();
    clearInterval(watch);
    if (error?.code !== 'ERR_WORKER_MEMORY') throw new Error(`expected a memory kill, got ${error}`);
    overByError.push((error.rssBytes - error.limitBytes) / MiB);
    overObserved.push((peak - 256 * MiB) / MiB);
    if (crossedAt !== undefined) detectMs.push(failedAt - crossedAt);
    await pool.run('noop');
  }
  await pool.close();
  return { overByError, overObserved, detectMs };
}

async function throughput(count) {
  const pool = await createPool({ task: tasks, maxWorkers: 2, maxQueue: count });
  await Promise.all(Array.from({ length: 2000 }, () => pool.run('noop'))); // warm-up
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await Promise.all(Array.from({ length: count }, () => pool.run('noop')));
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const roundTrips = [];
  for (let i = 0; i < 2000; i += 1) {
    const s = performance.now();
    await pool.run('noop');
    roundTrips.push((performance.now() - s) * 1000);
  }
  await pool.close();
  return { perSecond: count / seconds, cpuUsPerTask: (cpu.user + cpu.system) / count, roundTrips };
}

const only = process.argv[2];
if (!only || only === 'deadline') {
  const rounds = Number(process.env.ROUNDS ?? 30);
  for (const concurrent of [1, 2]) {
    const { lateness, replacement } = await deadlineAndReplacement(rounds, concurrent);
    const what = concurrent === 1 ? 'one spinning task at a time' : 'two spinning tasks at once (both cores busy)';
    console.log(`${what}: deadline → rejection lateness (ms, n=${lateness.length}): p50 ${fmt(quantile(lateness, 0.5))}, p99 ${fmt(quantile(lateness, 0.99))}, max ${fmt(Math.max(...lateness))}`);
    console.log(`${what}: kill → replacement worker ready (ms, n=${replacement.length}): p50 ${fmt(quantile(replacement, 0.5))}, p99 ${fmt(quantile(replacement, 0.99))}, max ${fmt(Math.max(...replacement))}`);
  }
}
for (const variant of ['offheap', 'heap']) {
  if (only && only !== variant) continue;
  const r = await runaway(5, variant);
  console.log(
    `${variant} runaway at 200 MiB/s, 256 MiB limit (n=5): over the limit at the kill (sample) median ${fmt(quantile(r.overByError, 0.5))} MiB, max ${fmt(Math.max(...r.overByError))}; ` +
      `peak seen by an independent 1 ms sampler: median ${fmt(quantile(r.overObserved, 0.5))} MiB, max ${fmt(Math.max(...r.overObserved))}; crossing → rejection median ${fmt(quantile(r.detectMs, 0.5))} ms`,
  );
}
if (!only || only === 'throughput') {
  const t = await throughput(20_000);
  console.log(`no-op throughput, 2 process workers, 20,000 tasks: ${Math.round(t.perSecond)} tasks/s, main-thread CPU ${fmt(t.cpuUsPerTask)} µs/task; one-at-a-time round trip p50 ${fmt(quantile(t.roundTrips, 0.5))} µs, p99 ${fmt(quantile(t.roundTrips, 0.99))} µs`);
}
