import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { createClusterClient, type ClusterClient, type ClusterJobView, type ClusterStatus, type ClusterTaskEvent } from '../cluster/index.js';
import { within } from '../cluster/waiting.js';
import { runOptionsSchema } from '../config.js';
import { ConfigError } from '../errors.js';
import { clusterRecord, clientTaskId, serviceTaskId } from './clusterRecord.js';
import { createClusterMetrics } from './clusterMetrics.js';
import { resolveClusterSettings, type ClusterServiceSettingsInput } from './clusterOptions.js';
import { EventLog } from './eventLog.js';
import { registerEventStream, type EventStreamStats } from './eventStream.js';
import { HttpError } from './httpErrors.js';
import { createServiceEdge, resolveServiceEdge, type ServiceEdgeOptions } from './serviceEdge.js';
import { readTaskRequest, taskRequestSchema, wantsToWait } from './taskRequest.js';

export type ClusterServiceOptions = ServiceEdgeOptions & ClusterServiceSettingsInput;

export interface ClusterService {
  readonly app: FastifyInstance;
  readonly client: ClusterClient;
  /** The open `/v1/events` streams, how many lagged, and the most bytes one had waiting. */
  eventStreams(): EventStreamStats;
  /**
   * Stops accepting tasks and streams, lets `?wait=true` requests in flight have their
   * outcome for up to `drainTimeoutMs` (their tasks run on the hosts, which this does not
   * stop), answers those still waiting with 503, and closes the connections to Redis.
   */
  close(drainTimeoutMs?: number): Promise<void>;
}

/** A cluster task takes `retries` too: a crash or memory kill on one host may run it again on another. */
const clusterTaskRequestSchema = taskRequestSchema.extend({ retries: runOptionsSchema.shape.retries });

/** The newest hosts and queue counts, as the `cluster` event and the dashboard show them. */
interface ClusterView {
  readonly queue: string;
  /** `ok`, or `unreachable` when Redis did not answer the last read in time. */
  readonly redis: 'ok' | 'unreachable';
  readonly hosts: ClusterStatus['hosts'];
  readonly queues: ClusterStatus['queues'] | Record<string, never>;
}

const notFound = (id: string) =>
  new HttpError(404, 'ERR_TASK_NOT_FOUND', `no task ${id} (unknown, or no longer kept: finished jobs are kept a day, at most 100,000; ids look like cpu.<job id>)`);

/**
 * Builds the service in front of a poolvisor cluster: the same HTTP API, event stream,
 * limits and dashboard as over one pool, with tasks enqueued on the cluster's BullMQ queues
 * for `poolvisor worker` hosts to run. Its records are the jobs themselves, read from Redis,
 * so any number of these services can stand in front of one cluster. Builds, never listens.
 */
