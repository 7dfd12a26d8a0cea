import { deviceMatches } from './devices.js';
import { planRestart, type BackoffPolicy, type RestartPlan } from './restartPolicy.js';
import type { SerializedError } from './taskTypes.js';

/**
 * One worker place of the pool, kept across the worker processes and actors that fill it.
 * The fields marked read-only change only through the {@link SlotTable} (actor ids, restart
 * history); the others are the ledger's, which moves tasks and leases through them.
 */
export interface Slot {
  readonly index: number;
  readonly workerId: string;
  readonly device: string;
  /** Id of the slot's current worker actor (a new one when a failed actor was replaced). */
  readonly actorId: string;
  pid: number | undefined;
  generation: number;
  /**
   * Id of the task the supervisor handed this slot to run, if any. Not a copy of the worker
   * machine's state: it is the supervisor's record of its own decision, needed from the
   * moment it is made, while the `task.run` message is still on its way (XState delivers
   * it after the transition), so that the next event is not routed to the same worker.
   * Whether the worker is up is read from the machine itself (`LedgerEffects.isWorkerUp`).
   */
  taskId: string | undefined;
  /**
   * Ids handed to the worker behind `taskId`, in order; they start as the ones before
   * them finish, as in the worker machine's `runAhead`. A cancelled one stays listed (the
   * worker still has it) but is no longer in `running`.
   */
  runAhead: string[];
  leaseId: string | undefined;
  /** Times of recent failures that count towards the restart-intensity limit. */
  readonly failures: readonly number[];
  /** The task the last kill ended, if it ended one: the fault is then the task's, not the worker's. */
  killedTaskId: string | undefined;
  /** Restarts scheduled so far, counted or not. */
  readonly restarts: number;
  stopped: boolean;
  lastError: SerializedError | undefined;
}

/** The table's own view of a slot: the fields others may only read. */
type OwnedSlot = { -readonly [K in keyof Slot]: Slot[K] };

/**
 * The pool's worker slots and what is known of them as a group: lookups by worker and
 * actor id, the idle index, the workers being evicted, the actor ids handed out, and each
 * slot's restart history. Pure bookkeeping: whether a worker restarts, and what the pool
 * does when one gives up, are the ledger's to decide, since they need the effects.
 */
export class SlotTable {
  /** Every slot, by index; the index is its place here and in its worker id. */
  readonly all: Slot[] = [];
  /**
   * The idle, unleased slots, by device: finding one for a task is a lookup per device the
   * pool has (a handful), never a scan of the slots.
   */
  readonly #idleByDevice = new Map<string, Slot[]>();
  #idleCount = 0;
  /** Workers ended by the host-memory guard whose exit is not confirmed yet. */
  readonly #evicting = new Set<string>();
  #actorSeq = 0;

  constructor(
    private readonly backoff: BackoffPolicy,
    private readonly random: () => number,
  ) {}

  add(workerId: string, device: string, actorId: string): Slot {
    const slot: Slot = {
      index: this.all.length,
      workerId,
      device,
      actorId,
      pid: undefined,
      generation: 0,
      taskId: undefined,
      runAhead: [],
      leaseId: undefined,
      failures: [],
      killedTaskId: undefined,
      restarts: 0,
      stopped: false,
      lastError: undefined,
    };
    this.all.push(slot);
    return slot;
  }

  slotOf(workerId: string): Slot | undefined {
    // Ids are `worker-<index>`; fall back to a scan for any other naming.
    const index = Number(workerId.slice(workerId.lastIndexOf('-') + 1));
    const slot = this.all[index];
    return slot?.workerId === workerId ? slot : this.all.find((s) => s.workerId === workerId);
  }

  /** The slot whose current actor is `actorId`; a slot's former actors are not found. */
  slotOfActor(actorId: string): Slot | undefined {
    return this.all.find((slot) => slot.actorId === actorId);
  }

  /** The devices of the slots, each once, for a failure that names them. */
  get devices(): string[] {
    return [...new Set(this.all.map((slot) => slot.device))];
  }

  /** Some slot's device matches `selector`: a worker of this pool can serve it. */
  serves(selector: string): boolean {
    for (const slot of this.all) if (deviceMatches(selector, slot.device)) return true;
    return false;
  }

  get allStopped(): boolean {
    return this.all.every((slot) => slot.stopped);
  }

  // ── actors ──────────────────────────────────────────────────────────────────

  /** An actor id not used before in this pool, for the slot's next worker actor. */
  nextActorId(slot: Slot): string {
    this.#actorSeq += 1;
    return `${slot.workerId}.${this.#actorSeq}`;
  }

  replaceActor(slot: Slot, actorId: string): void {
    (slot as OwnedSlot).actorId = actorId;
  }

  // ── the idle index ──────────────────────────────────────────────────────────

  get idleCount(): number {
    return this.#idleCount;
  }

  /** The slot waits for work; it is taken last-in first (its worker is the warmest). */
  markIdle(slot: Slot): void {
    let list = this.#idleByDevice.get(slot.device);
    if (list === undefined) {
      list = [];
      this.#idleByDevice.set(slot.device, list);
    }
    list.push(slot);
    this.#idleCount += 1;
  }

  /** The slot is no longer idle (its worker died or stopped); nothing if it was not. */
  removeIdle(slot: Slot): void {
    const list = this.#idleByDevice.get(slot.device);
    const at = list?.indexOf(slot) ?? -1;
    if (list === undefined || at < 0) return;
    list.splice(at, 1);
    this.#idleCount -= 1;
  }

  /** Takes an idle slot whose device matches `selector`, if there is one. */
  takeIdle(selector: string): Slot | undefined {
    for (const [device, list] of this.#idleByDevice) {
      if (list.length > 0 && deviceMatches(selector, device)) {
        this.#idleCount -= 1;
        return list.pop();
      }
    }
    return undefined;
  }

  /** No slot is idle any more (the pool stops, or degrades). */
  clearIdle(): void {
    this.#idleByDevice.clear();
    this.#idleCount = 0;
  }

  // ── evictions by the host-memory guard ──────────────────────────────────────

  /** A worker ended for host memory has not exited yet: its memory is not free yet either. */
  get evicting(): boolean {
    return this.#evicting.size > 0;
  }

  markEvicting(slot: Slot): void {
    this.#evicting.add(slot.workerId);
  }

  /** The slot's worker exited, so whatever it held is freed. */
  exited(slot: Slot): void {
    this.#evicting.delete(slot.workerId);
  }

  // ── restart history ─────────────────────────────────────────────────────────

  /**
   * A restart for a fault that was the task's: it is listed in the slot's restarts but
   * not in its failures, so it brings the slot no nearer the restart limit.
   */
  restartForTask(slot: Slot): void {
    (slot as OwnedSlot).restarts += 1;
  }

  /**
   * A failure of the worker's own at `now`: kept in the slot's history (older ones past
   * the window dropped), and the restart it earns planned by the backoff policy. A plan to
   * restart counts as one of the slot's restarts; a plan to give up does not.
   */
  recordOwnFailure(slot: Slot, now: number): RestartPlan {
    const plan = planRestart(slot.failures, now, this.backoff, this.random);
    const owned = slot as OwnedSlot;
    owned.failures = plan.recentFailures;
    if (plan.kind === 'restart') owned.restarts += 1;
    return plan;
  }

  /** A pool that recovered starts every slot's history afresh. */
  forgetFailures(): void {
    for (const slot of this.all) (slot as OwnedSlot).failures = [];
  }
}
