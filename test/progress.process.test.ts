import { describe, expect, it } from 'vitest';
import { TaskCancelledError, WorkerTimeoutError, type PoolAuditEvent } from '../src/index.js';
import { openPools } from './support/openPools.js';
import { eventually } from './support/processes.js';

type Progress = Extract<PoolAuditEvent, { type: 'task.progress' }>;
const ofType = <T extends PoolAuditEvent['type']>(events: PoolAuditEvent[], type: T) =>
  events.filter((e): e is Extract<PoolAuditEvent, { type: T }> => e.type === type);

describe.each(['process', 'thread'] as const)('task progress and cooperative cancel, %s backend', (backend) => {
  const open = openPools({ backend, maxWorkers: 1 });

  it('delivers progress in order to onProgress and the audit trail, between the start and the result', async () => {
    const { pool, events } = await open();
    const seen: Array<[number, unknown]> = [];
    const result = await pool.run('reportsProgress', { steps: 4, everyMs: 60 }, { onProgress: (fraction, detail) => seen.push([fraction, detail]) });
    expect(result).toBe(4);
    expect(seen).toEqual([
      [0.25, { step: 1 }],
      [0.5, { step: 2 }],
      [0.75, { step: 3 }],
      [1, { step: 4 }],
    ]);
    const progress = ofType(events, 'task.progress');
    expect(progress.map((e) => e.fraction)).toEqual([0.25, 0.5, 0.75, 1]);
    expect(progress[0]).toMatchObject({ taskId: expect.any(String), workerId: 'worker-0', detail: { step: 1 }, at: expect.any(Number) } satisfies Partial<Progress>);
    const order = events.filter((e) => e.type !== 'task.submitted').map((e) => e.type);
    expect(order.indexOf('task.started')).toBeLessThan(order.indexOf('task.progress'));
    expect(order.lastIndexOf('task.progress')).toBeLessThan(order.indexOf('task.succeeded'));
  });

  it('coalesces progress reported in a tight loop, and always sends the last value', async () => {
    const { pool } = await open();
    const seen: number[] = [];
    expect(await pool.run('floodsProgress', 100_000, { onProgress: (fraction) => seen.push(fraction) })).toBe(100_000);
    expect(seen.length).toBeGreaterThan(0);
    expect(seen.length).toBeLessThan(100);
    expect(seen.at(-1)).toBe(1);
  });

  it('refuses a fraction outside [0, 1], a detail JSON cannot represent, and one over 4 KiB, naming what it got', async () => {
    const { pool } = await open();
    expect(await pool.run('badProgress', { fraction: 1.5 })).toEqual({ threw: true, name: 'TypeError', message: 'ctx.progress: expected a fraction from 0 to 1, got 1.5' });
    expect(await pool.run('badProgress', { fraction: Number.NaN })).toMatchObject({ name: 'TypeError', message: expect.stringContaining('got NaN') });
    expect(await pool.run('badProgress', { fraction: '0.5' })).toMatchObject({ name: 'TypeError', message: expect.stringContaining('got "0.5"') });
    expect(await pool.run('badProgress', { fraction: 0.5, bigint: true })).toMatchObject({ name: 'TypeError', message: expect.stringContaining('JSON') });
    expect(await pool.run('badProgress', { fraction: 0.5, bigDetail: 5000 })).toMatchObject({ name: 'RangeError', message: expect.stringContaining('at most 4096 bytes') });
    expect(await pool.run('badProgress', { fraction: 0.5, detail: { ok: true } })).toEqual({ threw: false });
  });

  it("aborts a task's signal before its deadline: a task that returns then succeeds and keeps its worker", async () => {
    const { pool, events } = await open({ deadlineWarningMs: 150 });
    const before = pool.status().workers[0]?.generation;
    const outcome = await pool.run<{ name: string; code: string; timeoutMs: number; remainingMs: number }>('cooperative', null, { timeoutMs: 1500 });
    expect(outcome).toMatchObject({ name: 'AbortError', code: 'ERR_TASK_DEADLINE', timeoutMs: 1500 });
    // What is left until the kill, counted from the task's start: the warning's lead, less how late its timer fired.
    expect(outcome.remainingMs).toBeLessThanOrEqual(150);
    expect(outcome.remainingMs).toBeGreaterThan(50);
    expect(ofType(events, 'worker.killed')).toEqual([]);
    expect(pool.status().workers[0]?.generation).toBe(before);
  });

  it('still kills a task that ignores the warning, at its deadline', async () => {
    const { pool, events } = await open({ deadlineWarningMs: 100 });
    await expect(pool.run('spin', null, { timeoutMs: 1000 })).rejects.toBeInstanceOf(WorkerTimeoutError);
    expect(ofType(events, 'worker.killed')).toMatchObject([{ termination: { reason: 'timeout', timeoutMs: 1000 } }]);
  });

  it('rejects a cancelled task at once, aborts its signal, and keeps the worker of a task that stops within the grace', async () => {
    // A generous grace: the task stops within a few ms; a loaded machine must not turn that into a kill.
    const { pool, events } = await open({ cancelGraceMs: 5000 });
    const cancel = new AbortController();
    const running = pool.run('cooperative', null, { signal: cancel.signal, timeoutMs: 60_000 });
    await eventually(() => ofType(events, 'task.started').length > 0);
    const generation = pool.status().workers[0]?.generation;
    cancel.abort();
    const error = await running.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TaskCancelledError);
    expect(error).toMatchObject({ stage: 'running', workerId: 'worker-0' });
    // The worker is idle again once the task has returned by itself, and was never killed.
    expect(await eventually(() => pool.status().workers[0]?.state === 'idle')).toBe(true);
    expect(ofType(events, 'worker.killed')).toEqual([]);
    expect(pool.status().workers[0]?.generation).toBe(generation);
    expect(await pool.run('echo', 'after')).toBe('after');
  });

  it('kills a cancelled task that ignores its signal once the grace is over', async () => {
    const { pool, events } = await open({ cancelGraceMs: 100 });
    const cancel = new AbortController();
    const spinning = pool.run('spin', null, { signal: cancel.signal, timeoutMs: 60_000 });
    await eventually(() => ofType(events, 'task.started').length > 0);
    cancel.abort();
    await expect(spinning).rejects.toBeInstanceOf(TaskCancelledError);
    expect(await eventually(() => ofType(events, 'worker.killed').length > 0)).toBe(true);
    expect(ofType(events, 'worker.killed')).toMatchObject([{ termination: { reason: 'cancelled' } }]);
    expect(await pool.run('echo', 'after')).toBe('after');
    // The kill is the task's doing: it does not count towards degrading the pool.
    expect(ofType(events, 'worker.restart-scheduled')).toMatchObject([{ chargedTo: 'task', counted: false }]);
  });
});
