import { describe, expect, it } from 'vitest';
import {
  ConfigError,
  createPool,
  LeaseLostError,
  PoolClosedError,
  PoolDegradedError,
  QueueFullError,
  TaskCancelledError,
  ResultNotSerializableError,
  TaskError,
  WorkerCrashedError,
  WorkerMemoryError,
  WorkerTimeoutError,
  type PoolAuditEvent,
  type PoolOptions,
} from '../src/index.js';
import { eventually, fixture, isAlive, liveWorkerChildren } from './support/processes.js';
import { openPools, workerPids } from './support/openPools.js';

const MiB = 1024 * 1024;
const open = openPools();
const pids = workerPids;

describe('a pool of worker processes', () => {
  it('runs tasks on separate processes and returns their values', async () => {
    const { pool } = await open();
    expect(await pool.run('echo', { a: [1, 2], m: new Map([['k', 1]]) })).toEqual({ a: [1, 2], m: new Map([['k', 1]]) });
    const status = pool.status();
    expect(status.state).toBe('running');
    expect(status.workers).toHaveLength(2);
    expect(status.workers.every((w) => w.state === 'idle' && typeof w.pid === 'number' && w.device === 'cpu')).toBe(true);
    expect(new Set(pids(pool)).size).toBe(2);
    expect(pids(pool)).not.toContain(process.pid);
  });

  it('reports how long a task ran, as its worker measured it', async () => {
    const { pool, events } = await open();
    expect(await pool.run('sleep', 40)).toBe(40);
    const succeeded = events.find((e) => e.type === 'task.succeeded') as Extract<PoolAuditEvent, { type: 'task.succeeded' }>;
    // A timer fires no earlier than asked (less a millisecond of rounding); the upper bound is only generous.
    expect(succeeded.durationMs).toBeGreaterThanOrEqual(39);
    expect(succeeded.durationMs).toBeLessThan(5_000);
  });

  it('kills a for(;;){} task at its deadline and serves the next task on a fresh worker', async () => {
    const { pool, events } = await open({ maxWorkers: 1 });
    const before = pids(pool)[0] as number;
    const error = await pool.run('spin', null, { timeoutMs: 300 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(WorkerTimeoutError);
    expect(error).toMatchObject({ code: 'ERR_WORKER_TIMEOUT', workerId: 'worker-0', pid: before, device: 'cpu', timeoutMs: 300 });
    expect((error as WorkerTimeoutError).elapsedMs).toBeGreaterThanOrEqual(300);
    expect(await eventually(() => !isAlive(before))).toBe(true);
    const after = await pool.run<{ pid: number }>('whoami');
    expect(after.pid).not.toBe(before);
    expect(events.map((e) => e.type)).toEqual(expect.arrayContaining(['worker.killed', 'worker.exited', 'worker.restarted']));
    // The audit trail names the typed error the caller got, beside the supervisor's failure.
    expect(events.find((e) => e.type === 'task.failed')).toMatchObject({ errorCode: 'ERR_WORKER_TIMEOUT', failure: { code: 'TIMEOUT', timeoutMs: 300 } });
  });

  it('rejects at the deadline, before a process that ignores SIGTERM is gone', async () => {
    const { pool } = await open({ maxWorkers: 1, killGraceMs: 3000 });
    const pid = pids(pool)[0] as number;
    const error = await pool.run('spinIgnoringTerm', null, { timeoutMs: 200 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(WorkerTimeoutError);
    expect(isAlive(pid)).toBe(true); // still in its grace period: the caller did not wait for it
    expect(await eventually(() => !isAlive(pid), 10_000)).toBe(true); // then SIGKILL ends it
  });

  it('replaces a killed worker with a spare started ahead, then starts a new spare', async () => {
    const { pool } = await open({ maxWorkers: 1, spareWorkers: 1 });
    expect(await eventually(() => liveWorkerChildren().length === 2)).toBe(true); // the worker and its spare
    const [spare] = liveWorkerChildren().filter((pid) => !pids(pool).includes(pid));
    await expect(pool.run('spin', null, { timeoutMs: 100 })).rejects.toBeInstanceOf(WorkerTimeoutError);
    expect(await pool.run<{ pid: number; workerId: string }>('whoami')).toMatchObject({ pid: spare, workerId: 'worker-0' });
    expect(await eventually(() => liveWorkerChildren().length === 2)).toBe(true);
  });

  it('kills a task growing off-heap memory, with the samples as evidence', async () => {
    const { pool } = await open({ maxWorkers: 1, memoryLimitMb: 256, memoryPollMs: 50 });
    const error = await pool.run('growOffHeap', { everyMs: 10 }, { timeoutMs: 20_000 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(WorkerMemoryError);
    const memory = error as WorkerMemoryError;
    expect(memory).toMatchObject({ code: 'ERR_WORKER_MEMORY', resource: 'rss', limitBytes: 256 * MiB, workerId: 'worker-0' });
    expect(memory.rssBytes).toBeGreaterThan(256 * MiB);
    expect(memory.rssBytes).toBeLessThan(256 * MiB + 200 * MiB);
    expect(memory.samples.length).toBeGreaterThan(2);
    expect(memory.samples.at(-1)?.rssBytes).toBe(memory.rssBytes);
    expect(await pool.run('echo', 'still serving')).toBe('still serving');
  });

  it('kills a task growing its JS heap', async () => {
    const { pool, events } = await open({ maxWorkers: 1, memoryLimitMb: 200, memoryPollMs: 50 });
    const error = await pool.run('growHeap', { everyMs: 10 }, { timeoutMs: 20_000 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(WorkerMemoryError);
    expect((error as WorkerMemoryError).rssBytes).toBeGreaterThan(200 * MiB);
    expect(events.some((e) => e.type === 'memory.warning')).toBe(true);
  });

  it('reports process.exit(1) and a self-SIGKILL as crashes with code and signal', async () => {
    const { pool } = await open({ maxWorkers: 1 });
    const exited = await pool.run('exitWith', 1).catch((e: unknown) => e);
    expect(exited).toBeInstanceOf(WorkerCrashedError);
    expect(exited).toMatchObject({ code: 'ERR_WORKER_CRASHED', exitCode: 1, signal: null, workerId: 'worker-0' });
    const killed = await pool.run('killSelf').catch((e: unknown) => e);
    expect(killed).toBeInstanceOf(WorkerCrashedError);
    expect(killed).toMatchObject({ exitCode: null, signal: 'SIGKILL' });
    expect(await pool.run('echo', 'back')).toBe('back');
  });

  it('kills the grandchildren a task started, with its worker', async () => {
    const { pool } = await open({ maxWorkers: 1 });
    const lease = await pool.acquire();
    const grandchild = await lease.run<number>('startGrandchild');
    expect(isAlive(grandchild)).toBe(true);
    await expect(lease.run('spin', null, { timeoutMs: 200 })).rejects.toBeInstanceOf(WorkerTimeoutError);
    expect(await eventually(() => !isAlive(grandchild))).toBe(true);
    await expect(lease.run('echo', 1)).rejects.toBeInstanceOf(LeaseLostError);
    lease.release();
  });

  it('turns a thrown error into TaskError and keeps the worker', async () => {
    const { pool } = await open({ maxWorkers: 1 });
    const before = pids(pool)[0];
    const error = await pool.run('fail', 'no good').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TaskError);
    expect(error).toMatchObject({ code: 'ERR_TASK_FAILED', workerId: 'worker-0', pid: before });
    expect((error as TaskError).cause).toMatchObject({ name: 'RangeError', message: 'no good', code: 'E_BAD_INPUT' });
    expect(((error as TaskError).cause as { stack: string }).stack).toContain('tasks.mjs');
    expect(pids(pool)[0]).toBe(before);
    const missing = await pool.run('nope').catch((e: unknown) => e);
    expect((missing as TaskError).cause).toMatchObject({ code: 'ERR_TASK_NOT_FOUND', message: expect.stringContaining('spin') });
  });

  it("keeps a thrown error's own cause in TaskError's cause", async () => {
    const { pool } = await open({ maxWorkers: 1 });
    const error = await pool.run('failWithCause', 'x').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TaskError);
    expect((error as TaskError).cause).toMatchObject({ message: 'could not parse x', cause: { name: 'SyntaxError', message: 'unexpected token in x' } });
  });

  it('becomes degraded when the task module cannot load, instead of respawning forever', async () => {
    const { pool, events } = await open({
      task: fixture('brokenOnLoad.mjs'),
      maxWorkers: 1,
      restart: { backoffMs: 10, maxBackoffMs: 50, maxRestarts: 3, windowMs: 30_000 },
    });
    const status = pool.status();
    expect(status.state).toBe('degraded');
    expect(status.degraded?.reason).toContain('failed to start 4 times');
    expect(status.degraded?.lastError?.message).toContain('this module is broken on purpose');
    expect(events.length).toBe(0); // it degraded during createPool, before we subscribed
    const error = await pool.run('echo', 1).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PoolDegradedError);
    expect((error as PoolDegradedError).message).toContain('this module is broken on purpose');
  });

  it('cancels by AbortSignal while queued and while running', async () => {
    const { pool } = await open({ maxWorkers: 1 });
    const running = new AbortController();
    const queued = new AbortController();
    const spinning = pool.run('spin', null, { signal: running.signal, timeoutMs: 60_000 });
    const waiting = pool.run('echo', 'never', { signal: queued.signal });
    queued.abort(new Error('not needed'));
    await expect(waiting).rejects.toMatchObject({ code: 'ERR_TASK_CANCELLED', stage: 'queued' });
    const victim = pids(pool)[0] as number;
    running.abort();
    const error = await spinning.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TaskCancelledError);
    expect(error).toMatchObject({ stage: 'running', workerId: 'worker-0' });
    expect(await eventually(() => !isAlive(victim))).toBe(true);
    await expect(pool.run('echo', 'after', { signal: AbortSignal.abort() })).rejects.toBeInstanceOf(TaskCancelledError);
    expect(await pool.run('echo', 'after')).toBe('after');
  });

  it('rejects with QueueFullError past maxQueue, and loses nothing else', async () => {
    const { pool } = await open({ maxWorkers: 1, maxQueue: 2 });
    const results = await Promise.allSettled([1, 2, 3, 4].map((n) => pool.run('sleep', n * 10)));
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'fulfilled', 'fulfilled', 'rejected']);
    expect((results[3] as PromiseRejectedResult).reason).toBeInstanceOf(QueueFullError);
  });

  it('says at submit time whether a task was taken or refused', async () => {
    const { pool } = await open({ maxWorkers: 1, maxQueue: 1 });
    const running = pool.submit('sleep', 100);
    const queued = pool.submit('sleep', 1);
    const refused = pool.submit('sleep', 1);
    expect([running.refusal, queued.refusal]).toEqual([undefined, undefined]);
    expect(refused.refusal).toBeInstanceOf(QueueFullError);
    expect(typeof refused.taskId).toBe('string'); // the supervisor refused it, so it had an id in the audit trail
    await expect(refused.result).rejects.toBe(refused.refusal);
    expect(pool.submit('sleep', 1, { timeoutMs: -1 }).refusal).toBeInstanceOf(ConfigError);
    expect(await Promise.all([running.result, queued.result])).toEqual([100, 1]);
  });

  it('settles 2,000 mixed tasks with poison among them exactly once each', async () => {
    const { pool, events } = await open({ maxWorkers: 2, taskTimeoutMs: 2_000, restart: { maxRestarts: 50 } });
    const kinds = Array.from({ length: 2000 }, (_, i) =>
      i % 400 === 7 ? 'spin' : i % 500 === 11 ? 'exit' : i % 50 === 3 ? 'throw' : 'ok',
    );
    const outcomes = await Promise.allSettled(
      kinds.map((kind, i) => pool.run('mixed', { kind, value: i }, kind === 'spin' ? { timeoutMs: 200 } : undefined)),
    );
    outcomes.forEach((outcome, i) => {
      const kind = kinds[i];
      if (kind === 'ok') expect(outcome).toEqual({ status: 'fulfilled', value: i });
      else {
        expect(outcome.status).toBe('rejected');
        const reason = (outcome as PromiseRejectedResult).reason;
        const expected = { spin: WorkerTimeoutError, exit: WorkerCrashedError, throw: TaskError }[kind as 'spin' | 'exit' | 'throw'];
        expect(reason).toBeInstanceOf(expected);
      }
    });
    const settled = events.filter((e) => e.type === 'task.succeeded' || e.type === 'task.failed');
    const ids = settled.map((e) => (e as { taskId: string }).taskId);
    expect(ids).toHaveLength(2000);
    expect(new Set(ids).size).toBe(2000);
    expect(pool.status()).toMatchObject({ state: 'running', queued: 0, running: 0 });
  });

  it('retries a crashed task on a fresh worker when asked, each attempt in the audit trail', async () => {
    const { pool, events } = await open({ maxWorkers: 1 });
    const error = await pool.run('exitWith', 9, { retries: 2 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(WorkerCrashedError);
    const started = events.filter((e) => e.type === 'task.started') as Array<Extract<PoolAuditEvent, { type: 'task.started' }>>;
    expect(started.map((e) => e.attempt)).toEqual([1, 2, 3]);
    expect(new Set(started.map((e) => e.pid)).size).toBe(3);
    expect(events.filter((e) => e.type === 'task.retrying')).toHaveLength(2);
  });

  it('runs a lease on one worker, keeping its state between runs', async () => {
    const { pool } = await open({ maxWorkers: 2 });
    const lease = await pool.acquire();
    expect([await lease.run('count'), await lease.run('count'), await lease.run('count')]).toEqual([1, 2, 3]);
    lease.release();
    await expect(lease.run('count')).rejects.toBeInstanceOf(LeaseLostError);
  });

  it('fails a task whose value cannot cross the process boundary, and keeps serving', async () => {
    const { pool } = await open({ maxWorkers: 1 });
    await expect(pool.run('unclonable')).rejects.toMatchObject({ code: 'ERR_RESULT_NOT_SERIALIZABLE', format: 'structured-clone' });
    await expect(pool.run('echo', () => 1)).rejects.toBeInstanceOf(TaskError);
    expect(await pool.run('echo', 'fine')).toBe('fine');
  });

  it("with resultFormat: 'json', fails a task whose value JSON cannot represent, in its worker", async () => {
    const { pool } = await open({ maxWorkers: 1, resultFormat: 'json' });
    const error = await pool.run('bigResultOfKind', 'bigint').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ResultNotSerializableError);
    expect(error).toMatchObject({ format: 'json', workerId: 'worker-0', message: expect.stringContaining('Do not know how to serialize a BigInt') });
    expect(await pool.run('echo', { fine: [1, 'two'] })).toEqual({ fine: [1, 'two'] });
  });

  it('closes: refuses new tasks, drains queued ones, leaves no worker alive', async () => {
    const { pool, events } = await open({ maxWorkers: 2 });
    const workerPids = pids(pool);
    const queued = [pool.run('sleep', 50), pool.run('sleep', 50), pool.run('sleep', 50)];
    const closing = pool.close({ drainTimeoutMs: 10_000 });
    await expect(pool.run('echo', 1)).rejects.toBeInstanceOf(PoolClosedError);
    expect(await Promise.all(queued)).toEqual([50, 50, 50]);
    await closing;
    expect(pool.status().state).toBe('closed');
    for (const pid of workerPids) expect(isAlive(pid)).toBe(false);
    expect(liveWorkerChildren()).toEqual([]);
    expect(events.at(-1)?.type).toBe('pool.closed');
  });

  it('closes with running tasks past the drain time: they fail with PoolClosedError', async () => {
    const { pool, events } = await open({ maxWorkers: 1 });
    const spinning = pool.run('spin', null, { timeoutMs: 60_000 }).catch((e: unknown) => e);
    // Queued behind it, and failed all at once when the pool stops: each still its own audit event, with its code.
    const queued = [pool.run('echo', 1).catch((e: unknown) => e), pool.run('echo', 2).catch((e: unknown) => e)];
    await pool.close({ drainTimeoutMs: 100 });
    expect(await spinning).toBeInstanceOf(PoolClosedError);
    for (const error of await Promise.all(queued)) expect(error).toBeInstanceOf(PoolClosedError);
    const failed = events.filter((e) => e.type === 'task.failed');
    expect(failed).toHaveLength(3);
    for (const event of failed) expect(event).toMatchObject({ errorCode: 'ERR_POOL_CLOSED', failure: { code: 'CLOSED' } });
  });
});

describe('createPool options', () => {
  it('rejects a bad value naming the field, the value and what is allowed', async () => {
    const error = await createPool({ task: fixture('tasks.mjs'), memoryLimitMb: -5 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).message).toBe('memoryLimitMb: expected a number > 0, got -5');
    expect((error as ConfigError).issues).toEqual([{ field: 'memoryLimitMb', message: 'expected a number > 0, got -5', received: -5 }]);
  });

  it('rejects unknown options instead of ignoring them', async () => {
    const error = await createPool({ task: fixture('tasks.mjs'), maxWorker: 4 } as unknown as PoolOptions).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).issues[0]).toMatchObject({ field: 'maxWorker', received: 4 });
  });

  it('names nested fields and every issue at once', async () => {
    const error = await createPool({
      task: fixture('tasks.mjs'),
      restart: { maxRestarts: -1 },
      softMemoryRatio: 2,
    }).catch((e: unknown) => e);
    expect((error as ConfigError).issues.map((i) => i.field).sort()).toEqual(['restart.maxRestarts', 'softMemoryRatio']);
    expect((error as ConfigError).message).toContain('softMemoryRatio: expected a number > 0 and <= 1, got 2');
  });

  it('rejects a task module that does not exist before starting anything', async () => {
    const error = await createPool({ task: fixture('missing.mjs') }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).message).toMatch(/^task: expected an existing module file, got file:.*missing\.mjs/);
  });

  it('rejects a bad run option for that task only', async () => {
    const { pool } = await open({ maxWorkers: 1 });
    const bad = pool.run('echo', 1, { timeoutMs: -1 });
    const good = pool.run('echo', 2);
    await expect(bad).rejects.toThrow('timeoutMs: expected an integer from 1 to 2147483647 (ms), got -1');
    expect(await good).toBe(2);
  });

  it('caps what a task or a lease may ask for with maxTaskTimeoutMs and maxTaskMemoryLimitMb', async () => {
    const { pool } = await open({ maxWorkers: 1, taskTimeoutMs: 1000, memoryLimitMb: 192, maxTaskTimeoutMs: 2000, maxTaskMemoryLimitMb: 256 });
    await expect(pool.run('echo', 1, { timeoutMs: 2001 })).rejects.toThrow("timeoutMs: expected at most 2000 (the pool's maxTaskTimeoutMs), got 2001");
    await expect(pool.run('echo', 1, { memoryLimitMb: 300 })).rejects.toThrow("memoryLimitMb: expected at most 256 (the pool's maxTaskMemoryLimitMb), got 300");
    await expect(pool.acquire({ timeoutMs: 5000 })).rejects.toBeInstanceOf(ConfigError);
    expect(await pool.run('echo', 3, { timeoutMs: 2000, memoryLimitMb: 200 })).toBe(3);
    const belowOwn = await createPool({ task: fixture('tasks.mjs'), taskTimeoutMs: 1000, maxTaskTimeoutMs: 999 }).catch((e: unknown) => e);
    expect((belowOwn as ConfigError).message).toBe('maxTaskTimeoutMs: expected at least taskTimeoutMs (1000), got 999');
  });
});

