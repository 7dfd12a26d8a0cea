import { Deque } from './deque.js';
import type { TaskRequest } from './poolEvents.js';

/** A task sent to a lease, with the attempt it is on. */
export interface LeaseRun {
  readonly request: TaskRequest;
  readonly attempt: number;
}

/**
 * A lease as its book keeps it. Read-only outside the book: its state changes only
 * through the book's methods, so a lease is never half granted or half expired.
 */
export interface LeaseRecord<S> {
  readonly leaseId: string;
  /** How long it may be held, from the grant. */
  readonly timeoutMs: number;
  /** When it was granted (the pool's clock); 0 while it waits for a worker. */
  readonly grantedAt: number;
  /** Held past its deadline: its worker was taken back, and every later run fails. */
  readonly expired: boolean;
  /** The worker it holds; undefined while it waits, and once expired. */
  readonly slot: S | undefined;
}

interface MutableLease<S> {
  readonly leaseId: string;
  readonly timeoutMs: number;
  grantedAt: number;
  expired: boolean;
  slot: S | undefined;
  /** Runs waiting for its worker, which runs one at a time. */
  readonly pending: Deque<LeaseRun>;
}

/**
 * The leases of a pool and the runs waiting for each: pure bookkeeping, no
 * decisions. Whom a lease is granted to, when it expires and what its runs fail
 * with are the ledger's to decide, since they need the queue, the workers and
 * the effects; the book only records the outcome. `S` is the ledger's slot.
 */
export class LeaseBook<S> {
  readonly #leases = new Map<string, MutableLease<S>>();

  get size(): number {
    return this.#leases.size;
  }

  /**
   * A lease granted or waiting for a worker. An expired one holds no worker, so a
   * draining pool need not wait for its owner to release it.
   */
  get anyActive(): boolean {
    for (const lease of this.#leases.values()) if (!lease.expired) return true;
    return false;
  }

  /** The ids of every lease now; a copy, so that the caller may remove leases while it walks them. */
  ids(): string[] {
    return [...this.#leases.keys()];
  }

  get(leaseId: string): LeaseRecord<S> | undefined {
    return this.#leases.get(leaseId);
  }

  has(leaseId: string): boolean {
    return this.#leases.has(leaseId);
  }

  /** A new lease, waiting for a worker. */
  create(leaseId: string, timeoutMs: number): LeaseRecord<S> {
    const lease: MutableLease<S> = { leaseId, timeoutMs, grantedAt: 0, expired: false, slot: undefined, pending: new Deque() };
    this.#leases.set(leaseId, lease);
    return lease;
  }

  /** The lease now holds `slot`, from `now`; its deadline is `now + timeoutMs`. */
  grant(leaseId: string, slot: S, now: number): LeaseRecord<S> | undefined {
    const lease = this.#leases.get(leaseId);
    if (lease === undefined) return undefined;
    lease.slot = slot;
    lease.grantedAt = now;
    return lease;
  }

  /**
   * Past its deadline: it no longer holds a worker, but stays in the book until
   * its owner releases it, so that later runs fail as expired rather than lost.
   */
  expire(lease: LeaseRecord<S>): void {
    const record = lease as MutableLease<S>;
    record.expired = true;
    record.slot = undefined;
  }

  /** Forgets the lease (released, lost, or refused); its waiting runs are left to take with {@link takeRun}. */
  remove(leaseId: string): LeaseRecord<S> | undefined {
    const lease = this.#leases.get(leaseId);
    if (lease !== undefined) this.#leases.delete(leaseId);
    return lease;
  }

  /** Runs waiting for the lease's worker. */
  pendingCount(lease: LeaseRecord<S>): number {
    return (lease as MutableLease<S>).pending.length;
  }

  /** A run waits behind the ones before it. */
  enqueue(lease: LeaseRecord<S>, run: LeaseRun): void {
    (lease as MutableLease<S>).pending.push(run);
  }

  /** A run that did not start (its worker died first) goes back ahead of the others. */
  requeueFront(lease: LeaseRecord<S>, run: LeaseRun): void {
    (lease as MutableLease<S>).pending.unshift(run);
  }

  /** The next waiting run, taken off the lease. */
  takeRun(lease: LeaseRecord<S>): LeaseRun | undefined {
    return (lease as MutableLease<S>).pending.shift();
  }

  /** Takes the waiting run of task `taskId` off whichever lease has it, keeping the others in order. */
  cancelRun(taskId: string): LeaseRun | undefined {
    for (const lease of this.#leases.values()) {
      const kept = new Deque<LeaseRun>();
      let found: LeaseRun | undefined;
      for (let run = lease.pending.shift(); run !== undefined; run = lease.pending.shift()) {
        if (run.request.id === taskId) found = run;
        else kept.push(run);
      }
      for (const run of kept) lease.pending.push(run);
      if (found !== undefined) return found;
    }
    return undefined;
  }
}
