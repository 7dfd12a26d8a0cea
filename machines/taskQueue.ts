import { Deque } from './deque.js';

/** What the queue needs to know of an entry. */
export interface QueueEntry {
  readonly id: string;
  readonly priority: number;
}

/**
 * A priority queue, FIFO within a priority; higher `priority` values are served first.
 *
 * Each priority level is a ring-buffer deque, and the levels in use sit in a binary
 * max-heap, so push/shift cost O(1) for a level already in use and O(log L) for L levels.
 * Removal (cancellation of a queued task) is O(1): the entry is forgotten in the index
 * and skipped when it reaches the head. Nothing is ever copied per operation, so the
 * queue holds 100k tasks at a flat per-task cost.
 */
export class TaskQueue<T extends QueueEntry> {
  readonly #levels = new Map<number, Deque<T>>();
  readonly #priorities: number[] = [];
  /** Live entries by id; an entry missing here but still in a deque was removed. */
  readonly #live = new Map<string, T>();

  get size(): number {
    return this.#live.size;
  }

  /** Appends at the back of its priority level. */
  push(entry: T): void {
    this.#level(entry.priority).push(entry);
    this.#live.set(entry.id, entry);
  }

  /** Puts an entry at the front of its priority level (a retried task has waited already). */
  pushFront(entry: T): void {
    this.#level(entry.priority).unshift(entry);
    this.#live.set(entry.id, entry);
  }

  /** The entry `shift()` would return, left in place. */
  peek(): T | undefined {
    while (this.#priorities.length > 0) {
      const top = this.#priorities[0] as number;
      const deque = this.#levels.get(top) as Deque<T>;
      const entry = deque.peek();
      if (entry !== undefined && this.#live.get(entry.id) === entry) return entry;
      // A removed entry at the head: drop it now, so the next peek is O(1).
      deque.shift();
      if (deque.length === 0) this.#dropTopLevel(top);
    }
    return undefined;
  }

  /** Takes the oldest entry of the highest priority. */
  shift(): T | undefined {
    while (this.#priorities.length > 0) {
      const top = this.#priorities[0] as number;
      const deque = this.#levels.get(top) as Deque<T>;
      const entry = deque.shift();
      if (deque.length === 0) this.#dropTopLevel(top);
      if (entry !== undefined && this.#live.get(entry.id) === entry) {
        this.#live.delete(entry.id);
        return entry;
      }
    }
    return undefined;
  }

  /** Removes a queued entry by id; returns it, or undefined when it is not queued. */
  remove(id: string): T | undefined {
    const entry = this.#live.get(id);
    if (entry !== undefined) this.#live.delete(id);
    return entry;
  }

  /** Removes and returns every live entry, in service order. */
  drain(): T[] {
    const out: T[] = [];
    for (let entry = this.shift(); entry !== undefined; entry = this.shift()) out.push(entry);
    return out;
  }

  #level(priority: number): Deque<T> {
    let deque = this.#levels.get(priority);
    if (deque === undefined) {
      deque = new Deque<T>();
      this.#levels.set(priority, deque);
      this.#heapPush(priority);
    }
    return deque;
  }

  #dropTopLevel(priority: number): void {
    this.#levels.delete(priority);
    const heap = this.#priorities;
    const last = heap.pop() as number;
    if (heap.length === 0) return;
    heap[0] = last;
    let i = 0;
    for (;;) {
      const left = 2 * i + 1;
      const right = left + 1;
      let largest = i;
      if (left < heap.length && (heap[left] as number) > (heap[largest] as number)) largest = left;
      if (right < heap.length && (heap[right] as number) > (heap[largest] as number)) largest = right;
      if (largest === i) return;
      [heap[i], heap[largest]] = [heap[largest] as number, heap[i] as number];
      i = largest;
    }
  }

  #heapPush(priority: number): void {
    const heap = this.#priorities;
    heap.push(priority);
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if ((heap[parent] as number) >= priority) return;
      heap[i] = heap[parent] as number;
      heap[parent] = priority;
      i = parent;
    }
  }
}
