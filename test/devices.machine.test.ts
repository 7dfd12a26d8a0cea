import { describe, expect, it } from 'vitest';
import { workerStateName, type PoolEvent, type TaskRequest } from '../machines/index.js';
import { FakeRuntime, MiB, settle, startLoneWorker, startSupervisor, task } from './support/fakeRuntime.js';

function request(id: string, overrides: Partial<TaskRequest> = {}): TaskRequest {
  return { id, name: 'work', payload: id, priority: 0, retries: 0, retryOn: ['crash', 'memory'], ...overrides };
}

const ofType = <T extends PoolEvent['type']>(events: PoolEvent[], type: T) =>
  events.filter((e): e is Extract<PoolEvent, { type: T }> => e.type === type);

const ran = (runtime: FakeRuntime, workerId: string) => runtime.runs.get(workerId)?.map((t) => t.id) ?? [];

describe('routing by device', () => {
  async function pool() {
    const runtime = new FakeRuntime();
    // worker-0 cpu, worker-1 cuda:0, worker-2 cuda:1
    const started = startSupervisor(runtime, { devices: ['cpu', 'cuda:0', 'cuda:1'] });
    await settle();
    return { runtime, ...started };
  }

  it('should send cpu, any-GPU and exact-GPU requests to matching workers only', async () => {
    const { runtime, actor } = await pool();
    actor.send({ type: 'task.submit', task: request('exact', { device: 'cuda:1' }) });
    actor.send({ type: 'task.submit', task: request('gpu', { device: 'cuda' }) });
    actor.send({ type: 'task.submit', task: request('cpu', { device: 'cpu' }) });
    expect(ran(runtime, 'worker-2')).toEqual(['exact']);
    expect(ran(runtime, 'worker-1')).toEqual(['gpu']);
    expect(ran(runtime, 'worker-0')).toEqual(['cpu']);
  });

  it('should fail at once a request no worker can ever serve, naming the devices', async () => {
    const { actor, events } = await pool();
    actor.send({ type: 'task.submit', task: request('nope', { device: 'cuda:7' }) });
    expect(ofType(events, 'task.failed')).toEqual([
      { type: 'task.failed', taskId: 'nope', attempt: 1, failure: { code: 'NO_MATCHING_DEVICE', requested: 'cuda:7', devices: ['cpu', 'cuda:0', 'cuda:1'] } },
    ]);
    actor.send({ type: 'lease.acquire', leaseId: 'L', priority: 0, device: 'cuda:9' });
    expect(ofType(events, 'lease.failed')[0]?.failure).toMatchObject({ code: 'NO_MATCHING_DEVICE' });
  });

  it('should give a freed worker the best task among the queues it can serve', async () => {
    const { runtime, actor } = await pool();
    for (const id of ['busy-cpu', 'busy-g0', 'busy-g1']) actor.send({ type: 'task.submit', task: request(id) });
    actor.send({ type: 'task.submit', task: request('cpu-only', { device: 'cpu' }) });
    actor.send({ type: 'task.submit', task: request('g1-only', { device: 'cuda:1' }) });
    actor.send({ type: 'task.submit', task: request('any-gpu', { device: 'cuda' }) });
    actor.send({ type: 'task.submit', task: request('anyone') });
    actor.send({ type: 'task.submit', task: request('urgent-anyone', { priority: 9 }) });
    // The GPU-0 worker may take any, any-GPU, or cuda:0 tasks: the urgent one first, then the oldest.
    runtime.result('worker-1', 'busy-g0');
    runtime.result('worker-1', 'urgent-anyone');
    expect(ran(runtime, 'worker-1')).toEqual(['busy-g0', 'urgent-anyone', 'any-gpu']);
    // The GPU-1 worker: its own queue's head is older than the shared ones.
    runtime.result('worker-2', 'busy-g1');
    expect(ran(runtime, 'worker-2')).toEqual(['busy-g1', 'g1-only']);
    runtime.result('worker-0', 'busy-cpu');
    expect(ran(runtime, 'worker-0')).toEqual(['busy-cpu', 'cpu-only']);
    runtime.result('worker-0', 'cpu-only');
    expect(ran(runtime, 'worker-0')).toEqual(['busy-cpu', 'cpu-only', 'anyone']);
  });

  it('should show each worker device in the audit trail', async () => {
    const { actor, events } = await pool();
    actor.send({ type: 'task.submit', task: request('x', { device: 'cuda:0' }) });
    expect(ofType(events, 'worker.spawned').map((e) => [e.workerId, e.device])).toEqual([
      ['worker-0', 'cpu'],
      ['worker-1', 'cuda:0'],
      ['worker-2', 'cuda:1'],
    ]);
    expect(ofType(events, 'task.started')).toMatchObject([{ taskId: 'x', workerId: 'worker-1', device: 'cuda:0' }]);
  });
});

