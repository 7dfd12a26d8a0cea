import { describe, expect, it } from 'vitest';
import { TaskBook, type TaskRequest } from '../machines/index.js';

const task = (id: string, priority = 0, device?: string): TaskRequest => ({ id, name: 'work', priority, device }) as TaskRequest;
const ids = (book: TaskBook<string>, device: string) => {
  const taken: string[] = [];
  for (let item = book.takeNext(device); item !== undefined; item = book.takeNext(device)) taken.push(item.id);
  return taken;
};

describe('TaskBook', () => {
  it('should start empty, counting nothing', () => {
    const book = new TaskBook<string>();
    expect(book.isEmpty).toBe(true);
    expect([book.queuedCount, book.runningCount]).toEqual([0, 0]);
    expect(book.counts).toEqual({ submitted: 0, succeeded: 0, failed: 0, retried: 0, killed: 0, restarts: 0 });
  });

  describe('the queue', () => {
    it('should hand out by priority, then in the order queued', () => {
      const book = new TaskBook<string>();
      book.enqueue(task('low'), 1, 'any');
      book.enqueue(task('high', 5), 1, 'any');
      book.enqueue(task('low2'), 1, 'any');
      expect(book.queuedCount).toBe(3);
      expect(ids(book, 'cpu')).toEqual(['high', 'low', 'low2']);
      expect(book.isEmpty).toBe(true);
    });

    it('should put a requeued task ahead of its priority level, keeping its attempt', () => {
      const book = new TaskBook<string>();
      book.enqueue(task('a'), 1, 'any');
      book.enqueue(task('b'), 1, 'any');
      book.requeueFront(task('retried'), 2, 'any');
      const first = book.takeNext('cpu');
      expect(first).toMatchObject({ kind: 'task', id: 'retried', attempt: 2 });
      expect(ids(book, 'cpu')).toEqual(['a', 'b']);
    });

    it('should hand out only what the device may run, oldest first across its queues', () => {
      const book = new TaskBook<string>();
      book.enqueue(task('gpu', 0, 'cuda'), 1, 'cuda');
      book.enqueue(task('anywhere'), 1, 'any');
      book.enqueue(task('cpu', 0, 'cpu'), 1, 'cpu');
      expect(ids(book, 'cpu')).toEqual(['anywhere', 'cpu']);
      expect(ids(book, 'cuda:0')).toEqual(['gpu']);
    });

    it('should queue a lease with the tasks, in the same order', () => {
      const book = new TaskBook<string>();
      book.enqueue(task('t1'), 1, 'any');
      book.enqueueLease('L1', 0, 'any');
      book.enqueue(task('t2'), 1, 'any');
      expect(book.takeNext('cpu')).toMatchObject({ kind: 'task', id: 't1' });
      expect(book.takeNext('cpu')).toEqual({ kind: 'lease', id: 'L1', priority: 0, seq: 1, selector: 'any' });
    });

    it('should leave a head that the caller refuses where it is', () => {
      const book = new TaskBook<string>();
      book.enqueue(task('a'), 1, 'any');
      expect(book.takeNext('cpu', () => false)).toBeUndefined();
      expect(book.queuedCount).toBe(1);
      expect(book.takeNext('cpu', (head) => head.id === 'a')).toMatchObject({ id: 'a' });
    });

    it('should remove a queued entry by id, and drain the rest best first', () => {
      const book = new TaskBook<string>();
      book.enqueue(task('a'), 1, 'any');
      book.enqueue(task('b', 0, 'cpu'), 1, 'cpu');
      book.enqueue(task('c', 9), 1, 'any');
      expect(book.removeQueued('a')).toMatchObject({ id: 'a' });
      expect(book.removeQueued('a')).toBeUndefined();
      expect(book.drainQueue().map((item) => item.id)).toEqual(['c', 'b']);
      expect(book.queuedCount).toBe(0);
    });
  });

  describe('tasks handed to workers', () => {
    it('should keep a started task with its worker and start time until it finishes', () => {
      const book = new TaskBook<string>();
      const request = task('a');
      book.markStarted(request, 2, 'worker-0', 1000);
      expect(book.isRunning('a')).toBe(true);
      expect(book.isEmpty).toBe(false);
      expect(book.runningTask('a')).toEqual({ request, attempt: 2, slot: 'worker-0', startedAt: 1000 });
      expect([...book.runningTasks()].map((t) => t.request.id)).toEqual(['a']);
      expect(book.markFinished('a')).toMatchObject({ attempt: 2, slot: 'worker-0' });
      expect(book.isRunning('a')).toBe(false);
      expect(book.runningCount).toBe(0);
    });

    it('should finish a task once only', () => {
      const book = new TaskBook<string>();
      book.markStarted(task('a'), 1, 'worker-0', 0);
      expect(book.markFinished('a')).toBeDefined();
      expect(book.markFinished('a')).toBeUndefined();
    });
  });

  it('should count outcomes, several at once when asked', () => {
    const book = new TaskBook<string>();
    book.count('submitted');
    book.count('submitted');
    book.count('succeeded');
    book.count('failed', 3);
    book.count('restarts');
    expect(book.counts).toEqual({ submitted: 2, succeeded: 1, failed: 3, retried: 0, killed: 0, restarts: 1 });
  });
});
