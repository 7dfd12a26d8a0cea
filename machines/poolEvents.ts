import type { MemoryResource, Quarantine, RetryableFailure, SerializedError, TaskFailure, Termination } from './taskTypes.js';
import type { WorkerExit } from './workerActors.js';

/** A task as submitted to the supervisor, limits not yet resolved. */
export interface TaskRequest {
  readonly id: string;
  readonly name: string;
  readonly payload: unknown;
  /** Higher runs first; FIFO within a priority. */
  readonly priority: number;
  readonly timeoutMs?: number | undefined;
  readonly memoryLimitBytes?: number | undefined;
  readonly gpuMemoryLimitBytes?: number | undefined;
  /** Extra attempts after a failure listed in `retryOn`. */
  readonly retries: number;
  readonly retryOn: readonly RetryableFailure[];
  /** Set when the task runs on a leased worker. */
  readonly leaseId?: string | undefined;
  /** `cpu`, `cuda` (any GPU) or `cuda:N`; any worker when unset. */
  readonly device?: string | undefined;
  /** The caller's name for this input, used instead of a hash of the payload to recognise a poison input. */
  readonly key?: string | undefined;
}

/** Commands the facade sends to the supervisor. */
export type SupervisorCommand =
  | { readonly type: 'task.submit'; readonly task: TaskRequest }
  | { readonly type: 'task.cancel'; readonly taskId: string }
  | {
      readonly type: 'lease.acquire';
      readonly leaseId: string;
      readonly priority: number;
      readonly device?: string | undefined;
      /** How long the lease may be held, counted from the grant; default: the pool's taskTimeoutMs. */
      readonly timeoutMs?: number | undefined;
    }
  | { readonly type: 'lease.release'; readonly leaseId: string }
  | { readonly type: 'pool.close'; readonly drainTimeoutMs: number }
  /** Raised by the supervisor itself when a lease's time is up. */
  | { readonly type: 'lease.expire'; readonly leaseId: string }
  /** From the host-memory monitor, every poll. */
  | { readonly type: 'host.memory'; readonly availableBytes: number; readonly totalBytes: number };

/**
 * The audit trail: every decision the supervisor takes, emitted to outside listeners
 * (`actor.on(type, fn)`). The facade settles task promises from `task.succeeded` and
 * `task.failed`, so these events are the single source of truth for outcomes.
 */
export type PoolEvent =
  | { readonly type: 'task.submitted'; readonly taskId: string; readonly name: string; readonly priority: number; readonly queued: number }
  | {
      readonly type: 'task.started';
      readonly taskId: string;
      readonly workerId: string;
      readonly pid: number | undefined;
      readonly device: string;
      readonly attempt: number;
    }
  /**
   * A running task reported how far it got (`ctx.progress(fraction, detail)` in the task):
   * at most one every ~50 ms per task, the last one always, in the order sent.
   */
  | { readonly type: 'task.progress'; readonly taskId: string; readonly workerId: string; readonly fraction: number; readonly detail: unknown }
  | {
      readonly type: 'task.succeeded';
      readonly taskId: string;
      readonly workerId: string;
      readonly value: unknown;
      /** How long the task ran, as its worker measured it (or this pool's clock, where a runtime does not say). */
      readonly durationMs: number;
      readonly attempt: number;
    }
  | { readonly type: 'task.failed'; readonly taskId: string; readonly failure: TaskFailure; readonly attempt: number }
  /**
   * Many tasks failed at once for one reason (the queue at a close or a degrade): one
   * event for all of them. The facade's audit trail shows a `task.failed` for each.
   */
  | { readonly type: 'tasks.failed'; readonly tasks: ReadonlyArray<{ readonly taskId: string; readonly attempt: number }>; readonly failure: TaskFailure }
  | { readonly type: 'task.retrying'; readonly taskId: string; readonly failure: TaskFailure; readonly nextAttempt: number }
  | { readonly type: 'worker.spawned'; readonly workerId: string; readonly pid: number | undefined; readonly device: string; readonly generation: number }
  | { readonly type: 'worker.restarted'; readonly workerId: string; readonly pid: number | undefined; readonly device: string; readonly generation: number }
  | {
      readonly type: 'worker.killed';
      readonly workerId: string;
      readonly pid: number | undefined;
      readonly taskId: string | undefined;
      readonly termination: Termination;
    }
  | { readonly type: 'worker.exited'; readonly workerId: string; readonly pid: number | undefined; readonly exit: WorkerExit | undefined }
  | {
      readonly type: 'worker.restart-scheduled';
      readonly workerId: string;
      readonly delayMs: number;
      /** Whether this failure counts towards the restart-intensity limit. */
      readonly counted: boolean;
      /**
       * Who the failure is charged to: `task` (it died running this task, or was ended to
       * enforce its limits), `worker` (its own failure: it could not start, died while idle).
       */
      readonly chargedTo: 'task' | 'worker';
      /** The task charged, when there was one. */
      readonly taskId?: string | undefined;
      readonly failuresInWindow: number;
    }
  | { readonly type: 'worker.stopped'; readonly workerId: string }
  | {
      readonly type: 'memory.warning';
      readonly workerId: string;
      readonly taskId: string;
      readonly resource: MemoryResource;
      readonly usedBytes: number;
      readonly limitBytes: number;
    }
  | {
      readonly type: 'host.memory-pressure';
      readonly availableBytes: number;
      readonly reserveBytes: number;
      /** The task ended to free memory (the most recently started one), if any was running. */
      readonly taskId: string | undefined;
      readonly workerId: string | undefined;
    }
  | { readonly type: 'lease.granted'; readonly leaseId: string; readonly workerId: string }
  | { readonly type: 'lease.released'; readonly leaseId: string }
  | { readonly type: 'lease.lost'; readonly leaseId: string; readonly workerId: string }
  | { readonly type: 'lease.failed'; readonly leaseId: string; readonly failure: TaskFailure }
  /** The lease was held past its deadline: its worker is ended and replaced, its later runs fail. */
  | { readonly type: 'lease.expired'; readonly leaseId: string; readonly workerId: string; readonly timeoutMs: number; readonly taskId: string | undefined }
  /** An input took down workers often enough to be refused for a while (`until` on the pool's clock). */
  | ({ readonly type: 'task.quarantined'; readonly taskId: string } & Quarantine)
  | {
      readonly type: 'pool.degraded';
      readonly reason: string;
      readonly workerId: string;
      readonly failuresInWindow: number;
      readonly lastError?: SerializedError | undefined;
    }
  /** A degraded pool tries one worker; `attempt` counts the probes of this degraded spell. */
  | { readonly type: 'pool.probing'; readonly workerId: string; readonly attempt: number }
  | {
      readonly type: 'pool.probe-failed';
      readonly workerId: string;
      readonly attempt: number;
      readonly nextProbeInMs: number;
      readonly lastError?: SerializedError | undefined;
    }
  /** The probe stayed up: every slot is restored and the pool takes tasks again. */
  | { readonly type: 'pool.recovered'; readonly degradedForMs: number; readonly probes: number }
  | { readonly type: 'pool.draining'; readonly drainTimeoutMs: number }
  | { readonly type: 'pool.closed' };

export type PoolEventType = PoolEvent['type'];

