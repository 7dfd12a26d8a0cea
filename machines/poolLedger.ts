import type { PoolEvent, SupervisorCommand, TaskRequest } from './poolEvents.js';
import { PoisonQuarantine, type QuarantinePolicy } from './poisonQuarantine.js';
import type { RestartPolicy } from './restartPolicy.js';
import { ANY_DEVICE } from './devices.js';
import { LeaseBook } from './leaseBook.js';
import { RunTimeStats } from './runTimes.js';
import { SlotTable, type Slot } from './slotTable.js';
import { TaskBook, type QueuedTask, type QueueItem, type TaskInFlight } from './taskBook.js';
import type { MemoryResource, Quarantine, RetryableFailure, SerializedError, TaskAssignment, TaskFailure, Termination } from './taskTypes.js';
import type { WorkerExit } from './workerActors.js';
import type { FinishedTask, WorkerCommand } from './workerMachine.js';

/** How the supervisor machine lets the ledger act: each becomes an XState action. */
export interface LedgerEffects {
  /** `to` is the worker's actor id, a child of the supervisor. */
  send(to: string, command: WorkerCommand): void;
  emit(event: PoolEvent): void;
  /** A new worker actor for the slot (its old one stopped), first starting after `delayMs`. */
  respawn(slot: Slot, delayMs: number): void;
  /** Sends the supervisor `event` after `delayMs`, unless cancelled by `id` first. */
  schedule(event: SupervisorCommand, delayMs: number, id: string): void;
  cancel(id: string): void;
  /**
   * Whether the slot's worker machine is up (started, not killed or stopping): read from
   * the machine itself, the one source of truth for what a worker is doing.
   */
  isWorkerUp(slot: Slot): boolean;
}

/**
 * The effects of a transition whose decision depends on the supervisor's state: that state
 * comes with them, passed by the state that handles the event (see the supervisor's
 * per-state handlers), so the ledger keeps no copy of it.
 */
export interface PhasedEffects extends LedgerEffects {
  readonly phase: SupervisorPhase;
}

/** Turns a task into the fingerprint its poison record is kept under (the caller's key, or a hash of the payload). */
export type Fingerprinter = (request: TaskRequest) => string;

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
  /** When an input is refused as poison; undefined: never. */
  readonly quarantine: QuarantinePolicy | undefined;
}

/** How long a probe worker must stay up before a degraded pool counts as recovered. */
export const PROBE_STABLE_MS = 1000;

/**
 * How much expected work (by the recent run times of the tasks' names) a worker may be
 * handed ahead of its current task. Small, so that a worker that frees up never finds
 * the queue emptied into another worker's backlog for long.
 */
export const RUN_AHEAD_BUDGET_MS = 2;

/** The supervisor's top-level state, as its handlers pass it to the ledger (`closed` handles nothing). */
export type SupervisorPhase = 'running' | 'draining' | 'degraded' | 'stopping';

export interface DegradedInfo {
  readonly reason: string;
  readonly workerId: string;
  readonly since: number;
  readonly lastError: SerializedError | undefined;
  /** When (the pool's clock, ms) one worker will next try to start; the pool recovers if it stays up. */
  readonly nextProbeAt: number;
  /** Probes that failed so far; each doubles the wait before the next, up to `restart.maxRecoverAfterMs`. */
  readonly failedProbes: number;
}

/** A degraded pool's attempt to come back: one slot restarted, watched. */
export interface Probe {
  readonly slot: Slot | undefined;
  phase: 'starting' | 'up' | 'failed';
}

const RETRY_CLASS: Partial<Record<Termination['reason'], RetryableFailure>> = {
  crashed: 'crash',
  memory: 'memory',
  timeout: 'timeout',
};

/** Memory kills that are evidence against the input: the task's own growth, not the host's pressure. */
function isPoisonFailure(termination: Termination): boolean {
  return termination.reason === 'crashed' || (termination.reason === 'memory' && termination.resource !== 'host');
}

const leaseTimer = (leaseId: string) => `lease:${leaseId}`;

/**
 * The supervisor's bookkeeping and decisions: the task book, slot table and lease book
 * it owns, and what the pool does with them. It is mutated in place, never copied per
 * event, which is what keeps the per-task cost flat at 100k queued tasks; the supervisor
 * machine owns the only reference and calls it from its actions. Every task id is in exactly one place —
 * the task book's queue, its running tasks, or a lease's pending list — until it
 * settles, so each task settles exactly once.
 */
