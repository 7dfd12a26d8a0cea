import { createHash, randomUUID } from 'node:crypto';
import { Queue, QueueEvents, type Job, type JobsOptions } from 'bullmq';
import { Redis } from 'ioredis';
import { PoolError, poolErrorFromData, TaskCancelledError } from '../index.js';
import { HostRegistry, type HostStatus } from './hostRegistry.js';
import { failureDataOf, readJobView, recordCancelled, type ClusterJobView } from './jobView.js';
import { forwardTaskEvents, type ClusterTaskEvent } from './taskEvents.js';
import { parseOptions } from '../config.js';
import { jobOptionsSchema, type ClusterJobData, type ClusterJobOptions } from './jobData.js';
import { classQueueName, clusterKeys, deviceClassOf, DEVICE_CLASSES, redisOptions, type DeviceClass } from './names.js';
import { REDIS_GOODBYE_MS, settlesWithin } from './waiting.js';

export interface ClusterClientOptions {
  readonly redis: string;
  readonly queue: string;
  /** Completed and failed jobs kept in Redis, for reads and for `key` to find (default: a day, at most 100,000). */
  readonly keepJobs?: { readonly ageSeconds: number; readonly count: number };
  /** Errors that are not a task's (Redis, BullMQ: a lost connection, while it reconnects); default: ignored. */
  readonly onError?: (error: Error) => void;
  /** Every task's queue events (queued, started, progress, settled…), of every producer: for a service's event stream. */
  readonly onTaskEvent?: (event: ClusterTaskEvent) => void;
}

export interface ClusterRunOptions extends ClusterJobOptions {
  /** Aborting removes a waiting task, or kills the running one on whichever host runs it. */
  readonly signal?: AbortSignal;
  /** The task's `ctx.progress(fraction, detail)` calls, from whichever host runs it. */
  readonly onProgress?: (fraction: number, detail: unknown) => void;
}

export interface ClusterStatus {
  readonly queues: Record<DeviceClass, Record<string, number>>;
  readonly hosts: HostStatus[];
}

export interface ClusterClient {
  /** Runs a task on some host of the cluster: the result, or the same typed error the local pool gives. */
  run<T = unknown>(name: string, payload?: unknown, options?: ClusterRunOptions): Promise<T>;
  /** Enqueues a task and says its id (`cpu/17`) once Redis has it; `result(id)` waits for it. */
  submit(name: string, payload?: unknown, options?: ClusterRunOptions): Promise<string>;
  result<T = unknown>(taskId: string): Promise<T>;
  /** The task as its job says it is now; undefined when Redis has no such job (unknown, or no longer kept). */
  job(taskId: string): Promise<ClusterJobView | undefined>;
  /** Removes a waiting task, or kills the running one wherever it runs. */
  cancel(taskId: string): Promise<void>;
  status(): Promise<ClusterStatus>;
  close(): Promise<void>;
}

interface Waiter {
  resolve(value: unknown): void;
  reject(error: Error): void;
}

/** A job's failure as the host wrote it (the pool error as data), or, from elsewhere, a plain PoolError. */
function failureOf(failedReason: string | undefined): PoolError {
  return poolErrorFromData(failureDataOf(failedReason));
}

/** How often a client with waiting tasks checks that no outcome was trimmed from an event stream unread. */
const LOST_OUTCOME_CHECK_MS = 1000;

/** Orders two Redis stream ids (`<ms>-<seq>`). */
function compareStreamIds(a: string, b: string): number {
  const [aMs = 0, aSeq = 0] = a.split('-').map(Number);
  const [bMs = 0, bSeq = 0] = b.split('-').map(Number);
  return aMs - bMs || aSeq - bSeq;
}

/** BullMQ refuses `:` in custom ids and integers; a key of any shape becomes a fixed-length id. */
const jobIdOfKey = (key: string) => `k-${createHash('sha256').update(key).digest('base64url').slice(0, 32)}`;

/**
 * The producer side of a poolvisor cluster: tasks become BullMQ jobs on the queue of their
 * device class, and their outcomes come back through `QueueEvents` as the local pool's
 * results and typed errors.
 */
