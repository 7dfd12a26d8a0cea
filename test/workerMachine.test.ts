import { describe, expect, it } from 'vitest';
import { workerStateName } from '../machines/index.js';
import { FakeRuntime, MiB, settle, startLoneWorker, task, testWorkerSettings } from './support/fakeRuntime.js';

async function readyWorker(runtime = new FakeRuntime()) {
  const lone = startLoneWorker(runtime);
  await settle();
  expect(workerStateName(lone.actor.getSnapshot().value)).toBe('idle');
  return { runtime, ...lone };
}

const state = (actor: { getSnapshot(): { value: unknown } }) => workerStateName(actor.getSnapshot().value);

describe('workerMachine', () => {
  it('should start an OS worker and report ready with its pid', async () => {
    const { events } = await readyWorker();
    expect(events).toEqual([{ type: 'worker.ready', workerId: 'worker-0', pid: 1001, generation: 1 }]);
  });

  it('should fire the deadline exactly timeoutMs after dispatch, not 1 ms before', async () => {
    const { runtime, actor, events } = await readyWorker();
    runtime.clock.increment(5_000); // idle time before dispatch must not count
    actor.send({ type: 'task.run', task: task('t1', { timeoutMs: 1000 }) });
    runtime.clock.increment(999);
    expect(state(actor)).toBe('busy');
    runtime.clock.increment(1);
    expect(state(actor)).toBe('killed');
    expect(events.at(-1)).toMatchObject({
      type: 'worker.killed',
      taskId: 't1',
      termination: { reason: 'timeout', elapsedMs: 1000, timeoutMs: 1000 },
    });
  });

  it('should run tasks handed over together one after another, each with its own deadline and evidence', async () => {
    const { runtime, actor, events } = await readyWorker();
    actor.send({ type: 'task.run', task: task('t1', { timeoutMs: 1000 }), runAhead: [task('t2', { timeoutMs: 300 }), task('t3')] });
    expect(runtime.batches.get('worker-0')).toEqual([['t1', 't2', 't3']]);
    runtime.clock.increment(700);
    runtime.sample('worker-0', 50 * MiB);
    runtime.result('worker-0', 't1', 1);
    expect(events.at(-1)).toEqual({ type: 'worker.tasks-done', workerId: 'worker-0', results: [{ taskId: 't1', outcome: { ok: true, value: 1 }, durationMs: 700 }] });
    // t2 is current now: its samples start empty, its deadline counts from t1's end.
    expect(actor.getSnapshot().context).toMatchObject({ task: { id: 't2', startedAt: 700 }, runAhead: [{ id: 't3' }], samples: [] });
    // t3 failed out of turn (its payload could not be sent): t2 stays current.
    runtime.throwInTask('worker-0', 't3');
    expect(events.at(-1)).toMatchObject({ type: 'worker.tasks-done', results: [{ taskId: 't3', outcome: { ok: false } }] });
    expect(actor.getSnapshot().context).toMatchObject({ task: { id: 't2' }, runAhead: [] });
    runtime.clock.increment(299);
    expect(state(actor)).toBe('busy');
    runtime.clock.increment(1);
    expect(events.at(-1)).toMatchObject({ type: 'worker.killed', taskId: 't2', termination: { reason: 'timeout', elapsedMs: 300, timeoutMs: 300 } });
  });

  it("should report the worker's own run time where the result carries one", async () => {
    const { runtime, actor, events } = await readyWorker();
    actor.send({ type: 'task.run', task: task('t1'), runAhead: [task('t2')] });
    runtime.clock.increment(50);
    runtime.result('worker-0', 't1', 1, 3.25);
    runtime.result('worker-0', 't2', 2, 0.5);
    expect(events.slice(-2).map((e) => (e.type === 'worker.tasks-done' ? e.results.map((r) => [r.taskId, r.durationMs]) : []))).toEqual([
      [['t1', 3.25]],
      [['t2', 0.5]],
    ]);
  });

  it('should keep the deadline when moving between busy and monitoring', async () => {
    const { runtime, actor } = await readyWorker();
    actor.send({ type: 'task.run', task: task('t1', { timeoutMs: 1000, memoryLimitBytes: 100 * MiB }) });
    runtime.clock.increment(400);
    runtime.sample('worker-0', 90 * MiB); // over the 80 % soft threshold
    expect(state(actor)).toBe('monitoring');
    expect(runtime.isPollingFast('worker-0')).toBe(true);
    runtime.clock.increment(300);
    runtime.sample('worker-0', 10 * MiB);
    expect(state(actor)).toBe('busy');
    expect(runtime.isPollingFast('worker-0')).toBe(false);
    runtime.clock.increment(299);
    expect(state(actor)).toBe('busy');
    runtime.clock.increment(1);
    expect(state(actor)).toBe('killed');
  });

  it('should warn on the soft threshold and kill on the hard limit with samples as evidence', async () => {
    const { runtime, actor, events } = await readyWorker();
    actor.send({ type: 'task.run', task: task('t1', { timeoutMs: 60_000, memoryLimitBytes: 100 * MiB }) });
    runtime.sample('worker-0', 50 * MiB);
    expect(state(actor)).toBe('busy');
    runtime.sample('worker-0', 81 * MiB);
    expect(events.at(-1)).toMatchObject({ type: 'worker.memory-warning', taskId: 't1', resource: 'rss', usedBytes: 81 * MiB, limitBytes: 100 * MiB });
    runtime.sample('worker-0', 95 * MiB);
    expect(state(actor)).toBe('monitoring');
    runtime.sample('worker-0', 101 * MiB);
    expect(state(actor)).toBe('killed');
    const killed = events.at(-1);
    expect(killed).toMatchObject({ type: 'worker.killed', taskId: 't1', termination: { reason: 'memory', rssBytes: 101 * MiB, limitBytes: 100 * MiB } });
    if (killed?.type !== 'worker.killed' || killed.termination.reason !== 'memory') throw new Error('expected a memory kill');
    expect(killed.termination.samples.map((s) => s.rssBytes)).toEqual([50 * MiB, 81 * MiB, 95 * MiB, 101 * MiB]);
    await settle();
    expect(runtime.terminations).toEqual([{ workerId: 'worker-0', immediate: true }]);
  });

  it('should report the result and go back to idle, disarming the deadline', async () => {
    const { runtime, actor, events } = await readyWorker();
    actor.send({ type: 'task.run', task: task('t1', { timeoutMs: 1000 }) });
    expect(runtime.runs.get('worker-0')?.map((t) => t.id)).toEqual(['t1']);
    runtime.clock.increment(10);
    runtime.result('worker-0', 't1', 42);
    expect(state(actor)).toBe('idle');
    expect(events.at(-1)).toEqual({
      type: 'worker.tasks-done',
      workerId: 'worker-0',
      results: [{ taskId: 't1', outcome: { ok: true, value: 42 }, durationMs: 10 }],
    });
    runtime.clock.increment(10_000);
    expect(state(actor)).toBe('idle');
  });

  it('should ignore a result for a task it is not running', async () => {
    const { runtime, actor } = await readyWorker();
    actor.send({ type: 'task.run', task: task('t1') });
    runtime.result('worker-0', 'other');
    expect(state(actor)).toBe('busy');
  });

  it('should hand a task back when it is not idle', async () => {
    const { actor, events } = await readyWorker();
    actor.send({ type: 'task.run', task: task('t1') });
    actor.send({ type: 'task.run', task: task('t2') });
    expect(events.at(-1)).toMatchObject({ type: 'worker.task-rejected', task: { id: 't2' } });
  });

  it('should treat an unexpected exit as a crash, and wait for the verdict after the exit', async () => {
    const { runtime, actor, events } = await readyWorker();
    actor.send({ type: 'task.run', task: task('t1') });
    runtime.exit('worker-0', null, 'SIGKILL');
    expect(events.at(-1)).toMatchObject({
      type: 'worker.killed',
      taskId: 't1',
      termination: { reason: 'crashed', exitCode: null, signal: 'SIGKILL', stderrTail: 'fatal' },
    });
    await settle();
    expect(actor.getSnapshot().value).toEqual({ killed: 'awaitingVerdict' });
    expect(events.at(-1)).toMatchObject({ type: 'worker.exited', exit: { exitCode: null, signal: 'SIGKILL' } });
  });

  it('should restart after the backoff the supervisor chose', async () => {
    const { runtime, actor, events } = await readyWorker();
    runtime.exit('worker-0', 1);
    await settle();
    actor.send({ type: 'worker.restart', delayMs: 400 });
    runtime.clock.increment(399);
    await settle();
    expect(state(actor)).toBe('restarting');
    expect(runtime.starts).toHaveLength(1);
    runtime.clock.increment(1);
    await settle();
    expect(state(actor)).toBe('idle');
    expect(events.at(-1)).toEqual({ type: 'worker.ready', workerId: 'worker-0', pid: 1002, generation: 2 });
  });

  it('should turn a failed start into a start-failed kill carrying the error', async () => {
    const runtime = new FakeRuntime();
    runtime.failStarts.set('worker-0', 1);
    const { actor, events } = startLoneWorker(runtime);
    await settle();
    expect(events[0]).toMatchObject({
      type: 'worker.killed',
      taskId: undefined,
      termination: { reason: 'start-failed', error: { name: 'SyntaxError', code: 'ERR_LOAD' } },
    });
    expect(actor.getSnapshot().value).toEqual({ killed: 'awaitingVerdict' });
  });

  it('should kill on cancel of the running task and stop when told', async () => {
    const { runtime, actor, events } = await readyWorker();
    actor.send({ type: 'task.run', task: task('t1') });
    actor.send({ type: 'task.cancel', taskId: 't1' });
    expect(events.at(-1)).toMatchObject({ type: 'worker.killed', termination: { reason: 'cancelled' } });
    await settle();
    expect(runtime.terminations.at(-1)).toEqual({ workerId: 'worker-0', immediate: false });
    actor.send({ type: 'worker.stop' });
    expect(actor.getSnapshot().status).toBe('done');
  });

  it('should finish a start before stopping, so no OS worker is left behind', async () => {
    const runtime = new FakeRuntime();
    runtime.autoStart = false;
    const { actor } = startLoneWorker(runtime);
    await settle();
    actor.send({ type: 'worker.stop' });
    expect(state(actor)).toBe('restarting');
    runtime.completeStart('worker-0');
    await settle();
    expect(actor.getSnapshot().status).toBe('done');
    expect(runtime.terminations).toEqual([{ workerId: 'worker-0', immediate: false }]);
  });

  it('should replace an idle worker that leaked past its limit', async () => {
    const { runtime, actor, events } = await readyWorker();
    runtime.sample('worker-0', 300 * MiB);
    expect(state(actor)).toBe('killed');
    expect(events.at(-1)).toMatchObject({ type: 'worker.killed', taskId: undefined, termination: { reason: 'memory' } });
  });
});

