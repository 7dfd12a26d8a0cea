import { Deque } from './deque.js';
import type { PoolEvent, TaskRequest } from './poolEvents.js';
import { planRestart, type RestartPolicy } from './restartPolicy.js';
import { DeviceQueues } from './deviceQueues.js';
import { ANY_DEVICE, deviceMatches } from './devices.js';
import { IdleWorkers } from './idleWorkers.js';
import type { MemoryResource, RetryableFailure, SerializedError, TaskAssignment, TaskFailure, Termination } from './taskTypes.js';
import type { WorkerExit } from './workerActors.js';
import type { FinishedTask, WorkerCommand } from './workerMachine.js';

/** How the supervisor machine lets the ledger act: both become XState actions. */
export interface LedgerEffects {
  /** `to` is the worker's actor id, a child of the supervisor. */
  send(to: string, command: WorkerCommand): void;
  emit(event: PoolEvent): void;
}

export interface LedgerSettings {
  readonly maxQueue: number;
  readonly taskTimeoutMs: number;
  readonly memoryLimitBytes: number;
  readonly gpuMemoryLimitBytes: number;
  /** Below this much available host memory the newest task is ended; undefined: no guard. */
  readonly hostMemoryReserveBytes: number | undefined;
  readonly restart: RestartPolicy;
  /** The most tasks a worker is handed at once, its current one included (1: one at a time). */
  readonly maxBatch: number;
}

/**
 * How much expected work (by the recent run times of the tasks' names) a worker may be
 * handed ahead of its current task. Small, so that a worker that frees up never finds
 * the queue emptied into another worker's backlog for long.
 */
export const RUN_AHEAD_BUDGET_MS = 2;
/** Runs of a task name measured before its tasks may be handed out ahead of time. */
const RUNS_BEFORE_RUN_AHEAD = 3;
/** Weight of the newest run in a task name's mean run time. */
const RUN_TIME_WEIGHT = 0.2;
/** Task names whose run times are kept; a caller that makes up names cannot grow the ledger past it. */
const RUN_TIME_NAMES = 1024;

/** Mirrors the supervisor's state; set only by the machine's entry actions. */
export type LedgerMode = 'running' | 'draining' | 'degraded' | 'stopping';

export interface Slot {
  readonly index: number;
  readonly workerId: string;
  readonly device: string;
  /** Id of the slot's current worker actor (a new one when a failed actor was replaced). */
  actorId: string;
  pid: number | undefined;
  generation: number;
  /** Started and not known to be dying: may hold a task. */
  ready: boolean;
  /** Id of the task it runs, if any. */
  taskId: string | undefined;
  /**
   * Ids handed to the worker behind `taskId`, in order; they start as the ones before
   * them finish. Mirrors the worker machine's `runAhead`: a cancelled one stays listed
   * (the worker still has it) but is no longer in `running`.
   */
  runAhead: string[];
  leaseId: string | undefined;
  /** Times of recent failures that count towards the restart-intensity limit. */
  failures: number[];
  restarts: number;
  stopped: boolean;
  lastError: SerializedError | undefined;
}

interface RunningTask {
  readonly request: TaskRequest;
  readonly attempt: number;
  readonly slot: Slot;
  /** When it started; for a task run ahead, when it was handed over until the one before it finishes. */
  startedAt: number;
}

interface RunTimes {
  meanMs: number;
  runs: number;
}

interface QueuedTask {
  readonly kind: 'task';
  readonly id: string;
  readonly priority: number;
  readonly seq: number;
  readonly selector: string;
  readonly request: TaskRequest;
  readonly attempt: number;
}

interface QueuedLease {
  readonly kind: 'lease';
  readonly id: string;
  readonly priority: number;
  readonly seq: number;
  readonly selector: string;
}

type QueueItem = QueuedTask | QueuedLease;

interface Lease {
  readonly leaseId: string;
  slot: Slot | undefined;
  /** Tasks of this lease waiting for its worker, which runs one at a time. */
  readonly pending: Deque<{ request: TaskRequest; attempt: number }>;
}

export interface DegradedInfo {
  readonly reason: string;
  readonly workerId: string;
  readonly since: number;
  readonly lastError: SerializedError | undefined;
}

