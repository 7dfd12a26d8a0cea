import { describe, expect, it } from 'vitest';
import { PoisonQuarantine, PROBE_STABLE_MS, type PoolEvent, type TaskRequest } from '../machines/index.js';
import { FakeRuntime, settle, startSupervisor } from './support/fakeRuntime.js';

function request(id: string, overrides: Partial<TaskRequest> = {}): TaskRequest {
  return { id, name: 'work', payload: id, priority: 0, retries: 0, retryOn: ['crash', 'memory'], ...overrides };
}

const ofType = <T extends PoolEvent['type']>(events: PoolEvent[], type: T) =>
  events.filter((e): e is Extract<PoolEvent, { type: T }> => e.type === type);

const failureOf = (events: PoolEvent[], taskId: string) => ofType(events, 'task.failed').find((e) => e.taskId === taskId)?.failure;

async function ready(overrides: Parameters<typeof startSupervisor>[1] = {}) {
  const runtime = new FakeRuntime();
  const pool = startSupervisor(runtime, overrides);
  await settle();
  return { runtime, ...pool };
}

describe('a crash is charged to the task that caused it', () => {
  it('should fail each crashing task and keep the pool running, however many there are', async () => {
    const { runtime, actor, events } = await ready({ devices: ['cpu'], quarantine: undefined });
    for (let i = 0; i < 20; i += 1) {
      actor.send({ type: 'task.submit', task: request(`crash-${i}`) });
      runtime.exit('worker-0', 1);
      await settle();
    }
    expect(actor.getSnapshot().value).toBe('running');
    expect(ofType(events, 'task.failed').map((e) => e.failure.code)).toEqual(Array(20).fill('CRASHED'));
    expect(ofType(events, 'worker.restart-scheduled').every((e) => e.delayMs === 0 && !e.counted && e.chargedTo === 'task')).toBe(true);
    actor.send({ type: 'task.submit', task: request('healthy') });
    runtime.result('worker-0', 'healthy', 'fine');
    expect(ofType(events, 'task.succeeded')).toMatchObject([{ taskId: 'healthy', value: 'fine' }]);
  });

  it("should count a worker that dies while idle: that failure is the worker's own", async () => {
    const { runtime, actor, events } = await ready({ devices: ['cpu'] });
    runtime.exit('worker-0', 1);
    await settle();
    expect(ofType(events, 'worker.restart-scheduled')).toMatchObject([{ delayMs: 100, counted: true, chargedTo: 'worker', failuresInWindow: 1 }]);
    expect(actor.getSnapshot().value).toBe('running');
  });

  it('should count a worker over its memory limit while idle (a leak between tasks), not one over it running a task', async () => {
    const { runtime, actor, events } = await ready({ devices: ['cpu'], quarantine: undefined });
    actor.send({ type: 'task.submit', task: request('hungry') });
    runtime.sample('worker-0', 300 * 1024 * 1024);
    await settle();
    runtime.sample('worker-0', 300 * 1024 * 1024); // idle now, still over: the worker's own
    await settle();
    expect(ofType(events, 'worker.restart-scheduled').map((e) => [e.counted, e.chargedTo])).toEqual([
      [false, 'task'],
      [true, 'worker'],
    ]);
    expect(failureOf(events, 'hungry')).toMatchObject({ code: 'MEMORY', resource: 'rss' });
  });
});

