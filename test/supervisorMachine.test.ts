import { describe, expect, it } from 'vitest';
import { planRestart, type PoolEvent, type TaskRequest } from '../machines/index.js';
import { FakeRuntime, settle, startSupervisor } from './support/fakeRuntime.js';

function request(id: string, overrides: Partial<TaskRequest> = {}): TaskRequest {
  return { id, name: 'work', payload: id, priority: 0, retries: 0, retryOn: ['crash', 'memory'], ...overrides };
}

const ofType = <T extends PoolEvent['type']>(events: PoolEvent[], type: T) =>
  events.filter((e): e is Extract<PoolEvent, { type: T }> => e.type === type);

describe('planRestart', () => {
  const policy = { backoffMs: 100, maxBackoffMs: 1000, maxRestarts: 100, windowMs: 30_000, jitterRatio: 0.2 };

  it('should double the backoff per failure in the window and cap it', () => {
    let failures: number[] = [];
    const delays: number[] = [];
    for (let i = 0; i < 7; i += 1) {
      const plan = planRestart(failures, i, policy, () => 0);
      if (plan.kind !== 'restart') throw new Error('expected a restart');
      delays.push(plan.delayMs);
      failures = plan.recentFailures;
    }
    expect(delays).toEqual([100, 200, 400, 800, 1000, 1000, 1000]);
  });

  it('should only ever shorten the delay with jitter', () => {
    const plan = planRestart([0, 1], 2, policy, () => 0.999);
    expect(plan).toMatchObject({ kind: 'restart' });
    if (plan.kind === 'restart') expect(plan.delayMs).toBeGreaterThanOrEqual(320);
    if (plan.kind === 'restart') expect(plan.delayMs).toBeLessThanOrEqual(400);
  });

  it('should give up past maxRestarts within the window and forget failures outside it', () => {
    const strict = { ...policy, maxRestarts: 2, windowMs: 1000 };
    expect(planRestart([0, 10], 20, strict, () => 0).kind).toBe('give-up');
    expect(planRestart([0, 10], 1500, strict, () => 0)).toMatchObject({ kind: 'restart', recentFailures: [1500] });
  });
});