export interface LedgerCounts {
  submitted: number;
  succeeded: number;
  failed: number;
  retried: number;
  killed: number;
  restarts: number;
}

const RETRY_CLASS: Partial<Record<Termination['reason'], RetryableFailure>> = {
  crashed: 'crash',
  memory: 'memory',
  timeout: 'timeout',
};

/**
 * The supervisor's bookkeeping: queue, slots, running tasks, leases and restart
 * history. It is mutated in place, never copied per event, which is what keeps the
 * per-task cost flat at 100k queued tasks; the supervisor machine owns the only
 * reference and calls it from its actions. Every task id is in exactly one place —
 * the queue, `running`, or a lease's pending list — until it settles, so each
 * task settles exactly once.
 */
export class PoolLedger {
  readonly slots: Slot[] = [];
  readonly queue = new DeviceQueues<QueueItem>();
  readonly running = new Map<string, RunningTask>();
  readonly leases = new Map<string, Lease>();
  readonly counts: LedgerCounts = { submitted: 0, succeeded: 0, failed: 0, retried: 0, killed: 0, restarts: 0 };
  mode: LedgerMode = 'running';
  degraded: DegradedInfo | undefined;
  drainTimeoutMs = 0;
  readonly #idle = new IdleWorkers();
  #seq = 0;
  /** Workers ended by the host-memory guard whose exit is not confirmed yet. */
  readonly #evicting = new Set<string>();
  /** Recent run times by task name: which tasks are fast enough to hand out ahead of time. */
  readonly #runTimes = new Map<string, RunTimes>();

  constructor(
    readonly settings: LedgerSettings,
    private readonly now: () => number,
    private readonly random: () => number,
  ) {}

  addSlot(workerId: string, device: string, actorId: string): void {
    this.slots.push({
      index: this.slots.length,
      workerId,
      device,
      actorId,
      pid: undefined,
      generation: 0,
      ready: false,
      taskId: undefined,
      runAhead: [],
      leaseId: undefined,
      failures: [],
      restarts: 0,
      stopped: false,
      lastError: undefined,
    });
  }

  get idleCount(): number {
    return this.#idle.count;
  }

  /** The devices of the pool's slots, for a failure that names them. */
  get devices(): string[] {
    return [...new Set(this.slots.map((slot) => slot.device))];
  }

  /** Tasks handed to a worker behind its current one: waiting, not started. */
  get waitingInWorkers(): number {
    let count = 0;
    for (const slot of this.slots) for (const id of slot.runAhead) if (this.running.has(id)) count += 1;
    return count;
  }

  get isDrained(): boolean {
    return this.queue.size === 0 && this.running.size === 0 && this.leases.size === 0;
  }

  get allStopped(): boolean {
    return this.slots.every((slot) => slot.stopped);
  }

  slotOf(workerId: string): Slot | undefined {
    // Ids are `worker-<index>`; fall back to a scan for any other naming.
    const index = Number(workerId.slice(workerId.lastIndexOf('-') + 1));
    const slot = this.slots[index];
    return slot?.workerId === workerId ? slot : this.slots.find((s) => s.workerId === workerId);
  }

  // ── commands from the facade ────────────────────────────────────────────────

