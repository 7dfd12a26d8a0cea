import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { UnrecoverableError, WaitingError, Worker, type Job } from 'bullmq';
import { Redis } from 'ioredis';
import {
  createPool,
  PoolClosedError,
  PoolDegradedError,
  poolErrorData,
  TaskError,
  WorkerCrashedError,
  WorkerMemoryError,
  WorkerTimeoutError,
  type Pool,
  type PoolOptions,
} from '../index.js';
import { HostRegistry, type HostStatus } from './hostRegistry.js';
import { parseJobData, type ClusterJobData } from './jobData.js';
import { classQueueName, clusterKeys, deviceClassOf, redisOptions, type DeviceClass } from './names.js';
import { holdsWithin, REDIS_GOODBYE_MS, settlesWithin } from './waiting.js';

export interface ClusterWorkerOptions {
  /** `redis://host:port[/db]`. */
  readonly redis: string;
  /** The cluster queue's name: jobs go to `<queue>.cpu` and `<queue>.cuda`. */
  readonly queue: string;
  /** The local pool's options, as for `createPool` (results are always JSON: `resultFormat: 'json'`). */
  readonly pool: PoolOptions;
  /** This host's id in the cluster (default: hostname, pid and a random part). */
  readonly hostId?: string;
  /** How often the heartbeat is written and the others checked (default 400 ms). */
  readonly heartbeatMs?: number;
  /** A host silent this long is dead and its jobs are handed to others (default 2000 ms). */
  readonly heartbeatTtlMs?: number;
  /** BullMQ's lock on a running job, and how often its stalled check runs: the backstop (default 30 s each). */
  readonly lockDurationMs?: number;
  readonly stalledIntervalMs?: number;
  /** Errors that are not a task's (Redis, BullMQ): logged by the caller. */
  readonly onError?: (error: Error) => void;
}

export interface ClusterWorker {
  readonly hostId: string;
  readonly pool: Pool;
  status(): HostStatus;
  /** Stops taking jobs, lets running tasks finish for `drainTimeoutMs` (what is left goes back to wait), leaves the cluster. */
  close(drainTimeoutMs?: number): Promise<void>;
}

/** Kills that would happen again on a retry unless the caller said otherwise. */
function retriable(error: unknown, data: ClusterJobData): boolean {
  const retryOn = data.options.retryOn ?? ['crash', 'memory'];
  if (error instanceof WorkerTimeoutError) return retryOn.includes('timeout');
  if (error instanceof WorkerCrashedError) return retryOn.includes('crash');
  if (error instanceof WorkerMemoryError) return retryOn.includes('memory');
  // A task that threw is retried only when the caller asked for retries (the job's attempts).
  return error instanceof TaskError;
}

/**
 * A host of a poolvisor cluster: one local pool with all its guarantees, fed by one BullMQ
 * worker per device class it has, each with as many slots as it has workers of that class.
 * The processor is the pool's `run`: the main thread only moves messages and renews locks,
 * so BullMQ's lock renewal is never starved by a task.
 */
