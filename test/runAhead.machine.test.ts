import { describe, expect, it } from 'vitest';
import { RUN_AHEAD_BUDGET_MS, type PoolEvent, type TaskRequest } from '../machines/index.js';
import { FakeRuntime, settle, startSupervisor } from './support/fakeRuntime.js';

/**
 * Run-ahead: a worker that frees up while many fast tasks wait is handed several at
 * once, runs them in order, and reports them together. Each still gets its own
 * deadline, counted from when the one before it finished, and a task that was handed
 * over but never started goes back to the queue if the worker dies.
 */

function request(id: string, overrides: Partial<TaskRequest> = {}): TaskRequest {
  return { id, name: 'work', payload: id, priority: 0, retries: 0, retryOn: ['crash', 'memory'], ...overrides };
}

const ofType = <T extends PoolEvent['type']>(events: PoolEvent[], type: T) =>
  events.filter((e): e is Extract<PoolEvent, { type: T }> => e.type === type);

/** One worker, whose task name `work` has run (instantly) often enough to count as fast. */
async function warmPool(overrides = {}) {
  const runtime = new FakeRuntime();
  const pool = startSupervisor(runtime, { devices: ['cpu'], maxBatch: 4, ...overrides });
  await settle();
  for (const id of ['warm1', 'warm2', 'warm3']) {
    pool.actor.send({ type: 'task.submit', task: request(id) });
    const [workerId] = [...runtime.runs].find(([, runs]) => runs.at(-1)?.id === id) ?? [];
    runtime.result(workerId as string, id);
  }
  return { runtime, ...pool };
}

function submit(actor: ReturnType<typeof startSupervisor>['actor'], ids: readonly string[], overrides: Partial<TaskRequest> = {}) {
  for (const id of ids) actor.send({ type: 'task.submit', task: request(id, overrides) });
}