export class PoolLedger {
  readonly slots: SlotTable;
  readonly tasks = new TaskBook<Slot>();
  readonly leases = new LeaseBook<Slot>();
  degraded: DegradedInfo | undefined;
  probe: Probe | undefined;
  drainTimeoutMs = 0;
  /** Recent run times by task name: which tasks are fast enough to hand out ahead of time. */
  readonly #runTimes = new RunTimeStats();
  readonly #quarantine: PoisonQuarantine;
  /** Fingerprints already computed, kept with the request (a retried task is the same object). */
  readonly #fingerprints = new WeakMap<TaskRequest, string>();
  /** The wait before the next probe of a degraded pool. */
  #recoverDelayMs: number;
  #recoveredAt: number | undefined;

  constructor(
    readonly settings: LedgerSettings,
    private readonly now: () => number,
    random: () => number,
    private readonly fingerprint: Fingerprinter = defaultFingerprint,
  ) {
    this.slots = new SlotTable(settings.restart, random);
    this.#quarantine = new PoisonQuarantine(settings.quarantine, now);
    this.#recoverDelayMs = settings.restart.recoverAfterMs;
  }

  /** Inputs refused as poison right now. */
  get quarantinedCount(): number {
    return this.#quarantine.activeCount;
  }

  /** Tasks handed to a worker behind its current one: waiting, not started. */
  get waitingInWorkers(): number {
    let count = 0;
    for (const slot of this.slots.all) for (const id of slot.runAhead) if (this.tasks.isRunning(id)) count += 1;
    return count;
  }

  get isDrained(): boolean {
    return this.tasks.isEmpty && !this.leases.anyActive;
  }

  // ── commands from the facade ────────────────────────────────────────────────

  submit(request: TaskRequest, fx: LedgerEffects): void {
    this.tasks.count('submitted');
    fx.emit({ type: 'task.submitted', taskId: request.id, name: request.name, priority: request.priority, queued: this.tasks.queuedCount });
    const refusal = this.#deviceRefusal(request.device);
    if (refusal !== undefined) return this.#fail(request.id, refusal, 1, fx);
    const quarantine = this.#quarantineOf(request);
    if (quarantine !== undefined) return this.#fail(request.id, { code: 'QUARANTINED', ...quarantine }, 1, fx);
    if (request.leaseId !== undefined) return this.#submitToLease(request, fx);
    const selector = request.device ?? ANY_DEVICE;
    // An idle worker that can take it means no queued task could (it would have taken that one).
    const idle = this.slots.takeIdle(selector);
    if (idle !== undefined) return this.#start(idle, request, 1, fx);
    if (this.tasks.queuedCount >= this.settings.maxQueue) {
      return this.#fail(request.id, { code: 'QUEUE_FULL', queued: this.tasks.queuedCount, maxQueue: this.settings.maxQueue }, 1, fx);
    }
    this.tasks.enqueue(request, 1, selector);
  }

  /** A task submitted while the pool cannot take any (the supervisor's state says why): counted, and failed at once. */
  refuseTask(request: TaskRequest, why: 'closed' | 'degraded', fx: LedgerEffects): void {
    this.tasks.count('submitted');
    fx.emit({ type: 'task.submitted', taskId: request.id, name: request.name, priority: request.priority, queued: this.tasks.queuedCount });
    this.#fail(request.id, why === 'degraded' ? this.#degradedFailure() : { code: 'CLOSED' }, 1, fx);
  }

