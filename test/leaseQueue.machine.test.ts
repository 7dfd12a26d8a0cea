import { describe, expect, it } from 'vitest';
import type { PoolEvent, TaskRequest } from '../machines/index.js';
import { FakeRuntime, settle, startSupervisor } from './support/fakeRuntime.js';

function request(id: string, overrides: Partial<TaskRequest> = {}): TaskRequest {
  return { id, name: 'work', payload: id, priority: 0, retries: 0, retryOn: ['crash', 'memory'], ...overrides };
}

const ofType = <T extends PoolEvent['type']>(events: PoolEvent[], type: T) =>
  events.filter((e): e is Extract<PoolEvent, { type: T }> => e.type === type);

/** Everything a task was told, in order: each task must be settled exactly once. */
const settlementsOf = (events: PoolEvent[], taskId: string) =>
  events.filter((e) => (e.type === 'task.succeeded' || e.type === 'task.failed') && e.taskId === taskId);

async function leasedPool() {
  const runtime = new FakeRuntime();
  const pool = startSupervisor(runtime, { devices: ['cpu'] });
  await settle();
  pool.actor.send({ type: 'lease.acquire', leaseId: 'L', priority: 0 });
  expect(ofType(pool.events, 'lease.granted')).toEqual([{ type: 'lease.granted', leaseId: 'L', workerId: 'worker-0' }]);
  return { runtime, ...pool };
}

describe('a run queued behind a lease', () => {
  it('should settle as cancelled while queued when cancelled behind the lease’s running task, and never reach the worker', async () => {
    const { runtime, actor, events } = await leasedPool();
    actor.send({ type: 'task.submit', task: request('first', { leaseId: 'L' }) });
    actor.send({ type: 'task.submit', task: request('second', { leaseId: 'L' }) });
    actor.send({ type: 'task.submit', task: request('third', { leaseId: 'L' }) });
    expect(runtime.runs.get('worker-0')?.map((t) => t.id)).toEqual(['first']);

    actor.send({ type: 'task.cancel', taskId: 'second' });
    expect(settlementsOf(events, 'second')).toEqual([
      { type: 'task.failed', taskId: 'second', failure: { code: 'CANCELLED', stage: 'queued' }, attempt: 1 },
    ]);
    // Nothing was killed for it: it never ran.
    expect(runtime.terminations).toEqual([]);
    expect(runtime.aborts.get('worker-0') ?? []).toEqual([]);

    // The lease goes on with what is left, in order, on its one worker.
    runtime.result('worker-0', 'first', 1);
    expect(runtime.runs.get('worker-0')?.map((t) => t.id)).toEqual(['first', 'third']);
    runtime.result('worker-0', 'third', 3);
    expect(ofType(events, 'task.succeeded').map((e) => e.taskId)).toEqual(['first', 'third']);
    expect(settlementsOf(events, 'second')).toHaveLength(1);
  });

  it('should leave the lease and then the pool usable: a later lease run, and after release an ordinary run', async () => {
    const { runtime, actor, events } = await leasedPool();
    actor.send({ type: 'task.submit', task: request('running', { leaseId: 'L' }) });
    actor.send({ type: 'task.submit', task: request('queued', { leaseId: 'L' }) });
    // A run that is not the lease's waits in the pool's queue behind the leased worker.
    actor.send({ type: 'task.submit', task: request('outside') });
    actor.send({ type: 'task.cancel', taskId: 'queued' });
    actor.send({ type: 'task.cancel', taskId: 'outside' });
    expect(ofType(events, 'task.failed').map((e) => [e.taskId, e.failure])).toEqual([
      ['queued', { code: 'CANCELLED', stage: 'queued' }],
      ['outside', { code: 'CANCELLED', stage: 'queued' }],
    ]);
    runtime.result('worker-0', 'running');
    actor.send({ type: 'task.submit', task: request('later', { leaseId: 'L' }) });
    runtime.result('worker-0', 'later');
    actor.send({ type: 'lease.release', leaseId: 'L' });
    actor.send({ type: 'task.submit', task: request('after') });
    runtime.result('worker-0', 'after', 'fine');
    expect(runtime.runs.get('worker-0')?.map((t) => t.id)).toEqual(['running', 'later', 'after']);
    expect(ofType(events, 'task.succeeded').map((e) => e.taskId)).toEqual(['running', 'later', 'after']);
    expect(actor.getSnapshot().value).toBe('running');
  });

  it('should do nothing for a cancel of a lease run that already settled', async () => {
    const { runtime, actor, events } = await leasedPool();
    actor.send({ type: 'task.submit', task: request('done', { leaseId: 'L' }) });
    runtime.result('worker-0', 'done');
    actor.send({ type: 'task.cancel', taskId: 'done' });
    expect(settlementsOf(events, 'done')).toMatchObject([{ type: 'task.succeeded' }]);
    expect(runtime.terminations).toEqual([]);
  });

  it('should let the pool close at once after a run behind a lease was cancelled', async () => {
    const { runtime, actor, events } = await leasedPool();
    actor.send({ type: 'task.submit', task: request('running', { leaseId: 'L' }) });
    actor.send({ type: 'task.submit', task: request('queued', { leaseId: 'L' }) });
    actor.send({ type: 'task.cancel', taskId: 'queued' });
    runtime.result('worker-0', 'running');
    actor.send({ type: 'lease.release', leaseId: 'L' });
    actor.send({ type: 'pool.close', drainTimeoutMs: 10_000 });
    await settle();
    expect(actor.getSnapshot().status).toBe('done');
    // A cancelled run is settled once, by the cancel, not again by the close.
    expect(settlementsOf(events, 'queued')).toHaveLength(1);
    expect(events.at(-1)).toEqual({ type: 'pool.closed' });
  });
});
