import { describe, expect, it } from 'vitest';
import { TaskStore, type TaskRecordLimits } from '../src/service/taskStore.js';

const limits = (overrides: Partial<TaskRecordLimits> = {}): TaskRecordLimits => ({ maxCount: 1000, maxBytes: 1 << 20, maxResultBytes: 1 << 20, ...overrides });

/** Which of these records the store still has. */
const kept = (store: TaskStore, ids: readonly string[]) => ids.filter((id) => store.get(id) !== undefined);

describe('TaskStore eviction', () => {
  it('should drop the oldest settled records first once over maxCount', () => {
    const store = new TaskStore(limits({ maxCount: 3 }));
    const ids: string[] = [];
    for (let i = 0; i < 3; i += 1) {
      const record = store.create('echo');
      ids.push(record.id);
      store.settle(record, { ok: true, value: i });
    }
    expect(kept(store, ids)).toEqual(ids);
    const fourth = store.create('echo');
    expect(kept(store, ids)).toEqual(ids.slice(1));
    store.settle(fourth, { ok: true, value: 3 });
    store.create('echo');
    expect(kept(store, [...ids, fourth.id])).toEqual([ids[2], fourth.id]);
    expect(store.stats()).toMatchObject({ records: 3, settled: 2 });
  });

  it('should evict in the order records settled, not the order they were created', () => {
    const store = new TaskStore(limits({ maxCount: 2 }));
    const a = store.create('echo');
    const b = store.create('echo');
    store.settle(b, { ok: true, value: 'b' });
    store.settle(a, { ok: true, value: 'a' });
    store.create('echo');
    expect(store.get(b.id)).toBeUndefined();
    expect(store.get(a.id)?.state).toBe('succeeded');
  });

  it('should never drop a queued or running record, even past maxCount', () => {
    const store = new TaskStore(limits({ maxCount: 2 }));
    const open = Array.from({ length: 5 }, () => store.create('echo'));
    expect(store.stats()).toMatchObject({ records: 5, settled: 0 });
    open[1]!.state = 'running';
    expect(open.every((record) => store.get(record.id) === record)).toBe(true);
    // Each that settles goes at once: the store is over its count.
    store.settle(open[0]!, { ok: true, value: 0 });
    expect(store.get(open[0]!.id)).toBeUndefined();
    expect(store.stats()).toMatchObject({ records: 4, settled: 0, settledBytes: 0 });
  });

  it('should keep the settled records within maxBytes, oldest settled dropped first', () => {
    const store = new TaskStore(limits({ maxBytes: 1000 }));
    const ids: string[] = [];
    for (let i = 0; i < 20; i += 1) {
      const record = store.create('echo');
      ids.push(record.id);
      store.settle(record, { ok: true, value: 'x'.repeat(150) });
      expect(store.stats().settledBytes).toBeLessThanOrEqual(1000);
    }
    const left = kept(store, ids);
    // What is left is the newest ones, in a row, and their bytes are what the store counts.
    expect(left.length).toBeGreaterThan(0);
    expect(left).toEqual(ids.slice(ids.length - left.length));
    const bytes = left.reduce((sum, id) => sum + store.json(store.get(id)!).length, 0);
    expect(store.stats()).toEqual({ records: left.length, settled: left.length, settledBytes: bytes });
  });

  it('should count a failed or cancelled record by its size too', () => {
    const store = new TaskStore(limits({ maxBytes: 600 }));
    const ids: string[] = [];
    for (let i = 0; i < 10; i += 1) {
      const record = store.create('echo');
      ids.push(record.id);
      store.settle(record, { ok: false, state: i % 2 ? 'failed' : 'cancelled', error: { code: 'ERR_TASK', name: 'TaskError', message: 'm'.repeat(100), evidence: {} } as never });
    }
    expect(store.stats().settledBytes).toBeLessThanOrEqual(600);
    expect(kept(store, ids)).toEqual(ids.slice(ids.length - store.stats().settled));
  });

  it('should keep a result over maxResultBytes out of its record, which then costs only its header', () => {
    const store = new TaskStore(limits({ maxBytes: 500, maxResultBytes: 100 }));
    const small = store.create('echo');
    store.settle(small, { ok: true, value: 'ok' });
    const big = store.create('echo');
    const { resultJson } = store.settle(big, { ok: true, value: 'y'.repeat(1000) });
    // Too large to keep: the caller gets it once, the record says how large it was.
    expect(resultJson).toBe(JSON.stringify('y'.repeat(1000)));
    expect(JSON.parse(store.json(big))).toMatchObject({ state: 'succeeded', resultTooLarge: { bytes: 1002, limitBytes: 100 } });
    expect(store.get(small.id)?.state).toBe('succeeded');
    expect(store.stats().settledBytes).toBeLessThanOrEqual(500);
  });

  it('should forget a deleted record’s bytes, so it does not push others out', () => {
    const store = new TaskStore(limits({ maxBytes: 400 }));
    const first = store.create('echo');
    store.settle(first, { ok: true, value: 'z'.repeat(200) });
    store.delete(first.id);
    expect(store.stats()).toEqual({ records: 0, settled: 0, settledBytes: 0 });
    const second = store.create('echo');
    store.settle(second, { ok: true, value: 'z'.repeat(200) });
    expect(store.get(second.id)?.state).toBe('succeeded');
  });
});
