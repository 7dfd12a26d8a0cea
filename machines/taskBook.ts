import { DeviceQueues } from './deviceQueues.js';
import type { TaskRequest } from './poolEvents.js';

/** A task waiting in the queue, with the attempt it will run as. */
export interface QueuedTask {
  readonly kind: 'task';
  readonly id: string;
  readonly priority: number;
  readonly seq: number;
  readonly selector: string;
  readonly request: TaskRequest;
  readonly attempt: number;
}

/** A lease waiting in the queue for a worker; the lease itself is in the lease book. */
export interface QueuedLease {
  readonly kind: 'lease';
  readonly id: string;
  readonly priority: number;
  readonly seq: number;
  readonly selector: string;
}

export type QueueItem = QueuedTask | QueuedLease;

/** A task handed to a worker (`S`, the ledger's slot), running or run ahead behind another. */
export interface TaskInFlight<S> {
  readonly request: TaskRequest;
  readonly attempt: number;
  readonly slot: S;
  /** When it started; for a task run ahead, when it was handed over until the one before it finishes. */
  startedAt: number;
}

/** What became of the pool's tasks, and how often its workers were killed and restarted. */
export interface LedgerCounts {
  submitted: number;
  succeeded: number;
  failed: number;
  retried: number;
  killed: number;
  restarts: number;
}

/**
 * The pool's tasks until they settle: the queue (tasks and leases waiting for a worker,
 * by device and priority), the tasks handed to workers, and the counts of what became of
 * them. Pure bookkeeping, no decisions: which worker takes what, and what a task fails
 * with, are the ledger's. Each operation is a call into a Map or a queue, so the dispatch
 * path allocates no more than the queue entry and running record it always did.
 */
export class TaskBook<S> {
  readonly #queue = new DeviceQueues<QueueItem>();
  readonly #running = new Map<string, TaskInFlight<S>>();
  readonly #counts: LedgerCounts = { submitted: 0, succeeded: 0, failed: 0, retried: 0, killed: 0, restarts: 0 };
  /** Orders entries of equal priority across the device queues: lower is older. */
  #seq = 0;

  /** Tasks and leases waiting for a worker. */
  get queuedCount(): number {
    return this.#queue.size;
  }

  /** Tasks handed to workers, those run ahead included. */
  get runningCount(): number {
    return this.#running.size;
  }

  /** Read-only outside the book: they change through {@link count}. */
  get counts(): Readonly<LedgerCounts> {
    return this.#counts;
  }

  /** No task or lease waits, and no task runs. */
  get isEmpty(): boolean {
    return this.#queue.size === 0 && this.#running.size === 0;
  }

  count(what: keyof LedgerCounts, times = 1): void {
    this.#counts[what] += times;
  }

  // ── the queue ───────────────────────────────────────────────────────────────

  /** Behind every queued entry of its priority. */
  enqueue(request: TaskRequest, attempt: number, selector: string): void {
    this.#queue.push({ kind: 'task', id: request.id, priority: request.priority, seq: this.#seq++, selector, request, attempt });
  }

  enqueueLease(leaseId: string, priority: number, selector: string): void {
    this.#queue.push({ kind: 'lease', id: leaseId, priority, seq: this.#seq++, selector });
  }

  /** Ahead of every queued entry of its priority: a retried or returned task has waited already. */
  requeueFront(request: TaskRequest, attempt: number, selector: string): void {
    this.#queue.pushFront({ kind: 'task', id: request.id, priority: request.priority, seq: -1, selector, request, attempt });
  }

  /**
   * The entry a worker on `device` should take next, taken off the queue, if any — and
   * if `accept` (when given) accepts it; a refused entry stays where it is.
   */
  takeNext(device: string, accept?: (entry: QueueItem) => boolean): QueueItem | undefined {
    return this.#queue.takeFor(device, accept);
  }

  /** Takes the queued task or lease `id` off the queue, wherever it waits. */
  removeQueued(id: string): QueueItem | undefined {
    return this.#queue.remove(id);
  }

  /** Takes every queued entry off, best first. */
  drainQueue(): QueueItem[] {
    return this.#queue.drain();
  }

  // ── tasks handed to workers ─────────────────────────────────────────────────

  /** The task is now the worker's, from `now`, until it settles or goes back to the queue. */
  markStarted(request: TaskRequest, attempt: number, slot: S, now: number): void {
    this.#running.set(request.id, { request, attempt, slot, startedAt: now });
  }

  runningTask(taskId: string): TaskInFlight<S> | undefined {
    return this.#running.get(taskId);
  }

  isRunning(taskId: string): boolean {
    return this.#running.has(taskId);
  }

  /** Takes the task off the workers' list (settled, or on its way back to the queue), returning what it was. */
  markFinished(taskId: string): TaskInFlight<S> | undefined {
    const running = this.#running.get(taskId);
    if (running !== undefined) this.#running.delete(taskId);
    return running;
  }

  /** Every task handed to a worker, for a scan that picks one (the host-memory guard). */
  runningTasks(): IterableIterator<TaskInFlight<S>> {
    return this.#running.values();
  }
}
