import type { QueueEvents } from 'bullmq';
import type { PoolErrorData } from '../index.js';
import { failureDataOf } from './jobView.js';
import type { DeviceClass } from './names.js';

/**
 * What happened to a cluster task, as BullMQ's queue events tell it, in the words of the
 * local pool's audit trail. `taskId` is the client's (`cpu/<job id>`); `at` is when this
 * process heard of it.
 */
export type ClusterTaskEvent =
  | { readonly type: 'task.queued'; readonly taskId: string; readonly name: string; readonly at: number }
  | { readonly type: 'task.started'; readonly taskId: string; readonly at: number }
  | { readonly type: 'task.progress'; readonly taskId: string; readonly fraction: number; readonly detail: unknown; readonly at: number }
  | { readonly type: 'task.succeeded'; readonly taskId: string; readonly at: number }
  | { readonly type: 'task.failed'; readonly taskId: string; readonly error: PoolErrorData; readonly at: number }
  /** A failed attempt that will run again after a backoff (the caller asked for `retries`). */
  | { readonly type: 'task.retrying'; readonly taskId: string; readonly at: number }
  /** Handed back to wait by its host (degraded, closing, or presumed dead) without spending an attempt. */
  | { readonly type: 'task.requeued'; readonly taskId: string; readonly at: number }
  /** Its host stopped renewing its lock (it died): BullMQ or a live host's reaper moves it back to wait. */
  | { readonly type: 'task.stalled'; readonly taskId: string; readonly at: number }
  /** Removed before it ran: a cancel of a waiting task (or another producer's remove). */
  | { readonly type: 'task.cancelled'; readonly taskId: string; readonly at: number };

/** Forwards one class queue's BullMQ events to `emit` as {@link ClusterTaskEvent}s. */
export function forwardTaskEvents(queueEvents: QueueEvents, deviceClass: DeviceClass, emit: (event: ClusterTaskEvent) => void): void {
  const id = (jobId: string) => `${deviceClass}/${jobId}`;
  queueEvents.on('added', ({ jobId, name }) => emit({ type: 'task.queued', taskId: id(jobId), name, at: Date.now() }));
  queueEvents.on('active', ({ jobId }) => emit({ type: 'task.started', taskId: id(jobId), at: Date.now() }));
  queueEvents.on('progress', ({ jobId, data }) => {
    const { fraction, detail } = (data ?? {}) as { fraction?: unknown; detail?: unknown };
    if (typeof fraction === 'number') emit({ type: 'task.progress', taskId: id(jobId), fraction, detail: detail ?? null, at: Date.now() });
  });
  queueEvents.on('completed', ({ jobId }) => emit({ type: 'task.succeeded', taskId: id(jobId), at: Date.now() }));
  queueEvents.on('failed', ({ jobId, failedReason }) => {
    const error = failureDataOf(failedReason);
    // A cancel of a running task fails its job with the pool's TaskCancelledError.
    if (error.code === 'ERR_TASK_CANCELLED') emit({ type: 'task.cancelled', taskId: id(jobId), at: Date.now() });
    else emit({ type: 'task.failed', taskId: id(jobId), error, at: Date.now() });
  });
  queueEvents.on('delayed', ({ jobId }) => emit({ type: 'task.retrying', taskId: id(jobId), at: Date.now() }));
  queueEvents.on('waiting', ({ jobId, prev }) => {
    if (prev === 'active') emit({ type: 'task.requeued', taskId: id(jobId), at: Date.now() });
    else if (prev === 'failed') emit({ type: 'task.retrying', taskId: id(jobId), at: Date.now() });
  });
  queueEvents.on('stalled', ({ jobId }) => emit({ type: 'task.stalled', taskId: id(jobId), at: Date.now() }));
  queueEvents.on('removed', ({ jobId, prev }) => {
    if (prev !== 'completed' && prev !== 'failed') emit({ type: 'task.cancelled', taskId: id(jobId), at: Date.now() });
  });
}