describe('watching a pool', () => {
  it('passes the inspect observer to the actor system and reports memory in status()', async () => {
    const inspected: string[] = [];
    const { pool } = await open({ maxWorkers: 1, memoryPollMs: 20, inspect: (event) => inspected.push(event.type) });
    await pool.run('echo', 1);
    expect(inspected).toEqual(expect.arrayContaining(['@xstate.actor', '@xstate.event', '@xstate.snapshot', '@xstate.microstep']));
    expect(await eventually(() => (pool.status().workers[0]?.rssBytes ?? 0) > 10 * MiB)).toBe(true);
    expect(pool.status().counts).toMatchObject({ submitted: 1, succeeded: 1, failed: 0 });
    expect(pool.actor.getSnapshot().value).toBe('running');
  });
});

describe('handing fast tasks out ahead of time', () => {
  for (const backend of ['process', 'thread'] as const) {
    it(`batches a deep queue of fast tasks (${backend}), fails only the one that hangs or cannot be sent, and runs the rest`, async () => {
      const batches: number[] = [];
      const inspect = (event: { type: string; event?: { type?: string; runAhead?: unknown[] } }) => {
        if (event.type === '@xstate.event' && event.event?.type === 'task.run') batches.push(1 + (event.event.runAhead?.length ?? 0));
      };
      const { pool } = await open({ backend, maxWorkers: 2, inspect, restart: { maxRestarts: 50 } });
      // Sequential runs make the names `mixed` and `echo` known as fast, so both go ahead, mixed in one batch.
      for (let i = 0; i < 5; i += 1) expect(await pool.run('mixed', { kind: 'ok', value: i })).toBe(i);
      for (let i = 0; i < 3; i += 1) expect(await pool.run('echo', i)).toBe(i);
      const kinds = Array.from({ length: 400 }, (_, i) => (i === 150 ? 'spin' : i === 260 ? 'unclonable' : 'ok'));
      const outcomes = await Promise.allSettled(
        kinds.map((kind, i) =>
          kind === 'unclonable'
            ? pool.run('echo', () => i) // a payload no worker can be sent
            : pool.run('mixed', { kind, value: i }, { timeoutMs: 1_000 }),
        ),
      );
      outcomes.forEach((outcome, i) => {
        if (kinds[i] === 'spin') expect((outcome as PromiseRejectedResult).reason).toBeInstanceOf(WorkerTimeoutError);
        else if (kinds[i] === 'unclonable') expect((outcome as PromiseRejectedResult).reason).toBeInstanceOf(TaskError);
        else expect(outcome).toEqual({ status: 'fulfilled', value: i });
      });
      expect(Math.max(...batches)).toBeGreaterThan(1);
      expect(pool.status()).toMatchObject({ state: 'running', queued: 0, running: 0, counts: { submitted: 408, succeeded: 406, failed: 2, retried: 0 } });
    });
  }
});
