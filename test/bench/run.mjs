// npm run bench: every scenario, every pool, each run in a fresh child process, in rotated
// order, several repetitions; prints medians [min–max] and poolvisor's ratio to the best peer
// of its kind (threads vs thread pools, processes vs process pools), repetition by repetition.
// Flags: --only a,b  --pools x,y  --reps N  --tasks N  --json out.json
import { spawnSync } from 'node:child_process';
import { cpus, totalmem } from 'node:os';
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { POOLS } from './pools.mjs';

const { values } = parseArgs({ options: { only: { type: 'string' }, pools: { type: 'string' }, reps: { type: 'string' }, tasks: { type: 'string' }, json: { type: 'string' } } });
const SCENARIO = fileURLToPath(new URL('./scenario.mjs', import.meta.url));
const ALL = Object.keys(POOLS);
const PEERLESS = ['poolvisor-thread', 'poolvisor-process'];

/** Which pools each scenario runs on, which metric it ranks by, and whether higher is better. */
const SCENARIOS = {
  noop: { pools: ALL, metric: 'tasksPerSecond', higher: true, unit: 'tasks/s', extra: ['cpuUsPerTask'] },
  json1k: { pools: ALL, metric: 'tasksPerSecond', higher: true, unit: 'tasks/s', extra: ['cpuUsPerTask'] },
  roundtrip: { pools: ALL, metric: 'p50Us', higher: false, unit: 'µs p50', extra: ['p99Us'] },
  deadline: { pools: ALL, metric: 'latenessMs', higher: false, unit: 'ms late', extra: ['latenessMaxMs', 'nextTaskMs'] },
  offheap: { pools: ALL, metric: 'peakOverLimitMiB', higher: false, unit: 'MiB over', extra: ['outcome', 'msToOutcome'] },
  heap: { pools: ALL, metric: 'peakOverLimitMiB', higher: false, unit: 'MiB over', extra: ['outcome', 'msToOutcome'] },
  crash: { pools: ALL, metric: undefined, extra: [] },
  monitoring: { pools: PEERLESS, metric: 'percentOfCore', higher: false, unit: '% of a core' },
  scale: { pools: ALL, metric: 'ratio', higher: false, unit: 'µs/task 100k ÷ 1k', extra: ['usPerTask100k', 'totalMs', 'heapGrowthMiB'] },
  storm: { pools: PEERLESS, metric: 'degradedMs', higher: false, unit: 'ms to degraded', extra: ['startsAttempted', 'state'] },
};

const only = values.only?.split(',') ?? Object.keys(SCENARIOS);
const poolFilter = values.pools?.split(',');
const reps = Number(values.reps ?? 3);
const results = [];
const fmt = (n) => (typeof n === 'number' ? (Math.abs(n) >= 100 ? n.toFixed(0) : n.toFixed(2)) : String(n));
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

console.log(`poolvisor benchmarks · node ${process.version} · ${cpus().length} × ${cpus()[0]?.model.trim()} · ${(totalmem() / 2 ** 30).toFixed(0)} GiB · ${reps} repetitions\n`);
for (const name of only) {
  const scenario = SCENARIOS[name];
  if (!scenario) throw new Error(`unknown scenario ${name}; known: ${Object.keys(SCENARIOS).join(', ')}`);
  const pools = scenario.pools.filter((p) => !poolFilter || poolFilter.includes(p));
  const runs = [];
  for (let rep = 0; rep < reps; rep += 1) {
    // Rotated order: each pool runs first in some repetition, so warm caches and a noisy neighbour spread out.
    const order = pools.map((_, i) => pools[(i + rep) % pools.length]);
    for (const pool of order) {
      const args = [SCENARIO, name, pool, ...(values.tasks ? ['--tasks', values.tasks] : [])];
      const child = spawnSync(process.execPath, ['--expose-gc', ...args], { encoding: 'utf8', timeout: 180_000 });
      const line = child.stdout.trim().split('\n').at(-1) ?? '';
      let result;
      try {
        result = JSON.parse(line);
      } catch {
        result = { scenario: name, pool, failed: child.signal ? `killed by ${child.signal}` : `exit ${child.status}: ${child.stderr.trim().split('\n').at(-1) ?? ''}` };
      }
      runs.push({ ...result, rep });
      results.push({ ...result, rep });
    }
  }
  console.log(`## ${name}${scenario.unit ? ` (${scenario.unit})` : ''}`);
  for (const pool of pools) {
    const mine = runs.filter((r) => r.pool === pool);
    if (!scenario.metric) {
      for (const r of mine) console.log(`  ${pool.padEnd(19)} rep ${r.rep}: ${JSON.stringify(r.failed ?? Object.fromEntries(Object.entries(r).filter(([k]) => !['scenario', 'pool', 'rep'].includes(k))))}`);
      continue;
    }
    const values_ = mine.map((r) => r[scenario.metric]).filter((v) => typeof v === 'number');
    let line = `  ${pool.padEnd(19)} ${values_.length ? `${fmt(median(values_))} [${fmt(Math.min(...values_))}–${fmt(Math.max(...values_))}]` : mine.map((r) => r.failed ?? r.outcome).join('; ')}`;
    for (const key of scenario.extra ?? []) line += ` · ${key} ${fmt(median(mine.map((r) => r[key]).filter((v) => v !== undefined)) ?? '–')}`;
    if (!POOLS[pool].peer) {
      // Ratio to the best peer of the same kind, repetition by repetition.
      const ratios = [];
      for (let rep = 0; rep < reps; rep += 1) {
        const own = mine.find((r) => r.rep === rep)?.[scenario.metric];
        const peers = runs.filter((r) => r.rep === rep && POOLS[r.pool].peer && POOLS[r.pool].kind === POOLS[pool].kind).map((r) => r[scenario.metric]).filter((v) => typeof v === 'number');
        if (typeof own !== 'number' || peers.length === 0) continue;
        const best = scenario.higher ? Math.max(...peers) : Math.min(...peers);
        ratios.push(own / best);
      }
      if (ratios.length) line += ` · ratio to best ${POOLS[pool].kind} peer ${fmt(median(ratios))} [${fmt(Math.min(...ratios))}–${fmt(Math.max(...ratios))}] (${scenario.higher ? 'higher' : 'lower'} is better)`;
    }
    console.log(line);
  }
  console.log('');
}
if (values.json) writeFileSync(values.json, JSON.stringify({ node: process.version, cpus: cpus().length, reps, results }, null, 2));