export async function createClusterWorker(options: ClusterWorkerOptions): Promise<ClusterWorker> {
  const connection = redisOptions(options.redis);
  const hostId = options.hostId ?? `${hostname()}-${process.pid}-${randomUUID().slice(0, 8)}`;
  const onError = options.onError ?? (() => {});
  const pool = await createPool({ ...options.pool, resultFormat: 'json' });
  const devices = pool.status().workers.map((w) => w.device);
  const slots: Partial<Record<DeviceClass, number>> = {};
  for (const device of devices) slots[deviceClassOf(device)] = (slots[deviceClassOf(device)] ?? 0) + 1;
  const classes = Object.keys(slots) as DeviceClass[];

  const redis = new Redis({ ...connection, maxRetriesPerRequest: null, lazyConnect: false });
  redis.on('error', onError);
  const subscriber = redis.duplicate();
  subscriber.on('error', onError);
  const running = new Map<string, AbortController>();
  const keys = clusterKeys(options.queue);
  /** Why this host stops its tasks when it finds its heartbeat gone (a Redis outage past the TTL will do). */
  const presumedDead = new Error('this host was presumed dead; its jobs run elsewhere');

  /** Set once `close` is called: from then on the host is draining. */
  let closing: Promise<void> | undefined;
  const status = (): HostStatus => {
    const pools = pool.status();
    return {
      id: hostId,
      pid: process.pid,
      hostname: hostname(),
      devices,
      slots,
      running: running.size,
      // A host told to stop says so from then on, while its pool still runs what it has.
      poolState: closing !== undefined && pools.state === 'running' ? 'draining' : pools.state,
      workers: pools.workers.map((w) => ({ id: w.id, state: w.state, device: w.device })),
      tasks: pool.taskNames(),
      at: Date.now(),
    };
  };

  const workers = new Map<DeviceClass, Worker>();
  let registry: HostRegistry | undefined;
  const makeRegistry = () => new HostRegistry({
    redis,
    queue: options.queue,
    hostId,
    workerIds: Object.fromEntries([...workers].map(([deviceClass, worker]) => [deviceClass, worker.id])),
    heartbeatMs: options.heartbeatMs ?? 400,
    heartbeatTtlMs: options.heartbeatTtlMs ?? 2000,
    status,
    requeue: async (deviceClass, deadWorkerId) => {
      const worker = workers.get(deviceClass);
      if (worker === undefined) return;
      // The dead worker's running jobs are those whose lock holds one of its tokens
      // (`<worker id>:<n>`); an active job with no lock at all is stalled too.
      const active = await redis.lrange(worker.toKey('active'), 0, -1);
      if (active.length === 0) return;
      const locks = await redis.mget(active.map((jobId) => worker.toKey(`${jobId}:lock`)));
      const jobIds = active.filter((_, i) => locks[i] === null || (locks[i] as string).startsWith(`${deadWorkerId}:`));
      if (jobIds.length === 0) return;
      // BullMQ's own stalled check moves a job back when it is in the stalled set with no
      // lock; the dead host's locks would live on for lockDuration, so they go first, and the
      // check runs now instead of at its next interval.
      const multi = redis.multi();
      for (const jobId of jobIds) multi.del(worker.toKey(`${jobId}:lock`)).sadd(worker.toKey('stalled'), jobId);
      await multi.del(worker.toKey('stalled-check')).exec();
      await (worker as unknown as { moveStalledJobsToWait(): Promise<void> }).moveStalledJobsToWait();
    },
    presumedDead: () => {
      for (const abort of running.values()) abort.abort(presumedDead);
    },
    onError,
  });

  const processor = (deviceClass: DeviceClass) => async (job: Job, token?: string) => {
    const jobId = job.id as string;
    let data: ClusterJobData;
    try {
      data = parseJobData(job.data);
    } catch (error) {
      throw new UnrecoverableError(JSON.stringify(poolErrorData(error)));
    }
    const abort = new AbortController();
    running.set(jobId, abort);
    try {
      const { timeoutMs, memoryLimitMb, priority, key } = data.options;
      const device = data.options.device ?? deviceClass;
      // A task's progress goes to its job, where the client's QueueEvents (and BullMQ's tools) see it.
      const onProgress = (fraction: number, detail: unknown) => void job.updateProgress({ fraction, detail: detail ?? null }).catch(onError);
      return await pool.run(data.name, data.payload, { timeoutMs, memoryLimitMb, priority, key, device, signal: abort.signal, onProgress });
    } catch (error) {
      if (abort.signal.reason === presumedDead) {
        // Stopped, not failed: the job goes back to wait, unless a reaper took it already (its
        // lock is gone, so the move fails and the job is not this host's to touch).
        await job.moveToWait(token).catch(() => {});
        throw new WaitingError();
      }
      if (error instanceof PoolDegradedError || error instanceof PoolClosedError) {
        // Not the task's fault: back to wait for a host that can run it, no attempt spent.
        await job.moveToWait(token);
        throw new WaitingError();
      }
      const message = JSON.stringify(poolErrorData(error));
      throw retriable(error, data) ? new Error(message) : new UnrecoverableError(message);
    } finally {
      running.delete(jobId);
    }
  };

  for (const deviceClass of classes) {
    const worker = new Worker(classQueueName(options.queue, deviceClass), processor(deviceClass), {
      connection,
      // BullMQ stamps each job it takes with this (`processedBy`): a job says which host ran it.
      name: hostId,
      concurrency: slots[deviceClass] ?? 1,
      lockDuration: options.lockDurationMs ?? 30_000,
      stalledInterval: options.stalledIntervalMs ?? 30_000,
      // A job whose host dies is moved back: twice is allowed before BullMQ gives up on it.
      maxStalledCount: 2,
    });
    worker.on('error', onError);
    workers.set(deviceClass, worker);
  }

  // A degraded pool fails fast; its host stops taking jobs until a probe brings it back.
  const offDegraded = pool.on('event', (event) => {
    if (event.type === 'pool.degraded') for (const worker of workers.values()) void worker.pause(true).catch(onError);
    if (event.type === 'pool.recovered') for (const worker of workers.values()) worker.resume();
  });

  await subscriber.subscribe(keys.cancel);
  subscriber.on('message', (_channel: string, jobId: string) => running.get(jobId)?.abort(new Error('cancelled by the client')));
  await Promise.all([...workers.values()].map((worker) => worker.waitUntilReady()));
  registry = makeRegistry();
  await registry.start();

  return {
    hostId,
    pool,
    status,
    close(drainTimeoutMs = 30_000) {
      closing ??= (async () => {
        const deadline = Date.now() + drainTimeoutMs;
        // Every step that needs Redis is bounded: a host told to stop while Redis is down must
        // still stop (its jobs come back through the locks it can no longer renew).
        await settlesWithin(Promise.all([...workers.values()].map((worker) => worker.pause(true))), Math.max(0, deadline - Date.now()));
        await holdsWithin(() => running.size === 0, deadline - Date.now());
        // Whatever still runs fails with PoolClosedError, and the processor hands its job back.
        await pool.close({ drainTimeoutMs: 0 });
        offDegraded();
        // The processors hand their stopped jobs back to wait; then BullMQ and the registry say goodbye.
        const goodbyeMs = Math.max(REDIS_GOODBYE_MS, deadline - Date.now());
        const handedBack = await holdsWithin(() => running.size === 0, goodbyeMs);
        const left =
          handedBack &&
          (await settlesWithin(Promise.all([...[...workers.values()].map((worker) => worker.close()), registry?.stop(), subscriber.quit(), redis.quit()]), goodbyeMs));
        if (!left) {
          // Redis did not answer: close without waiting for it. Forced, BullMQ stops its lock
          // renewal and drops its connections; dropping ours fails what still waits on them.
          for (const worker of workers.values()) void worker.disconnect().catch(() => {});
          await settlesWithin(Promise.all([...workers.values()].map((worker) => worker.close(true))), REDIS_GOODBYE_MS);
          // Stops the heartbeat at once; its last word to Redis fails with the connection.
          void registry?.stop().catch(() => {});
          subscriber.disconnect();
          redis.disconnect();
        }
      })();
      return closing;
    },
  };
}
