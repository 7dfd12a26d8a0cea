import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import {
  ConfigError,
  createPool,
  LeaseExpiredError,
  PoolClosedError,
  PoolDegradedError,
  TaskQuarantinedError,
  WorkerCrashedError,
  WorkerTimeoutError,
  type PoolAuditEvent,
} from '../src/index.js';
import { eventually, fixture, liveWorkerChildren } from './support/processes.js';
import { openPools } from './support/openPools.js';

const scratch = mkdtempSync(join(tmpdir(), 'poolvisor-reliability-'));
const open = openPools();

afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe('faults are charged to what caused them', () => {
  it('stays up through many tasks that crash their worker, and runs every healthy one', async () => {
    const { pool, events } = await open({ quarantine: false });
    const jobs = Array.from({ length: 90 }, (_, i) =>
      i % 3 === 0 ? pool.run('exitWith', i).then(() => 'ok', (e: unknown) => e) : pool.run('echo', i).then((v) => v, (e: unknown) => e),
    );
    const outcomes = await Promise.all(jobs);
    outcomes.forEach((outcome, i) => {
      if (i % 3 === 0) expect(outcome).toBeInstanceOf(WorkerCrashedError);
      else expect(outcome).toBe(i);
    });
    expect(pool.status().state).toBe('running');
    // A task's promise settles at the kill; its worker's restart is decided once the exit is confirmed.
    await eventually(() => pool.status().workers.every((w) => w.state === 'idle'), 10_000);
    expect(pool.status().workers.map((w) => w.state)).toEqual(['idle', 'idle']);
    expect(events.some((e) => e.type === 'pool.degraded')).toBe(false);
    const restarts = events.filter((e) => e.type === 'worker.restart-scheduled') as Array<Extract<PoolAuditEvent, { type: 'worker.restart-scheduled' }>>;
    expect(restarts).toHaveLength(30);
    expect(restarts.every((e) => !e.counted && e.chargedTo === 'task' && e.delayMs === 0)).toBe(true);
  });

  it('refuses an input that crashed two workers, while other inputs keep running', async () => {
    const { pool, events } = await open();
    const first = await pool.run('exitWith', 3).catch((e: unknown) => e);
    const second = await pool.run('exitWith', 3).catch((e: unknown) => e);
    expect(first).toBeInstanceOf(WorkerCrashedError);
    expect(second).toBeInstanceOf(WorkerCrashedError);
    const refused = await pool.run('exitWith', 3).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(TaskQuarantinedError);
    expect(refused).toMatchObject({ code: 'ERR_TASK_QUARANTINED', taskName: 'exitWith', failures: [{ code: 'CRASHED' }, { code: 'CRASHED' }] });
    expect((refused as TaskQuarantinedError).untilMs).toBeGreaterThan(Date.now());
    // Another input to the same task, and other tasks, run as usual.
    expect(await pool.run('echo', 'still here')).toBe('still here');
    expect(await pool.run('exitWith', 4).catch((e: unknown) => e)).toBeInstanceOf(WorkerCrashedError);
    expect(events.filter((e) => e.type === 'task.quarantined')).toHaveLength(1);
    expect(pool.status().quarantined).toBe(1);
  });

  it('tells thread workers apart too (a thread has no pid): a poison input is refused after two', async () => {
    const { pool } = await open({ backend: 'thread', maxWorkers: 1 });
    const outcomes: unknown[] = [];
    for (let i = 0; i < 4; i += 1) outcomes.push(await pool.run('exitWith', 5).catch((e: unknown) => e));
    expect(outcomes.map((e) => (e as Error).name)).toEqual(['WorkerCrashedError', 'WorkerCrashedError', 'TaskQuarantinedError', 'TaskQuarantinedError']);
    expect(await pool.run('echo', 'thread still serving')).toBe('thread still serving');
  });
});

