import { enqueueActions, fromCallback, setup, type AnyActorRef, type EventObject } from 'xstate';
import type { PoolEvent, SupervisorCommand } from './poolEvents.js';
import type { QuarantinePolicy } from './poisonQuarantine.js';
import { PoolLedger, PROBE_STABLE_MS, type Fingerprinter, type LedgerEffects, type Slot } from './poolLedger.js';
import type { RestartPolicy } from './restartPolicy.js';
import { toSerializedError } from './serializedError.js';
import { workerMachine, type WorkerCommand, type WorkerInput, type WorkerNotification, type WorkerSettings } from './workerMachine.js';

export interface SupervisorInput {
  /** One entry per worker slot: slot `i` runs on `devices[i]`. */
  readonly devices: readonly string[];
  readonly worker: WorkerSettings;
  readonly maxQueue: number;
  /** The most tasks a worker is handed at once, its current one included; default 1 (one at a time). */
  readonly maxBatch?: number | undefined;
  readonly taskTimeoutMs: number;
  readonly restart: RestartPolicy;
  /** Below this much available host memory the newest task is ended; undefined: no guard. */
  readonly hostMemoryReserveBytes?: number | undefined;
  /** The pool's clock in ms; pass the simulated clock's `now` in tests. */
  readonly now: () => number;
  /** Source of jitter; pass a constant in tests. */
  readonly random: () => number;
  /** When an input is refused as poison (crashes or memory kills on different workers); undefined: never. */
  readonly quarantine?: QuarantinePolicy | undefined;
  /** How a task's input is recognised (a hash of its payload); the default compares JSON. */
  readonly fingerprint?: Fingerprinter | undefined;
}

export interface SupervisorContext {
  readonly ledger: PoolLedger;
  readonly input: SupervisorInput;
}

export type SupervisorEvent = SupervisorCommand | WorkerNotification;

export interface HostMemoryMonitorInput {
  readonly intervalMs: number;
  /** No reserve: the monitor does nothing. */
  readonly reserveBytes: number | undefined;
}

export type HostMemoryEvent = Extract<SupervisorCommand, { type: 'host.memory' }>;

function workerInput(input: SupervisorInput, slot: number, device: string, parent: AnyActorRef, restartDelayMs = 0): WorkerInput {
  return { workerId: `worker-${slot}`, slot, device, settings: input.worker, parent, now: input.now, restartDelayMs };
}

/** What the ledger's effects need of XState's `enqueue`: checked against it where they are made. */
interface ActionQueue {
  sendTo(to: string, command: WorkerCommand): void;
  emit(event: PoolEvent): void;
  stopChild(id: string): void;
  spawnChild(src: 'worker', options: { id: string; input: WorkerInput }): void;
  raise(event: SupervisorCommand, options: { delay: number; id: string }): void;
  cancel(id: string): void;
}

/**
 * The ledger's effects as actions of the current transition. A class, not an object of
 * closures: one is made per event, and every task costs a few events.
 */
class TransitionEffects implements LedgerEffects {
  constructor(
    private readonly context: SupervisorContext,
    private readonly enqueue: ActionQueue,
    private readonly self: AnyActorRef,
  ) {}

  send(to: string, command: WorkerCommand): void {
    this.enqueue.sendTo(to, command);
  }

  emit(event: PoolEvent): void {
    this.enqueue.emit(event);
  }

  respawn(slot: Slot, delayMs: number): void {
    // A fresh actor id: the old actor (stopped, or failed) must not be reused.
    const ledger = this.context.ledger;
    const nextId = ledger.nextActorId(slot);
    this.enqueue.stopChild(slot.actorId);
    ledger.replaceActor(slot, nextId);
    this.enqueue.spawnChild('worker', { id: nextId, input: workerInput(this.context.input, slot.index, slot.device, this.self, delayMs) });
  }

  schedule(event: SupervisorCommand, delayMs: number, id: string): void {
    this.enqueue.raise(event, { delay: delayMs, id });
  }

  cancel(id: string): void {
    this.enqueue.cancel(id);
  }
}

const effects = (context: SupervisorContext, enqueue: ActionQueue, self: AnyActorRef): LedgerEffects => new TransitionEffects(context, enqueue, self);

