/**
 * The values that travel between the supervisor, the worker machines and the runtime.
 * Failures are plain data with a stable `code` and their evidence; the facade turns
 * them into error objects, so the machines stay pure and their events serialisable.
 */

/** An error as it crossed a process boundary: enough to rebuild and explain it. */
export interface SerializedError {
  readonly name: string;
  readonly message: string;
  readonly stack?: string | undefined;
  readonly code?: string | undefined;
  /** The error's own `cause`, the same way (a few levels deep at most). */
  readonly cause?: SerializedError | undefined;
}

/** A task as handed to one worker: limits already resolved against the pool defaults. */
export interface TaskAssignment {
  readonly id: string;
  readonly name: string;
  readonly payload: unknown;
  readonly timeoutMs: number;
  readonly memoryLimitBytes: number;
  /** GPU memory the task's process tree may hold (Infinity: no limit). */
  readonly gpuMemoryLimitBytes: number;
  /** 1 for the first run, 2 for the first retry, … */
  readonly attempt: number;
}

/**
 * Why a task's `ctx.signal` was aborted: its caller cancelled it, or its deadline is
 * `remainingMs` away (the kill at the deadline follows unless it returns first).
 */
export type TaskAbortReason =
  | { readonly code: 'ERR_TASK_CANCELLED' }
  | { readonly code: 'ERR_TASK_DEADLINE'; readonly timeoutMs: number; readonly remainingMs: number };

/** What the task function itself produced. */
export type TaskOutcome =
  | { readonly ok: true; readonly value: unknown }
  /** `notSerializable`: the function returned, but its value cannot go back in that format. */
  | { readonly ok: false; readonly error: SerializedError; readonly notSerializable?: 'structured-clone' | 'json' | undefined };

export interface MemorySample {
  /** Milliseconds on the pool's clock. */
  readonly atMs: number;
  readonly rssBytes: number;
  /** GPU memory held by the worker's process tree, when GPUs are sampled. */
  readonly gpuBytes?: number | undefined;
}

/**
 * What a memory limit measures: `rss` the resident memory of the worker's process
 * tree, `gpu` the GPU memory it holds, `host` the host's available memory (the
 * reserve guard), `heap` the V8 heap of a worker thread.
 */
export type MemoryResource = 'rss' | 'gpu' | 'host' | 'heap';

/** The evidence of a memory kill. */
export interface MemoryBreach {
  readonly resource: MemoryResource;
  /** What was measured of that resource (for `host`: what the host was using). */
  readonly usedBytes: number;
  /** The limit it crossed (for `host`: total memory less the reserve). */
  readonly limitBytes: number;
  /** The worker's resident memory at the time. */
  readonly rssBytes: number;
  /** The task's most recent samples, oldest first. */
  readonly samples: readonly MemorySample[];
}

/** Why a worker's OS process is being (or was) ended. */
export type Termination =
  | { readonly reason: 'timeout'; readonly elapsedMs: number; readonly timeoutMs: number }
  | ({ readonly reason: 'memory' } & MemoryBreach)
  | { readonly reason: 'cancelled' }
  /** A lease was held past its deadline: its worker is ended, whatever it is doing. */
  | { readonly reason: 'lease-expired'; readonly leaseId: string; readonly elapsedMs: number; readonly timeoutMs: number }
  | {
      readonly reason: 'crashed';
      readonly exitCode: number | null;
      readonly signal: string | null;
      readonly stderrTail?: string | undefined;
    }
  | { readonly reason: 'start-failed'; readonly error: SerializedError }
  /** An actor of the runtime (connection, memory poller) failed: the worker cannot be supervised. */
  | { readonly reason: 'runtime-error'; readonly error: SerializedError }
  | { readonly reason: 'stopped' };

export type TerminationReason = Termination['reason'];

/** Where a failed task ran, when it ran anywhere. */
export interface WorkerPlace {
  readonly workerId: string;
  readonly pid: number | undefined;
  readonly device: string;
}

/** Why a task failed: a stable code and its evidence. */
export type TaskFailure =
  | ({
      readonly code: 'TIMEOUT';
      readonly elapsedMs: number;
      readonly timeoutMs: number;
      /** Set when the deadline was the lease's, not the task's own. */
      readonly leaseId?: string | undefined;
    } & WorkerPlace)
  | ({ readonly code: 'MEMORY' } & MemoryBreach & WorkerPlace)
  | ({
      readonly code: 'CRASHED';
      readonly exitCode: number | null;
      readonly signal: string | null;
      readonly stderrTail?: string | undefined;
      /** Set when the runtime, not the task, failed. */
      readonly error?: SerializedError | undefined;
    } & WorkerPlace)
  | ({ readonly code: 'TASK_ERROR'; readonly error: SerializedError } & WorkerPlace)
  | ({ readonly code: 'RESULT_NOT_SERIALIZABLE'; readonly format: 'structured-clone' | 'json'; readonly error: SerializedError } & WorkerPlace)
  | { readonly code: 'CANCELLED'; readonly stage: 'queued' | 'running'; readonly workerId?: string | undefined }
  | { readonly code: 'QUEUE_FULL'; readonly queued: number; readonly maxQueue: number }
  | { readonly code: 'CLOSED' }
  | { readonly code: 'DEGRADED'; readonly reason: string; readonly lastError?: SerializedError | undefined }
  | { readonly code: 'LEASE_LOST'; readonly leaseId: string; readonly workerId: string }
  | { readonly code: 'LEASE_EXPIRED'; readonly leaseId: string; readonly workerId: string; readonly timeoutMs: number }
  | ({ readonly code: 'QUARANTINED' } & Quarantine)
  | { readonly code: 'NO_MATCHING_DEVICE'; readonly requested: string; readonly devices: readonly string[] };

export type TaskFailureCode = TaskFailure['code'];

/** One failure that counts as evidence against an input: it crashed its worker or went over a memory limit. */
export interface PoisonFailure {
  readonly taskId: string;
  readonly code: 'CRASHED' | 'MEMORY';
  readonly workerId: string;
  readonly pid: number | undefined;
  /** Which OS worker of the slot it was (a thread has no pid of its own to tell them apart). */
  readonly generation: number;
  /** Milliseconds on the pool's clock. */
  readonly atMs: number;
}

/**
 * An input the pool refuses for a while: tasks of this name with this fingerprint
 * (a hash of the payload, or the caller's `key`) took down more than one worker.
 */
export interface Quarantine {
  readonly name: string;
  readonly fingerprint: string;
  /** The failures that led to it, oldest first. */
  readonly failures: readonly PoisonFailure[];
  /** Until when (the pool's clock, ms) tasks with this fingerprint fail fast. */
  readonly untilMs: number;
}

/** Failures a task may be retried after; a timeout only when asked for explicitly. */
export type RetryableFailure = 'crash' | 'memory' | 'timeout';
