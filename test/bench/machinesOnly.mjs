// The cost of the machines alone: supervisor + worker machines with instant fake I/O, 100,000
// tasks. The floor under any backend's per-task cost. Run: node test/bench/machinesOnly.mjs (after a build);
// MAX_BATCH=1 hands tasks out one at a time, as before run-ahead (default 32, the pool's default);
// ONE_AT_A_TIME=1 submits each task only once the one before it has succeeded: a lone task's cost.
import { createActor, fromCallback, fromPromise } from 'xstate';
import { supervisorMachine, workerMachine } from 'poolvisor/machines';
const actors = {
  startWorker: fromPromise(async ({ input }) => ({ pid: 1, handle: input.workerId })),
  workerConnection: fromCallback(({ sendBack, receive }) => { receive((c) => queueMicrotask(() => sendBack({ type: 'process.results', results: c.tasks.map((t) => ({ taskId: t.id, outcome: { ok: true, value: null } })) }))); }),
  memoryPoller: fromCallback(() => () => {}),
  terminateWorker: fromPromise(async () => ({ exitCode: 0, signal: null })),
};
const machine = supervisorMachine.provide({ actors: { worker: workerMachine.provide({ actors }) } });
const actor = createActor(machine, { input: { devices: ['cpu', 'cpu'], worker: { memoryLimitBytes: 1e9, gpuMemoryLimitBytes: Infinity, softMemoryRatio: 0.8, memoryPollMs: 100, fastMemoryPollMs: 25, killGraceMs: 1000, startTimeoutMs: 1000 }, maxQueue: 1e6, maxBatch: Number(process.env.MAX_BATCH ?? 32), taskTimeoutMs: 60000, restart: { backoffMs: 100, maxBackoffMs: 1000, maxRestarts: 5, windowMs: 30000, jitterRatio: 0.2, recoverAfterMs: 30000, maxRecoverAfterMs: 600000 }, quarantine: { failures: 2, windowMs: 600000 }, now: Date.now, random: Math.random } });
let done = 0; let resolveAll; let resolveOne;
actor.on('*', (e) => { if (e.type === 'task.succeeded') { resolveOne?.(); if (++done === N) resolveAll(); } });
actor.start();
await new Promise((r) => setTimeout(r, 50));
const oneAtATime = process.env.ONE_AT_A_TIME === '1';
const N = Number(process.env.TASKS ?? (oneAtATime ? 30_000 : 100_000));
const submit = (id) => actor.send({ type: 'task.submit', task: { id, name: 'noop', payload: null, priority: 0, retries: 0, retryOn: [] } });
const lone = async (count, prefix) => {
  for (let i = 0; i < count; i++) {
    const finished = new Promise((r) => (resolveOne = r));
    submit(prefix + i);
    await finished;
  }
};
if (oneAtATime) {
  await lone(2000, 'warm-');
  done = 0;
}
const all = new Promise((r) => (resolveAll = r));
const t0 = performance.now(); const c0 = process.cpuUsage();
if (oneAtATime) await lone(N, '');
else for (let i = 0; i < N; i++) submit(String(i));
await all;
const cpu = process.cpuUsage(c0);
console.log(oneAtATime ? 'machines only, one task at a time:' : 'machines only:', Math.round(N / ((performance.now() - t0) / 1000)), 'tasks/s,', ((cpu.user + cpu.system) / N).toFixed(1), 'µs CPU/task');
process.exit(0);
