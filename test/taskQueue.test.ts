import { describe, expect, it } from 'vitest';
import { TaskQueue } from '../machines/index.js';

const entry = (id: number, priority = 0) => ({ id: String(id), priority });

describe('TaskQueue', () => {
  it('should serve 100k entries in priority order, FIFO within a priority', () => {
    const queue = new TaskQueue<{ id: string; priority: number }>();
    for (let i = 0; i < 100_000; i += 1) queue.push(entry(i, i % 3));
    expect(queue.size).toBe(100_000);
    const order = queue.drain().map((e) => [e.priority, Number(e.id)] as const);
    expect(order).toHaveLength(100_000);
    for (let i = 1; i < order.length; i += 1) {
      const [p0, id0] = order[i - 1] as readonly [number, number];
      const [p1, id1] = order[i] as readonly [number, number];
      expect(p0 > p1 || (p0 === p1 && id0 < id1)).toBe(true);
    }
    expect(queue.size).toBe(0);
    expect(queue.shift()).toBeUndefined();
  });

  it('should skip removed entries and put retried ones at the front of their level', () => {
    const queue = new TaskQueue<{ id: string; priority: number }>();
    for (let i = 0; i < 5; i += 1) queue.push(entry(i));
    expect(queue.remove('2')?.id).toBe('2');
    expect(queue.remove('2')).toBeUndefined();
    queue.pushFront(entry(9));
    queue.push(entry(7, -1));
    queue.push(entry(8, 10));
    expect(queue.size).toBe(7);
    expect(queue.drain().map((e) => e.id)).toEqual(['8', '9', '0', '1', '3', '4', '7']);
  });

  it('should keep a level usable after it emptied, and handle interleaved growth', () => {
    const queue = new TaskQueue<{ id: string; priority: number }>();
    let next = 0;
    const served: string[] = [];
    for (let round = 0; round < 50; round += 1) {
      for (let i = 0; i < 37; i += 1) queue.push(entry(next++, round % 2));
      for (let i = 0; i < 30; i += 1) served.push((queue.shift() as { id: string }).id);
    }
    served.push(...queue.drain().map((e) => e.id));
    expect(new Set(served).size).toBe(next);
  });
});
