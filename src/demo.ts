/**
 * `npm start`: runs a small batch with misbehaving tasks among honest ones, and
 * prints what happened to each task and to each worker.
 */
import { createPool, type PoolAuditEvent, PoolError } from './index.js';

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
      return `killed at ${mib(e.rssBytes as number)} RSS, limit ${mib(e.limitBytes as number)} (pid ${String(e.pid)}, ${(e.samples as unknown[]).length} samples)`;
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
for (const row of rows) {
  console.log(`${row.ok ? 'ok  ' : 'FAIL'}  ${row.job.label.padEnd(width)}  ${String(row.ms).padStart(5)} ms  ${row.detail}`);
}

const count = (type: string) => audit.filter((e) => e.type === type).length;
const kills = audit.filter((e): e is Extract<PoolAuditEvent, { type: 'worker.killed' }> => e.type === 'worker.killed');
const byReason = new Map<string, number>();
for (const kill of kills) byReason.set(kill.termination.reason, (byReason.get(kill.termination.reason) ?? 0) + 1);
console.log(
  `\n${count('task.succeeded')} succeeded, ${count('task.failed')} failed in ${Date.now() - started} ms; ` +
    `workers killed: ${[...byReason].map(([reason, n]) => `${n} ${reason}`).join(', ') || 'none'}; ` +
    `replacements started: ${count('worker.restarted')}`,
);
console.log('workers now:', pool.status().workers.map((w) => `${w.id} ${w.state} pid ${String(w.pid)} (${w.restarts} restarts)`).join('; '));

await pool.close();
console.log('pool closed; no worker process is left.');