  /** A lease asked for while the pool cannot grant any. */
  refuseLease(leaseId: string, why: 'closed' | 'degraded', fx: LedgerEffects): void {
    fx.emit({ type: 'lease.failed', leaseId, failure: why === 'degraded' ? this.#degradedFailure() : { code: 'CLOSED' } });
  }

  cancel(taskId: string, fx: LedgerEffects): void {
    const queued = this.tasks.removeQueued(taskId);
    if (queued?.kind === 'task') return this.#fail(taskId, { code: 'CANCELLED', stage: 'queued' }, queued.attempt, fx);
    const running = this.tasks.runningTask(taskId);
    if (running !== undefined && running.slot.taskId !== taskId) {
      // Handed to a worker but not started: it settles now; the worker still runs its short turn, and that result is dropped.
      this.tasks.markFinished(taskId);
      return this.#fail(taskId, { code: 'CANCELLED', stage: 'queued' }, running.attempt, fx);
    }
    if (running !== undefined) {
      // Settled now, so the caller does not wait out the grace. The worker machine aborts the
      // task's signal and kills the worker unless the task returns within the grace (a
      // synchronous loop never sees the signal); a result that comes back is dropped.
      this.tasks.markFinished(taskId);
      this.#fail(taskId, { code: 'CANCELLED', stage: 'running', workerId: running.slot.workerId }, running.attempt, fx);
      fx.send(running.slot.actorId, { type: 'task.cancel', taskId });
      return;
    }
    const waiting = this.leases.cancelRun(taskId);
    if (waiting !== undefined) this.#fail(taskId, { code: 'CANCELLED', stage: 'queued' }, waiting.attempt, fx);
  }

  acquireLease(leaseId: string, priority: number, device: string | undefined, timeoutMs: number | undefined, fx: LedgerEffects): void {
    const refusal = this.#deviceRefusal(device);
    if (refusal !== undefined) return fx.emit({ type: 'lease.failed', leaseId, failure: refusal });
    this.leases.create(leaseId, timeoutMs ?? this.settings.taskTimeoutMs);
    const selector = device ?? ANY_DEVICE;
    const idle = this.slots.takeIdle(selector);
    if (idle !== undefined) return this.#grantLease(leaseId, idle, fx);
    if (this.tasks.queuedCount >= this.settings.maxQueue) {
      this.leases.remove(leaseId);
      return fx.emit({ type: 'lease.failed', leaseId, failure: { code: 'QUEUE_FULL', queued: this.tasks.queuedCount, maxQueue: this.settings.maxQueue } });
    }
    this.tasks.enqueueLease(leaseId, priority, selector);
  }

  releaseLease(leaseId: string, fx: PhasedEffects): void {
    const lease = this.leases.remove(leaseId);
    if (lease === undefined) return;
    this.tasks.removeQueued(leaseId);
    fx.cancel(leaseTimer(leaseId));
    for (let item = this.leases.takeRun(lease); item !== undefined; item = this.leases.takeRun(lease)) {
      this.#fail(item.request.id, { code: 'CANCELLED', stage: 'queued' }, item.attempt, fx);
    }
    fx.emit({ type: 'lease.released', leaseId });
    const slot = lease.slot;
    if (slot !== undefined && slot.leaseId === leaseId) {
      slot.leaseId = undefined;
      if (slot.taskId === undefined && fx.isWorkerUp(slot)) this.#becameIdle(slot, fx);
    }
  }

  /**
   * A lease was held past its deadline. Its worker is ended whatever it is doing (a
   * run in progress fails as a timeout), its waiting and later runs fail with
   * LEASE_EXPIRED, and the slot is replaced at once and serves the queue again.
   */
  leaseExpired(leaseId: string, fx: LedgerEffects): void {
    const lease = this.leases.get(leaseId);
    const slot = lease?.slot;
    if (lease === undefined || lease.expired || slot === undefined || slot.leaseId !== leaseId) return;
    this.leases.expire(lease);
    const failure: TaskFailure = { code: 'LEASE_EXPIRED', leaseId, workerId: slot.workerId, timeoutMs: lease.timeoutMs };
    for (let item = this.leases.takeRun(lease); item !== undefined; item = this.leases.takeRun(lease)) this.#fail(item.request.id, failure, item.attempt, fx);
    fx.emit({ type: 'lease.expired', leaseId, workerId: slot.workerId, timeoutMs: lease.timeoutMs, taskId: slot.taskId });
    // The slot no longer belongs to the lease: once replaced it serves the queue.
    slot.leaseId = undefined;
    fx.send(slot.actorId, {
      type: 'worker.recycle',
      termination: { reason: 'lease-expired', leaseId, elapsedMs: this.now() - lease.grantedAt, timeoutMs: lease.timeoutMs },
    });
  }

  close(drainTimeoutMs: number, fx: LedgerEffects): void {
    this.drainTimeoutMs = drainTimeoutMs;
    fx.emit({ type: 'pool.draining', drainTimeoutMs });
  }

  // ── notifications from workers ──────────────────────────────────────────────

  workerReady(slot: Slot, pid: number | undefined, fx: PhasedEffects): void {
    slot.pid = pid;
    // Counted here, not by the worker actor: a replaced actor starts counting from one again.
    slot.generation += 1;
    const type = slot.generation > 1 ? 'worker.restarted' : 'worker.spawned';
    fx.emit({ type, workerId: slot.workerId, pid, device: slot.device, generation: slot.generation });
    // A degraded pool's probe stays up, idle, until the pool decides it has recovered.
    if (fx.phase === 'degraded' && this.probe?.slot === slot && this.probe.phase === 'starting') {
      this.probe.phase = 'up';
      return;
    }
    this.#becameIdle(slot, fx);
  }

  tasksDone(slot: Slot, results: readonly FinishedTask[], fx: PhasedEffects): void {
    for (const result of results) this.#taskDone(slot, result, fx);
    if (slot.taskId === undefined) this.#becameIdle(slot, fx);
  }

  #taskDone(slot: Slot, { taskId, outcome, durationMs }: FinishedTask, fx: PhasedEffects): void {
    const wasCurrent = slot.taskId === taskId;
    if (!wasCurrent) {
      // A task run ahead finished out of turn (its payload could not be sent, so it failed at once).
      const at = slot.runAhead.indexOf(taskId);
      if (at >= 0) slot.runAhead.splice(at, 1);
    }
    const running = this.tasks.markFinished(taskId);
    if (running !== undefined) {
      this.#runTimes.record(running.request.name, durationMs);
      if (outcome.ok) {
        this.tasks.count('succeeded');
        fx.emit({ type: 'task.succeeded', taskId, workerId: slot.workerId, value: outcome.value, durationMs, attempt: running.attempt });
      } else if (outcome.notSerializable !== undefined) {
        this.#fail(taskId, { code: 'RESULT_NOT_SERIALIZABLE', format: outcome.notSerializable, error: outcome.error, ...this.#place(slot) }, running.attempt, fx);
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
    const running = next === undefined ? undefined : this.tasks.runningTask(next);
    if (running === undefined) return;
    running.startedAt = this.now();
    fx.emit({ type: 'task.started', taskId: running.request.id, workerId: slot.workerId, pid: slot.pid, device: slot.device, attempt: running.attempt });
  }

  /** The worker was not idle after all (it died in between): its tasks go back to the front. */
  taskRejected(slot: Slot, fx: PhasedEffects): void {
    this.#returnUnstarted(slot, undefined, fx);
  }

  /** Progress of a task still running on this slot; one that settled meanwhile (cancelled) says no more. */
  taskProgress(slot: Slot, taskId: string, fraction: number, detail: unknown, fx: LedgerEffects): void {
    if (this.tasks.runningTask(taskId)?.slot !== slot) return;
    fx.emit({ type: 'task.progress', taskId, workerId: slot.workerId, fraction, detail });
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
    if (reserve === undefined || availableBytes >= reserve || this.slots.evicting) return;
    let victim: TaskInFlight<Slot> | undefined;
    let victimRetriable = false;
    for (const running of this.tasks.runningTasks()) {
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
    this.slots.markEvicting(victim.slot);
    fx.send(victim.slot.actorId, {
      type: 'task.evict',
      taskId: victim.request.id,
      termination: { reason: 'memory', resource: 'host', usedBytes: totalBytes - availableBytes, limitBytes: totalBytes - reserve, rssBytes: 0, samples: [] },
    });
  }

  workerKilled(slot: Slot, taskId: string | undefined, termination: Termination, fx: PhasedEffects): void {
    this.tasks.count('killed');
    // A cancelled task settled before the kill; its kill is still its own doing, not the worker's.
    slot.killedTaskId = taskId !== undefined && (this.tasks.isRunning(taskId) || termination.reason === 'cancelled') ? taskId : undefined;
    this.slots.removeIdle(slot);
    // This failure's own error: what a degrade or a failed probe reports, never an older one.
    slot.lastError = errorOf(termination) ?? slot.lastError;
    if (this.probe?.slot === slot && this.probe.phase !== 'failed') this.#probeFailed(slot, fx);
    fx.emit({ type: 'worker.killed', workerId: slot.workerId, pid: slot.pid, taskId, termination });
    if (taskId !== undefined) this.#taskKilled(slot, taskId, termination, fx);
    this.#returnUnstarted(slot, taskId, fx);
    if (slot.leaseId !== undefined) this.#loseLease(slot, fx);
  }

  workerExited(slot: Slot, termination: Termination, exit: WorkerExit | undefined, fx: PhasedEffects): void {
    this.slots.exited(slot);
    fx.emit({ type: 'worker.exited', workerId: slot.workerId, pid: slot.pid, exit });
    if (fx.phase === 'degraded' || fx.phase === 'stopping') return fx.send(slot.actorId, { type: 'worker.stop' });
    const delayMs = this.#planRestart(slot, termination, fx);
    fx.send(slot.actorId, delayMs === undefined ? { type: 'worker.stop' } : { type: 'worker.restart', delayMs });
  }

  // ── a degraded pool's probes ────────────────────────────────────────────────

  /** How long until the next probe is due (0 when it is). */
  get msUntilProbe(): number {
    return this.degraded === undefined ? 0 : Math.max(0, this.degraded.nextProbeAt - this.now());
  }

  /**
   * One slot tries to start again: the failed one, a new actor, no backoff. A task
   * module fixed on disk is loaded by this start. With no slot stopped (all still
   * finishing tasks), there is nothing to try: the probe counts as up.
   */
  startProbe(fx: LedgerEffects): void {
    const info = this.degraded as DegradedInfo;
    const stopped = this.slots.all.filter((slot) => slot.stopped);
    const slot = stopped.find((s) => s.workerId === info.workerId) ?? stopped[0];
    this.probe = { slot, phase: slot === undefined ? 'up' : 'starting' };
    fx.emit({ type: 'pool.probing', workerId: slot?.workerId ?? info.workerId, attempt: info.failedProbes + 1 });
    if (slot === undefined) return;
    slot.stopped = false;
    fx.respawn(slot, 0);
  }

  #probeFailed(slot: Slot, fx: LedgerEffects): void {
    const probe = this.probe as Probe;
    probe.phase = 'failed';
    const info = this.degraded as DegradedInfo;
    this.#recoverDelayMs = Math.min(this.settings.restart.maxRecoverAfterMs, this.#recoverDelayMs * 2);
    const lastError = slot.lastError ?? info.lastError;
    this.degraded = { ...info, lastError, failedProbes: info.failedProbes + 1, nextProbeAt: this.now() + this.#recoverDelayMs };
    fx.emit({ type: 'pool.probe-failed', workerId: slot.workerId, attempt: info.failedProbes + 1, nextProbeInMs: this.#recoverDelayMs, lastError });
  }

  /** The probe stayed up: every slot comes back, with a clean restart history, and the queue opens. */
  recover(fx: PhasedEffects): void {
    const info = this.degraded as DegradedInfo;
    const probeSlot = this.probe?.slot;
    this.degraded = undefined;
    this.probe = undefined;
    this.#recoveredAt = this.now();
    fx.emit({ type: 'pool.recovered', degradedForMs: this.now() - info.since, probes: info.failedProbes + 1 });
    this.slots.forgetFailures();
    for (const slot of this.slots.all) {
      if (slot.stopped) {
        slot.stopped = false;
        fx.respawn(slot, 0);
      }
    }
    if (probeSlot !== undefined && probeSlot.taskId === undefined && fx.isWorkerUp(probeSlot)) this.#becameIdle(probeSlot, fx);
  }

  /**
   * A worker machine itself failed (a bug, or a runtime actor that threw): its actor is
   * gone, so the slot gets a new actor after the backoff the failure earns, or stops
   * (degraded, closing, or past the restart limit).
   */
  workerActorFailed(slot: Slot, error: SerializedError, fx: PhasedEffects): void {
    const termination: Termination = { reason: 'runtime-error', error };
    this.workerKilled(slot, slot.taskId, termination, fx);
    const delayMs = fx.phase === 'degraded' || fx.phase === 'stopping' ? undefined : this.#planRestart(slot, termination, fx);
    if (delayMs === undefined) this.workerStopped(slot, fx);
    else fx.respawn(slot, delayMs);
  }

  /**
   * A fault is charged to what caused it. A worker that died running a task, or was
   * ended to enforce a task's limits, is the task's doing: the task fails (and is retried
   * per its `retries`), the worker is replaced at once, and the pool's restart limit is
   * untouched — so one bad input repeated cannot take the pool down. Only the worker's
   * own failures count: it could not start, its runtime failed, it died or outgrew its
   * limit while idle.
   */
  #planRestart(slot: Slot, termination: Termination, fx: LedgerEffects): number | undefined {
    const reason = termination.reason;
    const ownFailure =
      reason === 'start-failed' ||
      reason === 'runtime-error' ||
      ((reason === 'crashed' || reason === 'memory') && slot.killedTaskId === undefined);
    if (!ownFailure) {
      this.slots.restartForTask(slot);
      this.tasks.count('restarts');
      fx.emit({
        type: 'worker.restart-scheduled',
        workerId: slot.workerId,
        delayMs: 0,
        counted: false,
        chargedTo: 'task',
        taskId: slot.killedTaskId,
        failuresInWindow: slot.failures.length,
      });
      return 0;
    }
    const plan = this.slots.recordOwnFailure(slot, this.now());
    if (plan.kind === 'give-up') {
      const now = this.now();
      // Degraded again soon after recovering: the cause is back, so probe no more often than last time.
      const again = this.#recoveredAt !== undefined && now - this.#recoveredAt < this.settings.restart.windowMs;
      this.#recoverDelayMs = again
        ? Math.min(this.settings.restart.maxRecoverAfterMs, this.#recoverDelayMs * 2)
        : this.settings.restart.recoverAfterMs;
      this.degraded = {
        reason: `worker ${slot.workerId} ${ownFailureVerb(reason)} ${plan.recentFailures.length} times within ${this.settings.restart.windowMs} ms`,
        workerId: slot.workerId,
        since: now,
        lastError: slot.lastError,
        nextProbeAt: now + this.#recoverDelayMs,
        failedProbes: 0,
      };
      return undefined;
    }
    this.tasks.count('restarts');
    fx.emit({
      type: 'worker.restart-scheduled',
      workerId: slot.workerId,
      delayMs: plan.delayMs,
      counted: true,
      chargedTo: 'worker',
      failuresInWindow: plan.recentFailures.length,
    });
    return plan.delayMs;
  }

  workerStopped(slot: Slot, fx: LedgerEffects): void {
    slot.stopped = true;
    this.slots.removeIdle(slot);
    fx.emit({ type: 'worker.stopped', workerId: slot.workerId });
  }

  // ── state changes (called from the machine's entry actions) ──────────────────

  enterDegraded(fx: LedgerEffects): void {
    const info = this.degraded as DegradedInfo;
    fx.emit({
      type: 'pool.degraded',
      reason: info.reason,
      workerId: info.workerId,
      failuresInWindow: this.slots.slotOf(info.workerId)?.failures.length ?? 0,
      lastError: info.lastError,
    });
    this.#failAllWaiting(this.#degradedFailure(), fx);
    // Running tasks finish; every worker that is not running one stops now.
    for (const slot of this.slots.all) {
      if (!slot.stopped && slot.taskId === undefined && slot.leaseId === undefined) fx.send(slot.actorId, { type: 'worker.stop' });
    }
    this.slots.clearIdle();
  }

  enterStopping(fx: PhasedEffects): void {
    this.probe = undefined;
    this.#failAllWaiting({ code: 'CLOSED' }, fx);
    for (const leaseId of this.leases.ids()) this.releaseLease(leaseId, fx);
    for (const slot of this.slots.all) if (!slot.stopped) fx.send(slot.actorId, { type: 'worker.stop' });
    this.slots.clearIdle();
  }

  // ── internals ───────────────────────────────────────────────────────────────

  /** A request no worker of this pool can ever serve fails at once, naming what the pool has. */
  #deviceRefusal(selector: string | undefined): TaskFailure | undefined {
    if (selector === undefined || this.slots.serves(selector)) return undefined;
    return { code: 'NO_MATCHING_DEVICE', requested: selector, devices: this.slots.devices };
  }

  /** The quarantine this task's input is in, if any; only a name with recent failures costs a fingerprint. */
  #quarantineOf(request: TaskRequest): Quarantine | undefined {
    if (!this.#quarantine.watches(request.name)) return undefined;
    return this.#quarantine.check(request.name, this.#fingerprintOf(request));
  }

  #fingerprintOf(request: TaskRequest): string {
    let fingerprint = this.#fingerprints.get(request);
    if (fingerprint === undefined) {
      fingerprint = request.key !== undefined ? `key:${request.key}` : this.fingerprint(request);
      this.#fingerprints.set(request, fingerprint);
    }
    return fingerprint;
  }

  /** A crash or memory kill is evidence against the input. */
  #recordPoison(slot: Slot, request: TaskRequest, termination: Termination, fx: LedgerEffects): void {
    if (this.settings.quarantine === undefined || !isPoisonFailure(termination)) return;
    const code = termination.reason === 'crashed' ? 'CRASHED' : 'MEMORY';
    const quarantine = this.#quarantine.record(request.name, this.#fingerprintOf(request), {
      taskId: request.id,
      code,
      workerId: slot.workerId,
      pid: slot.pid,
      generation: slot.generation,
      atMs: this.now(),
    });
    if (quarantine !== undefined) fx.emit({ type: 'task.quarantined', taskId: request.id, ...quarantine });
  }

  #degradedFailure(): TaskFailure {
    return { code: 'DEGRADED', reason: this.degraded?.reason ?? 'the pool is degraded', lastError: this.degraded?.lastError };
  }