describe('GPU memory in the worker machine', () => {
  it('should monitor above the soft GPU threshold and kill over the GPU limit', async () => {
    const runtime = new FakeRuntime();
    const { actor, events } = startLoneWorker(runtime, { device: 'cuda:0' });
    await settle();
    actor.send({ type: 'task.run', task: task('t', { gpuMemoryLimitBytes: 1000 * MiB }) });
    runtime.sample('worker-0', 50 * MiB, 850 * MiB);
    expect(workerStateName(actor.getSnapshot().value)).toBe('monitoring');
    expect(events.at(-1)).toMatchObject({ type: 'worker.memory-warning', resource: 'gpu', usedBytes: 850 * MiB, limitBytes: 1000 * MiB });
    runtime.sample('worker-0', 50 * MiB, 1001 * MiB);
    expect(events.at(-1)).toMatchObject({
      type: 'worker.killed',
      termination: { reason: 'memory', resource: 'gpu', usedBytes: 1001 * MiB, limitBytes: 1000 * MiB, rssBytes: 50 * MiB },
    });
  });
});

describe('the host-memory guard', () => {
  it('should end the most recently started task under the reserve, one at a time', async () => {
    const runtime = new FakeRuntime();
    const { actor, events } = startSupervisor(runtime, { devices: ['cpu', 'cpu', 'cpu'], hostMemoryReserveBytes: 1024 * MiB });
    await settle();
    actor.send({ type: 'task.submit', task: request('old') });
    runtime.clock.increment(10);
    actor.send({ type: 'task.submit', task: request('newest') });
    runtime.clock.increment(10);
    actor.send({ type: 'task.submit', task: request('middle-retriable', { retries: 1 }) });
    actor.send({ type: 'host.memory', availableBytes: 2048 * MiB, totalBytes: 8192 * MiB });
    expect(ofType(events, 'host.memory-pressure')).toEqual([]);
    actor.send({ type: 'host.memory', availableBytes: 512 * MiB, totalBytes: 8192 * MiB });
    // A retriable task goes first (it will run again); the failure names the host as the resource.
    expect(ofType(events, 'host.memory-pressure')).toEqual([
      { type: 'host.memory-pressure', availableBytes: 512 * MiB, reserveBytes: 1024 * MiB, taskId: 'middle-retriable', workerId: 'worker-0' },
    ]);
    expect(ofType(events, 'task.retrying')[0]?.failure).toMatchObject({ code: 'MEMORY', resource: 'host', usedBytes: 7680 * MiB, limitBytes: 7168 * MiB });
    // Still under the reserve, but the first victim has not exited: nobody else is killed yet.
    actor.send({ type: 'host.memory', availableBytes: 500 * MiB, totalBytes: 8192 * MiB });
    expect(ofType(events, 'host.memory-pressure')).toHaveLength(1);
    await settle();
    actor.send({ type: 'host.memory', availableBytes: 500 * MiB, totalBytes: 8192 * MiB });
    // The retried task restarted last on the replacement worker: now the newest, with no retry left.
    expect(ofType(events, 'task.started').at(-1)).toMatchObject({ taskId: 'middle-retriable', attempt: 2 });
    expect(ofType(events, 'host.memory-pressure')[1]?.taskId).toBe('middle-retriable');
    expect(ofType(events, 'task.failed')).toMatchObject([{ taskId: 'middle-retriable', attempt: 2, failure: { code: 'MEMORY', resource: 'host' } }]);
  });
});