export async function createClusterClient(options: ClusterClientOptions): Promise<ClusterClient> {
  const connection = redisOptions(options.redis);
  const keep = options.keepJobs ?? { ageSeconds: 86_400, count: 100_000 };
  const queues = new Map<DeviceClass, Queue>();
  const events = new Map<DeviceClass, QueueEvents>();
  const waiters = new Map<string, Waiter[]>();
  const progressListeners = new Map<string, (fraction: number, detail: unknown) => void>();
  const onError = options.onError ?? (() => {});
  const redis = new Redis({ ...connection, maxRetriesPerRequest: null });
  redis.on('error', onError);
  const keys = clusterKeys(options.queue);
  /** The newest event each class's QueueEvents has handed over (the outcomes and progress listened to): where its reading is, at least. */
  const seen = new Map<DeviceClass, string>();

  const settle = (taskId: string, outcome: { value: unknown } | { error: Error }) => {
    progressListeners.delete(taskId);
    const list = waiters.get(taskId);
    if (list === undefined) return;
    waiters.delete(taskId);
    for (const waiter of list) 'error' in outcome ? waiter.reject(outcome.error) : waiter.resolve(outcome.value);
  };

  for (const deviceClass of DEVICE_CLASSES) {
    const queue = new Queue(classQueueName(options.queue, deviceClass), { connection });
    queue.on('error', onError);
    queues.set(deviceClass, queue);
  }
  /** Where the lost-outcome check (below) has looked up to, per class. */
  const checkedUpTo = new Map<DeviceClass, string>();
  let closed = false;

  /**
   * Listens to each class's events, from the stream's newest entry as of the moment Redis
   * first answers (not '$' at the first read, which comes a little later: an outcome that
   * lands in between would never reach its waiter). Started at once and awaited only where it
   * is needed (before a job is added), so a client made while Redis is away is made at once,
   * and its callers meet Redis's absence where they can answer it (a 503, a timeout).
   */
  const listen = async (deviceClass: DeviceClass) => {
    const queue = queues.get(deviceClass) as Queue;
    const [newest] = (await redis.xrevrange(queue.toKey('events'), '+', '-', 'COUNT', 1)) as Array<[string, string[]]>;
    if (closed) return;
    seen.set(deviceClass, newest?.[0] ?? '0-0');
    checkedUpTo.set(deviceClass, newest?.[0] ?? '0-0');
    const queueEvents = new QueueEvents(queue.name, { connection, lastEventId: newest?.[0] ?? '0-0' });
    queueEvents.on('error', onError);
    queueEvents.on('completed', ({ jobId, returnvalue }, id) => {
      seen.set(deviceClass, id);
      settle(`${deviceClass}/${jobId}`, { value: returnvalue });
    });
    queueEvents.on('failed', ({ jobId, failedReason }, id) => {
      seen.set(deviceClass, id);
      settle(`${deviceClass}/${jobId}`, { error: failureOf(failedReason) });
    });
    // A job removed before it finished was cancelled while queued, by this client or another.
    queueEvents.on('removed', ({ jobId }) => {
      const taskId = `${deviceClass}/${jobId}`;
      if (waiters.has(taskId)) settle(taskId, { error: new TaskCancelledError({ taskId, stage: 'queued', reason: new Error('cancelled by a client') }) });
    });
    queueEvents.on('progress', ({ jobId, data }, id) => {
      seen.set(deviceClass, id);
      const listener = progressListeners.get(`${deviceClass}/${jobId}`);
      const { fraction, detail } = (data ?? {}) as { fraction?: unknown; detail?: unknown };
      if (listener && typeof fraction === 'number') listener(fraction, detail);
    });
    if (options.onTaskEvent) forwardTaskEvents(queueEvents, deviceClass, options.onTaskEvent);
    events.set(deviceClass, queueEvents);
    await queueEvents.waitUntilReady();
  };
  const listening = Promise.all(DEVICE_CLASSES.map(listen)).then(() => undefined);
  listening.catch(onError);

  const locate = (taskId: string): { deviceClass: DeviceClass; jobId: string; queue: Queue } => {
    const [deviceClass, jobId] = taskId.split('/') as [DeviceClass, string];
    const queue = queues.get(deviceClass);
    if (queue === undefined || jobId === undefined) throw new TypeError(`expected a task id such as cpu/17, got ${JSON.stringify(taskId)}`);
    return { deviceClass, jobId, queue };
  };

  /**
   * Settles the task from its job when the job has finished (or was cancelled while queued):
   * for a task that may have settled before anyone listened, and for one whose outcome event
   * was lost. The state first, then the job: a job read before it finished would show no result yet.
   */
  const settleFromJob = async (taskId: string) => {
    const { deviceClass, jobId, queue } = locate(taskId);
    const state = await queue.getJobState(jobId);
    if (state === 'unknown') {
      // Gone: a cancel while it waited leaves a tombstone. Without one it is not added yet, or no longer kept.
      if ((await redis.exists(keys.cancelled(deviceClass, jobId))) === 1) {
        settle(taskId, { error: new TaskCancelledError({ taskId, stage: 'queued', reason: new Error('cancelled by a client') }) });
      }
      return;
    }
    if (state !== 'completed' && state !== 'failed') return;
    const job: Job | undefined = await queue.getJob(jobId);
    if (job === undefined) return;
    if (state === 'completed') settle(taskId, { value: job.returnvalue });
    else settle(taskId, { error: failureOf(job.failedReason) });
  };

  /** Waits for the task's outcome event; `check` also asks Redis, for a task that may have settled already. */
  const outcome = <T>(taskId: string, check: boolean): Promise<T> => {
    locate(taskId);
    return new Promise<T>((resolve, reject) => {
      const list = waiters.get(taskId) ?? [];
      list.push({ resolve: resolve as (value: unknown) => void, reject });
      waiters.set(taskId, list);
      if (check) settleFromJob(taskId).catch(reject);
    });
  };

  /**
   * BullMQ caps each queue's event stream (about 10,000 entries) and trims it as it writes:
   * a client that falls further behind than that (a burst of thousands of tasks while its
   * event loop is busy adding them) never reads the outcomes trimmed away, and their callers
   * would wait forever. So every second, while tasks wait: if the stream's oldest entry is
   * newer than the newest event seen at the last check, entries may have gone unread since,
   * and each waiting task whose job has finished (or was cancelled) is settled from its job.
   */
  const recoverLostOutcomes = async () => {
    for (const deviceClass of DEVICE_CLASSES) {
      const since = checkedUpTo.get(deviceClass) ?? '0-0';
      checkedUpTo.set(deviceClass, seen.get(deviceClass) ?? since);
      const waiting = [...waiters.keys()].filter((taskId) => taskId.startsWith(`${deviceClass}/`));
      if (waiting.length === 0) continue;
      const queue = queues.get(deviceClass) as Queue;
      const [oldest] = (await redis.xrange(queue.toKey('events'), '-', '+', 'COUNT', 1)) as Array<[string, string[]]>;
      if (oldest === undefined || compareStreamIds(oldest[0], since) <= 0) continue;
      // One round trip says which of them finished (or were cancelled); only those are read.
      const pipeline = redis.pipeline();
      for (const taskId of waiting) {
        const { jobId } = locate(taskId);
        pipeline.hget(queue.toKey(jobId), 'finishedOn').exists(keys.cancelled(deviceClass, jobId));
      }
      const replies = (await pipeline.exec()) ?? [];
      const ended = waiting.filter((_, i) => replies[2 * i]?.[1] !== null || replies[2 * i + 1]?.[1] === 1);
      await Promise.all(ended.map((taskId) => settleFromJob(taskId).catch(onError)));
    }
  };
  let recovering = false;
  const recovery = setInterval(() => {
    if (recovering || waiters.size === 0) return;
    recovering = true;
    recoverLostOutcomes()
      .catch(onError)
      .finally(() => (recovering = false));
  }, LOST_OUTCOME_CHECK_MS);
  recovery.unref();

  const result = <T>(taskId: string) => outcome<T>(taskId, true);

  const cancel = async (taskId: string) => {
    const { deviceClass, jobId, queue } = locate(taskId);
    const job = await queue.getJob(jobId);
    if (job === undefined) return;
    try {
      // A waiting or delayed job is simply removed; a locked (running) one refuses.
      await job.remove();
      await recordCancelled(redis, options.queue, deviceClass, job, keep.ageSeconds);
      settle(taskId, { error: new TaskCancelledError({ taskId, stage: 'queued', reason: new Error('cancelled by the client') }) });
    } catch {
      await redis.publish(keys.cancel, jobId);
    }
  };

  const clientId = randomUUID().slice(0, 8);
  let nextJob = 0;

  /** Adds the job; `waitFor` puts the outcome's waiter in place before the add, so no event can come first. */
  const enqueue = async (name: string, payload: unknown, runOptions: ClusterRunOptions, waitFor: boolean) => {
    const { signal, onProgress, ...jobOptions } = runOptions;
    // A bad option is a ConfigError naming it, before anything reaches Redis.
    const parsed = parseOptions(jobOptionsSchema, jobOptions);
    const deviceClass = deviceClassOf(parsed.device);
    const data: ClusterJobData = { name, payload, options: parsed };
    const retries = parsed.retries ?? 0;
    const opts: JobsOptions = {
      attempts: retries + 1,
      backoff: { type: 'exponential', delay: 1000 },
      removeOnComplete: { age: keep.ageSeconds, count: keep.count },
      removeOnFail: { age: keep.ageSeconds, count: keep.count },
      // BullMQ: 1 is the highest priority; poolvisor: the larger the number, the sooner.
      ...(parsed.priority !== undefined && parsed.priority !== 0 ? { priority: 1_000_001 - parsed.priority } : {}),
      // Chosen here, not by Redis: the id is known before the job exists. A key's id is the
      // same for every submit of it, which is what makes the key idempotent.
      jobId: parsed.key !== undefined ? jobIdOfKey(parsed.key) : `${clientId}-${(nextJob += 1)}`,
    };
    const taskId = `${deviceClass}/${opts.jobId}`;
    // A key submitted again after a cancel runs again: the cancel's tombstone goes first.
    if (parsed.key !== undefined) await redis.del(keys.cancelled(deviceClass, opts.jobId as string));
    // A keyed task may have run before: only then is Redis asked how it ended.
    const settled = waitFor ? outcome(taskId, parsed.key !== undefined) : undefined;
    // It may settle (a cancel, a keyed task found finished) before the add returns and the caller holds it.
    settled?.catch(() => {});
    if (onProgress) progressListeners.set(taskId, onProgress);
    try {
      // Listening before the first add: an outcome cannot come before its listener.
      await listening;
      await (queues.get(deviceClass) as Queue).add(name, data, opts);
    } catch (error) {
      waiters.delete(taskId);
      progressListeners.delete(taskId);
      throw error;
    }
    if (signal) {
      if (signal.aborted) await cancel(taskId);
      else signal.addEventListener('abort', () => void cancel(taskId), { once: true });
    }
    return { taskId, settled };
  };
  const submit = async (name: string, payload?: unknown, runOptions: ClusterRunOptions = {}) => (await enqueue(name, payload, runOptions, false)).taskId;

  return {
    async run<T>(name: string, payload?: unknown, runOptions: ClusterRunOptions = {}): Promise<T> {
      return (await enqueue(name, payload, runOptions, true)).settled as Promise<T>;
    },
    submit,
    result,
    async job(taskId: string) {
      const { deviceClass, jobId, queue } = locate(taskId);
      return readJobView(redis, options.queue, deviceClass, queue, jobId);
    },
    cancel,
    async status() {
      const counts = await Promise.all(DEVICE_CLASSES.map((deviceClass) => (queues.get(deviceClass) as Queue).getJobCounts()));
      return {
        queues: Object.fromEntries(DEVICE_CLASSES.map((deviceClass, i) => [deviceClass, counts[i]])) as ClusterStatus['queues'],
        hosts: await HostRegistry.list(redis, options.queue),
      };
    },
    async close() {
      closed = true;
      clearInterval(recovery);
      const goodbye = (async () => {
        await Promise.all([...events.values()].map((queueEvents) => queueEvents.close()));
        await Promise.all([...queues.values()].map((queue) => queue.close()));
        await redis.quit();
      })();
      // With Redis down, a polite close would wait for it forever: after a moment, the
      // connections are dropped instead (what still waits on them fails).
      if (!(await settlesWithin(goodbye, REDIS_GOODBYE_MS))) {
        for (const closable of [...events.values(), ...queues.values()]) void closable.disconnect().catch(() => {});
        redis.disconnect();
      }
    },
  };
}