export async function createClusterService(options: ClusterServiceOptions): Promise<ClusterService> {
  // Both checked before any connection opens: a weak token or a bad bound is refused at once.
  const edge = resolveServiceEdge(options);
  const settings = resolveClusterSettings({
    redis: options.redis,
    queue: options.queue,
    maxTaskTimeoutMs: options.maxTaskTimeoutMs,
    maxTaskMemoryLimitMb: options.maxTaskMemoryLimitMb,
    maxWaitingRequests: options.maxWaitingRequests,
    redisTimeoutMs: options.redisTimeoutMs,
    statusIntervalMs: options.statusIntervalMs,
  });
  const { maxPayloadDepth } = edge.limits;
  const events = new EventLog(options.eventLogSize ?? 10_000);
  const serviceEdge = createServiceEdge(edge, options.logger);
  const { app } = serviceEdge;
  let waitingRequests = 0;
  let streamStats: () => EventStreamStats = () => ({ open: 0, lagged: 0, peakBufferedBytes: 0 });
  const metrics = createClusterMetrics({ streams: () => streamStats(), waitingRequests: () => waitingRequests });
  const onTaskEvent = (event: ClusterTaskEvent) => {
    metrics.record(event);
    if (event.type === 'task.stalled') app.log.warn({ event }, `task ${serviceTaskId(event.taskId)} stalled: its host stopped renewing its lock`);
    events.append('audit', { ...event, taskId: serviceTaskId(event.taskId) });
  };
  const client = await createClusterClient({
    redis: settings.redis,
    queue: settings.queue,
    onTaskEvent,
    // Connection errors repeat while Redis is away; requests say so with 503s, the log with a warning.
    onError: (error) => app.log.warn({ err: error }, `redis: ${error.message}`),
  });

  // Set by the status poll and by any call that timed out: while Redis is away, requests are
  // answered 503 at once instead of each queueing a command that waits for a reconnect.
  let redisReachable = true;
  const unavailable = (why: string) => new HttpError(503, 'ERR_REDIS_UNAVAILABLE', `the cluster's Redis ${why}; try again later`, { retryAfterSeconds: 1 });
  /** A Redis round trip with a deadline: a 503 with a code when Redis is away, never a request that hangs or a 500. */
  const redisCall = async <T>(what: string, call: () => Promise<T>): Promise<T> => {
    if (!redisReachable) throw unavailable(`did not answer the last read within ${settings.redisTimeoutMs} ms`);
    let answer: { readonly value: T } | undefined;
    try {
      answer = await within(call(), settings.redisTimeoutMs);
    } catch (error) {
      if (error instanceof ConfigError) throw error;
      throw unavailable(`refused ${what}: ${(error as Error).message}`);
    }
    if (answer === undefined) {
      redisReachable = false;
      throw unavailable(`did not answer within ${settings.redisTimeoutMs} ms (${what}); a task being enqueued may still be added when it comes back: retry with a key`);
    }
    return answer.value;
  };

  let view: ClusterView = { queue: settings.queue, redis: 'ok', hosts: [], queues: {} };
  /** The tasks the live hosts offer, as of the last status read: what a POST is checked against. */
  let offered = new Set<string>();
  // One read at a time: while Redis is away a read waits for the reconnect, and a new one per
  // poll would pile commands up in the connection's offline queue for as long as the outage lasts.
  let statusRead: Promise<ClusterStatus> | undefined;
  /** Reads the hosts and queue counts afresh; undefined (and Redis marked away) when it could not in time. */
  const readStatus = async (): Promise<ClusterStatus | undefined> => {
    statusRead ??= client.status().finally(() => (statusRead = undefined));
    const status = (await within(statusRead, settings.redisTimeoutMs).catch(() => undefined))?.value;
    redisReachable = status !== undefined;
    view = status === undefined ? { ...view, redis: 'unreachable' } : { queue: settings.queue, redis: 'ok', hosts: status.hosts, queues: status.queues };
    if (status !== undefined) offered = new Set(status.hosts.flatMap((host) => host.tasks ?? []));
    metrics.observe(status);
    return status;
  };
  let polling = false;
  const poll = setInterval(() => {
    if (polling) return;
    polling = true;
    void readStatus().finally(() => (polling = false));
  }, settings.statusIntervalMs);
  poll.unref();
  await readStatus();

  const recordOf = (job: ClusterJobView) => clusterRecord(job, job.host);
  const taskIdOf = (id: string) => {
    const taskId = clientTaskId(id);
    if (taskId === undefined) throw notFound(id);
    return taskId;
  };

  /** `?wait=true` requests not yet answered, each with a way to answer it 503 when the service closes. */
  const openWaits = new Set<(error: Error) => void>();

  app.post('/v1/tasks', async (request: FastifyRequest<{ Querystring: { wait?: string } }>, reply: FastifyReply) => {
    const body = readTaskRequest(request, clusterTaskRequestSchema, maxPayloadDepth);
    // The operator's caps: a client may lower the hosts' limits, never lift them.
    const over = (field: string, value: number | undefined, cap: number, option: string) => {
      if (value !== undefined && value > cap) throw new ConfigError([{ field, message: `expected at most ${cap} (the service's ${option}), got ${value}`, received: value }]);
    };
    over('timeoutMs', body.timeoutMs, settings.maxTaskTimeoutMs, 'maxTaskTimeoutMs');
    over('memoryLimitMb', body.memoryLimitMb, settings.maxTaskMemoryLimitMb, 'maxTaskMemoryLimitMb');
    const wait = wantsToWait(request);
    // Each wait holds a waiter until its task settles, which may be never (a cuda task with no GPU host): bounded.
    if (wait && waitingRequests >= settings.maxWaitingRequests) {
      throw new HttpError(429, 'ERR_TOO_MANY_WAITERS', `${waitingRequests} requests are waiting for their tasks, the most this service holds; submit without ?wait=true and poll, or try again later`, {
        retryAfterSeconds: 1,
        limit: settings.maxWaitingRequests,
      });
    }
    // A task no live host offers is refused, as over one pool. None live, or none reporting yet
    // (a host from before hosts said what they offer): the task waits in the queue for one.
    if (offered.size > 0 && !offered.has(body.task)) {
      const tasks = [...offered].sort();
      throw new HttpError(404, 'ERR_UNKNOWN_TASK', `no live host offers a task "${body.task}"; their tasks: ${tasks.join(', ')}`, { tasks });
    }
    const { task, payload, ...runOptions } = body;
    const taskId = await redisCall('enqueueing the task', () => client.submit(task, payload, runOptions));
    metrics.submitted(taskId.slice(0, taskId.indexOf('/')));
    const id = serviceTaskId(taskId);
    if (!wait) return reply.code(202).header('location', `/v1/tasks/${id}`).send({ id, state: 'queued' });
    waitingRequests += 1;
    // The outcome (a result or a typed error) is in the job; only the moment it settles is awaited here.
    const settled = client.result(taskId).then(
      () => undefined,
      () => undefined,
    );
    void settled.finally(() => (waitingRequests -= 1));
    let closeWait: ((error: Error) => void) | undefined;
    try {
      await Promise.race([settled, new Promise<never>((_, reject) => openWaits.add((closeWait = reject)))]);
    } catch {
      throw new HttpError(503, 'ERR_SHUTTING_DOWN', `the service is shutting down; task ${id} still runs in the cluster: read it at /v1/tasks/${id} from another service`, { id });
    } finally {
      if (closeWait) openWaits.delete(closeWait);
    }
    const job = await redisCall('reading the task', () => client.job(taskId));
    if (job === undefined) throw notFound(id);
    return reply.code(200).send(recordOf(job));
  });

  app.get('/v1/tasks/:id', async (request: FastifyRequest<{ Params: { id: string } }>) => {
    const taskId = taskIdOf(request.params.id);
    const job = await redisCall('reading the task', () => client.job(taskId));
    if (job === undefined) throw notFound(request.params.id);
    return recordOf(job);
  });

  app.delete('/v1/tasks/:id', async (request: FastifyRequest<{ Params: { id: string } }>, reply: FastifyReply) => {
    const taskId = taskIdOf(request.params.id);
    const job = await redisCall('reading the task', () => client.job(taskId));
    if (job === undefined) throw notFound(request.params.id);
    if (job.state !== 'queued' && job.state !== 'running') {
      throw new HttpError(409, 'ERR_TASK_SETTLED', `task ${serviceTaskId(taskId)} has already ${job.state === 'succeeded' ? 'succeeded' : job.state}`);
    }
    await redisCall('cancelling the task', () => client.cancel(taskId));
    return reply.code(202).send({ id: serviceTaskId(taskId), state: 'cancelling' });
  });

  app.get('/v1/cluster', async () => {
    const status = await redisCall('reading the hosts', () => client.status());
    return { queue: settings.queue, hosts: status.hosts, queues: status.queues };
  });

  const streams = registerEventStream(
    app,
    { events, poolView: () => ({ mode: 'cluster', ...view }), statusEvent: 'cluster' },
    { maxStreamBufferBytes: edge.limits.maxStreamBufferBytes, maxEventStreams: edge.limits.maxEventStreams },
  );
  streamStats = () => streams.stats();

  app.get('/metrics', async (_request, reply) => {
    await readStatus();
    reply.header('content-type', metrics.registry.contentType);
    return metrics.registry.metrics();
  });

  app.get('/readyz', async (_request, reply) => {
    // A fresh read: a probe must not be told "ready" from a view a second old when Redis just went away.
    const status = await readStatus();
    const hosts = status?.hosts.length ?? 0;
    const ready = status !== undefined && hosts > 0;
    return reply.code(ready ? 200 : 503).send({ ready, redis: status === undefined ? 'unreachable' : 'ok', hosts });
  });

  let closing: Promise<void> | undefined;
  return {
    app,
    client,
    eventStreams: () => streams.stats(),
    close(drainTimeoutMs = 30_000) {
      closing ??= (async () => {
        serviceEdge.beginShutdown();
        clearInterval(poll);
        streams.stop();
        streams.endAll();
        const deadline = Date.now() + drainTimeoutMs;
        while (openWaits.size > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
        const refusal = new Error('closing');
        for (const answer503 of openWaits) answer503(refusal);
        await app.close();
        await client.close();
      })();
      return closing;
    },
  };
}
