/**
 * The read model of a pool: what its supervisor's snapshot says, as plain data. `Pool.status()`,
 * the service (its API, event stream and metrics) and the dashboard read a pool through this
 * file only; nothing outside `machines/` reaches into a snapshot's children or the ledger.
 */
import type { AnyActorRef, InspectionEvent, SnapshotFrom, StateValue } from 'xstate';
import type { DegradedInfo } from './poolLedger.js';
import type { LedgerCounts } from './taskBook.js';
import type { Slot } from './slotTable.js';
import type { supervisorMachine } from './supervisorMachine.js';
import { workerStateName, type WorkerContext, type WorkerStateName } from './workerMachine.js';

export type SupervisorSnapshot = SnapshotFrom<typeof supervisorMachine>;

/** A pool's top-level state; `degraded` has substates of its own (waiting, probing, confirming). */
export type PoolState = 'running' | 'draining' | 'degraded' | 'stopping' | 'closed';

export interface WorkerView {
  readonly id: string;
  /** Its machine's state, by name. */
  readonly state: WorkerStateName;
  /** Its machine's full state path (`alive.running.monitoring`), or `stopped`. */
  readonly path: string;
  readonly pid: number | undefined;
  readonly device: string;
  /** Last sampled resident memory of the worker's process tree. */
  readonly rssBytes: number;
  /** Last sampled GPU memory of the worker's process tree (GPU workers, when sampled). */
  readonly gpuBytes: number | undefined;
  readonly taskId: string | undefined;
  readonly leaseId: string | undefined;
  /** How many times this slot's worker has been replaced. */
  readonly restarts: number;
  /** How many OS workers this slot has run, the current one included. */
  readonly generation: number;
}

export interface PoolView {
  readonly state: PoolState;
  /** Set once the restart-intensity limit was passed: why, and the last error. */
  readonly degraded: DegradedInfo | undefined;
  /** Tasks waiting: in the queue, or handed to a worker behind its current task. */
  readonly queued: number;
  readonly running: number;
  readonly workers: readonly WorkerView[];
  readonly counts: Readonly<LedgerCounts>;
  /** Inputs refused as poison right now (see the `quarantine` option). */
  readonly quarantined: number;
}

/** `'idle'` → `idle`; `{ alive: { running: 'monitoring' } }` → `alive.running.monitoring`. */
export function statePath(value: StateValue): string {
  if (typeof value === 'string') return value;
  const [key, child] = Object.entries(value)[0] ?? ['', undefined];
  return child === undefined ? key : `${key}.${statePath(child as StateValue)}`;
}

type WorkerSnapshot = { readonly value: StateValue; readonly context: WorkerContext };

/** The snapshot of the worker machine a slot runs now, if it has one. */
function workerSnapshotOf(snapshot: SupervisorSnapshot, slot: Slot): WorkerSnapshot | undefined {
  return (snapshot.children as Record<string, AnyActorRef | undefined>)[slot.actorId]?.getSnapshot() as WorkerSnapshot | undefined;
}

/** The pool as its supervisor's snapshot says it is now. */
export function readPoolView(snapshot: SupervisorSnapshot): PoolView {
  const ledger = snapshot.context.ledger;
  const workers = ledger.slots.all.map((slot): WorkerView => {
    const worker = workerSnapshotOf(snapshot, slot);
    return {
      id: slot.workerId,
      state: worker ? workerStateName(worker.value) : 'stopped',
      path: worker ? statePath(worker.value) : 'stopped',
      pid: slot.stopped ? undefined : slot.pid,
      device: slot.device,
      rssBytes: worker?.context.rssBytes ?? 0,
      gpuBytes: worker?.context.gpuBytes,
      taskId: slot.taskId,
      leaseId: slot.leaseId,
      restarts: slot.restarts,
      generation: slot.generation,
    };
  });
  const state: PoolState = snapshot.status === 'done' ? 'closed' : (statePath(snapshot.value).split('.')[0] as PoolState);
  const waitingInWorkers = ledger.waitingInWorkers;
  return {
    state,
    degraded: ledger.degraded,
    // Tasks handed to a worker behind its current one have not started: they are waiting.
    queued: ledger.tasks.queuedCount + waitingInWorkers,
    running: ledger.tasks.runningCount - waitingInWorkers,
    workers,
    counts: { ...ledger.tasks.counts },
    quarantined: ledger.quarantinedCount,
  };
}

/** The task names the pool's workers reported when ready (the first worker that has reported), or none yet. */
export function readTaskNames(snapshot: SupervisorSnapshot): readonly string[] | undefined {
  for (const slot of snapshot.context.ledger.slots.all) {
    const tasks = workerSnapshotOf(snapshot, slot)?.context.worker?.tasks;
    if (tasks !== undefined && tasks.length > 0) return tasks;
  }
  return undefined;
}

/** A state change of the supervisor or of one worker, as an inspection event shows it. */
export interface StateChange {
  /** `supervisor`, or the worker's id. */
  readonly actor: string;
  /** The full state path. */
  readonly path: string;
  /** The state by name: the supervisor's top-level state, or the worker's state name. */
  readonly state: string;
}

/**
 * Reads an XState inspection event of a pool's actor system: the new state of the supervisor or
 * of a worker when the event is a snapshot of one, else undefined (events, microsteps, other
 * actors such as the memory poller).
 */
export function readStateChange(event: InspectionEvent): StateChange | undefined {
  if (event.type !== '@xstate.snapshot') return undefined;
  const snapshot = event.snapshot as { value?: StateValue; context?: { workerId?: unknown } };
  if (snapshot.value === undefined) return undefined;
  if (event.actorRef.sessionId === event.rootId) {
    const path = statePath(snapshot.value);
    return { actor: 'supervisor', path, state: path };
  }
  const workerId = snapshot.context?.workerId;
  if (typeof workerId !== 'string') return undefined;
  return { actor: workerId, path: statePath(snapshot.value), state: workerStateName(snapshot.value) };
}