describe('supervisorMachine', () => {
  async function ready(overrides = {}) {
    const runtime = new FakeRuntime();
    const pool = startSupervisor(runtime, overrides);
    await settle();
    return { runtime, ...pool };
  }

  it('should route tasks to idle workers as messages and settle each once', async () => {
    const { runtime, actor, events } = await ready();
    for (const id of ['a', 'b', 'c']) actor.send({ type: 'task.submit', task: request(id) });
    expect(runtime.runs.get('worker-1')?.map((t) => t.id)).toEqual(['a']);
    expect(runtime.runs.get('worker-0')?.map((t) => t.id)).toEqual(['b']);
    runtime.result('worker-1', 'a', 'A');
    expect(runtime.runs.get('worker-1')?.map((t) => t.id)).toEqual(['a', 'c']);
    runtime.result('worker-0', 'b', 'B');
    runtime.result('worker-1', 'c', 'C');
    expect(ofType(events, 'task.succeeded').map((e) => [e.taskId, e.value])).toEqual([
      ['a', 'A'],
      ['b', 'B'],
      ['c', 'C'],
    ]);
  });

  it('should serve higher priorities first and FIFO within a priority', async () => {
    const { runtime, actor } = await ready({ devices: ['cpu'] });
    actor.send({ type: 'task.submit', task: request('first') });
    for (const [id, priority] of [['low1', 0], ['high1', 5], ['low2', 0], ['high2', 5]] as const) {
      actor.send({ type: 'task.submit', task: request(id, { priority }) });
    }
    for (const id of ['first', 'high1', 'high2', 'low1', 'low2']) runtime.result('worker-0', id);
    expect(runtime.runs.get('worker-0')?.map((t) => t.id)).toEqual(['first', 'high1', 'high2', 'low1', 'low2']);
  });

  it('should fail a task with QUEUE_FULL once maxQueue tasks wait', async () => {
    const { actor, events } = await ready({ devices: ['cpu'], maxQueue: 2 });
    for (const id of ['run', 'q1', 'q2', 'over']) actor.send({ type: 'task.submit', task: request(id) });
    expect(ofType(events, 'task.failed')).toEqual([
      { type: 'task.failed', taskId: 'over', failure: { code: 'QUEUE_FULL', queued: 2, maxQueue: 2 }, attempt: 1 },
    ]);
  });

  it('should fail the task at the deadline and replace the worker without backoff', async () => {
    const { runtime, actor, events } = await ready({ devices: ['cpu'] });
    actor.send({ type: 'task.submit', task: request('spin', { timeoutMs: 500 }) });
    runtime.clock.increment(500);
    expect(ofType(events, 'task.failed')[0]).toMatchObject({
      taskId: 'spin',
      failure: { code: 'TIMEOUT', elapsedMs: 500, timeoutMs: 500, workerId: 'worker-0', pid: 1001, device: 'cpu' },
    });
    await settle();
    expect(ofType(events, 'worker.restart-scheduled')[0]).toMatchObject({ delayMs: 0, counted: false });
    expect(ofType(events, 'worker.restarted')[0]).toMatchObject({ workerId: 'worker-0', pid: 1002, generation: 2 });
  });

  it('should retry a crashed task on a fresh worker and show each attempt', async () => {
    const { runtime, actor, events } = await ready({ devices: ['cpu'] });
    actor.send({ type: 'task.submit', task: request('flaky', { retries: 1 }) });
    runtime.exit('worker-0', 1);
    expect(ofType(events, 'task.retrying')).toMatchObject([{ taskId: 'flaky', nextAttempt: 2, failure: { code: 'CRASHED', exitCode: 1 } }]);
    await settle();
    // It died running a task: the task is charged, the worker replaced at once, nothing counted against the pool.
    expect(ofType(events, 'worker.restart-scheduled')).toMatchObject([{ delayMs: 0, counted: false, chargedTo: 'task', taskId: 'flaky' }]);
    expect(runtime.runs.get('worker-0')?.map((t) => [t.id, t.attempt])).toEqual([
      ['flaky', 1],
      ['flaky', 2],
    ]);
    expect(ofType(events, 'task.started').map((e) => e.pid)).toEqual([1001, 1002]);
    runtime.result('worker-0', 'flaky', 'done');
    expect(ofType(events, 'task.succeeded')).toMatchObject([{ taskId: 'flaky', attempt: 2 }]);
  });

  it('should not retry a timeout unless asked', async () => {
    const { runtime, actor, events } = await ready({ devices: ['cpu'] });
    actor.send({ type: 'task.submit', task: request('t', { retries: 3, timeoutMs: 10 }) });
    runtime.clock.increment(10);
    expect(ofType(events, 'task.failed')).toMatchObject([{ taskId: 't', failure: { code: 'TIMEOUT' } }]);
  });

  it('should back off crash restarts and become degraded past the intensity limit', async () => {
    const { runtime, actor, events } = await ready({ devices: ['cpu'] });
    actor.send({ type: 'task.submit', task: request('waiting') });
    runtime.failStarts.set('*', 100);
    runtime.exit('worker-0', 1); // the running task fails (charged to it: no backoff); every restart now fails to load
    for (let i = 0; i < 10; i += 1) {
      await settle();
      runtime.clock.increment(2_000);
    }
    await settle();
    expect(ofType(events, 'worker.restart-scheduled').map((e) => [e.delayMs, e.chargedTo])).toEqual([
      [0, 'task'],
      [100, 'worker'],
      [200, 'worker'],
      [400, 'worker'],
      [800, 'worker'],
      [1600, 'worker'],
    ]);
    expect(actor.getSnapshot().matches('degraded')).toBe(true);
    expect(ofType(events, 'pool.degraded')[0]).toMatchObject({
      workerId: 'worker-0',
      failuresInWindow: 6,
      lastError: { name: 'SyntaxError', message: 'Unexpected token in task module' },
    });
    actor.send({ type: 'task.submit', task: request('late') });
    expect(ofType(events, 'task.failed').at(-1)).toMatchObject({ taskId: 'late', failure: { code: 'DEGRADED' } });
  });

  it('should cancel a queued task without touching workers, and kill for a running one', async () => {
    const { runtime, actor, events } = await ready({ devices: ['cpu'] });
    actor.send({ type: 'task.submit', task: request('running') });
    actor.send({ type: 'task.submit', task: request('queued') });
    actor.send({ type: 'task.cancel', taskId: 'queued' });
    expect(ofType(events, 'task.failed')).toMatchObject([{ taskId: 'queued', failure: { code: 'CANCELLED', stage: 'queued' } }]);
    actor.send({ type: 'task.cancel', taskId: 'running' });
    expect(ofType(events, 'task.failed').at(-1)).toMatchObject({ taskId: 'running', failure: { code: 'CANCELLED', stage: 'running' } });
    await settle();
    expect(ofType(events, 'worker.restarted')).toHaveLength(1);
  });

  it('should emit progress of a running task in order, and none once it has settled', async () => {
    const { runtime, actor, events } = await ready({ devices: ['cpu'] });
    actor.send({ type: 'task.submit', task: request('t') });
    runtime.progress('worker-0', 't', 0.1);
    runtime.progress('worker-0', 't', 0.6, { step: 2 });
    runtime.progress('worker-0', 'stranger', 0.5);
    expect(ofType(events, 'task.progress')).toEqual([
      { type: 'task.progress', taskId: 't', workerId: 'worker-0', fraction: 0.1, detail: undefined },
      { type: 'task.progress', taskId: 't', workerId: 'worker-0', fraction: 0.6, detail: { step: 2 } },
    ]);
    runtime.result('worker-0', 't');
    runtime.progress('worker-0', 't', 0.9);
    expect(ofType(events, 'task.progress')).toHaveLength(2);
  });

  it('should drain queued tasks on close, then stop every worker', async () => {
    const { runtime, actor, events } = await ready({ devices: ['cpu'] });
    actor.send({ type: 'task.submit', task: request('a') });
    actor.send({ type: 'task.submit', task: request('b') });
    actor.send({ type: 'pool.close', drainTimeoutMs: 10_000 });
    actor.send({ type: 'task.submit', task: request('refused') });
    expect(ofType(events, 'task.failed')).toMatchObject([{ taskId: 'refused', failure: { code: 'CLOSED' } }]);
    runtime.result('worker-0', 'a');
    runtime.result('worker-0', 'b');
    await settle();
    expect(actor.getSnapshot().status).toBe('done');
    expect(ofType(events, 'task.succeeded').map((e) => e.taskId)).toEqual(['a', 'b']);
    expect(events.at(-1)).toEqual({ type: 'pool.closed' });
  });

  it('should fail what is left when the drain time runs out', async () => {
    const { runtime, actor, events } = await ready({ devices: ['cpu'] });
    actor.send({ type: 'task.submit', task: request('slow', { timeoutMs: 60_000 }) });
    actor.send({ type: 'task.submit', task: request('queued') });
    actor.send({ type: 'pool.close', drainTimeoutMs: 1000 });
    runtime.clock.increment(1000);
    // What waited in the queue fails in one event (a close of 100k queued tasks is one event, not 100k).
    expect(ofType(events, 'tasks.failed')).toEqual([{ type: 'tasks.failed', tasks: [{ taskId: 'queued', attempt: 1 }], failure: { code: 'CLOSED' } }]);
    expect(ofType(events, 'task.failed').map((e) => [e.taskId, e.failure.code])).toEqual([['slow', 'CLOSED']]);
    await settle();
    expect(actor.getSnapshot().status).toBe('done');
  });

  it('should give a lease one worker for several runs, then give it back', async () => {
    const { runtime, actor, events } = await ready({ devices: ['cpu'] });
    actor.send({ type: 'lease.acquire', leaseId: 'L', priority: 0 });
    expect(ofType(events, 'lease.granted')).toEqual([{ type: 'lease.granted', leaseId: 'L', workerId: 'worker-0' }]);
    actor.send({ type: 'task.submit', task: request('other') });
    actor.send({ type: 'task.submit', task: request('s1', { leaseId: 'L' }) });
    actor.send({ type: 'task.submit', task: request('s2', { leaseId: 'L' }) });
    runtime.result('worker-0', 's1');
    runtime.result('worker-0', 's2');
    expect(runtime.runs.get('worker-0')?.map((t) => t.id)).toEqual(['s1', 's2']);
    actor.send({ type: 'lease.release', leaseId: 'L' });
    expect(runtime.runs.get('worker-0')?.map((t) => t.id)).toEqual(['s1', 's2', 'other']);
  });

  it('should replace a worker whose machine failed, without dying itself', async () => {
    const runtime = new FakeRuntime();
    let broken = true;
    const { actor, events } = startSupervisor(runtime, { devices: ['cpu'] }, {
      // A bug inside the worker machine: the first memory sample throws.
      isOverHardLimit: () => {
        if (broken) {
          broken = false;
          throw new Error('bug in a guard');
        }
        return false;
      },
    });
    await settle();
    actor.send({ type: 'task.submit', task: request('victim') });
    runtime.sample('worker-0', 1);
    expect(actor.getSnapshot().status).toBe('active');
    expect(ofType(events, 'task.failed')).toMatchObject([
      { taskId: 'victim', failure: { code: 'CRASHED', error: { message: expect.stringContaining('bug in a guard') } } },
    ]);
    runtime.clock.increment(100); // a failed machine counts as a crash: backoff applies
    await settle();
    expect(ofType(events, 'worker.restarted')).toMatchObject([{ workerId: 'worker-0' }]);
    actor.send({ type: 'task.submit', task: request('next') });
    runtime.result('worker-0', 'next', 'fine');
    expect(ofType(events, 'task.succeeded')).toMatchObject([{ taskId: 'next', value: 'fine' }]);
  });
});
