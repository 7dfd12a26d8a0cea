import { describe, expect, it } from 'vitest';
import { TaskCancelledError } from '../src/index.js';
import { openPools } from './support/openPools.js';

const open = openPools({ maxWorkers: 1, spareWorkers: 0 });

/** What a promise settled with, or 'pending' if it had not within `ms`: a lost settle fails the test, not the timeout. */
function within<T>(promise: Promise<T>, ms: number): Promise<{ value: T } | { error: unknown } | 'pending'> {
  return Promise.race([
    promise.then(
      (value) => ({ value }),
      (error: unknown) => ({ error }),
    ),
    new Promise<'pending'>((resolve) => setTimeout(() => resolve('pending'), ms)),
  ]);
}

describe('cancelling a run queued behind a lease (one worker, leased)', () => {
  it('settles a lease run waiting behind the lease’s running one with TaskCancelledError, and the lease goes on', async () => {
    const { pool, events } = await open();
    const lease = await pool.acquire();
    const running = lease.run<number>('sleep', 600);
    const cancel = new AbortController();
    const queued = lease.run('echo', 'never', { signal: cancel.signal });
    const after = lease.run('echo', 'next');
    cancel.abort(new Error('changed my mind'));

    // Settled by the cancel itself, long before the running task is done.
    const outcome = await within(queued, 400);
    expect(outcome).not.toBe('pending');
    const error = (outcome as { error: unknown }).error;
    expect(error).toBeInstanceOf(TaskCancelledError);
    expect(error).toMatchObject({ code: 'ERR_TASK_CANCELLED', stage: 'queued', cause: new Error('changed my mind') });

    expect(await running).toBe(600);
    expect(await after).toBe('next');
    // The cancelled run never reached the worker, and the worker was not replaced for it.
    const started = events.filter((e) => e.type === 'task.started').map((e) => (e as { taskId: string }).taskId);
    expect(started).not.toContain((error as TaskCancelledError).taskId);
    expect(events.filter((e) => e.type === 'worker.killed')).toEqual([]);
    lease.release();
    expect(await pool.run('echo', 'pool still works')).toBe('pool still works');
  });

  it('settles an ordinary run waiting for the leased worker, and the pool runs the next one once the lease is released', async () => {
    const { pool } = await open();
    const lease = await pool.acquire();
    const cancel = new AbortController();
    const waiting = pool.run('echo', 'never', { signal: cancel.signal });
    cancel.abort();
    const outcome = await within(waiting, 400);
    expect(outcome).not.toBe('pending');
    expect((outcome as { error: unknown }).error).toMatchObject({ name: 'TaskCancelledError', stage: 'queued' });
    expect(await lease.run('echo', 'lease still works')).toBe('lease still works');
    lease.release();
    expect(await pool.run('echo', 'pool still works')).toBe('pool still works');
    expect(pool.status()).toMatchObject({ state: 'running', queued: 0, running: 0 });
  });

  it('settles an acquire waiting for the leased worker, and a later acquire gets it', async () => {
    const { pool } = await open();
    const lease = await pool.acquire();
    const cancel = new AbortController();
    const second = pool.acquire({ signal: cancel.signal });
    cancel.abort();
    const outcome = await within(second, 400);
    expect(outcome).not.toBe('pending');
    expect((outcome as { error: unknown }).error).toBeInstanceOf(TaskCancelledError);
    lease.release();
    const third = await pool.acquire();
    expect(await third.run('echo', 3)).toBe(3);
    third.release();
  });
});
