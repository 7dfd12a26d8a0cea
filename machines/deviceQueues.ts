import { ANY_DEVICE, queueKeysFor } from './devices.js';
import { TaskQueue, type QueueEntry } from './taskQueue.js';

/** An entry of the pool's queues: `seq` orders entries of equal priority across queues. */
export interface RoutedEntry extends QueueEntry {
  readonly seq: number;
  /** The device selector the entry asked for; `any` when none. */
  readonly selector: string;
}

/**
 * One priority queue per device selector (`any`, `cpu`, `cuda`, `cuda:N`). A worker
 * becoming idle peeks at the (at most three) queues it can serve and takes the best
 * head — highest priority, then oldest — so routing by device never scans the
 * queued tasks, however many there are.
 */
export class DeviceQueues<T extends RoutedEntry> {
  readonly #queues = new Map<string, TaskQueue<T>>();
  #size = 0;

  get size(): number {
    return this.#size;
  }

  push(entry: T): void {
    this.#queue(entry.selector).push(entry);
    this.#size += 1;
  }

  /** At the front of its priority level: a retried task has waited already. */
  pushFront(entry: T): void {
    this.#queue(entry.selector).pushFront(entry);
    this.#size += 1;
  }

  remove(id: string): T | undefined {
    for (const queue of this.#queues.values()) {
      const entry = queue.remove(id);
      if (entry !== undefined) {
        this.#size -= 1;
        return entry;
      }
    }
    return undefined;
  }

  /**
   * Takes the entry a worker on `device` should run next, if any — and if `accept`
   * (when given) accepts it; a refused entry stays where it is.
   */
  takeFor(device: string, accept?: (entry: T) => boolean): T | undefined {
    let best: TaskQueue<T> | undefined;
    let head: T | undefined;
    for (const key of queueKeysFor(device)) {
      const queue = this.#queues.get(key);
      const candidate = queue?.peek();
      if (candidate === undefined) continue;
      if (head === undefined || candidate.priority > head.priority || (candidate.priority === head.priority && candidate.seq < head.seq)) {
        head = candidate;
        best = queue;
      }
    }
    if (best === undefined || (accept !== undefined && !accept(head as T))) return undefined;
    this.#size -= 1;
    return best.shift();
  }

  /** Removes and returns every entry. */
  drain(): T[] {
    const all = [...this.#queues.values()].flatMap((queue) => queue.drain());
    this.#size = 0;
    return all.sort((a, b) => b.priority - a.priority || a.seq - b.seq);
  }

  #queue(selector: string): TaskQueue<T> {
    const key = selector || ANY_DEVICE;
    let queue = this.#queues.get(key);
    if (queue === undefined) {
      queue = new TaskQueue<T>();
      this.#queues.set(key, queue);
    }
    return queue;
  }
}
