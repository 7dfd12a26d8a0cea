import { describe, expect, it } from 'vitest';
import type { WorkerExit } from '../machines/index.js';
import { SpareWorkers, type SpareWorker } from '../src/runtime/spareWorkers.js';

/** A worker of no backend: it records what it was made to do. */
class FakeWorker implements SpareWorker {
  exit: WorkerExit | undefined;
  workerId = '(spare)';
  terminated = false;

  constructor(readonly serial: number) {}

  adopt(workerId: string): void {
    this.workerId = workerId;
  }

  terminate(): Promise<WorkerExit> {
    this.terminated = true;
    this.exit = { exitCode: null, signal: 'SIGKILL' };
    return Promise.resolve(this.exit);
  }
}

/** Starts of spares, each settled by the test. */
function spareStarts() {
  const pending: Array<{ device: string; resolve: (w: FakeWorker) => void; reject: (e: Error) => void }> = [];
  let serial = 0;
  const start = (device: string) =>
    new Promise<FakeWorker>((resolve, reject) => {
      pending.push({ device, resolve, reject });
    });
  const succeed = (index = 0) => {
    const [entry] = pending.splice(index, 1);
    if (!entry) throw new Error('no spare start pending');
    const worker = new FakeWorker(++serial);
    entry.resolve(worker);
    return worker;
  };
  const fail = (index = 0) => {
    const [entry] = pending.splice(index, 1);
    if (!entry) throw new Error('no spare start pending');
    entry.reject(new Error('task module failed to load'));
  };
  return { pending, start, succeed, fail };
}

/** Lets settled starts run their handlers, and `setImmediate` refills. */
const tick = () => new Promise((resolve) => setImmediate(resolve));

/** The slot's own start: what a pool does without a spare. */
function ownStarts() {
  const started: string[] = [];
  return { started, start: (workerId: string) => () => (started.push(workerId), Promise.resolve(new FakeWorker(1000 + started.length))) };
}

describe('SpareWorkers', () => {
  it('should hand a ready spare to a slot, under the slot’s id, and start its successor', async () => {
    const starts = spareStarts();
    const spares = new SpareWorkers<FakeWorker>(1, starts.start);
    spares.fill('cpu');
    expect(starts.pending.map((p) => p.device)).toEqual(['cpu']);
    const spare = starts.succeed();
    await tick();
    const own = ownStarts();
    expect(await spares.adoptOrStart('cpu', 'worker-0', own.start('worker-0'))).toBe(spare);
    expect(spare.workerId).toBe('worker-0');
    expect(own.started).toEqual([]);
    await tick();
    expect(starts.pending).toHaveLength(1);
    starts.succeed();
    await spares.dispose();
  });

  it('should turn itself off after a spare fails to start: no more spares, every slot starts its own worker', async () => {
    const starts = spareStarts();
    const spares = new SpareWorkers<FakeWorker>(2, starts.start);
    spares.fill('cpu');
    expect(starts.pending).toHaveLength(2);
    starts.fail();
    await tick();
    // The other one that was under way still arrives; none is started after the failure.
    const survivor = starts.succeed();
    await tick();
    spares.fill('cpu');
    spares.fill('gpu:0');
    await tick();
    expect(starts.pending).toEqual([]);

    const own = ownStarts();
    // The survivor is used up first; after it, no spare is waiting and none is started behind it.
    expect(await spares.adoptOrStart('cpu', 'worker-0', own.start('worker-0'))).toBe(survivor);
    await tick();
    const second = await spares.adoptOrStart('cpu', 'worker-1', own.start('worker-1'));
    await tick();
    const third = await spares.adoptOrStart('cpu', 'worker-0', own.start('worker-0'));
    await tick();
    expect(own.started).toEqual(['worker-1', 'worker-0']);
    expect([second.serial, third.serial]).toEqual([1001, 1002]);
    expect(starts.pending).toEqual([]);
    await spares.dispose();
  });

  it('should start spares again once resumed (the pool recovered)', async () => {
    const starts = spareStarts();
    const spares = new SpareWorkers<FakeWorker>(1, starts.start);
    spares.fill('cpu');
    starts.fail();
    await tick();
    spares.fill('cpu');
    expect(starts.pending).toEqual([]);
    spares.resume();
    spares.fill('cpu');
    expect(starts.pending).toHaveLength(1);
    const spare = starts.succeed();
    await tick();
    expect(await spares.adoptOrStart('cpu', 'worker-0', ownStarts().start('worker-0'))).toBe(spare);
    await tick();
    starts.succeed();
    await spares.dispose();
  });

  it('should let a slot claim a spare still starting, and start its own if that spare fails', async () => {
    const starts = spareStarts();
    const spares = new SpareWorkers<FakeWorker>(1, starts.start);
    spares.fill('cpu');
    const own = ownStarts();
    const claimed = spares.adoptOrStart('cpu', 'worker-0', own.start('worker-0'));
    await tick();
    // The refill sees the claimed one as spoken for and starts another.
    expect(starts.pending).toHaveLength(2);
    starts.fail(0);
    const worker = await claimed;
    expect(own.started).toEqual(['worker-0']);
    expect(worker.serial).toBe(1001);
    // And the failure turned spares off, the one still starting aside.
    starts.succeed();
    await tick();
    spares.fill('cpu');
    expect(starts.pending).toEqual([]);
    await spares.dispose();
  });

  it('should pass over a ready spare that has exited', async () => {
    const starts = spareStarts();
    const spares = new SpareWorkers<FakeWorker>(1, starts.start);
    spares.fill('cpu');
    const dead = starts.succeed();
    await tick();
    dead.exit = { exitCode: 1, signal: null };
    const own = ownStarts();
    const worker = await spares.adoptOrStart('cpu', 'worker-0', own.start('worker-0'));
    expect(worker).not.toBe(dead);
    expect(own.started).toEqual(['worker-0']);
    await tick();
    starts.succeed();
    await spares.dispose();
  });

  it('should end every spare on dispose, those ready and those that finish starting after it', async () => {
    const starts = spareStarts();
    const spares = new SpareWorkers<FakeWorker>(2, starts.start);
    spares.fill('cpu');
    const ready = starts.succeed();
    await tick();
    const disposed = spares.dispose();
    const late = starts.succeed();
    await disposed;
    expect([ready.terminated, late.terminated]).toEqual([true, true]);
    spares.fill('cpu');
    expect(starts.pending).toEqual([]);
  });
});