  submit(request: TaskRequest, fx: LedgerEffects): void {
    this.counts.submitted += 1;
    fx.emit({ type: 'task.submitted', taskId: request.id, name: request.name, priority: request.priority, queued: this.queue.size });
    const refusal = this.#refusal() ?? this.#deviceRefusal(request.device);
    if (refusal !== undefined) return this.#fail(request.id, refusal, 1, fx);
    if (request.leaseId !== undefined) return this.#submitToLease(request, fx);
    const selector = request.device ?? ANY_DEVICE;
    // An idle worker that can take it means no queued task could (it would have taken that one).
    const idle = this.#idle.take(selector);
    if (idle !== undefined) return this.#start(this.slots[idle] as Slot, request, 1, fx);
    if (this.queue.size >= this.settings.maxQueue) {
      return this.#fail(request.id, { code: 'QUEUE_FULL', queued: this.queue.size, maxQueue: this.settings.maxQueue }, 1, fx);
    }
    this.queue.push({ kind: 'task', id: request.id, priority: request.priority, seq: this.#seq++, selector, request, attempt: 1 });
  }

  cancel(taskId: string, fx: LedgerEffects): void {
    const queued = this.queue.remove(taskId);
    if (queued?.kind === 'task') return this.#fail(taskId, { code: 'CANCELLED', stage: 'queued' }, queued.attempt, fx);
    const running = this.running.get(taskId);
    if (running !== undefined && running.slot.taskId !== taskId) {
      // Handed to a worker but not started: it settles now; the worker still runs its short turn, and that result is dropped.
      this.running.delete(taskId);
      return this.#fail(taskId, { code: 'CANCELLED', stage: 'queued' }, running.attempt, fx);
    }
    if (running !== undefined) {
      // Only killing the worker stops a task that may be in a synchronous loop; the kill settles it.
      fx.send(running.slot.actorId, { type: 'task.cancel', taskId });
      return;
    }
    for (const lease of this.leases.values()) {
      const kept = new Deque<{ request: TaskRequest; attempt: number }>();
      let found: { request: TaskRequest; attempt: number } | undefined;
      for (let item = lease.pending.shift(); item !== undefined; item = lease.pending.shift()) {
        if (item.request.id === taskId) found = item;
        else kept.push(item);
      }
      for (const item of kept) lease.pending.push(item);
      if (found !== undefined) return this.#fail(taskId, { code: 'CANCELLED', stage: 'queued' }, found.attempt, fx);
    }
  }

  acquireLease(leaseId: string, priority: number, device: string | undefined, fx: LedgerEffects): void {
    const refusal = this.#refusal() ?? this.#deviceRefusal(device);
    if (refusal !== undefined) return fx.emit({ type: 'lease.failed', leaseId, failure: refusal });
    this.leases.set(leaseId, { leaseId, slot: undefined, pending: new Deque() });
    const selector = device ?? ANY_DEVICE;
    const idle = this.#idle.take(selector);
    if (idle !== undefined) return this.#grantLease(leaseId, this.slots[idle] as Slot, fx);
    if (this.queue.size >= this.settings.maxQueue) {
      this.leases.delete(leaseId);
      return fx.emit({ type: 'lease.failed', leaseId, failure: { code: 'QUEUE_FULL', queued: this.queue.size, maxQueue: this.settings.maxQueue } });
    }
    this.queue.push({ kind: 'lease', id: leaseId, priority, seq: this.#seq++, selector });
  }

  releaseLease(leaseId: string, fx: LedgerEffects): void {
    const lease = this.leases.get(leaseId);
    if (lease === undefined) return;
    this.leases.delete(leaseId);
    this.queue.remove(leaseId);
    for (let item = lease.pending.shift(); item !== undefined; item = lease.pending.shift()) {
      this.#fail(item.request.id, { code: 'CANCELLED', stage: 'queued' }, item.attempt, fx);
    }
    fx.emit({ type: 'lease.released', leaseId });
    const slot = lease.slot;
    if (slot !== undefined && slot.leaseId === leaseId) {
      slot.leaseId = undefined;
      if (slot.ready && slot.taskId === undefined) this.#becameIdle(slot, fx);
    }
  }

  close(drainTimeoutMs: number, fx: LedgerEffects): void {
    this.drainTimeoutMs = drainTimeoutMs;
    fx.emit({ type: 'pool.draining', drainTimeoutMs });
  }

  // ── notifications from workers ──────────────────────────────────────────────

  workerReady(slot: Slot, pid: number | undefined, fx: LedgerEffects): void {
    slot.pid = pid;
    // Counted here, not by the worker actor: a replaced actor starts counting from one again.
    slot.generation += 1;
    slot.ready = true;
    const type = slot.generation > 1 ? 'worker.restarted' : 'worker.spawned';
    fx.emit({ type, workerId: slot.workerId, pid, device: slot.device, generation: slot.generation });
    this.#becameIdle(slot, fx);
  }

  tasksDone(slot: Slot, results: readonly FinishedTask[], fx: LedgerEffects): void {
    for (const result of results) this.#taskDone(slot, result, fx);
    if (slot.taskId === undefined) this.#becameIdle(slot, fx);
  }

  #taskDone(slot: Slot, { taskId, outcome, durationMs }: FinishedTask, fx: LedgerEffects): void {
    const wasCurrent = slot.taskId === taskId;
    if (!wasCurrent) {
      // A task run ahead finished out of turn (its payload could not be sent, so it failed at once).
      const at = slot.runAhead.indexOf(taskId);
      if (at >= 0) slot.runAhead.splice(at, 1);
    }
    const running = this.running.get(taskId);
    if (running !== undefined) {
      this.running.delete(taskId);
      this.#recordRunTime(running.request.name, durationMs);
      if (outcome.ok) {
        this.counts.succeeded += 1;
        fx.emit({ type: 'task.succeeded', taskId, workerId: slot.workerId, value: outcome.value, durationMs, attempt: running.attempt });
      } else {
        this.#fail(taskId, { code: 'TASK_ERROR', error: outcome.error, ...this.#place(slot) }, running.attempt, fx);
      }
    }
    if (wasCurrent) this.#startNextInLine(slot, fx);
  }

  /** The worker moves on to the first task run ahead, as its machine does. */
  #startNextInLine(slot: Slot, fx: LedgerEffects): void {
    const next = slot.runAhead.shift();
    slot.taskId = next;
    const running = next === undefined ? undefined : this.running.get(next);
    if (running === undefined) return;
    running.startedAt = this.now();
    fx.emit({ type: 'task.started', taskId: running.request.id, workerId: slot.workerId, pid: slot.pid, device: slot.device, attempt: running.attempt });
  }

  /** The worker was not idle after all (it died in between): its tasks go back to the front. */
  taskRejected(slot: Slot, fx: LedgerEffects): void {
    slot.ready = false;
    this.#returnUnstarted(slot, undefined, fx);
  }

  memoryWarning(slot: Slot, taskId: string, usage: { resource: MemoryResource; usedBytes: number; limitBytes: number }, fx: LedgerEffects): void {
    fx.emit({ type: 'memory.warning', workerId: slot.workerId, taskId, resource: usage.resource, usedBytes: usage.usedBytes, limitBytes: usage.limitBytes });
  }

  /**
   * The host-memory guard: under the reserve, end the most recently started task —
   * a retriable one first (Ray's policy) — before the kernel's OOM killer picks a
   * victim at random. One at a time: the next only once that worker's exit freed
   * its memory.
   */
  hostMemory(availableBytes: number, totalBytes: number, fx: LedgerEffects): void {
    const reserve = this.settings.hostMemoryReserveBytes;
    if (reserve === undefined || availableBytes >= reserve || this.#evicting.size > 0) return;
    let victim: RunningTask | undefined;
    let victimRetriable = false;
    for (const running of this.running.values()) {
      // Only a worker's current task is running; ending one run ahead would end the one before it.
      if (running.slot.taskId !== running.request.id) continue;
      const retriable = running.attempt <= running.request.retries && running.request.retryOn.includes('memory');
      const newer = victim === undefined || running.startedAt >= victim.startedAt;
      if (victim === undefined || (retriable && !victimRetriable) || (retriable === victimRetriable && newer)) {
        victim = running;
        victimRetriable = retriable;
      }
    }
    fx.emit({ type: 'host.memory-pressure', availableBytes, reserveBytes: reserve, taskId: victim?.request.id, workerId: victim?.slot.workerId });
    if (victim === undefined) return;
    this.#evicting.add(victim.slot.workerId);
    fx.send(victim.slot.actorId, {
      type: 'task.evict',
      taskId: victim.request.id,
      termination: { reason: 'memory', resource: 'host', usedBytes: totalBytes - availableBytes, limitBytes: totalBytes - reserve, rssBytes: 0, samples: [] },
    });
  }

  workerKilled(slot: Slot, taskId: string | undefined, termination: Termination, fx: LedgerEffects): void {
    this.counts.killed += 1;
    slot.ready = false;
    this.#removeIdle(slot);
    if (termination.reason === 'start-failed' || termination.reason === 'runtime-error') slot.lastError = termination.error;
    fx.emit({ type: 'worker.killed', workerId: slot.workerId, pid: slot.pid, taskId, termination });
    if (taskId !== undefined) this.#taskKilled(slot, taskId, termination, fx);
    this.#returnUnstarted(slot, taskId, fx);
    if (slot.leaseId !== undefined) this.#loseLease(slot, fx);
  }

  workerExited(slot: Slot, termination: Termination, exit: WorkerExit | undefined, fx: LedgerEffects): void {
    this.#evicting.delete(slot.workerId);
    fx.emit({ type: 'worker.exited', workerId: slot.workerId, pid: slot.pid, exit });
    if (this.mode === 'degraded' || this.mode === 'stopping') return fx.send(slot.actorId, { type: 'worker.stop' });
    const delayMs = this.#planRestart(slot, termination, fx);
    fx.send(slot.actorId, delayMs === undefined ? { type: 'worker.stop' } : { type: 'worker.restart', delayMs });
  }

  /**
   * A worker machine itself failed (a bug, or a runtime actor that threw): its actor is
   * gone, so the supervisor replaces the actor. Returns the backoff before the new
   * actor's first start, or undefined when the slot is not to be replaced.
   */
  workerActorFailed(slot: Slot, error: SerializedError, fx: LedgerEffects): number | undefined {
    const termination: Termination = { reason: 'runtime-error', error };
    this.workerKilled(slot, slot.taskId, termination, fx);
    const delayMs = this.mode === 'degraded' || this.mode === 'stopping' ? undefined : this.#planRestart(slot, termination, fx);
    if (delayMs === undefined) this.workerStopped(slot, fx);
    return delayMs;
  }

  replaceActor(slot: Slot, actorId: string): void {
    slot.actorId = actorId;
  }

  #planRestart(slot: Slot, termination: Termination, fx: LedgerEffects): number | undefined {
    const counted =
      termination.reason === 'crashed' || termination.reason === 'start-failed' || termination.reason === 'runtime-error';
    if (!counted) {
      // The pool ended a healthy worker to enforce a task's limits: replace it at once.
      slot.restarts += 1;
      this.counts.restarts += 1;
      fx.emit({ type: 'worker.restart-scheduled', workerId: slot.workerId, delayMs: 0, counted, failuresInWindow: slot.failures.length });
      return 0;
    }
    const plan = planRestart(slot.failures, this.now(), this.settings.restart, this.random);
    slot.failures = plan.recentFailures;
    if (plan.kind === 'give-up') {
      this.degraded = {
        reason: `worker ${slot.workerId} ${termination.reason === 'start-failed' ? 'failed to start' : 'crashed'} ${plan.recentFailures.length} times within ${this.settings.restart.windowMs} ms`,
        workerId: slot.workerId,
        since: this.now(),
        lastError: slot.lastError ?? crashAsError(termination),
      };
      return undefined;
    }
    slot.restarts += 1;
    this.counts.restarts += 1;
    fx.emit({
      type: 'worker.restart-scheduled',
      workerId: slot.workerId,
      delayMs: plan.delayMs,
      counted,
      failuresInWindow: plan.recentFailures.length,
    });
    return plan.delayMs;
  }

  workerStopped(slot: Slot, fx: LedgerEffects): void {
    slot.stopped = true;
    slot.ready = false;
    this.#removeIdle(slot);
    fx.emit({ type: 'worker.stopped', workerId: slot.workerId });
  }

  // ── mode changes (called from the machine's entry actions) ──────────────────

  enterDegraded(fx: LedgerEffects): void {
    this.mode = 'degraded';
    const info = this.degraded as DegradedInfo;
    fx.emit({
      type: 'pool.degraded',
      reason: info.reason,
      workerId: info.workerId,
      failuresInWindow: this.slotOf(info.workerId)?.failures.length ?? 0,
      lastError: info.lastError,
    });
    this.#failAllWaiting(this.#degradedFailure(), fx);
    // Running tasks finish; every worker that is not running one stops now.
    for (const slot of this.slots) {
      if (!slot.stopped && slot.taskId === undefined && slot.leaseId === undefined) fx.send(slot.actorId, { type: 'worker.stop' });
    }
    this.#idle.clear();
  }

  enterDraining(): void {
    this.mode = 'draining';
  }

  enterStopping(fx: LedgerEffects): void {
    this.mode = 'stopping';
    this.#failAllWaiting({ code: 'CLOSED' }, fx);
    for (const lease of [...this.leases.values()]) this.releaseLease(lease.leaseId, fx);
    for (const slot of this.slots) if (!slot.stopped) fx.send(slot.actorId, { type: 'worker.stop' });
    this.#idle.clear();
  }

  // ── internals ───────────────────────────────────────────────────────────────

  #refusal(): TaskFailure | undefined {
    if (this.mode === 'degraded') return this.#degradedFailure();
    if (this.mode === 'draining' || this.mode === 'stopping') return { code: 'CLOSED' };
    return undefined;
  }

  /** A request no worker of this pool can ever serve fails at once, naming what the pool has. */
  #deviceRefusal(selector: string | undefined): TaskFailure | undefined {
    if (selector === undefined || this.slots.some((slot) => deviceMatches(selector, slot.device))) return undefined;
    return { code: 'NO_MATCHING_DEVICE', requested: selector, devices: this.devices };
  }

