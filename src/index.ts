/**
 * poolvisor: a worker pool that kills runaway tasks. The public API is this list;
 * the state machines are at `poolvisor/machines`.
 */
export { createPool, Pool, Lease } from './pool.js';
export type { PoolAuditEvent, PoolStatus, TaskSubmission, WorkerStatus } from './pool.js';
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