/**
 * The pool: spawns one worker machine per slot, routes tasks to idle workers as
 * messages, settles every task exactly once (as `task.succeeded` / `task.failed`
 * emitted events), restarts killed workers with backoff, and turns a crash loop into
 * `degraded` instead of a restart storm.
 *
 * The bookkeeping lives in a {@link PoolLedger}; this machine decides *when* (its
 * states), the ledger decides *what*. `running` → `draining` → `stopping` → `closed`
 * is the close path; `degraded` is where a crash loop ends.
 */
export const supervisorMachine = setup({
  types: {
    context: {} as SupervisorContext,
    events: {} as SupervisorEvent,
    input: {} as SupervisorInput,
    emitted: {} as PoolEvent,
  },
  actors: {
    worker: workerMachine,
    // Without a runtime there is no host to watch: the default does nothing.
    hostMemoryMonitor: fromCallback<EventObject, HostMemoryMonitorInput, HostMemoryEvent>(() => () => {}),
  },
  delays: {
    drainTimeout: ({ context }) => context.ledger.drainTimeoutMs,
    nextProbe: ({ context }) => context.ledger.msUntilProbe,
    probeStable: PROBE_STABLE_MS,
  },
  guards: {
    isDegraded: ({ context }) => context.ledger.degraded !== undefined,
    isProbeUp: ({ context }) => context.ledger.probe?.phase === 'up',
    isProbeFailed: ({ context }) => context.ledger.probe?.phase === 'failed',
    isDrained: ({ context }) => context.ledger.isDrained,
    isAllStopped: ({ context }) => context.ledger.allStopped,
    hasNoDrainTime: ({ event }) => event.type === 'pool.close' && event.drainTimeoutMs <= 0,
  },
  actions: {
    handle: enqueueActions(({ context, event, enqueue, self }) => {
      const ledger = context.ledger;
      const fx = effects(context, enqueue, self);
      switch (event.type) {
        case 'task.submit':
          return ledger.submit(event.task, fx);
        case 'task.cancel':
          return ledger.cancel(event.taskId, fx);
        case 'lease.acquire':
          return ledger.acquireLease(event.leaseId, event.priority, event.device, event.timeoutMs, fx);
        case 'lease.release':
          return ledger.releaseLease(event.leaseId, fx);
        case 'lease.expire':
          return ledger.leaseExpired(event.leaseId, fx);
        case 'pool.close':
          return ledger.close(event.drainTimeoutMs, fx);
        case 'host.memory':
          return ledger.hostMemory(event.availableBytes, event.totalBytes, fx);
        default: {
          // The wildcard also brings any other xstate event; only worker notifications remain here.
          if (!event.type.startsWith('worker.')) return;
          const slot = ledger.slotOf(event.workerId);
          if (slot !== undefined) handleNotification(ledger, slot, event, fx);
        }
      }
    }),
    // A worker *machine* failed (not its OS process: that is an ordinary kill). Its actor
    // is gone, so the slot gets a new actor, after the same backoff a crash would get.
    replaceFailedWorker: enqueueActions(({ context, event, enqueue, self }) => {
      const actorId = event.type.slice('xstate.error.actor.'.length);
      const slot = context.ledger.slots.find((s) => s.actorId === actorId);
      if (slot === undefined) return;
      context.ledger.workerActorFailed(slot, toSerializedError((event as { error?: unknown }).error), effects(context, enqueue, self));
    }),
    workerFinished: enqueueActions(({ context, event, enqueue, self }) => {
      const actorId = event.type.slice('xstate.done.actor.'.length);
      const slot = context.ledger.slots.find((s) => s.actorId === actorId);
      if (slot !== undefined) context.ledger.workerStopped(slot, effects(context, enqueue, self));
    }),
    enterDegraded: enqueueActions(({ context, enqueue, self }) => context.ledger.enterDegraded(effects(context, enqueue, self))),
    startProbe: enqueueActions(({ context, enqueue, self }) => context.ledger.startProbe(effects(context, enqueue, self))),
    recover: enqueueActions(({ context, enqueue, self }) => context.ledger.recover(effects(context, enqueue, self))),
    enterDraining: ({ context }) => context.ledger.enterDraining(),
    enterStopping: enqueueActions(({ context, enqueue, self }) => context.ledger.enterStopping(effects(context, enqueue, self))),
  },
}).createMachine({
  id: 'supervisor',
  context: ({ input, spawn, self }) => {
    const ledger = new PoolLedger(
      {
        maxQueue: input.maxQueue,
        maxBatch: input.maxBatch ?? 1,
        taskTimeoutMs: input.taskTimeoutMs,
        memoryLimitBytes: input.worker.memoryLimitBytes,
        gpuMemoryLimitBytes: input.worker.gpuMemoryLimitBytes,
        hostMemoryReserveBytes: input.hostMemoryReserveBytes,
        restart: input.restart,
        quarantine: input.quarantine,
      },
      input.now,
      input.random,
      input.fingerprint,
    );
    input.devices.forEach((device, slot) => {
      const workerId = `worker-${slot}`;
      spawn('worker', { id: workerId, input: workerInput(input, slot, device, self) });
      ledger.addSlot(workerId, device, workerId);
    });
    return { ledger, input };
  },
  invoke: {
    id: 'hostMemoryMonitor',
    src: 'hostMemoryMonitor',
    input: ({ context }) => ({ intervalMs: context.input.worker.memoryPollMs, reserveBytes: context.input.hostMemoryReserveBytes }),
  },
  // Every event is bookkeeping first; the states below only decide what comes next.
  on: {
    'xstate.error.actor.*': { actions: 'replaceFailedWorker' },
    'xstate.done.actor.*': { actions: 'workerFinished' },
    '*': { actions: 'handle' },
  },
  initial: 'running',
  states: {
    running: {
      always: { guard: 'isDegraded', target: 'degraded' },
      on: {
        'pool.close': [
          { guard: 'hasNoDrainTime', target: 'stopping', actions: 'handle' },
          { target: 'draining', actions: 'handle' },
        ],
      },
    },
    draining: {
      entry: 'enterDraining',
      always: [
        { guard: 'isDegraded', target: 'stopping' },
        { guard: 'isDrained', target: 'stopping' },
      ],
      after: { drainTimeout: 'stopping' },
      on: { 'pool.close': { guard: 'hasNoDrainTime', target: 'stopping' } },
    },
    // Fail fast, and now and then let one worker try again: a module fixed on disk, a host
    // that has recovered, bring the pool back without a restart of the process.
    degraded: {
      entry: 'enterDegraded',
      initial: 'waiting',
      states: {
        waiting: { after: { nextProbe: 'probing' } },
        probing: {
          entry: 'startProbe',
          always: [
            { guard: 'isProbeUp', target: 'confirming' },
            { guard: 'isProbeFailed', target: 'waiting' },
          ],
        },
        // Up is not enough: it must stay up a moment (a module that crashes once loaded).
        confirming: {
          always: { guard: 'isProbeFailed', target: 'waiting' },
          after: { probeStable: { target: '#supervisor.running', actions: 'recover' } },
        },
      },
      on: { 'pool.close': { target: 'stopping', actions: 'handle' } },
    },
    stopping: {
      entry: 'enterStopping',
      always: { guard: 'isAllStopped', target: 'closed' },
      on: { 'pool.close': {} },
    },
    closed: {
      type: 'final',
      entry: enqueueActions(({ enqueue }) => enqueue.emit({ type: 'pool.closed' })),
    },
  },
});

function handleNotification(ledger: PoolLedger, slot: Slot, event: WorkerNotification, fx: LedgerEffects): void {
  switch (event.type) {
    case 'worker.ready':
      return ledger.workerReady(slot, event.pid, fx);
    case 'worker.tasks-done':
      return ledger.tasksDone(slot, event.results, fx);
    case 'worker.task-rejected':
      return ledger.taskRejected(slot, fx);
    case 'worker.memory-warning':
      return ledger.memoryWarning(slot, event.taskId, event, fx);
    case 'worker.task-progress':
      return ledger.taskProgress(slot, event.taskId, event.fraction, event.detail, fx);
    case 'worker.killed':
      return ledger.workerKilled(slot, event.taskId, event.termination, fx);
    case 'worker.exited':
      return ledger.workerExited(slot, event.termination, event.exit, fx);
  }
}
