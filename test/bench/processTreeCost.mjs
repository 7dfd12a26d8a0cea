// What walking a worker's process tree costs on the pool's main thread: the memory
// sampler's walk (every poll, 10 Hz per worker) and the kill's walk (once per kill).
// A real worker with three grandchildren. Run: npm run build && node test/bench/processTreeCost.mjs
import { createPool } from '../../dist/src/index.js';
import { sampleProcessTreeRss } from '../../dist/src/runtime/processTreeMemory.js';
import { collectTree } from '../../dist/src/runtime/worker/processTree.js';

const pool = await createPool({ task: new URL('../fixtures/tasks.mjs', import.meta.url), maxWorkers: 1, spareWorkers: 0 });
const lease = await pool.acquire();
for (const name of ['startGrandchild', 'startDetachedGrandchild', 'startSessionGrandchild']) await lease.run(name);
const { pid } = await lease.run('whoami');

const perCall = (label, fn, n = 20_000) => {
  for (let i = 0; i < 100; i += 1) fn();
  const cpu0 = process.cpuUsage();
  for (let i = 0; i < n; i += 1) fn();
  const cpu = process.cpuUsage(cpu0);
  console.log(`${label}: ${((cpu.user + cpu.system) / n).toFixed(1)} µs CPU per call (n=${n})`);
};

const pids = [];
perCall('sampler, tree of 4 processes', () => {
  pids.length = 0;
  sampleProcessTreeRss(pid, pids);
});
console.log(`  it sees ${pids.length} processes`);
perCall('kill walk (every thread of every process, with start times)', () => collectTree([pid]), 2_000);
console.log(`  it sees ${collectTree([pid]).size} processes`);
lease.release();
await pool.close();
