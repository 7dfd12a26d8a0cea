import { describe, expect, it } from 'vitest';
import { SlotTable, type BackoffPolicy } from '../machines/index.js';

const backoff: BackoffPolicy = { backoffMs: 100, maxBackoffMs: 1000, maxRestarts: 3, windowMs: 10_000, jitterRatio: 0.5 };

function table(devices: readonly string[], random = () => 0): SlotTable {
  const slots = new SlotTable(backoff, random);
  devices.forEach((device, i) => slots.add(`worker-${i}`, device, `worker-${i}`));
  return slots;
}

describe('SlotTable', () => {
  it('should add slots in index order, fresh: no task, no history', () => {
    const slots = table(['cpu', 'cuda:0']);
    expect(slots.all.map((s) => [s.index, s.workerId, s.device, s.actorId])).toEqual([
      [0, 'worker-0', 'cpu', 'worker-0'],
      [1, 'worker-1', 'cuda:0', 'worker-1'],
    ]);
    expect(slots.all[1]).toMatchObject({ stopped: false, taskId: undefined, runAhead: [], failures: [], restarts: 0, generation: 0 });
  });

  it('should find a slot by worker id, by index for `worker-<n>` and by scan otherwise', () => {
    const slots = table(['cpu', 'cpu']);
    slots.add('gpu-a', 'cuda:0', 'gpu-a');
    expect(slots.slotOf('worker-1')).toBe(slots.all[1]);
    expect(slots.slotOf('gpu-a')).toBe(slots.all[2]);
    expect(slots.slotOf('worker-7')).toBeUndefined();
  });

  it('should find a slot by its current actor only, once the actor is replaced', () => {
    const slots = table(['cpu']);
    const slot = slots.all[0]!;
    const next = slots.nextActorId(slot);
    expect(next).toBe('worker-0.1');
    slots.replaceActor(slot, next);
    expect(slots.slotOfActor('worker-0.1')).toBe(slot);
    expect(slots.slotOfActor('worker-0')).toBeUndefined();
  });

  it('should never hand out the same actor id twice, across slots', () => {
    const slots = table(['cpu', 'cpu']);
    const ids = [slots.nextActorId(slots.all[0]!), slots.nextActorId(slots.all[1]!), slots.nextActorId(slots.all[0]!)];
    expect(new Set(ids).size).toBe(3);
  });

  it('should name its devices once each, and say whether a selector is served', () => {
    const slots = table(['cpu', 'cuda:0', 'cuda:0']);
    expect(slots.devices).toEqual(['cpu', 'cuda:0']);
    expect(slots.serves('cuda')).toBe(true);
    expect(slots.serves('cuda:1')).toBe(false);
  });

  it('should be all stopped only when every slot is', () => {
    const slots = table(['cpu', 'cpu']);
    slots.all[0]!.stopped = true;
    expect(slots.allStopped).toBe(false);
    slots.all[1]!.stopped = true;
    expect(slots.allStopped).toBe(true);
  });

  describe('the idle index', () => {
    it('should take an idle slot whose device matches, the one idle last first', () => {
      const slots = table(['cpu', 'cuda:0', 'cpu']);
      const [a, gpu, b] = slots.all;
      slots.markIdle(a!);
      slots.markIdle(gpu!);
      slots.markIdle(b!);
      expect(slots.idleCount).toBe(3);
      expect(slots.takeIdle('cuda')).toBe(gpu);
      expect(slots.takeIdle('cuda')).toBeUndefined();
      expect(slots.takeIdle('cpu')).toBe(b);
      expect(slots.idleCount).toBe(1);
    });

    it('should remove a slot that is no longer idle, and ignore one that was not', () => {
      const slots = table(['cpu', 'cpu']);
      const [a, b] = slots.all;
      slots.markIdle(a!);
      slots.removeIdle(b!);
      expect(slots.idleCount).toBe(1);
      slots.removeIdle(a!);
      expect(slots.idleCount).toBe(0);
      expect(slots.takeIdle('cpu')).toBeUndefined();
    });

    it('should forget every idle slot on clear', () => {
      const slots = table(['cpu', 'cuda:0']);
      for (const slot of slots.all) slots.markIdle(slot);
      slots.clearIdle();
      expect(slots.idleCount).toBe(0);
      expect(slots.takeIdle('cpu')).toBeUndefined();
    });
  });

  it('should be evicting from the guard until that worker exits', () => {
    const slots = table(['cpu', 'cpu']);
    const [a, b] = slots.all;
    expect(slots.evicting).toBe(false);
    slots.markEvicting(a!);
    expect(slots.evicting).toBe(true);
    slots.exited(b!);
    expect(slots.evicting).toBe(true);
    slots.exited(a!);
    expect(slots.evicting).toBe(false);
  });

  describe('restart history', () => {
    it('should count a restart charged to a task without adding a failure', () => {
      const slots = table(['cpu']);
      const slot = slots.all[0]!;
      slots.restartForTask(slot);
      expect(slot).toMatchObject({ restarts: 1, failures: [] });
    });

    it("should keep a worker's own failures, doubling the backoff, and give up past maxRestarts", () => {
      const slots = table(['cpu']);
      const slot = slots.all[0]!;
      expect(slots.recordOwnFailure(slot, 1000)).toMatchObject({ kind: 'restart', delayMs: 100 });
      expect(slots.recordOwnFailure(slot, 2000)).toMatchObject({ kind: 'restart', delayMs: 200 });
      expect(slots.recordOwnFailure(slot, 3000)).toMatchObject({ kind: 'restart', delayMs: 400 });
      expect(slot).toMatchObject({ restarts: 3, failures: [1000, 2000, 3000] });
      expect(slots.recordOwnFailure(slot, 4000)).toMatchObject({ kind: 'give-up' });
      // Giving up schedules no restart.
      expect(slot).toMatchObject({ restarts: 3, failures: [1000, 2000, 3000, 4000] });
    });

    it('should drop failures older than the window', () => {
      const slots = table(['cpu']);
      const slot = slots.all[0]!;
      slots.recordOwnFailure(slot, 0);
      slots.recordOwnFailure(slot, 5000);
      expect(slots.recordOwnFailure(slot, 12_000)).toMatchObject({ kind: 'restart', delayMs: 200 });
      expect(slot.failures).toEqual([5000, 12_000]);
    });

    it('should take the jitter off the delay with its random source', () => {
      const slots = table(['cpu'], () => 1);
      expect(slots.recordOwnFailure(slots.all[0]!, 0)).toMatchObject({ kind: 'restart', delayMs: 50 });
    });

    it("should forget every slot's failures, but not its restarts, on recovery", () => {
      const slots = table(['cpu', 'cpu']);
      for (const slot of slots.all) slots.recordOwnFailure(slot, 0);
      slots.forgetFailures();
      expect(slots.all.map((s) => [s.failures, s.restarts])).toEqual([
        [[], 1],
        [[], 1],
      ]);
    });
  });
});
