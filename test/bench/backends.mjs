// Process vs thread backend, side by side on this machine. Run: npm run bench:backends
import { performance } from 'node:perf_hooks';
import { createPool } from 'poolvisor';

const tasks = new URL('../fixtures/tasks.mjs', import.meta.url);
const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
const fmt = (n) => n.toFixed(1);
const rssMiB = () => process.memoryUsage().rss / 1048576;

async function measure(backend) {
  // Spares off: this compares the backends themselves.
  const options = { backend, spareWorkers: 0 };

  // Start: createPool with one worker, until it is ready.
  const starts = [];
  for (let i = 0; i < 5; i += 1) {
    const t0 = performance.now();
    const pool = await createPool({ task: tasks, maxWorkers: 1, ...options });
    starts.push(performance.now() - t0);
    await pool.close();
  }

  // Memory of 4 idle workers: the host's RSS growth (threads), or the workers' RSS (processes).
  const before = rssMiB();
  const pool = await createPool({ task: tasks, maxWorkers: 4, ...options });
  await new Promise((resolve) => setTimeout(resolve, 300));
  const hostGrowth = rssMiB() - before;
  const workerRss = pool.status().workers.reduce((sum, w) => sum + w.rssBytes, 0) / 1048576;
  await pool.close();

  const replacements = await replacement(options);
  const withSpare = await replacement({ backend, spareWorkers: 1 });

  // No-op throughput through 2 workers.
  const three = await createPool({ task: tasks, maxWorkers: 2, maxQueue: 50_000, ...options });
  await Promise.all(Array.from({ length: 2000 }, () => three.run('noop')));
  const t0 = performance.now();
  await Promise.all(Array.from({ length: 20_000 }, () => three.run('noop')));
  const perSecond = 20_000 / ((performance.now() - t0) / 1000);
  await three.close();

  console.log(
    `${backend.padEnd(7)}  start to ready: median ${fmt(median(starts))} ms | 4 idle workers: ` +
      (backend === 'thread' ? `host RSS +${fmt(hostGrowth)} MiB` : `${fmt(workerRss)} MiB RSS in worker processes (host +${fmt(hostGrowth)} MiB)`) +
      ` | deadline kill → replacement ready: median ${fmt(median(replacements))} ms without a spare, ${fmt(median(withSpare))} ms with one` +
      ` | no-op throughput, 2 workers: ${Math.round(perSecond)} tasks/s`,
  );
}

/** Kill → the slot's next worker ready, five times, with time between kills for a spare to be started again. */
async function replacement(options) {
  const pool = await createPool({ task: tasks, maxWorkers: 1, ...options });
  const times = [];
  let killedAt = 0;
  pool.on('event', (event) => {
    if (event.type === 'worker.killed') killedAt = performance.now();
    if (event.type === 'worker.restarted') times.push(performance.now() - killedAt);
  });
  for (let i = 0; i < 5; i += 1) {
    await new Promise((resolve) => setTimeout(resolve, 300));
    await pool.run('spin', null, { timeoutMs: 50 }).catch(() => {});
    await pool.run('noop');
  }
  await pool.close();
  return times;
}

await measure('process');
await measure('thread');
