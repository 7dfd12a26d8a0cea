/**
 * `npm run demo:pool`: runs a small batch with misbehaving tasks among honest ones, and
 * prints what happened to each task and to each worker. Uses only the public API.
 */
import { createPool, type PoolAuditEvent, PoolError } from '../src/index.js';

interface Job {
  readonly label: string;
  readonly task: string;
  readonly payload: unknown;
  readonly timeoutMs?: number;
}

const jobs: Job[] = [
  { label: 'pi, 2M samples', task: 'estimatePi', payload: { samples: 2_000_000, seed: 1 } },
  { label: 'stuck sampler', task: 'runaway', payload: null, timeoutMs: 500 },
  { label: 'pi, 4M samples', task: 'estimatePi', payload: { samples: 4_000_000, seed: 2 } },
  { label: 'off-heap leak', task: 'leak', payload: null },
  { label: 'native crash', task: 'crash', payload: null },
  { label: 'bad input', task: 'invalidInput', payload: { samples: 'many' } },
  { label: 'pi, 1M samples', task: 'estimatePi', payload: { samples: 1_000_000, seed: 3 } },
  { label: 'pi, 3M samples', task: 'estimatePi', payload: { samples: 3_000_000, seed: 4 } },
];

const mib = (bytes: number) => `${Math.round(bytes / 1048576)} MiB`;

function explain(error: unknown): string {
  if (!(error instanceof PoolError)) return String(error);
  const e = error as PoolError & Record<string, unknown>;
  switch (e.code) {
    case 'ERR_WORKER_TIMEOUT':
      return `killed at its ${String(e.timeoutMs)} ms deadline (pid ${String(e.pid)})`;
    case 'ERR_WORKER_MEMORY':
      return `killed at ${mib(e.usedBytes as number)} ${String(e.resource).toUpperCase()}, limit ${mib(e.limitBytes as number)} (pid ${String(e.pid)}, ${(e.samples as unknown[]).length} samples)`;
    case 'ERR_WORKER_CRASHED':
      return `worker died: exit code ${String(e.exitCode)}, signal ${String(e.signal)} (pid ${String(e.pid)})`;
    case 'ERR_TASK_FAILED':
      return `task threw ${(e.cause as { name: string; message: string }).name}: ${(e.cause as { message: string }).message}`;
    default:
      return e.message;
  }
}

const pool = await createPool({
  task: new URL('./demo/tasks.js', import.meta.url),
  maxWorkers: 2,
  taskTimeoutMs: 10_000,
  memoryLimitMb: 256,
  killGraceMs: 500,
});
const audit: PoolAuditEvent[] = [];
pool.on('event', (event) => audit.push(event));

console.log(`poolvisor demo: ${jobs.length} tasks on 2 worker processes (deadline 10 s, memory limit 256 MiB)\n`);
const started = Date.now();
const rows = await Promise.all(
  jobs.map(async (job) => {
    const t0 = Date.now();
    try {
      const value = await pool.run(job.task, job.payload, job.timeoutMs ? { timeoutMs: job.timeoutMs } : undefined);
      return { job, ok: true, ms: Date.now() - t0, detail: `π ≈ ${(value as number).toFixed(4)}` };
    } catch (error) {
      return { job, ok: false, ms: Date.now() - t0, detail: `${(error as PoolError).name}: ${explain(error)}` };
    }
  }),
);

const width = Math.max(...jobs.map((j) => j.label.length));
console.log(`      ${'task'.padEnd(width)}  ms (incl. queue)`);
for (const row of rows) {
  console.log(`${row.ok ? 'ok  ' : 'FAIL'}  ${row.job.label.padEnd(width)}  ${String(row.ms).padStart(5)}  ${row.detail}`);
}

// Let the last replacement come up, so the trail below ends in a healthy pool.
while (pool.status().workers.some((w) => w.state !== 'idle')) await new Promise((resolve) => setTimeout(resolve, 10));

console.log('\nWhat the supervisor decided (from the audit trail, pool.on("event")):');
for (const event of audit) {
  const t = `+${String(event.at - started).padStart(4)} ms`;
  if (event.type === 'worker.killed') {
    console.log(`${t}  ${event.workerId} killed (pid ${String(event.pid)}): ${event.termination.reason}${event.taskId ? `, task ${event.taskId} failed at once` : ''}`);
  } else if (event.type === 'worker.restart-scheduled') {
    const why = event.counted
      ? `its own failure: ${event.failuresInWindow} in the window`
      : `charged to task ${String(event.taskId ?? '(none)')}, not counted against the pool`;
    console.log(`${t}  ${event.workerId} restart in ${event.delayMs} ms (${why})`);
  } else if (event.type === 'worker.restarted') {
    console.log(`${t}  ${event.workerId} ready again as pid ${String(event.pid)} (generation ${event.generation})`);
  } else if (event.type === 'memory.warning') {
    console.log(`${t}  ${event.workerId} over the soft threshold: ${mib(event.usedBytes)} of ${mib(event.limitBytes)} ${event.resource.toUpperCase()}, sampling faster`);
  }
}

const count = (type: string) => audit.filter((e) => e.type === type).length;
console.log(
  `\n${count('task.succeeded')} succeeded, ${count('task.failed')} failed; workers now: ` +
    pool.status().workers.map((w) => `${w.id} ${w.state} pid ${String(w.pid)}`).join(', '),
);

await pool.close();
console.log('pool closed; no worker process is left.');
