// The cost of the machines alone: supervisor + worker machines with instant fake I/O, 100,000
// tasks. The floor under any backend's per-task cost. Run: node test/bench/machinesOnly.mjs (after a build);
// MAX_BATCH=1 hands tasks out one at a time, as before run-ahead (default 32, the pool's default).
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
let done = 0; let resolveAll;
actor.on('*', (e) => { if (e.type === 'task.succeeded' && ++done === N) resolveAll(); });
actor.start();
await new Promise((r) => setTimeout(r, 50));
const N = 100000;
const all = new Promise((r) => (resolveAll = r));
const t0 = performance.now(); const c0 = process.cpuUsage();
for (let i = 0; i < N; i++) actor.send({ type: 'task.submit', task: { id: String(i), name: 'noop', payload: null, priority: 0, retries: 0, retryOn: [] } });
await all;
const cpu = process.cpuUsage(c0);
console.log('machines only:', Math.round(N / ((performance.now() - t0) / 1000)), 'tasks/s,', ((cpu.user + cpu.system) / N).toFixed(1), 'µs CPU/task');
process.exit(0);