describe('a degraded pool comes back', () => {
  it('picks up a task module fixed on disk at its next probe, and restores every slot', async () => {
    const module = join(scratch, 'fixable.mjs');
    writeFileSync(module, "throw new SyntaxError('broken until fixed');\n");
    const { pool, events } = await open({
      task: pathToFileURL(module),
      restart: { backoffMs: 10, maxBackoffMs: 20, maxRestarts: 1, windowMs: 30_000, recoverAfterMs: 300, maxRecoverAfterMs: 300 },
    });
    expect(pool.status().state).toBe('degraded');
    expect(pool.status().degraded?.nextProbeAt).toBeGreaterThan(Date.now() - 1_000);
    expect(await pool.run('hello').catch((e: unknown) => e)).toBeInstanceOf(PoolDegradedError);
    await eventually(() => events.some((e) => e.type === 'pool.probe-failed'), 10_000);
    writeFileSync(module, 'export async function hello() { return "fixed"; }\n');
    expect(await eventually(() => pool.status().state === 'running', 15_000)).toBe(true);
    expect(events.some((e) => e.type === 'pool.recovered')).toBe(true);
    expect(await pool.run('hello')).toBe('fixed');
    await eventually(() => pool.status().workers.every((w) => w.state === 'idle'), 10_000);
    expect(pool.status().workers.map((w) => w.state)).toEqual(['idle', 'idle']);
    expect(pool.status().degraded).toBeUndefined();
  });
});

describe('settings that cannot work are refused', () => {
  it('refuses a memory limit at or below what an idle worker needs, naming the measured floor, and leaves nothing running', async () => {
    const error = await createPool({ task: fixture('tasks.mjs'), maxWorkers: 2, memoryLimitMb: 1 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).issues).toMatchObject([{ field: 'memoryLimitMb', received: 1 }]);
    expect((error as ConfigError).message).toMatch(/memoryLimitMb: expected more than an idle worker needs \(\d+\.\d MiB resident, measured at start\), got 1/);
    expect(await eventually(() => liveWorkerChildren().length === 0)).toBe(true);
  });

  it('refuses a per-task memory limit below the floor, and only that task', async () => {
    const { pool } = await open();
    const floor = pool.status().idleWorkerBytes as number;
    expect(floor).toBeGreaterThan(10 * 1024 * 1024);
    const error = await pool.run('echo', 1, { memoryLimitMb: 2 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).issues[0]).toMatchObject({ field: 'memoryLimitMb', received: 2 });
    expect(await pool.run('echo', 2)).toBe(2);
  });
});

describe('a lease has a deadline', () => {
  it('ends a lease held idle past it: later runs fail, the slot serves the queue again', async () => {
    const { pool, events } = await open({ maxWorkers: 1 });
    const lease = await pool.acquire({ timeoutMs: 300 });
    expect(await lease.run('count')).toBe(1);
    const queued = pool.run('echo', 'after the lease');
    expect(await queued).toBe('after the lease');
    const error = await lease.run('count').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(LeaseExpiredError);
    expect(error).toMatchObject({ code: 'ERR_LEASE_EXPIRED', leaseId: lease.leaseId, timeoutMs: 300 });
    expect(events.some((e) => e.type === 'lease.expired')).toBe(true);
    // A fresh worker, without the leased state.
    expect(await pool.run('count')).toBe(1);
    lease.release();
  });

  it('fails a run in progress at the lease deadline with a timeout that names the lease', async () => {
    const { pool } = await open({ maxWorkers: 1 });
    const lease = await pool.acquire({ timeoutMs: 400 });
    const error = await lease.run('spin', null, { timeoutMs: 60_000 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(WorkerTimeoutError);
    expect(error).toMatchObject({ leaseId: lease.leaseId, timeoutMs: 400 });
    expect(await pool.run('echo', 'free again')).toBe('free again');
  });
});

describe('close', () => {
  it('resolves within the drain time and the kill grace however long the queue, failing every queued task', async () => {
    const { pool } = await open({ maxQueue: 200_000 });
    const running = [pool.run('sleep', 60_000).catch((e: unknown) => e), pool.run('sleep', 60_000).catch((e: unknown) => e)];
    const queued: Array<Promise<unknown>> = [];
    for (let i = 0; i < 100_000; i += 1) queued.push(pool.run('noop').catch((e: unknown) => e));
    const started = performance.now();
    await pool.close({ drainTimeoutMs: 100 });
    const tookMs = performance.now() - started;
    // drain 100 + kill grace 200 + a generous margin; a close of 100k queued tasks took 6-30 s before.
    expect(tookMs).toBeLessThan(100 + 200 + 3_000);
    const outcomes = await Promise.all([...running, ...queued]);
    expect(outcomes.every((e) => e instanceof PoolClosedError)).toBe(true);
  }, 60_000);
});
