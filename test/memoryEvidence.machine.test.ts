import { describe, expect, it } from 'vitest';
import { MEMORY_EVIDENCE_SAMPLES, type PoolEvent, type TaskRequest, type WorkerNotification } from '../machines/index.js';
import { FakeRuntime, MiB, settle, startLoneWorker, startSupervisor, task } from './support/fakeRuntime.js';

function request(id: string, overrides: Partial<TaskRequest> = {}): TaskRequest {
  return { id, name: 'work', payload: id, priority: 0, retries: 0, retryOn: [], ...overrides };
}

const memoryFailureOf = (events: PoolEvent[], taskId: string) => {
  const failure = events.find((e): e is Extract<PoolEvent, { type: 'task.failed' }> => e.type === 'task.failed' && e.taskId === taskId)?.failure;
  if (failure?.code !== 'MEMORY') throw new Error(`expected a MEMORY failure of ${taskId}, got ${JSON.stringify(failure)}`);
  return failure;
};

// testWorkerSettings: a 256 MiB limit, soft at 80 %.
const UNDER_SOFT = 10 * MiB;
const OVER_SOFT = 220 * MiB;
const OVER_HARD = 300 * MiB;

describe('the memory evidence kept per task', () => {
  it('should stay bounded however long a task runs and is sampled', async () => {
    const runtime = new FakeRuntime();
    const { actor } = startLoneWorker(runtime);
    await settle();
    actor.send({ type: 'task.run', task: task('long', { timeoutMs: 1_000_000 }) });
    for (let i = 0; i < 5000; i += 1) {
      runtime.clock.increment(100);
      runtime.sample('worker-0', UNDER_SOFT + i);
      expect(actor.getSnapshot().context.samples.length).toBeLessThanOrEqual(MEMORY_EVIDENCE_SAMPLES);
    }
    // It keeps the newest ones, oldest first.
    const kept = actor.getSnapshot().context.samples;
    expect(kept).toHaveLength(MEMORY_EVIDENCE_SAMPLES);
    expect(kept.map((s) => s.rssBytes)).toEqual(Array.from({ length: MEMORY_EVIDENCE_SAMPLES }, (_, i) => UNDER_SOFT + 5000 - MEMORY_EVIDENCE_SAMPLES + i));
    actor.stop();
  });

  it('should give a memory kill at most the bound of samples, the newest, ending with the one that breached', async () => {
    const runtime = new FakeRuntime();
    const { actor, events } = startLoneWorker(runtime);
    await settle();
    actor.send({ type: 'task.run', task: task('hungry', { timeoutMs: 1_000_000 }) });
    // Long in `busy`, then long in `monitoring` (sampled fast), then over the limit.
    for (let i = 0; i < 300; i += 1) {
      runtime.clock.increment(100);
      runtime.sample('worker-0', UNDER_SOFT);
    }
    for (let i = 0; i < 300; i += 1) {
      runtime.clock.increment(25);
      runtime.sample('worker-0', OVER_SOFT + i);
    }
    runtime.clock.increment(25);
    runtime.sample('worker-0', OVER_HARD);
    const killed = events.find((e): e is Extract<WorkerNotification, { type: 'worker.killed' }> => e.type === 'worker.killed');
    expect(killed?.termination.reason).toBe('memory');
    const samples = killed?.termination.reason === 'memory' ? killed.termination.samples : [];
    expect(samples).toHaveLength(MEMORY_EVIDENCE_SAMPLES);
    expect(samples.at(-1)).toEqual({ atMs: runtime.clock.now(), rssBytes: OVER_HARD });
    expect(samples.slice(0, -1).every((s) => s.rssBytes >= OVER_SOFT)).toBe(true);
    const times = samples.map((s) => s.atMs);
    expect(times).toEqual([...times].sort((a, b) => a - b));
    actor.stop();
  });

  it('should hold only the task’s own samples: none from the worker idle before it, none from the task before it', async () => {
    const runtime = new FakeRuntime();
    const { actor, events } = startSupervisor(runtime, { devices: ['cpu'] });
    await settle();
    for (let i = 0; i < 50; i += 1) runtime.sample('worker-0', 1 * MiB); // idle
    actor.send({ type: 'task.submit', task: request('earlier') });
    for (let i = 0; i < 50; i += 1) runtime.sample('worker-0', 2 * MiB);
    runtime.result('worker-0', 'earlier');
    actor.send({ type: 'task.submit', task: request('hungry', { timeoutMs: 60_000 }) });
    runtime.sample('worker-0', 3 * MiB);
    runtime.sample('worker-0', OVER_HARD);
    const failure = memoryFailureOf(events, 'hungry');
    expect(failure.samples.map((s) => s.rssBytes)).toEqual([3 * MiB, OVER_HARD]);

    // And the supervisor hands on a long task's evidence still bounded.
    await settle();
    actor.send({ type: 'task.submit', task: request('long', { timeoutMs: 60_000 }) });
    for (let i = 0; i < 200; i += 1) runtime.sample('worker-0', UNDER_SOFT);
    runtime.sample('worker-0', OVER_HARD);
    expect(memoryFailureOf(events, 'long').samples).toHaveLength(MEMORY_EVIDENCE_SAMPLES);
    actor.stop();
  });
});
