/**
 * The messages between the pool and a worker process: the only thing the two sides
 * share. The worker entry (`worker/processEntry.js`) is plain JavaScript so that it
 * runs as-is from the sources and from `dist`; it names these types in JSDoc, and
 * `checkJs` holds both sides to them.
 */
import type { SerializedError } from '../../machines/taskTypes.js';
import type { TaskAbortReason } from '../../machines/taskTypes.js';

/** Environment variables the pool sets for a worker process. */
export const WORKER_ENV = {
  taskModule: 'POOLVISOR_TASK_MODULE',
  workerId: 'POOLVISOR_WORKER_ID',
  device: 'POOLVISOR_DEVICE',
  resultFormat: 'POOLVISOR_RESULT_FORMAT',
} as const;

/** What a result must be to count as a success (the pool's `resultFormat` option). */
export type ResultFormat = 'structured-clone' | 'json';

/** A task as the worker sees it. */
export interface WireTask {
  readonly id: string;
  readonly name: string;
  readonly payload: unknown;
}

export type ToWorker =
  /** Tasks to run one after another, in order; each gets its own result message. */
  | { readonly type: 'run'; readonly tasks: readonly WireTask[] }
  /** Abort the running task's `ctx.signal` (cancelled, or its deadline is near); ignored once it has ended. */
  | { readonly type: 'abort'; readonly id: string; readonly reason: TaskAbortReason }
  /** A spare process, started before it was needed, is given its slot. */
  | { readonly type: 'adopt'; readonly workerId: string };

export type FromWorker =
  | { readonly type: 'ready'; readonly tasks: readonly string[] }
  | { readonly type: 'load-error'; readonly error: SerializedError }
  /** A task started a child process: the pool remembers it, to end it with the worker however the worker dies. */
  | { readonly type: 'child'; readonly pid: number }
  /** `ctx.progress` of a running task: rate-limited in the worker, `detail` as JSON would give it back (at most 4 KiB of it). */
  | { readonly type: 'progress'; readonly id: string; readonly fraction: number; readonly detail: unknown }
  /**
   * `durationMs`: how long the task function ran, measured in the worker around it (0 when
   * nothing ran): the one measure of a task's duration, reported as is up to `task.succeeded`.
   */
  | { readonly type: 'result'; readonly id: string; readonly ok: true; readonly value: unknown; readonly durationMs: number }
  /** `notSerializable`: the task returned, but its value cannot go back in that format; `error` says why. */
  | {
      readonly type: 'result';
      readonly id: string;
      readonly ok: false;
      readonly error: SerializedError;
      readonly durationMs: number;
      readonly notSerializable?: ResultFormat;
    };

/** What a task function receives as its second argument. */
export interface TaskContext {
  readonly taskId: string;
  readonly workerId: string;
  readonly device: string;
  /**
   * Reports how far the task got: `fraction` from 0 to 1 (else a TypeError), `detail` any
   * JSON-representable value of at most 4 KiB as JSON (else a TypeError or RangeError).
   * Calls closer than ~50 ms apart are coalesced; the last one, and 1, always go out.
   */
  progress(fraction: number, detail?: unknown): void;
  /**
   * Aborted when the task should stop: its caller cancelled it (`reason.code`
   * `ERR_TASK_CANCELLED`), or its deadline is near (`ERR_TASK_DEADLINE`, with
   * `timeoutMs` and `remainingMs`). A task that returns then keeps its worker; one that
   * does not is killed as before.
   */
  readonly signal: AbortSignal;
}