describe('poison inputs', () => {
  it('should refuse an input that crashed two workers, and keep the others flowing', async () => {
    const { runtime, actor, events } = await ready({ quarantine: { failures: 2, windowMs: 60_000 } });
    actor.send({ type: 'task.submit', task: request('p1', { payload: { bad: true } }) });
    actor.send({ type: 'task.submit', task: request('p2', { payload: { bad: true } }) });
    runtime.exit('worker-1', null, 'SIGSEGV');
    runtime.exit('worker-0', null, 'SIGSEGV');
    await settle();
    expect(ofType(events, 'task.quarantined')).toMatchObject([
      { taskId: 'p2', name: 'work', failures: [{ taskId: 'p1', code: 'CRASHED', workerId: 'worker-1' }, { taskId: 'p2', workerId: 'worker-0' }] },
    ]);
    actor.send({ type: 'task.submit', task: request('p3', { payload: { bad: true } }) });
    expect(failureOf(events, 'p3')).toMatchObject({ code: 'QUARANTINED', name: 'work', untilMs: 60_000 });
    // The same input under another name, and other inputs, are not refused.
    actor.send({ type: 'task.submit', task: request('other-name', { name: 'other', payload: { bad: true } }) });
    actor.send({ type: 'task.submit', task: request('good', { payload: { bad: false } }) });
    expect(failureOf(events, 'other-name')).toBeUndefined();
    expect(failureOf(events, 'good')).toBeUndefined();
    expect(actor.getSnapshot().value).toBe('running');
  });

  it('should fail a queued task of that input when it reaches a worker, not run it', async () => {
    const { runtime, actor, events } = await ready({ devices: ['cpu'], quarantine: { failures: 2, windowMs: 60_000 } });
    actor.send({ type: 'task.submit', task: request('p1', { payload: 'poison' }) });
    actor.send({ type: 'task.submit', task: request('p2', { payload: 'poison' }) });
    actor.send({ type: 'task.submit', task: request('q', { payload: 'poison' }) });
    actor.send({ type: 'task.submit', task: request('after', { payload: 'fine' }) });
    runtime.exit('worker-0', 1);
    await settle();
    runtime.exit('worker-0', 1);
    await settle();
    expect(failureOf(events, 'q')).toMatchObject({ code: 'QUARANTINED' });
    expect(runtime.runs.get('worker-0')?.map((t) => t.id)).toEqual(['p1', 'p2', 'after']);
  });

  it("should recognise an input by the caller's key, and let a task spend the retries its caller gave it", async () => {
    const { runtime, actor, events } = await ready({ devices: ['cpu'], quarantine: { failures: 2, windowMs: 60_000 } });
    actor.send({ type: 'task.submit', task: request('k1', { key: 'link-17', payload: 1, retries: 2 }) });
    for (let attempt = 1; attempt <= 3; attempt += 1) {
      runtime.exit('worker-0', 1);
      await settle();
    }
    expect(ofType(events, 'task.retrying')).toHaveLength(2);
    expect(failureOf(events, 'k1')).toMatchObject({ code: 'CRASHED' });
    expect(ofType(events, 'task.quarantined')).toMatchObject([{ taskId: 'k1', failures: [{ taskId: 'k1' }, { taskId: 'k1' }] }]);
    actor.send({ type: 'task.submit', task: request('k2', { key: 'link-17', payload: 'a different payload' }) });
    expect(failureOf(events, 'k2')).toMatchObject({ code: 'QUARANTINED' });
    actor.send({ type: 'task.submit', task: request('k3', { payload: 1 }) }); // the same payload, but no key: another input
    expect(failureOf(events, 'k3')).toBeUndefined();
  });

  it('should count memory kills but not deadlines, and lift the quarantine when the window ends', async () => {
    const { runtime, actor, events } = await ready({ devices: ['cpu'], quarantine: { failures: 2, windowMs: 10_000 } });
    actor.send({ type: 'task.submit', task: request('slow', { payload: 'x', timeoutMs: 100 }) });
    runtime.clock.increment(100);
    await settle();
    actor.send({ type: 'task.submit', task: request('big1', { payload: 'x' }) });
    runtime.sample('worker-0', 300 * 1024 * 1024);
    await settle();
    actor.send({ type: 'task.submit', task: request('quiet', { payload: 'x' }) });
    expect(failureOf(events, 'quiet')).toBeUndefined(); // a deadline and one memory kill: not yet
    runtime.result('worker-0', 'quiet');
    actor.send({ type: 'task.submit', task: request('big2', { payload: 'x' }) });
    runtime.sample('worker-0', 300 * 1024 * 1024);
    await settle();
    actor.send({ type: 'task.submit', task: request('refused', { payload: 'x' }) });
    expect(failureOf(events, 'refused')).toMatchObject({ code: 'QUARANTINED', failures: [{ code: 'MEMORY' }, { code: 'MEMORY' }] });
    runtime.clock.increment(10_000);
    actor.send({ type: 'task.submit', task: request('later', { payload: 'x' }) });
    expect(failureOf(events, 'later')).toBeUndefined();
  });

  it('should tell OS workers apart by generation, not pid (a thread has none), and not count one worker twice', () => {
    const quarantine = new PoisonQuarantine({ failures: 2, windowMs: 60_000 }, () => 0);
    const failure = { taskId: 't', code: 'CRASHED' as const, workerId: 'worker-0', pid: undefined, atMs: 0 };
    expect(quarantine.record('work', 'fp', { ...failure, generation: 1 })).toBeUndefined();
    expect(quarantine.record('work', 'fp', { ...failure, generation: 1 })).toBeUndefined();
    expect(quarantine.record('work', 'fp', { ...failure, generation: 2 })).toMatchObject({ failures: [{ generation: 1 }, { generation: 2 }] });
  });

  it('should remember a bounded number of inputs', () => {
    let now = 0;
    const quarantine = new PoisonQuarantine({ failures: 2, windowMs: 60_000 }, () => now);
    for (let i = 0; i < 25_000; i += 1) quarantine.record('work', `fp-${i}`, { taskId: String(i), code: 'CRASHED', workerId: 'w', pid: i, generation: i, atMs: 0 });
    expect(quarantine.record('work', 'fp-24999', { taskId: 'x', code: 'CRASHED', workerId: 'w', pid: -1, generation: -1, atMs: 1 })).toMatchObject({ fingerprint: 'fp-24999' });
    now = 2;
    expect(quarantine.check('work', 'fp-0')).toBeUndefined();
    expect(quarantine.activeCount).toBe(1);
  });

  it('should count a quarantine as over once its window has passed, asked or not', async () => {
    const { runtime, actor } = await ready({ devices: ['cpu'], quarantine: { failures: 2, windowMs: 10_000 } });
    for (const id of ['p1', 'p2']) {
      actor.send({ type: 'task.submit', task: request(id, { payload: 'x' }) });
      runtime.exit('worker-0', 1);
      await settle();
    }
    const ledger = actor.getSnapshot().context.ledger;
    expect(ledger.quarantinedCount).toBe(1);
    runtime.clock.increment(10_000); // no task of that name comes again
    expect(ledger.quarantinedCount).toBe(0);
  });
});

