// Where a cluster task's round trip goes: one host and one client in this process, on a private
// redis-server, no-op tasks one at a time. Prints medians of:
//   - the round trip with the real pool, and with pool.run replaced by `async () => null`
//     (BullMQ's path alone);
//   - pool.run called directly in the same process;
//   - inside the BullMQ flow: submit → task.started, task.started → task.succeeded.
// Run: npm run build && node test/bench/clusterPhases.mjs [--tasks N]
// For a profile of the same work: node --cpu-prof test/bench/clusterPhases.mjs --batch 5000
import { parseArgs } from 'node:util';
import { createClusterClient, createClusterWorker } from '../../dist/src/cluster/index.js';
import { startRedisServer } from '../support/redisServer.mjs';

const { values } = parseArgs({ options: { tasks: { type: 'string', default: '300' }, batch: { type: 'string', default: '0' } } });
const TASKS = Number(values.tasks);
const WARM = Math.min(50, Math.floor(TASKS / 5));
const median = (samples) => {
  const sorted = samples.slice(WARM).sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
};
const ms = (value) => `${value.toFixed(2)} ms`;

const server = await startRedisServer();
const host = await createClusterWorker({ redis: server.url, queue: 'phases', pool: { task: new URL('./peers/tasks.mjs', import.meta.url), maxWorkers: 2 } });
const client = await createClusterClient({ redis: server.url, queue: 'phases' });
try {
  const roundTrips = async () => {
    const samples = [];
    for (let i = 0; i < TASKS; i += 1) {
      const start = performance.now();
      await client.run('noop');
      samples.push(performance.now() - start);
    }
    return median(samples);
  };

  // The pool's own events, timed as they happen, per task.
  const marks = new Map();
  host.pool.on('event', (event) => {
    if (event.type !== 'task.started' && event.type !== 'task.succeeded') return;
    const mark = marks.get(event.taskId) ?? {};
    mark[event.type] = performance.now();
    marks.set(event.taskId, mark);
  });
  const run = host.pool.run.bind(host.pool);
  const phases = { submitToStarted: [], startedToSucceeded: [] };
  host.pool.run = async (...args) => {
    const submittedAt = performance.now();
    const submission = host.pool.submit(...args);
    const value = await submission.result;
    const mark = marks.get(submission.taskId) ?? {};
    marks.delete(submission.taskId);
    phases.submitToStarted.push(mark['task.started'] - submittedAt);
    phases.startedToSucceeded.push(mark['task.succeeded'] - mark['task.started']);
    return value;
  };
  const withPool = await roundTrips();
  host.pool.run = async () => null;
  const withoutPool = await roundTrips();
  host.pool.run = run;
  const direct = [];
  for (let i = 0; i < TASKS; i += 1) {
    const start = performance.now();
    await host.pool.run('noop');
    direct.push(performance.now() - start);
  }
  console.log(`no-op tasks one at a time, medians of ${TASKS - WARM}:`);
  console.log(`  round trip with the pool:                 ${ms(withPool)}`);
  console.log(`  round trip, pool.run → null (BullMQ only): ${ms(withoutPool)}`);
  console.log(`  pool.run called directly:                 ${ms(median(direct))}`);
  console.log(`  in the flow: submit → task.started:       ${ms(median(phases.submitToStarted))}`);
  console.log(`  in the flow: task.started → succeeded:    ${ms(median(phases.startedToSucceeded))}`);
  const batch = Number(values.batch);
  if (batch > 0) {
    const start = performance.now();
    await Promise.all(Array.from({ length: batch }, () => client.run('noop')));
    console.log(`  ${batch} at once: ${Math.round(batch / ((performance.now() - start) / 1000))} tasks/s`);
  }
} finally {
  await client.close();
  await host.close(100);
  await server.stop();
}