  #start(slot: Slot, request: TaskRequest, attempt: number, fx: LedgerEffects, runAhead: readonly QueuedTask[] = []): void {
    const now = this.now();
    slot.taskId = request.id;
    this.tasks.markStarted(request, attempt, slot, now);
    let assignments: TaskAssignment[] | undefined;
    if (runAhead.length > 0) {
      assignments = [];
      for (const queued of runAhead) {
        this.tasks.markStarted(queued.request, queued.attempt, slot, now);
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
    const most = Math.min(this.settings.maxBatch, Math.ceil((this.tasks.queuedCount + 1) / this.slots.all.length)) - 1;
    if (most <= 0) return [];
    let budget = RUN_AHEAD_BUDGET_MS - this.#runTimes.expectedMs(first.name);
    const fits = (head: QueueItem): boolean => {
      // A name with recent crashes goes one task at a time: each is checked against the quarantine when it starts.
      if (head.kind !== 'task' || this.#quarantine.watches(head.request.name)) return false;
      const cost = this.#runTimes.expectedMs(head.request.name);
      if (cost > budget) return false;
      budget -= cost;
      return true;
    };
    const taken: QueuedTask[] = [];
    while (taken.length < most) {
      const next = this.tasks.takeNext(slot.device, fits) as QueuedTask | undefined;
      if (next === undefined) break;
      taken.push(next);
    }
    return taken;
  }

  /**
   * The worker's tasks other than `except` (the one it was ended for) never started:
   * back to the front of the queue in their order, with no attempt used up.
   */
  #returnUnstarted(slot: Slot, except: string | undefined, fx: PhasedEffects): void {
    const ids = slot.taskId === undefined || slot.taskId === except ? slot.runAhead : [slot.taskId, ...slot.runAhead];
    slot.taskId = undefined;
    slot.runAhead = [];
    const returned: TaskInFlight<Slot>[] = [];
    for (const id of ids) {
      if (id === except) continue;
      const running = this.tasks.markFinished(id);
      if (running !== undefined) returned.push(running);
    }
    if (fx.phase === 'stopping') {
      for (const { request, attempt } of returned) this.#fail(request.id, { code: 'CLOSED' }, attempt, fx);
      return;
    }
    // Pushed to the front last one first, so that they leave the queue in their order.
    for (let i = returned.length - 1; i >= 0; i--) {
      const { request, attempt } = returned[i] as TaskInFlight<Slot>;
      this.#requeueFront(request, attempt, fx, false);
    }
    for (const { request } of returned) this.#wakeIdleFor(request.device ?? ANY_DEVICE, fx);
  }

  #becameIdle(slot: Slot, fx: PhasedEffects): void {
    if (fx.phase === 'degraded' || fx.phase === 'stopping') {
      if (slot.leaseId === undefined) fx.send(slot.actorId, { type: 'worker.stop' });
      return;
    }
    if (slot.leaseId !== undefined) {
      const lease = this.leases.get(slot.leaseId);
      const next = lease === undefined ? undefined : this.leases.takeRun(lease);
      if (next !== undefined) this.#start(slot, next.request, next.attempt, fx);
      return;
    }
    for (;;) {
      const item = this.tasks.takeNext(slot.device);
      if (item === undefined) {
        this.slots.markIdle(slot);
        return;
      }
      if (item.kind === 'task') {
        // Queued before its input was found to be poison: it fails here rather than take this worker down too.
        // (A retry is the same task, spending the attempts its caller gave it.)
        const quarantine = item.attempt === 1 ? this.#quarantineOf(item.request) : undefined;
        if (quarantine !== undefined) {
          this.#fail(item.id, { code: 'QUARANTINED', ...quarantine }, item.attempt, fx);
          continue;
        }
        return this.#start(slot, item.request, item.attempt, fx, this.#takeRunAhead(slot, item.request));
      }
      if (this.leases.has(item.id)) return this.#grantLease(item.id, slot, fx);
    }
  }