  #degradedFailure(): TaskFailure {
    return { code: 'DEGRADED', reason: this.degraded?.reason ?? 'the pool is degraded', lastError: this.degraded?.lastError };
  }

  #start(slot: Slot, request: TaskRequest, attempt: number, fx: LedgerEffects, runAhead: readonly QueuedTask[] = []): void {
    const now = this.now();
    slot.taskId = request.id;
    this.running.set(request.id, { request, attempt, slot, startedAt: now });
    let assignments: TaskAssignment[] | undefined;
    if (runAhead.length > 0) {
      assignments = [];
      for (const queued of runAhead) {
        this.running.set(queued.id, { request: queued.request, attempt: queued.attempt, slot, startedAt: now });
        slot.runAhead.push(queued.id);
        assignments.push(this.#assignment(queued.request, queued.attempt));
      }
    }
    fx.send(slot.actorId, { type: 'task.run', task: this.#assignment(request, attempt), runAhead: assignments });
    fx.emit({ type: 'task.started', taskId: request.id, workerId: slot.workerId, pid: slot.pid, device: slot.device, attempt });
  }

  #assignment(request: TaskRequest, attempt: number): TaskAssignment {
    return {
      id: request.id,
      name: request.name,
      payload: request.payload,
      timeoutMs: request.timeoutMs ?? this.settings.taskTimeoutMs,
      memoryLimitBytes: request.memoryLimitBytes ?? this.settings.memoryLimitBytes,
      gpuMemoryLimitBytes: request.gpuMemoryLimitBytes ?? this.settings.gpuMemoryLimitBytes,
      attempt,
    };
  }

  /**
   * Queued tasks to hand to `slot` behind `first`, in queue order: only while the queue
   * is deep (at most this worker's share of it) and only tasks whose names ran fast
   * lately, within {@link RUN_AHEAD_BUDGET_MS} of expected work. One message then
   * carries many short tasks, and one event brings back their results.
   */
  #takeRunAhead(slot: Slot, first: TaskRequest): QueuedTask[] {
    // `first` has left the queue already; this worker's share of what waited includes it.
    const most = Math.min(this.settings.maxBatch, Math.ceil((this.queue.size + 1) / this.slots.length)) - 1;
    if (most <= 0) return [];
    let budget = RUN_AHEAD_BUDGET_MS - this.#expectedMs(first.name);
    const fits = (head: QueueItem): boolean => {
      if (head.kind !== 'task') return false;
      const cost = this.#expectedMs(head.request.name);
      if (cost > budget) return false;
      budget -= cost;
      return true;
    };
    const taken: QueuedTask[] = [];
    while (taken.length < most) {
      const next = this.queue.takeFor(slot.device, fits) as QueuedTask | undefined;
      if (next === undefined) break;
      taken.push(next);
    }
    return taken;
  }

  #expectedMs(name: string): number {
    const times = this.#runTimes.get(name);
    return times === undefined || times.runs < RUNS_BEFORE_RUN_AHEAD ? Infinity : times.meanMs;
  }

  #recordRunTime(name: string, ms: number): void {
    const times = this.#runTimes.get(name);
    if (times === undefined) {
      // The name measured longest ago makes room (a Map iterates in insertion order).
      if (this.#runTimes.size >= RUN_TIME_NAMES) this.#runTimes.delete(this.#runTimes.keys().next().value as string);
      this.#runTimes.set(name, { meanMs: ms, runs: 1 });
    } else {
      times.meanMs += RUN_TIME_WEIGHT * (ms - times.meanMs);
      times.runs += 1;
    }
  }

  /**
   * The worker's tasks other than `except` (the one it was ended for) never started:
   * back to the front of the queue in their order, with no attempt used up.
   */
  #returnUnstarted(slot: Slot, except: string | undefined, fx: LedgerEffects): void {
    const ids = slot.taskId === undefined || slot.taskId === except ? slot.runAhead : [slot.taskId, ...slot.runAhead];
    slot.taskId = undefined;
    slot.runAhead = [];
    const returned: RunningTask[] = [];
    for (const id of ids) {
      const running = this.running.get(id);
      if (running === undefined || id === except) continue;
      this.running.delete(id);
      returned.push(running);
    }
    if (this.mode === 'stopping') {
      for (const { request, attempt } of returned) this.#fail(request.id, { code: 'CLOSED' }, attempt, fx);
      return;
    }
    // Pushed to the front last one first, so that they leave the queue in their order.
    for (let i = returned.length - 1; i >= 0; i--) {
      const { request, attempt } = returned[i] as RunningTask;
      this.#requeueFront(request, attempt, fx, false);
    }
    for (const { request } of returned) this.#wakeIdleFor(request.device ?? ANY_DEVICE, fx);
  }

  #becameIdle(slot: Slot, fx: LedgerEffects): void {
    if (this.mode === 'degraded' || this.mode === 'stopping') {
      if (slot.leaseId === undefined) fx.send(slot.actorId, { type: 'worker.stop' });
      return;
    }
    if (slot.leaseId !== undefined) {
      const lease = this.leases.get(slot.leaseId);
      const next = lease?.pending.shift();
      if (next !== undefined) this.#start(slot, next.request, next.attempt, fx);
      return;
    }
    for (;;) {
      const item = this.queue.takeFor(slot.device);
      if (item === undefined) {
        this.#idle.add(slot.device, slot.index);
        return;
      }
      if (item.kind === 'task') return this.#start(slot, item.request, item.attempt, fx, this.#takeRunAhead(slot, item.request));
      if (this.leases.has(item.id)) return this.#grantLease(item.id, slot, fx);
    }
  }

  #grantLease(leaseId: string, slot: Slot, fx: LedgerEffects): void {
    const lease = this.leases.get(leaseId) as Lease;
    lease.slot = slot;
    slot.leaseId = leaseId;
    fx.emit({ type: 'lease.granted', leaseId, workerId: slot.workerId });
  }

  #submitToLease(request: TaskRequest, fx: LedgerEffects): void {
    const lease = this.leases.get(request.leaseId as string);
    const slot = lease?.slot;
    if (lease === undefined || slot === undefined || slot.leaseId !== lease.leaseId) {
      return this.#fail(request.id, { code: 'LEASE_LOST', leaseId: request.leaseId as string, workerId: slot?.workerId ?? '' }, 1, fx);
    }
    if (slot.ready && slot.taskId === undefined && lease.pending.length === 0) return this.#start(slot, request, 1, fx);
    lease.pending.push({ request, attempt: 1 });
  }

  #loseLease(slot: Slot, fx: LedgerEffects): void {
    const leaseId = slot.leaseId as string;
    slot.leaseId = undefined;
    const lease = this.leases.get(leaseId);
    if (lease === undefined) return;
    this.leases.delete(leaseId);
    fx.emit({ type: 'lease.lost', leaseId, workerId: slot.workerId });
    for (let item = lease.pending.shift(); item !== undefined; item = lease.pending.shift()) {
      this.#fail(item.request.id, { code: 'LEASE_LOST', leaseId, workerId: slot.workerId }, item.attempt, fx);
    }
  }

  #taskKilled(slot: Slot, taskId: string, termination: Termination, fx: LedgerEffects): void {
    const running = this.running.get(taskId);
    if (running === undefined) return;
    this.running.delete(taskId);
    // A task that had to be ended is not one to hand out ahead of time for a while.
    this.#recordRunTime(running.request.name, this.now() - running.startedAt);
    const failure = this.#failureOf(slot, termination);
    const retryClass = RETRY_CLASS[termination.reason];
    const { request, attempt } = running;
    const retryable =
      retryClass !== undefined &&
      request.leaseId === undefined &&
      attempt <= request.retries &&
      request.retryOn.includes(retryClass) &&
      this.mode !== 'stopping';
    if (!retryable) return this.#fail(taskId, failure, attempt, fx);
    this.counts.retried += 1;
    fx.emit({ type: 'task.retrying', taskId, failure, nextAttempt: attempt + 1 });
    this.#requeueFront(request, attempt + 1, fx);
  }

  #requeueFront(request: TaskRequest, attempt: number, fx: LedgerEffects, wakeIdle = true): void {
    if (this.mode === 'degraded') return this.#fail(request.id, this.#degradedFailure(), attempt, fx);
    if (request.leaseId !== undefined) {
      const lease = this.leases.get(request.leaseId);
      if (lease === undefined) return this.#fail(request.id, { code: 'CLOSED' }, attempt, fx);
      return lease.pending.unshift({ request, attempt });
    }
    const selector = request.device ?? ANY_DEVICE;
    this.queue.pushFront({ kind: 'task', id: request.id, priority: request.priority, seq: -1, selector, request, attempt });
    if (wakeIdle) this.#wakeIdleFor(selector, fx);
  }

  #wakeIdleFor(selector: string, fx: LedgerEffects): void {
    if (this.queue.size === 0) return;
    const idle = this.#idle.take(selector);
    if (idle !== undefined) this.#becameIdle(this.slots[idle] as Slot, fx);
  }

  #failureOf(slot: Slot, termination: Termination): TaskFailure {
    const place = this.#place(slot);
    switch (termination.reason) {
      case 'timeout':
        return { code: 'TIMEOUT', elapsedMs: termination.elapsedMs, timeoutMs: termination.timeoutMs, ...place };
      case 'memory': {
        const { reason: _reason, ...breach } = termination;
        return { code: 'MEMORY', ...breach, ...place };
      }
      case 'crashed':
        return { code: 'CRASHED', exitCode: termination.exitCode, signal: termination.signal, stderrTail: termination.stderrTail, ...place };
      case 'runtime-error':
        return { code: 'CRASHED', exitCode: null, signal: null, error: termination.error, ...place };
      case 'cancelled':
        return { code: 'CANCELLED', stage: 'running', workerId: slot.workerId };
      case 'stopped':
      case 'start-failed':
        return { code: 'CLOSED' };
    }
  }

  #place(slot: Slot): { workerId: string; pid: number | undefined; device: string } {
    return { workerId: slot.workerId, pid: slot.pid, device: slot.device };
  }

  #fail(taskId: string, failure: TaskFailure, attempt: number, fx: LedgerEffects): void {
    this.counts.failed += 1;
    fx.emit({ type: 'task.failed', taskId, failure, attempt });
  }

  #failAllWaiting(failure: TaskFailure, fx: LedgerEffects): void {
    for (const item of this.queue.drain()) {
      if (item.kind === 'task') this.#fail(item.id, failure, item.attempt, fx);
      else if (this.leases.delete(item.id)) fx.emit({ type: 'lease.failed', leaseId: item.id, failure });
    }
  }

  #removeIdle(slot: Slot): void {
    this.#idle.remove(slot.device, slot.index);
  }
}

function crashAsError(termination: Termination): SerializedError | undefined {
  if (termination.reason !== 'crashed') return undefined;
  return {
    name: 'WorkerCrashed',
    message: `exit code ${String(termination.exitCode)}, signal ${String(termination.signal)}`,
    stack: termination.stderrTail,
  };
}
