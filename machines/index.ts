/**
 * The pure state machines of poolvisor: import them to drive a pool under a
 * `SimulatedClock`, to draw them, or to supply another runtime with `.provide()`.
 *
 * Every decision lives here: the worker machine (one OS worker: start, run, deadline,
 * memory kill), the supervisor machine and its ledger (the pool: dispatch, restart,
 * degrade, leases), the policies they apply (restart backoff, poison quarantine), the
 * queues (by priority and by device), and the I/O actors' contracts, which `src/runtime`
 * implements. No I/O: these files import xstate and each other only.
 */
export { workerMachine, workerStateName, deadlineLeadMs, MEMORY_EVIDENCE_SAMPLES } from './workerMachine.js';
export type {
  FinishedTask,
  WorkerCommand,
  WorkerContext,
  WorkerEvent,
  WorkerInput,
  WorkerNotification,
  WorkerSettings,
  WorkerStateName,
  WorkerTimerEvent,
  RunningTask,
} from './workerMachine.js';
export { supervisorMachine } from './supervisorMachine.js';
export { readPoolView, readStateChange, readTaskNames, statePath } from './poolStatus.js';
export type { PoolState, PoolView, StateChange, SupervisorSnapshot, WorkerView } from './poolStatus.js';
export type { SupervisorContext, SupervisorEvent, SupervisorInput } from './supervisorMachine.js';
export { PoolLedger, RUN_AHEAD_BUDGET_MS, PROBE_STABLE_MS } from './poolLedger.js';
export type { DegradedInfo, Fingerprinter, LedgerEffects, PhasedEffects, Probe, SupervisorPhase } from './poolLedger.js';
export { LeaseBook } from './leaseBook.js';
export { SlotTable } from './slotTable.js';
export type { Slot } from './slotTable.js';
export { TaskBook } from './taskBook.js';
export type { LedgerCounts, QueuedLease, QueuedTask, QueueItem, TaskInFlight } from './taskBook.js';
export type { LeaseRecord, LeaseRun } from './leaseBook.js';
export { RunTimeStats, RUNS_BEFORE_RUN_AHEAD, RUN_TIME_NAMES, RUN_TIME_WEIGHT } from './runTimes.js';
export type { RunTimes } from './runTimes.js';
export { planRestart } from './restartPolicy.js';
export type { BackoffPolicy, RestartPlan, RestartPolicy } from './restartPolicy.js';
export { PoisonQuarantine, QUARANTINE_ENTRIES } from './poisonQuarantine.js';
export type { QuarantinePolicy } from './poisonQuarantine.js';
export { TaskQueue } from './taskQueue.js';
export type { PoolEvent, PoolEventType, SupervisorCommand, TaskRequest } from './poolEvents.js';
export { workerActorPlaceholders } from './workerActors.js';
export type {
  MemoryPollerCommand,
  MemoryPollerEvent,
  MemoryPollerInput,
  StartWorkerInput,
  StartedWorker,
  TaskResult,
  TerminateWorkerInput,
  WorkerConnectionCommand,
  WorkerConnectionEvent,
  WorkerConnectionInput,
  WorkerExit,
} from './workerActors.js';
export type * from './taskTypes.js';
