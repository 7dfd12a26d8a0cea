import { enqueueActions, fromCallback, setup, type AnyActorRef, type EventObject } from 'xstate';
import type { PoolEvent, SupervisorCommand } from './poolEvents.js';
import { PoolLedger, type LedgerEffects, type Slot } from './poolLedger.js';
import type { RestartPolicy } from './restartPolicy.js';
import { toSerializedError } from './serializedError.js';
import { workerMachine, type WorkerInput, type WorkerNotification, type WorkerSettings } from './workerMachine.js';

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
  },
  guards: {
    isDegraded: ({ context }) => context.ledger.degraded !== undefined,
    isDrained: ({ context }) => context.ledger.isDrained,
    isAllStopped: ({ context }) => context.ledger.allStopped,
    hasNoDrainTime: ({ event }) => event.type === 'pool.close' && event.drainTimeoutMs <= 0,
  },
  actions: {
    handle: enqueueActions(({ context, event, enqueue }) => {
      const ledger = context.ledger;
      const fx: LedgerEffects = { send: (to, command) => enqueue.sendTo(to, command), emit: (e) => enqueue.emit(e) };
      switch (event.type) {
        case 'task.submit':
          return ledger.submit(event.task, fx);
        case 'task.cancel':
          return ledger.cancel(event.taskId, fx);
        case 'lease.acquire':
          return ledger.acquireLease(event.leaseId, event.priority, event.device, fx);
        case 'lease.release':
          return ledger.releaseLease(event.leaseId, fx);
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
      const ledger = context.ledger;
      const actorId = event.type.slice('xstate.error.actor.'.length);
      const slot = ledger.slots.find((s) => s.actorId === actorId);
      if (slot === undefined) return;
      const fx: LedgerEffects = { send: (to, command) => enqueue.sendTo(to, command), emit: (e) => enqueue.emit(e) };
      const delayMs = ledger.workerActorFailed(slot, toSerializedError((event as { error?: unknown }).error), fx);
      if (delayMs === undefined) return;
      const nextId = `${slot.workerId}.${slot.restarts}`;
      ledger.replaceActor(slot, nextId);
      enqueue.spawnChild('worker', { id: nextId, input: workerInput(context.input, slot.index, slot.device, self, delayMs) });
    }),
    workerFinished: enqueueActions(({ context, event, enqueue }) => {
      const actorId = event.type.slice('xstate.done.actor.'.length);
      const slot = context.ledger.slots.find((s) => s.actorId === actorId);
      if (slot !== undefined) context.ledger.workerStopped(slot, { send: (to, c) => enqueue.sendTo(to, c), emit: (e) => enqueue.emit(e) });
    }),
    enterDegraded: enqueueActions(({ context, enqueue }) =>
      context.ledger.enterDegraded({ send: (to, c) => enqueue.sendTo(to, c), emit: (e) => enqueue.emit(e) }),
    ),
    enterDraining: ({ context }) => context.ledger.enterDraining(),
    enterStopping: enqueueActions(({ context, enqueue }) =>
      context.ledger.enterStopping({ send: (to, c) => enqueue.sendTo(to, c), emit: (e) => enqueue.emit(e) }),
    ),
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
      },
      input.now,
      input.random,
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
    degraded: {
      entry: 'enterDegraded',
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
    case 'worker.killed':
      return ledger.workerKilled(slot, event.taskId, event.termination, fx);
    case 'worker.exited':
      return ledger.workerExited(slot, event.termination, event.exit, fx);
  }
}