describe('a degraded pool', () => {
  async function degrade(runtime: FakeRuntime, actor: ReturnType<typeof startSupervisor>['actor']) {
    runtime.failStarts.set('*', 100);
    runtime.exit('worker-0', 1); // idle: counted; every start from now on fails
    for (let i = 0; i < 10 && !actor.getSnapshot().matches('degraded'); i += 1) {
      await settle();
      runtime.clock.increment(2_000);
      await settle();
    }
    expect(actor.getSnapshot().matches('degraded')).toBe(true);
  }

  it('should probe after recoverAfterMs, doubling the wait while probes fail, and recover once one stays up', async () => {
    const restart = { backoffMs: 100, maxBackoffMs: 30_000, maxRestarts: 5, windowMs: 30_000, jitterRatio: 0, recoverAfterMs: 5_000, maxRecoverAfterMs: 12_000 };
    const { runtime, actor, events } = await ready({ devices: ['cpu', 'cpu'], restart });
    await degrade(runtime, actor);
    const info = actor.getSnapshot().context.ledger.degraded;
    expect(info).toMatchObject({ failedProbes: 0, nextProbeAt: (info?.since ?? 0) + 5_000 });
    actor.send({ type: 'task.submit', task: request('refused') });
    expect(failureOf(events, 'refused')).toMatchObject({ code: 'DEGRADED' });

    // Probes fail while the cause lasts: 5 s, then 10 s, then the 12 s cap.
    for (let probe = 0; probe < 3; probe += 1) {
      runtime.clock.increment(actor.getSnapshot().context.ledger.msUntilProbe);
      await settle();
    }
    expect(ofType(events, 'pool.probe-failed').map((e) => e.nextProbeInMs)).toEqual([10_000, 12_000, 12_000]);
    expect(actor.getSnapshot().matches({ degraded: 'waiting' })).toBe(true);

    // The cause is fixed (the module loads again): the next probe comes up and stays up.
    runtime.failStarts.clear();
    runtime.clock.increment(actor.getSnapshot().context.ledger.msUntilProbe);
    await settle();
    expect(actor.getSnapshot().matches({ degraded: 'confirming' })).toBe(true);
    actor.send({ type: 'task.submit', task: request('still-refused') });
    expect(failureOf(events, 'still-refused')).toMatchObject({ code: 'DEGRADED' });
    runtime.clock.increment(PROBE_STABLE_MS);
    await settle();
    expect(actor.getSnapshot().value).toBe('running');
    expect(ofType(events, 'pool.recovered')).toMatchObject([{ probes: 4 }]);
    expect(actor.getSnapshot().context.ledger.degraded).toBeUndefined();
    // Every slot is back and takes tasks.
    const snapshot = actor.getSnapshot();
    const children = snapshot.children as Record<string, { getSnapshot(): { matches(state: string): boolean } } | undefined>;
    expect(snapshot.context.ledger.slots.all.every((slot) => !slot.stopped && children[slot.actorId]?.getSnapshot().matches('alive'))).toBe(true);
    actor.send({ type: 'task.submit', task: request('a') });
    actor.send({ type: 'task.submit', task: request('b') });
    const ran = [...runtime.runs.values()].flat().map((t) => t.id);
    expect(ran).toEqual(expect.arrayContaining(['a', 'b']));
  });

  it('should go back to waiting when the probe dies before it has stayed up', async () => {
    const restart = { backoffMs: 100, maxBackoffMs: 30_000, maxRestarts: 5, windowMs: 30_000, jitterRatio: 0, recoverAfterMs: 5_000, maxRecoverAfterMs: 60_000 };
    const { runtime, actor, events } = await ready({ devices: ['cpu'], restart });
    await degrade(runtime, actor);
    runtime.failStarts.clear();
    runtime.clock.increment(actor.getSnapshot().context.ledger.msUntilProbe);
    await settle();
    expect(actor.getSnapshot().matches({ degraded: 'confirming' })).toBe(true);
    runtime.exit('worker-0', 1); // crashes once loaded
    await settle();
    expect(actor.getSnapshot().matches({ degraded: 'waiting' })).toBe(true);
    // The probe's own failure is the evidence now, not the load error that degraded the pool.
    expect(ofType(events, 'pool.probe-failed')).toMatchObject([{ attempt: 1, nextProbeInMs: 10_000, lastError: { name: 'WorkerCrashed' } }]);
    expect(actor.getSnapshot().context.ledger.degraded?.lastError).toMatchObject({ name: 'WorkerCrashed' });
    runtime.clock.increment(10_000);
    await settle();
    runtime.clock.increment(PROBE_STABLE_MS);
    await settle();
    expect(actor.getSnapshot().value).toBe('running');
  });

  it('should close from any of its states', async () => {
    const { runtime, actor } = await ready({ devices: ['cpu'] });
    await degrade(runtime, actor);
    runtime.failStarts.clear();
    runtime.clock.increment(actor.getSnapshot().context.ledger.msUntilProbe);
    await settle();
    actor.send({ type: 'pool.close', drainTimeoutMs: 0 });
    await settle();
    expect(actor.getSnapshot().status).toBe('done');
  });
});

