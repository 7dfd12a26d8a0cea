import { afterEach, describe, expect, it } from 'vitest';
import {
  ConfigError,
  createPool,
  PoolClosedError,
  TaskCancelledError,
  TaskError,
  WorkerCrashedError,
  WorkerMemoryError,
  WorkerTimeoutError,
  type Pool,
  type PoolOptions,
} from '../src/index.js';
import { Worker } from 'node:worker_threads';
import { fixture } from './support/processes.js';

const MiB = 1024 * 1024;
const pools: Pool[] = [];

async function open(options: Partial<PoolOptions> = {}): Promise<Pool> {
  const pool = await createPool({ task: fixture('tasks.mjs'), backend: 'thread', maxWorkers: 2, ...options });
  pools.push(pool);
  return pool;
}

afterEach(async () => {
  await Promise.all(pools.splice(0).map((pool) => pool.close({ drainTimeoutMs: 0 })));
});

interface Where {
  threadId: number;
  isMainThread: boolean;
  pid: number;
}

describe('the thread backend, driven by the same machines', () => {
  it('runs tasks on worker threads of this process', async () => {
    const pool = await open();
    const where = await pool.run<Where>('whichThread');
    expect(where.isMainThread).toBe(false);
    expect(where.pid).toBe(process.pid);
    expect(pool.status().workers.map((w) => [w.state, w.pid])).toEqual([
      ['idle', undefined],
      ['idle', undefined],
    ]);
  });

  it('terminates a for(;;){} thread at its deadline and serves the next task on a new thread', async () => {
    const pool = await open({ maxWorkers: 1 });
    const before = await pool.run<Where>('whichThread');
    const error = await pool.run('spin', null, { timeoutMs: 200 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(WorkerTimeoutError);
    expect(error).toMatchObject({ workerId: 'worker-0', timeoutMs: 200, pid: undefined });
    const after = await pool.run<Where>('whichThread');
    expect(after.threadId).not.toBe(before.threadId);
  });

  it('replaces a killed thread with the spare started ahead, under the slot\'s identity', async () => {
    const pool = await open({ maxWorkers: 1, spareWorkers: 1 });
    const before = await pool.run<Where>('whichThread');
    // Thread ids count up in this process: a thread started after this probe has a larger id than it.
    const probe = new Worker('', { eval: true });
    const mark = probe.threadId;
    await probe.terminate();
    await expect(pool.run('spin', null, { timeoutMs: 500 })).rejects.toBeInstanceOf(WorkerTimeoutError);
    const after = await pool.run<Where>('whichThread');
    expect(after.threadId).not.toBe(before.threadId);
    expect(after.threadId).toBeLessThan(mark); // started before the kill: the spare
    expect(await pool.run<{ workerId: string }>('whoami')).toMatchObject({ workerId: 'worker-0' });
  });

  it('maps a thread over its V8 heap limit to WorkerMemoryError { resource: heap }', async () => {
    const pool = await open({ maxWorkers: 1, memoryLimitMb: 64 });
    const error = await pool.run('growHeap', { everyMs: 5 }, { timeoutMs: 20_000 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(WorkerMemoryError);
    expect(error).toMatchObject({ code: 'ERR_WORKER_MEMORY', resource: 'heap', limitBytes: 64 * MiB, workerId: 'worker-0' });
    expect(await pool.run('echo', 'next')).toBe('next');
  });

  it('reports process.exit(1) in a thread as a crash, and keeps serving', async () => {
    const pool = await open({ maxWorkers: 1 });
    const error = await pool.run('exitWith', 1).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(WorkerCrashedError);
    expect(error).toMatchObject({ exitCode: 1, signal: null });
    expect(await pool.run('echo', 'after')).toBe('after');
  });

  it('turns a throw into TaskError and cancels queued and running tasks', async () => {
    const pool = await open({ maxWorkers: 1 });
    await expect(pool.run('fail', 'x')).rejects.toBeInstanceOf(TaskError);
    const running = new AbortController();
    const queued = new AbortController();
    const spinning = pool.run('spin', null, { signal: running.signal, timeoutMs: 60_000 }).catch((e: unknown) => e);
    const waiting = pool.run('echo', 1, { signal: queued.signal }).catch((e: unknown) => e);
    queued.abort();
    running.abort();
    expect(await waiting).toMatchObject({ stage: 'queued' });
    expect(await spinning).toBeInstanceOf(TaskCancelledError);
    expect(await pool.run('echo', 'fine')).toBe('fine');
  });

  it('settles 500 mixed tasks with poison among them exactly once', async () => {
    const pool = await open({ restart: { maxRestarts: 50 } });
    const kinds = Array.from({ length: 500 }, (_, i) => (i % 100 === 7 ? 'spin' : i % 125 === 11 ? 'exit' : i % 25 === 3 ? 'throw' : 'ok'));
    const outcomes = await Promise.allSettled(kinds.map((kind, i) => pool.run('mixed', { kind, value: i }, kind === 'spin' ? { timeoutMs: 100 } : undefined)));
    outcomes.forEach((outcome, i) => {
      if (kinds[i] === 'ok') expect(outcome).toEqual({ status: 'fulfilled', value: i });
      else expect(outcome.status).toBe('rejected');
    });
    expect(pool.status()).toMatchObject({ queued: 0, running: 0, counts: { submitted: 500, succeeded: kinds.filter((k) => k === 'ok').length } });
  });

  it('closes: running tasks past the drain time fail, and the pool ends', async () => {
    const pool = await open({ maxWorkers: 1 });
    const spinning = pool.run('spin', null, { timeoutMs: 60_000 }).catch((e: unknown) => e);
    await pool.close({ drainTimeoutMs: 50 });
    expect(await spinning).toBeInstanceOf(PoolClosedError);
    expect(pool.status().state).toBe('closed');
  });
});

describe('what the thread backend refuses', () => {
  it.each([
    [{ devices: ['cuda:0'] }, 'devices', 'CUDA_VISIBLE_DEVICES is per process'],
    [{ memoryPollMs: 50 }, 'memoryPollMs', 'V8 heap limit'],
    [{ softMemoryRatio: 0.5 }, 'softMemoryRatio', 'no soft threshold'],
    [{ execArgv: ['--max-old-space-size=100'] }, 'execArgv', 'only the Node options that load and run code'],
  ] as const)('rejects %j naming the field and suggesting the process backend', async (options, field, why) => {
    const error = await createPool({ task: fixture('tasks.mjs'), backend: 'thread', ...(options as Partial<PoolOptions>) }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).issues[0]?.field).toBe(field);
    expect((error as ConfigError).message).toContain(why);
    expect((error as ConfigError).message).toContain("use backend: 'process'");
  });

  it('gives a thread the pool env and the execArgv a thread can take, instead of dropping them', async () => {
    const pool = await open({ maxWorkers: 1, env: { POOLVISOR_TEST_VALUE: 'from the pool' }, execArgv: ['--no-deprecation'] });
    const seen = (await pool.run('envOf', 'POOLVISOR_TEST_VALUE')) as { value: string; execArgv: string[] };
    expect(seen.value).toBe('from the pool');
    expect(seen.execArgv).toContain('--no-deprecation');
    expect(process.env.POOLVISOR_TEST_VALUE).toBeUndefined(); // the thread's copy, not the host's
  });

  it('rejects a per-task memory limit for that task only', async () => {
    const pool = await open({ maxWorkers: 1 });
    await expect(pool.run('echo', 1, { memoryLimitMb: 10 })).rejects.toThrow(/memoryLimitMb: a worker thread's heap limit is fixed/);
    expect(await pool.run('echo', 2)).toBe(2);
  });
});
