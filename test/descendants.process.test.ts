import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { createPool, TaskCancelledError, WorkerCrashedError, WorkerMemoryError, WorkerTimeoutError, type Lease, type Pool, type PoolOptions } from '../src/index.js';
import { eventually, fixture, isAlive, liveWorkerChildren } from './support/processes.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const pools: Pool[] = [];
/** Every grandchild a test started: whatever a failing test leaves alive is killed after it. */
const started: number[] = [];

async function open(options: Partial<PoolOptions> = {}): Promise<Pool> {
  const pool = await createPool({ task: fixture('tasks.mjs'), maxWorkers: 1, spareWorkers: 0, killGraceMs: 200, ...options });
  pools.push(pool);
  return pool;
}

const processGroupOf = (pid: number) => {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[2]);
};

/**
 * Starts the three kinds of grandchild a signal to the worker's process group misses:
 * detached and ignoring SIGTERM, in a session of its own, and started from a thread.
 */
async function startEscapees(lease: Lease): Promise<number[]> {
  const pids = [
    await lease.run<number>('startDetachedGrandchild'),
    await lease.run<number>('startSessionGrandchild'),
    await lease.run<number>('startDetachedGrandchildFromThread'),
  ];
  started.push(...pids);
  const { pid: worker } = await lease.run<{ pid: number }>('whoami');
  for (const pid of pids) {
    expect(isAlive(pid)).toBe(true);
    expect(processGroupOf(pid), `grandchild ${pid} is out of the worker's process group`).not.toBe(processGroupOf(worker));
  }
  return pids;
}

const allGone = (pids: readonly number[]) => eventually(() => pids.every((pid) => !isAlive(pid)), 10_000);

afterEach(async () => {
  await Promise.all(pools.splice(0).map((pool) => pool.close({ drainTimeoutMs: 0 })));
  for (const pid of started.splice(0)) {
    if (!isAlive(pid)) continue;
    process.kill(pid, 'SIGKILL');
  }
  expect(liveWorkerChildren()).toEqual([]);
});

describe('every descendant dies with its worker', () => {
  it('after a deadline kill, also one that left the process group and ignores SIGTERM', async () => {
    const pool = await open();
    const lease = await pool.acquire();
    const escapees = await startEscapees(lease);
    await expect(lease.run('spin', null, { timeoutMs: 200 })).rejects.toBeInstanceOf(WorkerTimeoutError);
    expect(await allGone(escapees)).toBe(true);
    lease.release();
  });

  it('when the worker is killed from outside (kill -9): the worker told the pool of each child as it started', async () => {
    // No memory sample in this test's lifetime: only the worker's reports can name the children once it is dead.
    const pool = await open({ memoryPollMs: 60_000 });
    const lease = await pool.acquire();
    // Started from the main thread (a child of a task's worker_thread is not reported: docs/architecture.md).
    const escapees = [await lease.run<number>('startDetachedGrandchild'), await lease.run<number>('startSessionGrandchild')];
    started.push(...escapees);
    const { pid: worker } = await lease.run<{ pid: number }>('whoami');
    const spinning = lease.run('spin', null, { timeoutMs: 60_000 }).catch((e: unknown) => e);
    process.kill(worker, 'SIGKILL');
    expect(await spinning).toBeInstanceOf(WorkerCrashedError);
    expect(await allGone(escapees)).toBe(true);
    lease.release();
  });

  it('after a cancel', async () => {
    const pool = await open();
    const lease = await pool.acquire();
    const escapees = await startEscapees(lease);
    const cancel = new AbortController();
    const spinning = lease.run('spin', null, { signal: cancel.signal, timeoutMs: 60_000 }).catch((e: unknown) => e);
    cancel.abort();
    expect(await spinning).toBeInstanceOf(TaskCancelledError);
    expect(await allGone(escapees)).toBe(true);
    lease.release();
  });

  it('after a memory kill', async () => {
    const pool = await open({ memoryLimitMb: 200, memoryPollMs: 50 });
    const lease = await pool.acquire();
    const escapees = await startEscapees(lease);
    await expect(lease.run('growOffHeap', { everyMs: 10 }, { timeoutMs: 20_000 })).rejects.toBeInstanceOf(WorkerMemoryError);
    expect(await allGone(escapees)).toBe(true);
    lease.release();
  });

  it('after pool.close()', async () => {
    const pool = await open();
    const lease = await pool.acquire();
    const escapees = await startEscapees(lease);
    lease.release();
    await pool.close();
    expect(await allGone(escapees)).toBe(true);
  });

  it('after the task calls process.exit()', async () => {
    const pool = await open();
    const lease = await pool.acquire();
    const escapees = await startEscapees(lease);
    await expect(lease.run('exitWith', 1)).rejects.toBeInstanceOf(WorkerCrashedError);
    expect(await allGone(escapees)).toBe(true);
    lease.release();
  });

  it('when the host dies: idle and stuck workers take their detached grandchildren down', async () => {
    const host = spawn(process.execPath, [fileURLToPath(fixture('hostWithGrandchildren.mjs'))], { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] });
    const [line] = (await once(host.stdout, 'data')) as [Buffer];
    const { workers, grandchildren } = JSON.parse(line.toString()) as { workers: number[]; grandchildren: number[] };
    started.push(...grandchildren);
    expect([...workers, ...grandchildren].every(isAlive)).toBe(true);
    host.kill('SIGKILL');
    await once(host, 'exit');
    expect(await allGone(workers)).toBe(true);
    expect(await allGone(grandchildren)).toBe(true);
  });
});
