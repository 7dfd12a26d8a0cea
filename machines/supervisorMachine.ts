import { enqueueActions, fromCallback, setup, type AnyActorRef, type EventObject } from 'xstate';
import type { PoolEvent, SupervisorCommand } from './poolEvents.js';
import type { QuarantinePolicy } from './poisonQuarantine.js';
import { PoolLedger, PROBE_STABLE_MS, type Fingerprinter, type LedgerEffects, type PhasedEffects, type SupervisorPhase } from './poolLedger.js';
import type { Slot } from './slotTable.js';
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
    const nextId = ledger.slots.nextActorId(slot);
    this.enqueue.stopChild(slot.actorId);
    ledger.slots.replaceActor(slot, nextId);
    this.enqueue.spawnChild('worker', { id: nextId, input: workerInput(this.context.input, slot.index, slot.device, this.self, delayMs) });
  }

  schedule(event: SupervisorCommand, delayMs: number, id: string): void {
    this.enqueue.raise(event, { delay: delayMs, id });
  }

  cancel(id: string): void {
    this.enqueue.cancel(id);
  }

  isWorkerUp(slot: Slot): boolean {
    // The last committed snapshot: a worker spawned in this transition is not up yet anyway.
    const worker = (this.self.getSnapshot() as { children: Record<string, AnyActorRef | undefined> }).children[slot.actorId];
    return worker?.getSnapshot().matches('alive') === true;
  }
}

/** The same, for a decision that depends on the supervisor's state: the state that handles the event says which. */
class PhasedTransitionEffects extends TransitionEffects implements PhasedEffects {
  constructor(
    context: SupervisorContext,
    enqueue: ActionQueue,
    self: AnyActorRef,
    readonly phase: SupervisorPhase,
  ) {
    super(context, enqueue, self);
  }
}

const effects = (context: SupervisorContext, enqueue: ActionQueue, self: AnyActorRef): LedgerEffects => new TransitionEffects(context, enqueue, self);
const effectsIn = (phase: SupervisorPhase, context: SupervisorContext, enqueue: ActionQueue, self: AnyActorRef): PhasedEffects =>
  new PhasedTransitionEffects(context, enqueue, self, phase);

/** An action's parameters where the decision depends on the state: which state handles the event. */
export interface PhaseParams {
  readonly phase: SupervisorPhase;
}

type EventOf<T extends SupervisorEvent['type']> = Extract<SupervisorEvent, { type: T }>;

/** What an action's implementation receives of XState, as the ledger's effects need it. */
interface ActionArgs {
  readonly context: SupervisorContext;
  readonly event: SupervisorEvent;
  readonly enqueue: ActionQueue;
  readonly self: AnyActorRef;
}

/** A step of the ledger for one event type: the ledger decides what, with the transition's effects. */
function onLedger<T extends SupervisorEvent['type']>(apply: (ledger: PoolLedger, event: EventOf<T>, fx: LedgerEffects) => void) {
  return ({ context, event, enqueue, self }: ActionArgs) => apply(context.ledger, event as EventOf<T>, effects(context, enqueue, self));
}

/** The same, told by the state that handles the event which one it is (see {@link handlersIn}). */
function onLedgerIn<T extends SupervisorEvent['type']>(apply: (ledger: PoolLedger, event: EventOf<T>, fx: PhasedEffects) => void) {
  return ({ context, event, enqueue, self }: ActionArgs, { phase }: PhaseParams) =>
    apply(context.ledger, event as EventOf<T>, effectsIn(phase, context, enqueue, self));
}

/** A worker's notification, on the slot of the worker that sent it; a slot's former actor is not heard. */
function onSlot<T extends WorkerNotification['type']>(apply: (ledger: PoolLedger, slot: Slot, event: EventOf<T>, fx: LedgerEffects) => void) {
  return ({ context, event, enqueue, self }: ActionArgs) => {
    const slot = context.ledger.slots.slotOf((event as WorkerNotification).workerId);
    if (slot !== undefined) apply(context.ledger, slot, event as EventOf<T>, effects(context, enqueue, self));
  };
}

/** The same, told which state handles it. */
function onSlotIn<T extends WorkerNotification['type']>(apply: (ledger: PoolLedger, slot: Slot, event: EventOf<T>, fx: PhasedEffects) => void) {
  return ({ context, event, enqueue, self }: ActionArgs, { phase }: PhaseParams) => {
    const slot = context.ledger.slots.slotOf((event as WorkerNotification).workerId);
    if (slot !== undefined) apply(context.ledger, slot, event as EventOf<T>, effectsIn(phase, context, enqueue, self));
  };
}

/**
 * What the supervisor does with each event, by name (the actions of the machine below): made
 * once, so that an event costs a call, not a closure.
 */