  #grantLease(leaseId: string, slot: Slot, fx: LedgerEffects): void {
    const lease = this.leases.grant(leaseId, slot, this.now());
    if (lease === undefined) return;
    slot.leaseId = leaseId;
    fx.emit({ type: 'lease.granted', leaseId, workerId: slot.workerId });
    fx.schedule({ type: 'lease.expire', leaseId }, lease.timeoutMs, leaseTimer(leaseId));
  }

  #submitToLease(request: TaskRequest, fx: LedgerEffects): void {
    const lease = this.leases.get(request.leaseId as string);
    if (lease?.expired) {
      return this.#fail(request.id, { code: 'LEASE_EXPIRED', leaseId: lease.leaseId, workerId: '', timeoutMs: lease.timeoutMs }, 1, fx);
    }
    const slot = lease?.slot;
    if (lease === undefined || slot === undefined || slot.leaseId !== lease.leaseId) {
      return this.#fail(request.id, { code: 'LEASE_LOST', leaseId: request.leaseId as string, workerId: slot?.workerId ?? '' }, 1, fx);
    }
    if (slot.taskId === undefined && this.leases.pendingCount(lease) === 0 && fx.isWorkerUp(slot)) return this.#start(slot, request, 1, fx);
    this.leases.enqueue(lease, { request, attempt: 1 });
  }

  #loseLease(slot: Slot, fx: LedgerEffects): void {
    const leaseId = slot.leaseId as string;
    slot.leaseId = undefined;
    const lease = this.leases.remove(leaseId);
    if (lease === undefined) return;
    fx.cancel(leaseTimer(leaseId));
    fx.emit({ type: 'lease.lost', leaseId, workerId: slot.workerId });
    for (let item = this.leases.takeRun(lease); item !== undefined; item = this.leases.takeRun(lease)) {
      this.#fail(item.request.id, { code: 'LEASE_LOST', leaseId, workerId: slot.workerId }, item.attempt, fx);
    }
  }

  #taskKilled(slot: Slot, taskId: string, termination: Termination, fx: PhasedEffects): void {
    const running = this.tasks.markFinished(taskId);
    if (running === undefined) return;
    // A task that had to be ended is not one to hand out ahead of time for a while.
    this.#runTimes.record(running.request.name, this.now() - running.startedAt);
    const failure = this.#failureOf(slot, termination, running);
    const retryClass = RETRY_CLASS[termination.reason];
    const { request, attempt } = running;
    this.#recordPoison(slot, request, termination, fx);
    // The task's own retries are the caller's to spend (each on a fresh worker); the quarantine refuses further tasks.
    const retryable =
      retryClass !== undefined &&
      request.leaseId === undefined &&
      attempt <= request.retries &&
      request.retryOn.includes(retryClass) &&
      fx.phase !== 'stopping';
    if (!retryable) return this.#fail(taskId, failure, attempt, fx);
    this.tasks.count('retried');
    fx.emit({ type: 'task.retrying', taskId, failure, nextAttempt: attempt + 1 });
    this.#requeueFront(request, attempt + 1, fx);
  }

  #requeueFront(request: TaskRequest, attempt: number, fx: PhasedEffects, wakeIdle = true): void {
    if (fx.phase === 'degraded') return this.#fail(request.id, this.#degradedFailure(), attempt, fx);
    if (request.leaseId !== undefined) {
      const lease = this.leases.get(request.leaseId);
      if (lease === undefined) return this.#fail(request.id, { code: 'CLOSED' }, attempt, fx);
      return this.leases.requeueFront(lease, { request, attempt });
    }
    const selector = request.device ?? ANY_DEVICE;
    this.tasks.requeueFront(request, attempt, selector);
    if (wakeIdle) this.#wakeIdleFor(selector, fx);
  }

  #wakeIdleFor(selector: string, fx: PhasedEffects): void {
    if (this.tasks.queuedCount === 0) return;
    const idle = this.slots.takeIdle(selector);
    if (idle !== undefined) this.#becameIdle(idle, fx);
  }

  #failureOf(slot: Slot, termination: Termination, running: TaskInFlight<Slot>): TaskFailure {
    const place = this.#place(slot);
    switch (termination.reason) {
      case 'timeout':
        return { code: 'TIMEOUT', elapsedMs: termination.elapsedMs, timeoutMs: termination.timeoutMs, ...place };
      case 'lease-expired':
        // The lease's deadline, not the task's own: how long the task had run is in the audit trail.
        return { code: 'TIMEOUT', elapsedMs: this.now() - running.startedAt, timeoutMs: termination.timeoutMs, leaseId: termination.leaseId, ...place };
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
    this.tasks.count('failed');
    fx.emit({ type: 'task.failed', taskId, failure, attempt });
  }

  /**
   * Fails everything queued with one `tasks.failed` event: XState runs a transition's
   * emitted events from an array it shifts one by one, so 100k separate events at a
   * close would cost seconds (quadratic); one event costs nothing, and the facade
   * still tells its listeners of each task.
   */
  #failAllWaiting(failure: TaskFailure, fx: LedgerEffects): void {
    const tasks: Array<{ taskId: string; attempt: number }> = [];
    for (const item of this.tasks.drainQueue()) {
      if (item.kind === 'task') tasks.push({ taskId: item.id, attempt: item.attempt });
      else if (this.leases.remove(item.id) !== undefined) fx.emit({ type: 'lease.failed', leaseId: item.id, failure });
    }
    if (tasks.length === 0) return;
    this.tasks.count('failed', tasks.length);
    fx.emit({ type: 'tasks.failed', tasks, failure });
  }
}

function ownFailureVerb(reason: Termination['reason']): string {
  if (reason === 'start-failed') return 'failed to start';
  if (reason === 'memory') return 'outgrew its memory limit while idle';
  if (reason === 'runtime-error') return 'lost its supervision';
  return 'crashed';
}

/** Without a fingerprinter (tests of the machines), a task's input is its JSON. */
function defaultFingerprint(request: TaskRequest): string {
  try {
    return JSON.stringify(request.payload) ?? 'undefined';
  } catch {
    return String(request.payload);
  }
}

/** The error a termination carries as evidence: a start's or the runtime's own, or the crash as one. */
function errorOf(termination: Termination): SerializedError | undefined {
  if (termination.reason === 'start-failed' || termination.reason === 'runtime-error') return termination.error;
  return crashAsError(termination);
}

function crashAsError(termination: Termination): SerializedError | undefined {
  if (termination.reason !== 'crashed') return undefined;
  return {
    name: 'WorkerCrashed',
    message: `exit code ${String(termination.exitCode)}, signal ${String(termination.signal)}`,
    stack: termination.stderrTail,
  };
}
