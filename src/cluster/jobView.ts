import type { Job, Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { PoolErrorData } from '../index.js';
import { clusterKeys, type DeviceClass } from './names.js';

/** A cluster task's state, in the local pool's words. */
export type ClusterTaskState = 'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled';

/** One cluster task as its BullMQ job says it is now: the same fields as a local task's record, where they mean the same. */
export interface ClusterJobView {
  /** The client's id: `cpu/<job id>`. */
  readonly taskId: string;
  /** The task's name (the job's name). */
  readonly task: string;
  readonly state: ClusterTaskState;
  /** Epoch ms. */
  readonly submittedAt: number;
  readonly startedAt: number | undefined;
  readonly settledAt: number | undefined;
  /** Runs started on a host (a host that died mid-run, or a retry, counts). */
  readonly attempts: number;
  /** The last `ctx.progress(fraction, detail)` of the task, if it reported any. */
  readonly progress: { readonly fraction: number; readonly detail: unknown } | undefined;
  /** The host that runs it, or ran it, when that can be known (see {@link readJobView}). */
  readonly host: string | undefined;
  readonly result: unknown;
  readonly error: PoolErrorData | undefined;
}

/**
 * A job's failure as data: the pool error the host wrote as JSON, or, when something else
 * failed it (a stall limit, another producer's worker), `ERR_CLUSTER_JOB_FAILED` with its reason.
 */
export function failureDataOf(failedReason: string | undefined): PoolErrorData {
  try {
    const data = JSON.parse(failedReason ?? '') as PoolErrorData;
    if (typeof data?.code === 'string' && typeof data.name === 'string') return { ...data, evidence: data.evidence ?? {} };
  } catch {
    // Not written by a poolvisor host: said as it is.
  }
  return { code: 'ERR_CLUSTER_JOB_FAILED', name: 'PoolError', message: failedReason ?? 'the job failed', evidence: {} };
}

/** What is left of a job removed before it ran (a cancel): its job is gone, so this says how it ended. */
interface CancelledTombstone {
  readonly task: string;
  readonly submittedAt: number;
  readonly settledAt: number;
}

/**
 * Notes that a waiting job was removed by a cancel, for as long as finished jobs are kept:
 * without it, a cancelled task that never ran would read as unknown.
 */
export async function recordCancelled(redis: Redis, queue: string, deviceClass: DeviceClass, job: Job, ttlSeconds: number): Promise<void> {
  const tombstone: CancelledTombstone = { task: job.name, submittedAt: job.timestamp, settledAt: Date.now() };
  await redis.set(clusterKeys(queue).cancelled(deviceClass, job.id as string), JSON.stringify(tombstone), 'EX', ttlSeconds);
}

const QUEUED_STATES: ReadonlySet<string> = new Set(['waiting', 'prioritized', 'delayed', 'waiting-children']);

/**
 * The host whose BullMQ worker holds a running job's lock. The lock's value is the worker's
 * token, `<worker id>:<n>`, and each host lists its workers' ids in the registry.
 */
async function hostHoldingLock(redis: Redis, queue: string, classQueue: Queue, jobId: string): Promise<string | undefined> {
  const token = await redis.get(classQueue.toKey(`${jobId}:lock`));
  if (token === null) return undefined;
  const workerId = token.slice(0, token.lastIndexOf(':'));
  const keys = clusterKeys(queue);
  const hostIds = await redis.smembers(keys.hosts);
  if (hostIds.length === 0) return undefined;
  const pipeline = redis.pipeline();
  for (const hostId of hostIds) pipeline.hgetall(keys.workers(hostId));
  const replies = (await pipeline.exec()) ?? [];
  const index = replies.findIndex(([, workers]) => Object.values((workers ?? {}) as Record<string, string>).includes(workerId));
  return index < 0 ? undefined : hostIds[index];
}

/**
 * Reads one job as a {@link ClusterJobView}, or undefined when Redis has no such job (never
 * added, or removed after `keepJobs`). The state is read before the job, as the client does:
 * a job read first could finish in between and show no result.
 *
 * `host` is BullMQ's `processedBy`: poolvisor hosts name their BullMQ workers by their host id.
 * A job taken by an unnamed worker (another producer's, an older host) is known while it runs,
 * from its lock, and not after.
 */
export async function readJobView(redis: Redis, queue: string, deviceClass: DeviceClass, classQueue: Queue, jobId: string): Promise<ClusterJobView | undefined> {
  const taskId = `${deviceClass}/${jobId}`;
  const jobState = await classQueue.getJobState(jobId);
  const job: Job | undefined = jobState === 'unknown' ? undefined : await classQueue.getJob(jobId);
  if (job === undefined) {
    const tombstone = await redis.get(clusterKeys(queue).cancelled(deviceClass, jobId));
    if (tombstone === null) return undefined;
    const { task, submittedAt, settledAt } = JSON.parse(tombstone) as CancelledTombstone;
    const error: PoolErrorData = {
      code: 'ERR_TASK_CANCELLED',
      name: 'TaskCancelledError',
      message: `task ${taskId} was cancelled while queued`,
      evidence: { taskId, stage: 'queued' },
    };
    return { taskId, task, state: 'cancelled', submittedAt, startedAt: undefined, settledAt, attempts: 0, progress: undefined, host: undefined, result: undefined, error };
  }
  const error = jobState === 'failed' ? failureDataOf(job.failedReason) : undefined;
  const state: ClusterTaskState =
    jobState === 'completed'
      ? 'succeeded'
      : jobState === 'failed'
        ? error?.code === 'ERR_TASK_CANCELLED'
          ? 'cancelled'
          : 'failed'
        : QUEUED_STATES.has(jobState)
          ? 'queued'
          : 'running';
  const reported = job.progress as { fraction?: unknown; detail?: unknown } | number;
  const progress = typeof reported === 'object' && reported !== null && typeof reported.fraction === 'number' ? { fraction: reported.fraction, detail: reported.detail ?? null } : undefined;
  const host = job.processedBy ?? (state === 'running' ? await hostHoldingLock(redis, queue, classQueue, jobId) : undefined);
  return {
    taskId,
    task: job.name,
    state,
    submittedAt: job.timestamp,
    startedAt: job.processedOn,
    settledAt: state === 'succeeded' || state === 'failed' || state === 'cancelled' ? job.finishedOn : undefined,
    attempts: job.attemptsStarted ?? job.attemptsMade,
    progress,
    host,
    result: state === 'succeeded' ? job.returnvalue : undefined,
    error,
  };
}