describe('workerMachine, deadline warning and cooperative cancel', () => {
  async function warnedWorker(deadlineWarningMs: number, cancelGraceMs: number) {
    const runtime = new FakeRuntime();
    const lone = startLoneWorker(runtime, { settings: { ...testWorkerSettings, deadlineWarningMs, cancelGraceMs } });
    await settle();
    return { runtime, ...lone };
  }

  it('should abort the task a tenth of its timeout before the deadline at most, and still kill exactly at the deadline', async () => {
    const { runtime, actor, events } = await warnedWorker(1000, 0);
    actor.send({ type: 'task.run', task: task('t1', { timeoutMs: 2000 }) });
    runtime.clock.increment(1799);
    expect(runtime.aborts.get('worker-0')).toBeUndefined();
    runtime.clock.increment(1);
    expect(runtime.aborts.get('worker-0')).toEqual([{ taskId: 't1', reason: { code: 'ERR_TASK_DEADLINE', timeoutMs: 2000, remainingMs: 200 } }]);
    expect(state(actor)).toBe('busy');
    runtime.clock.increment(199);
    expect(state(actor)).toBe('busy');
    runtime.clock.increment(1);
    expect(events.at(-1)).toMatchObject({ type: 'worker.killed', taskId: 't1', termination: { reason: 'timeout', elapsedMs: 2000, timeoutMs: 2000 } });
  });

  it('should kill at the deadline counted from the start even when the warning fires late, not a lead after the warning', async () => {
    const { runtime, actor, events } = await warnedWorker(1000, 0);
    actor.send({ type: 'task.run', task: task('t1', { timeoutMs: 2000 }) });
    // The clock jumps past the warning's time: its timer fires 50 ms late, as a busy event loop makes it.
    runtime.clock.increment(1850);
    expect(runtime.aborts.get('worker-0')).toEqual([{ taskId: 't1', reason: { code: 'ERR_TASK_DEADLINE', timeoutMs: 2000, remainingMs: 150 } }]);
    runtime.clock.increment(149);
    expect(state(actor)).toBe('busy');
    runtime.clock.increment(1);
    expect(events.at(-1)).toMatchObject({ type: 'worker.killed', taskId: 't1', termination: { reason: 'timeout', elapsedMs: 2000, timeoutMs: 2000 } });
  });

  it('should not kill on a deadline timer that fires before the deadline, and kill once it has passed', async () => {
    const { runtime, actor, events } = await warnedWorker(1000, 0);
    actor.send({ type: 'task.run', task: task('t1', { timeoutMs: 2000 }) });
    runtime.clock.increment(1990);
    // A timer Node fired early (its delay counted from a stale event-loop time), 10 ms before the deadline.
    actor.send({ type: 'deadline.reached', taskId: 't1', runSeq: actor.getSnapshot().context.runSeq });
    expect(state(actor)).toBe('busy');
    runtime.clock.increment(9);
    expect(state(actor)).toBe('busy');
    runtime.clock.increment(1);
    expect(events.at(-1)).toMatchObject({ type: 'worker.killed', taskId: 't1', termination: { reason: 'timeout', elapsedMs: 2000, timeoutMs: 2000 } });
  });

  it('should use deadlineWarningMs as the lead when it is under a tenth of the timeout', async () => {
    const { runtime, actor } = await warnedWorker(500, 0);
    actor.send({ type: 'task.run', task: task('t1', { timeoutMs: 60_000 }) });
    runtime.clock.increment(59_500);
    expect(runtime.aborts.get('worker-0')).toMatchObject([{ taskId: 't1', reason: { remainingMs: 500 } }]);
  });

  it('should keep the worker when a warned task returns before its deadline, and arm nothing left over for the next', async () => {
    const { runtime, actor, events } = await warnedWorker(1000, 0);
    actor.send({ type: 'task.run', task: task('t1', { timeoutMs: 1000 }), runAhead: [task('t2', { timeoutMs: 1000 })] });
    runtime.clock.increment(900);
    expect(runtime.aborts.get('worker-0')).toHaveLength(1);
    runtime.result('worker-0', 't1', 'stopped early');
    expect(events.at(-1)).toMatchObject({ type: 'worker.tasks-done', results: [{ taskId: 't1', outcome: { ok: true, value: 'stopped early' } }] });
    // t1's remaining 100 ms must not end t2: t2 has its own deadline, from now.
    runtime.clock.increment(899);
    expect(state(actor)).toBe('busy');
    expect(runtime.aborts.get('worker-0')).toHaveLength(1);
    runtime.clock.increment(1);
    expect(runtime.aborts.get('worker-0')?.at(-1)).toMatchObject({ taskId: 't2' });
    runtime.result('worker-0', 't2');
    expect(state(actor)).toBe('idle');
    runtime.clock.increment(10_000);
    expect(state(actor)).toBe('idle');
  });

  it('should not let the timers of a task that returned reach a later task with the same id', async () => {
    const { runtime, actor } = await warnedWorker(1000, 100);
    actor.send({ type: 'task.run', task: task('t1', { timeoutMs: 1000 }) });
    runtime.clock.increment(900);
    actor.send({ type: 'task.cancel', taskId: 't1' });
    runtime.result('worker-0', 't1');
    // The caller reuses its id at once: the old deadline (100 ms left) and grace (100 ms) must not end it.
    actor.send({ type: 'task.run', task: task('t1', { timeoutMs: 1000 }) });
    runtime.clock.increment(500);
    expect(state(actor)).toBe('busy');
  });

  it('should abort a cancelled task, keep its worker if it returns within the grace, and kill it otherwise', async () => {
    const { runtime, actor, events } = await warnedWorker(0, 100);
    actor.send({ type: 'task.run', task: task('t1') });
    actor.send({ type: 'task.cancel', taskId: 't1' });
    expect(runtime.aborts.get('worker-0')).toEqual([{ taskId: 't1', reason: { code: 'ERR_TASK_CANCELLED' } }]);
    runtime.clock.increment(50);
    runtime.result('worker-0', 't1', 'gave up');
    expect(state(actor)).toBe('idle');
    runtime.clock.increment(1000);
    expect(state(actor)).toBe('idle');
    expect(events.filter((e) => e.type === 'worker.killed')).toEqual([]);

    actor.send({ type: 'task.run', task: task('t2') });
    actor.send({ type: 'task.cancel', taskId: 't2' });
    runtime.clock.increment(99);
    expect(state(actor)).toBe('busy');
    runtime.clock.increment(1);
    expect(events.at(-1)).toMatchObject({ type: 'worker.killed', taskId: 't2', termination: { reason: 'cancelled' } });
  });

  it('should pass progress of a running task to its parent', async () => {
    const { runtime, actor, events } = await warnedWorker(0, 0);
    actor.send({ type: 'task.run', task: task('t1') });
    runtime.progress('worker-0', 't1', 0.25, { step: 'load' });
    expect(events.at(-1)).toEqual({ type: 'worker.task-progress', workerId: 'worker-0', taskId: 't1', fraction: 0.25, detail: { step: 'load' } });
  });
});
