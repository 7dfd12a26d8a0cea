/**
 * poolvisor: a worker pool that kills runaway tasks. The public API is this list.
 *
 * `src/` is the library: the facade (`pool.ts`), its options (`config.ts`) and typed
 * errors (`errors.ts`); `runtime/`, the only code that touches the OS (processes,
 * threads, signals, /proc, GPUs); `service/`, the HTTP service (`poolvisor serve`);
 * `cluster/`, many hosts on BullMQ (`poolvisor/cluster`); `cli.ts`, the `poolvisor`
 * command. The state machines that make every decision are in `machines/`
 * (`poolvisor/machines`). `inference/` is an application of the pool, with its own
 * entry (`poolvisor/inference`); the docs tooling is in `tools/`, outside the package.
 */
export { createPool, Pool, Lease } from './pool.js';
export type { PoolAuditEvent, PoolStatus, SupervisorInspection, TaskSubmission, WorkerStatus } from './pool.js';
export {
  PoolError,
  WorkerTimeoutError,
  WorkerMemoryError,
  WorkerCrashedError,
  TaskError,
  ResultNotSerializableError,
  TaskCancelledError,
  QueueFullError,
  PoolClosedError,
  PoolDegradedError,
  LeaseLostError,
  LeaseExpiredError,
  TaskQuarantinedError,
  NoMatchingDeviceError,
  ConfigError,
  poolErrorData,
  poolErrorFromData,
} from './errors.js';
export type { ConfigIssue, PoolErrorData, WorkerEvidence } from './errors.js';
export type { PoolOptions, RunOptions, AcquireOptions, CloseOptions } from './config.js';
export type { TaskContext } from './runtime/protocol.js';
export type { MemorySample, PoisonFailure, Quarantine, SerializedError, TaskFailure, TaskFailureCode } from '../machines/taskTypes.js';
export type { DegradedInfo } from '../machines/poolLedger.js';