const steps = {
  routeTask: onLedger<'task.submit'>((ledger, event, fx) => ledger.submit(event.task, fx)),
  refuseTaskClosed: onLedger<'task.submit'>((ledger, event, fx) => ledger.refuseTask(event.task, 'closed', fx)),
  refuseTaskDegraded: onLedger<'task.submit'>((ledger, event, fx) => ledger.refuseTask(event.task, 'degraded', fx)),
  cancelTask: onLedger<'task.cancel'>((ledger, event, fx) => ledger.cancel(event.taskId, fx)),
  grantLease: onLedger<'lease.acquire'>((ledger, event, fx) => ledger.acquireLease(event.leaseId, event.priority, event.device, event.timeoutMs, fx)),
  refuseLeaseClosed: onLedger<'lease.acquire'>((ledger, event, fx) => ledger.refuseLease(event.leaseId, 'closed', fx)),
  refuseLeaseDegraded: onLedger<'lease.acquire'>((ledger, event, fx) => ledger.refuseLease(event.leaseId, 'degraded', fx)),
  releaseLease: onLedgerIn<'lease.release'>((ledger, event, fx) => ledger.releaseLease(event.leaseId, fx)),
  expireLease: onLedger<'lease.expire'>((ledger, event, fx) => ledger.leaseExpired(event.leaseId, fx)),
  startDrain: onLedger<'pool.close'>((ledger, event, fx) => ledger.close(event.drainTimeoutMs, fx)),
  guardHostMemory: onLedger<'host.memory'>((ledger, event, fx) => ledger.hostMemory(event.availableBytes, event.totalBytes, fx)),
  workerReady: onSlotIn<'worker.ready'>((ledger, slot, event, fx) => ledger.workerReady(slot, event.pid, fx)),
  settleTasks: onSlotIn<'worker.tasks-done'>((ledger, slot, event, fx) => ledger.tasksDone(slot, event.results, fx)),
  requeueRejected: onSlotIn<'worker.task-rejected'>((ledger, slot, _event, fx) => ledger.taskRejected(slot, fx)),
  noteMemoryWarning: onSlot<'worker.memory-warning'>((ledger, slot, event, fx) => ledger.memoryWarning(slot, event.taskId, event, fx)),
  reportProgress: onSlot<'worker.task-progress'>((ledger, slot, event, fx) => ledger.taskProgress(slot, event.taskId, event.fraction, event.detail, fx)),
  settleKilled: onSlotIn<'worker.killed'>((ledger, slot, event, fx) => ledger.workerKilled(slot, event.taskId, event.termination, fx)),
  restartExited: onSlotIn<'worker.exited'>((ledger, slot, event, fx) => ledger.workerExited(slot, event.termination, event.exit, fx)),
};

/**
 * How a state answers the events whose handling depends on it: the same named steps, told
 * which state decides. A worker that frees up takes the next task while running or
 * draining, and is stopped when degraded or stopping; an exited worker is restarted, or
 * stopped; a killed task is retried, except while stopping; work handed back is requeued,
 * or failed. The ledger keeps no copy of the state: it reads it from these parameters.
 */
function handlersIn(phase: SupervisorPhase) {
  const params: PhaseParams = { phase };
  return {
    'lease.release': { actions: { type: 'releaseLease', params } },
    'worker.ready': { actions: { type: 'workerReady', params } },
    'worker.tasks-done': { actions: { type: 'settleTasks', params } },
    'worker.task-rejected': { actions: { type: 'requeueRejected', params } },
    'worker.killed': { actions: { type: 'settleKilled', params } },
    'worker.exited': { actions: { type: 'restartExited', params } },
    'xstate.error.actor.*': { actions: { type: 'replaceFailedWorker', params } },
  } as const;
}