describe('run-ahead', () => {
  it('should hand a deep queue of fast tasks out in batches of maxBatch and settle a batch reported together', async () => {
    const { runtime, actor, events } = await warmPool();
    submit(actor, ['a', 'b', 'c', 'd', 'e', 'f', 'g']);
    // `a` found the worker idle; the rest queued behind it.
    runtime.result('worker-0', 'a');
    runtime.resultsTogether('worker-0', ['b', 'c', 'd', 'e']);
    runtime.resultsTogether('worker-0', ['f', 'g']);
    expect(runtime.batches.get('worker-0')?.slice(3)).toEqual([['a'], ['b', 'c', 'd', 'e'], ['f', 'g']]);
    expect(ofType(events, 'task.succeeded').map((e) => e.taskId).slice(3)).toEqual(['a', 'b', 'c', 'd', 'e', 'f', 'g']);
    // Each task is reported started when the one before it finished, and before it succeeded.
    const order = events.filter((e) => e.type === 'task.started' || e.type === 'task.succeeded').map((e) => `${e.type.slice(5)}:${(e as { taskId: string }).taskId}`);
    expect(order.slice(6)).toEqual(['started:a', 'succeeded:a', 'started:b', 'succeeded:b', 'started:c', 'succeeded:c', 'started:d', 'succeeded:d', 'started:e', 'succeeded:e', 'started:f', 'succeeded:f', 'started:g', 'succeeded:g']);
  });

  it('should time out only the task that hangs, counting its deadline from when the one before it finished', async () => {
    const { runtime, actor, events } = await warmPool();
    submit(actor, ['a', 'b', 'c', 'd']);
    runtime.result('worker-0', 'a');
    expect(runtime.batches.get('worker-0')?.at(-1)).toEqual(['b', 'c', 'd']);
    runtime.clock.increment(600);
    runtime.result('worker-0', 'b');
    runtime.clock.increment(999);
    expect(ofType(events, 'task.failed')).toEqual([]);
    runtime.clock.increment(1);
    expect(ofType(events, 'task.failed')).toEqual([
      expect.objectContaining({ taskId: 'c', failure: expect.objectContaining({ code: 'TIMEOUT', elapsedMs: 1000, timeoutMs: 1000 }) }),
    ]);
    // `d` never started: it runs on the replacement worker, on its first attempt.
    await settle();
    expect(runtime.runs.get('worker-0')?.at(-1)?.id).toBe('d');
    runtime.result('worker-0', 'd');
    expect(ofType(events, 'task.succeeded').at(-1)).toMatchObject({ taskId: 'd', attempt: 1 });
    expect(ofType(events, 'task.retrying')).toEqual([]);
  });

  it('should settle a cancelled task that was run ahead at once, without a kill, and drop its result', async () => {
    const { runtime, actor, events } = await warmPool();
    submit(actor, ['a', 'b', 'c', 'd']);
    runtime.result('worker-0', 'a');
    actor.send({ type: 'task.cancel', taskId: 'c' });
    expect(ofType(events, 'task.failed')).toEqual([{ type: 'task.failed', taskId: 'c', failure: { code: 'CANCELLED', stage: 'queued' }, attempt: 1 }]);
    runtime.resultsTogether('worker-0', ['b', 'c', 'd']);
    expect(runtime.terminations).toEqual([]);
    expect(ofType(events, 'task.succeeded').map((e) => e.taskId).slice(3)).toEqual(['a', 'b', 'd']);
    // The worker is idle again and takes the next task alone.
    submit(actor, ['e']);
    expect(runtime.batches.get('worker-0')?.at(-1)).toEqual(['e']);
  });

  it('should return the unstarted tasks of a crashed worker to the front of the queue, in order', async () => {
    const { runtime, actor, events } = await warmPool();
    submit(actor, ['a', 'b', 'c', 'd', 'e']);
    runtime.result('worker-0', 'a');
    runtime.exit('worker-0', 1);
    expect(ofType(events, 'task.failed')).toEqual([expect.objectContaining({ taskId: 'b', failure: expect.objectContaining({ code: 'CRASHED' }) })]);
    await settle(); // the exit is confirmed, the restart planned
    runtime.clock.increment(100); // the crash's backoff
    await settle();
    expect(runtime.batches.get('worker-0')?.at(-1)).toEqual(['c', 'd', 'e']);
  });

  it('should fail the unstarted tasks as CLOSED when the pool closes at once', async () => {
    const { runtime, actor, events } = await warmPool();
    submit(actor, ['a', 'b', 'c', 'd']);
    runtime.result('worker-0', 'a');
    actor.send({ type: 'pool.close', drainTimeoutMs: 0 });
    await settle();
    expect(ofType(events, 'task.failed').map((e) => [e.taskId, e.failure.code])).toEqual([
      ['b', 'CLOSED'],
      ['c', 'CLOSED'],
      ['d', 'CLOSED'],
    ]);
  });

  it('should never run ahead tasks of a name with too few runs, of a slow name, or with maxBatch 1', async () => {
    const { runtime, actor } = await warmPool();
    submit(actor, ['n1', 'n2', 'n3'], { name: 'new' });
    for (const id of ['n1', 'n2', 'n3']) runtime.result('worker-0', id);
    expect(runtime.batches.get('worker-0')?.slice(-3)).toEqual([['n1'], ['n2'], ['n3']]);
    // `slow` has run three times, each over the whole run-ahead budget.
    submit(actor, ['s1', 's2', 's3', 's4', 's5'], { name: 'slow' });
    for (const id of ['s1', 's2', 's3', 's4', 's5']) {
      runtime.clock.increment(RUN_AHEAD_BUDGET_MS + 1);
      runtime.result('worker-0', id);
    }
    expect(runtime.batches.get('worker-0')?.slice(-5)).toEqual([['s1'], ['s2'], ['s3'], ['s4'], ['s5']]);

    const single = await warmPool({ maxBatch: 1 });
    submit(single.actor, ['a', 'b', 'c']);
    for (const id of ['a', 'b', 'c']) single.runtime.result('worker-0', id);
    expect(single.runtime.batches.get('worker-0')?.slice(-3)).toEqual([['a'], ['b'], ['c']]);
  });

  it('should keep run times for a bounded number of names, forgetting the one first measured longest ago', async () => {
    const { runtime, actor } = await warmPool();
    for (let i = 0; i < 1024; i += 1) {
      submit(actor, [`n${i}`], { name: `made-up-${i}` });
      runtime.result('worker-0', `n${i}`);
    }
    // `work` was measured first, so it made room: its tasks go one at a time again.
    submit(actor, ['a', 'b', 'c']);
    for (const id of ['a', 'b', 'c']) runtime.result('worker-0', id);
    expect(runtime.batches.get('worker-0')?.slice(-3)).toEqual([['a'], ['b'], ['c']]);
  });

  it('should hand each of two workers no more than its share of the queue', async () => {
    const { runtime, actor } = await warmPool({ devices: ['cpu', 'cpu'], maxBatch: 32 });
    // Both workers busy, six tasks waiting: each worker that frees up takes half of what waits.
    submit(actor, ['x', 'y', 'a', 'b', 'c', 'd', 'e', 'f']);
    runtime.result('worker-1', 'x');
    runtime.result('worker-0', 'y');
    const [first, second] = [runtime.batches.get('worker-1')?.at(-1), runtime.batches.get('worker-0')?.at(-1)];
    expect(first).toEqual(['a', 'b', 'c']);
    expect(second).toEqual(['d', 'e']);
  });
});