describe('a lease has a deadline', () => {
  it('should end a lease held idle past its deadline, fail its later runs, and give the slot back to the queue', async () => {
    const { runtime, actor, events } = await ready({ devices: ['cpu'] });
    actor.send({ type: 'lease.acquire', leaseId: 'L', priority: 0, timeoutMs: 5_000 });
    actor.send({ type: 'task.submit', task: request('s1', { leaseId: 'L' }) });
    runtime.result('worker-0', 's1');
    actor.send({ type: 'task.submit', task: request('queued') });
    runtime.clock.increment(5_000);
    expect(ofType(events, 'lease.expired')).toEqual([{ type: 'lease.expired', leaseId: 'L', workerId: 'worker-0', timeoutMs: 5_000, taskId: undefined }]);
    expect(ofType(events, 'worker.killed').at(-1)).toMatchObject({ termination: { reason: 'lease-expired', leaseId: 'L', elapsedMs: 5_000 } });
    actor.send({ type: 'task.submit', task: request('s2', { leaseId: 'L' }) });
    expect(failureOf(events, 's2')).toEqual({ code: 'LEASE_EXPIRED', leaseId: 'L', workerId: '', timeoutMs: 5_000 });
    await settle();
    expect(ofType(events, 'worker.restart-scheduled').at(-1)).toMatchObject({ delayMs: 0, counted: false });
    expect(runtime.runs.get('worker-0')?.map((t) => t.id)).toEqual(['s1', 'queued']);
    // Its owner releasing it late changes nothing; a drain is not held up by it either.
    actor.send({ type: 'lease.release', leaseId: 'L' });
    expect(ofType(events, 'lease.released')).toHaveLength(1);
  });

  it('should fail a run in progress at the lease deadline as a timeout that names the lease', async () => {
    const { runtime, actor, events } = await ready({ devices: ['cpu'] });
    actor.send({ type: 'lease.acquire', leaseId: 'L', priority: 0, timeoutMs: 5_000 });
    runtime.clock.increment(4_000);
    actor.send({ type: 'task.submit', task: request('long', { leaseId: 'L', timeoutMs: 60_000 }) });
    actor.send({ type: 'task.submit', task: request('waiting', { leaseId: 'L' }) });
    runtime.clock.increment(1_000);
    expect(failureOf(events, 'long')).toMatchObject({ code: 'TIMEOUT', leaseId: 'L', timeoutMs: 5_000, elapsedMs: 1_000, workerId: 'worker-0' });
    expect(failureOf(events, 'waiting')).toMatchObject({ code: 'LEASE_EXPIRED', leaseId: 'L' });
  });

  it('should not expire a lease released in time, nor count the lease time before the grant', async () => {
    const { runtime, actor, events } = await ready({ devices: ['cpu'] });
    actor.send({ type: 'task.submit', task: request('first', { timeoutMs: 60_000 }) });
    actor.send({ type: 'lease.acquire', leaseId: 'L', priority: 0, timeoutMs: 1_000 });
    runtime.clock.increment(5_000); // queued behind `first`: no time counted
    runtime.result('worker-0', 'first');
    expect(ofType(events, 'lease.granted')).toHaveLength(1);
    runtime.clock.increment(999);
    expect(ofType(events, 'lease.expired')).toHaveLength(0);
    actor.send({ type: 'lease.release', leaseId: 'L' });
    runtime.clock.increment(10_000);
    expect(ofType(events, 'lease.expired')).toHaveLength(0);
    expect(ofType(events, 'worker.killed')).toHaveLength(0);
  });

  it('should default the lease deadline to the pool task timeout', async () => {
    const { runtime, actor, events } = await ready({ devices: ['cpu'], taskTimeoutMs: 2_000 });
    actor.send({ type: 'lease.acquire', leaseId: 'L', priority: 0 });
    runtime.clock.increment(2_000);
    expect(ofType(events, 'lease.expired')).toMatchObject([{ timeoutMs: 2_000 }]);
  });
});