/**
 * The pool: spawns one worker machine per slot, routes tasks to idle workers as
 * messages, settles every task exactly once (as `task.succeeded` / `task.failed`
 * emitted events), restarts killed workers with backoff, and turns a crash loop into
 * `degraded` instead of a restart storm.
 *
 * The bookkeeping lives in a {@link PoolLedger}; this machine decides *when* (its
 * states), the ledger decides *what*. `running` → `draining` → `stopping` → `closed`
 * is the close path; `degraded` is where a crash loop ends. Every event it handles has
 * a named action at the root, and a state that answers an event otherwise (a closed or
 * degraded pool refuses tasks and leases) says so in its own `on`.
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
    isAllStopped: ({ context }) => context.ledger.slots.allStopped,
    hasNoDrainTime: ({ event }) => event.type === 'pool.close' && event.drainTimeoutMs <= 0,
  },
  actions: {
    // ── commands from the facade: each decision has a name, and the states say which applies ──
    routeTask: enqueueActions((args) => steps.routeTask(args)),
    refuseTaskClosed: enqueueActions((args) => steps.refuseTaskClosed(args)),
    refuseTaskDegraded: enqueueActions((args) => steps.refuseTaskDegraded(args)),
    cancelTask: enqueueActions((args) => steps.cancelTask(args)),
    grantLease: enqueueActions((args) => steps.grantLease(args)),
    refuseLeaseClosed: enqueueActions((args) => steps.refuseLeaseClosed(args)),
    refuseLeaseDegraded: enqueueActions((args) => steps.refuseLeaseDegraded(args)),
    releaseLease: enqueueActions((args, params: PhaseParams) => steps.releaseLease(args, params)),
    expireLease: enqueueActions((args) => steps.expireLease(args)),
    startDrain: enqueueActions((args) => steps.startDrain(args)),
    guardHostMemory: enqueueActions((args) => steps.guardHostMemory(args)),
    // ── notifications from the worker machines (a slot's former actor is no longer heard) ──
    workerReady: enqueueActions((args, params: PhaseParams) => steps.workerReady(args, params)),
    settleTasks: enqueueActions((args, params: PhaseParams) => steps.settleTasks(args, params)),
    requeueRejected: enqueueActions((args, params: PhaseParams) => steps.requeueRejected(args, params)),
    noteMemoryWarning: enqueueActions((args) => steps.noteMemoryWarning(args)),
    reportProgress: enqueueActions((args) => steps.reportProgress(args)),
    settleKilled: enqueueActions((args, params: PhaseParams) => steps.settleKilled(args, params)),
    restartExited: enqueueActions((args, params: PhaseParams) => steps.restartExited(args, params)),
    // A worker *machine* failed (not its OS process: that is an ordinary kill). Its actor
    // is gone, so the slot gets a new actor, after the same backoff a crash would get.
    replaceFailedWorker: enqueueActions(({ context, event, enqueue, self }, { phase }: PhaseParams) => {
      const actorId = event.type.slice('xstate.error.actor.'.length);
      const slot = context.ledger.slots.slotOfActor(actorId);
      if (slot === undefined) return;
      context.ledger.workerActorFailed(slot, toSerializedError((event as { error?: unknown }).error), effectsIn(phase, context, enqueue, self));
    }),
    workerFinished: enqueueActions(({ context, event, enqueue, self }) => {
      const actorId = event.type.slice('xstate.done.actor.'.length);
      const slot = context.ledger.slots.slotOfActor(actorId);
      if (slot !== undefined) context.ledger.workerStopped(slot, effects(context, enqueue, self));
    }),
    enterDegraded: enqueueActions(({ context, enqueue, self }) => context.ledger.enterDegraded(effects(context, enqueue, self))),
    startProbe: enqueueActions(({ context, enqueue, self }) => context.ledger.startProbe(effects(context, enqueue, self))),
    recover: enqueueActions(({ context, enqueue, self }) => context.ledger.recover(effectsIn('running', context, enqueue, self))),
    enterStopping: enqueueActions(({ context, enqueue, self }) => context.ledger.enterStopping(effectsIn('stopping', context, enqueue, self))),
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
      ledger.slots.add(workerId, device, workerId);
    });
    return { ledger, input };
  },
  invoke: {
    id: 'hostMemoryMonitor',
    src: 'hostMemoryMonitor',
    input: ({ context }) => ({ intervalMs: context.input.worker.memoryPollMs, reserveBytes: context.input.hostMemoryReserveBytes }),
  },
  // What every state does with an event, unless the state says otherwise below; what
  // depends on the state (see handlersIn) each state says itself.
  on: {
    'task.submit': { actions: 'routeTask' },
    'task.cancel': { actions: 'cancelTask' },
    'lease.acquire': { actions: 'grantLease' },
    'lease.expire': { actions: 'expireLease' },
    'pool.close': { actions: 'startDrain' },
    'host.memory': { actions: 'guardHostMemory' },
    'worker.memory-warning': { actions: 'noteMemoryWarning' },
    'worker.task-progress': { actions: 'reportProgress' },
    'xstate.done.actor.*': { actions: 'workerFinished' },
  },
  initial: 'running',
  states: {
    running: {
      always: { guard: 'isDegraded', target: 'degraded' },
      on: {
        ...handlersIn('running'),
        'pool.close': [
          { guard: 'hasNoDrainTime', target: 'stopping', actions: 'startDrain' },
          { target: 'draining', actions: 'startDrain' },
        ],
      },
    },
    draining: {
      always: [
        { guard: 'isDegraded', target: 'stopping' },
        { guard: 'isDrained', target: 'stopping' },
      ],
      after: { drainTimeout: 'stopping' },
      on: {
        ...handlersIn('draining'),
        'task.submit': { actions: 'refuseTaskClosed' },
        'lease.acquire': { actions: 'refuseLeaseClosed' },
        // A second close: now, or with a new drain time.
        'pool.close': [{ guard: 'hasNoDrainTime', target: 'stopping' }, { actions: 'startDrain' }],
      },
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
      on: {
        ...handlersIn('degraded'),
        'task.submit': { actions: 'refuseTaskDegraded' },
        'lease.acquire': { actions: 'refuseLeaseDegraded' },
        'pool.close': { target: 'stopping', actions: 'startDrain' },
      },
    },
    stopping: {
      entry: 'enterStopping',
      always: { guard: 'isAllStopped', target: 'closed' },
      on: {
        ...handlersIn('stopping'),
        'task.submit': { actions: 'refuseTaskClosed' },
        'lease.acquire': { actions: 'refuseLeaseClosed' },
        'pool.close': {},
      },
    },
    closed: {
      type: 'final',
      entry: enqueueActions(({ enqueue }) => enqueue.emit({ type: 'pool.closed' })),
    },
  },
});
