import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { InspectionEvent } from 'xstate';
import { supervisorMachine } from '../../machines/supervisorMachine.js';
import { readStateChange } from '../../machines/poolStatus.js';
import { workerMachine } from '../../machines/workerMachine.js';
import { DEFAULT_MEMORY_LIMIT_MB, DEFAULT_TASK_TIMEOUT_MS, type PoolOptions } from '../config.js';
import { poolErrorData } from '../errors.js';
import { inferenceTaskModule } from '../inference/index.js';
import { describeMachine } from '../machineGraph.js';
import { layoutMachine } from './machineLayout.js';
import { createPool, type Pool } from '../pool.js';
import { EventLog } from './eventLog.js';
import { registerEventStream, type EventStreamStats } from './eventStream.js';
import { HttpError, refusal } from './httpErrors.js';
import { addServiceMetrics, createPoolMetrics } from './metrics.js';
import { logAuditEvent } from './auditLog.js';
import { createServiceEdge, resolveServiceEdge, type ServiceEdgeOptions } from './serviceEdge.js';
import type { ServiceLimitOptions } from './serviceLimits.js';
import { readTaskRequest, taskRequestSchema, wantsToWait } from './taskRequest.js';
import { TaskStore, type TaskRecord } from './taskStore.js';

export interface ServiceOptions extends ServiceEdgeOptions {
  /**
   * The pool's options; `task` defaults to the bundled inference module. A client's
   * `timeoutMs` and `memoryLimitMb` are capped by `maxTaskTimeoutMs` and
   * `maxTaskMemoryLimitMb`, which default to the pool's own `taskTimeoutMs` and
   * `memoryLimitMb`; results must be JSON (`resultFormat: 'json'` always).
   */
  readonly pool?: Partial<PoolOptions>;
  /** How many settled tasks, and how many characters of them, the service remembers (default 10,000, 256 MiB, 8 MiB per result). */
  readonly taskRecords?: ServiceLimitOptions['taskRecords'];
  /**
   * Bytes of request bodies held for tasks not yet settled (default 256 MiB): past it,
   * 429. `maxQueue` bounds the count; this bounds what 10,000 bodies of 1 MiB could weigh.
   */
  readonly maxPendingPayloadBytes?: number;
  /** Extra XState inspection observer (e.g. @statelyai/inspect's WebSocket inspector). */
  readonly inspect?: ((event: InspectionEvent) => void) | undefined;
}

export interface Service {
  readonly app: FastifyInstance;
  readonly pool: Pool;
  /** The open `/v1/events` streams, how many lagged, and the most bytes one had waiting. */
  eventStreams(): EventStreamStats;
  /**
   * Stops accepting tasks, drains the pool for up to `drainTimeoutMs`, closes it; then,
   * for up to `resultLingerMs` (default 0), keeps answering until every task accepted
   * with a 202 that settled during the drain has been read once.
   */
  close(drainTimeoutMs?: number, resultLingerMs?: number): Promise<void>;
}

/**
 * Builds the service over one pool: the HTTP API, the event stream, the metrics and
 * the dashboard. Builds, never listens: the CLI listens, tests use `app.inject`.
 */
/** The machines as plain data (`describeMachine`), each with where its diagram's states and arrows go. */
async function describeWithLayout() {
  const worker = describeMachine(workerMachine);
  const supervisor = describeMachine(supervisorMachine);
  const [workerLayout, supervisorLayout] = await Promise.all([layoutMachine(worker), layoutMachine(supervisor)]);
  return { worker: { ...worker, layout: workerLayout }, supervisor: { ...supervisor, layout: supervisorLayout } };
}

export async function createService(options: ServiceOptions = {}): Promise<Service> {
  // Checked before the pool starts: a weak token is refused without starting workers.
  const edge = resolveServiceEdge(options);
  const serviceLimits = edge.limits;
  const events = new EventLog(options.eventLogSize ?? 10_000);
  const lastState = new Map<string, string>();
  // Every state change of every worker (and of the supervisor), from XState's own inspection events.
  const inspect = (event: InspectionEvent) => {
    options.inspect?.(event);
    const change = readStateChange(event);
    if (change === undefined || lastState.get(change.actor) === change.path) return;
    lastState.set(change.actor, change.path);
    events.append('state', { ...change, at: Date.now() });
  };
  const pool = await createPool({
    task: inferenceTaskModule,
    ...options.pool,
    // What a client asks for per task is capped by what the operator set for the pool.
    maxTaskTimeoutMs: options.pool?.maxTaskTimeoutMs ?? options.pool?.taskTimeoutMs ?? DEFAULT_TASK_TIMEOUT_MS,
    maxTaskMemoryLimitMb: options.pool?.maxTaskMemoryLimitMb ?? options.pool?.memoryLimitMb ?? DEFAULT_MEMORY_LIMIT_MB,
    // Every result goes out as JSON: one that cannot fails its task in the worker, not every later GET.
    resultFormat: 'json',
    inspect,
  });
  const metrics = createPoolMetrics(pool);
  const store = new TaskStore(serviceLimits.taskRecords);
  const { maxPayloadDepth, maxPendingPayloadBytes } = serviceLimits;
  let pendingPayloadBytes = 0;
  const { bodyLimitBytes } = edge;
  const shutdown = createServiceEdge(edge, options.logger);
  const { app } = shutdown;
  pool.on('event', (event) => {
    metrics.record(event);
    events.append('audit', event);
    logAuditEvent(app.log, event);
    if (event.type === 'task.started') {
      const record = store.get(event.taskId);
      if (record && record.state === 'queued') record.state = 'running';
    }
  });
  const limits = {
    memoryLimitBytes: pool.options.memoryLimitBytes,
    softMemoryRatio: pool.options.softMemoryRatio,
    gpuMemoryLimitBytes: pool.options.gpuMemoryLimitBytes ?? null,
    taskTimeoutMs: pool.options.taskTimeoutMs,
    maxTaskTimeoutMs: pool.options.maxTaskTimeoutMs,
    maxTaskMemoryLimitMb: pool.options.maxTaskMemoryLimitMb,
    maxPayloadDepth,
    maxPendingPayloadBytes,
    taskRecords: store.limits,
  };
  const poolView = () => ({ ...pool.status(), tasks: pool.taskNames(), limits, records: store.stats(), pendingPayloadBytes });

  const unreadAtClose = new Set<string>();
  let allRead: (() => void) | undefined;

  const settle = (record: TaskRecord, promise: Promise<unknown>) =>
    promise.then(
      (value) => store.settle(record, { ok: true, value }),
      (error: unknown) =>
        store.settle(record, {
          ok: false,
          state: (error as { code?: string }).code === 'ERR_TASK_CANCELLED' ? 'cancelled' : 'failed',
          error: poolErrorData(error),
        }),
    );
  const sendRecord = (reply: FastifyReply, json: string) => reply.type('application/json; charset=utf-8').send(json);

  app.post('/v1/tasks', async (request: FastifyRequest<{ Querystring: { wait?: string } }>, reply: FastifyReply) => {
    const body = readTaskRequest(request, taskRequestSchema, maxPayloadDepth);
    const names = pool.taskNames();
    if (names.length > 0 && !names.includes(body.task)) {
      throw new HttpError(404, 'ERR_UNKNOWN_TASK', `no task "${body.task}" in the task module; its tasks: ${names.join(', ')}`, { tasks: names });
    }
    // What the body weighs: its length as sent (a chunked body is at most the body limit).
    const bytes = Number(request.headers['content-length'] ?? bodyLimitBytes) || bodyLimitBytes;
    if (pendingPayloadBytes + bytes > maxPendingPayloadBytes) {
      throw new HttpError(429, 'ERR_QUEUE_FULL', `${pendingPayloadBytes} bytes of payloads are waiting or running, and this one (${bytes}) would pass the ${maxPendingPayloadBytes}-byte limit`, {
        retryAfterSeconds: 1,
      });
    }
    const record = store.create(body.task);
    const { task, payload, ...runOptions } = body;
    const submission = pool.submit(task, payload, { ...runOptions, taskId: record.id, signal: record.cancel.signal });
    if (submission.refusal) {
      // Refused without running (queue full, degraded, closed, bad options): an HTTP error, no record.
      store.delete(record.id);
      throw refusal(submission.refusal) ?? submission.refusal;
    }
    pendingPayloadBytes += bytes;
    const settled = settle(record, submission.result).finally(() => {
      pendingPayloadBytes -= bytes;
    });
    if (wantsToWait(request)) {
      const { resultJson } = await settled;
      // A result too large to keep is still given, once, to the caller who waited for it.
      const json = resultJson === undefined ? store.json(record) : `${store.json(record).slice(0, -1)},"result":${resultJson}}`;
      return sendRecord(reply.code(200), json);
    }
    // Its client polls for it: a result that arrives during the drain is kept readable until read (see close).
    void settled.then(() => shutdown.shuttingDown && store.get(record.id) === record && unreadAtClose.add(record.id));
    return reply.code(202).header('location', `/v1/tasks/${record.id}`).send({ id: record.id, state: record.state });
  });

  app.get('/v1/tasks/:id', async (request: FastifyRequest<{ Params: { id: string } }>, reply: FastifyReply) => {
    const record = store.get(request.params.id);
    if (!record) {
      const { maxCount, maxBytes } = store.limits;
      throw new HttpError(404, 'ERR_TASK_NOT_FOUND', `no task ${request.params.id} (unknown, or forgotten: the service keeps at most ${maxCount} records and ${maxBytes} characters of them)`);
    }
    if (unreadAtClose.delete(record.id) && unreadAtClose.size === 0) allRead?.();
    return sendRecord(reply, store.json(record));
  });

  app.delete('/v1/tasks/:id', async (request: FastifyRequest<{ Params: { id: string } }>, reply: FastifyReply) => {
    const record = store.get(request.params.id);
    if (!record) throw new HttpError(404, 'ERR_TASK_NOT_FOUND', `no task ${request.params.id}`);
    if (record.state !== 'queued' && record.state !== 'running') {
      throw new HttpError(409, 'ERR_TASK_SETTLED', `task ${record.id} has already ${record.state === 'succeeded' ? 'succeeded' : record.state}`);
    }
    record.cancel.abort(new Error('cancelled over HTTP'));
    return reply.code(202).send({ id: record.id, state: 'cancelling' });
  });

  app.get('/v1/pool', async () => poolView());

  // Each machine with its diagram laid out (ELK): computed on the first request, then kept.
  let machines: Promise<unknown> | undefined;
  app.get('/v1/machines', async () => {
    machines ??= describeWithLayout().catch((error: unknown) => {
      machines = undefined;
      throw error;
    });
    return machines;
  });

  const streams = registerEventStream(app, { events, poolView }, { maxStreamBufferBytes: serviceLimits.maxStreamBufferBytes, maxEventStreams: serviceLimits.maxEventStreams });

  addServiceMetrics(metrics.registry, { streams: () => streams.stats(), records: () => store.stats(), pendingPayloadBytes: () => pendingPayloadBytes });

  app.get('/metrics', async (_request, reply) => {
    metrics.refresh();
    reply.header('content-type', metrics.registry.contentType);
    return metrics.registry.metrics();
  });

  app.get('/readyz', async (_request, reply) => {
    const status = pool.status();
    const serving = status.workers.some((w) => w.state === 'idle' || w.state === 'busy' || w.state === 'monitoring');
    const ready = status.state === 'running' && serving;
    return reply.code(ready ? 200 : 503).send({ ready, state: status.state, degraded: status.degraded?.reason ?? null });
  });

  let closing: Promise<void> | undefined;
  return {
    app,
    pool,
    eventStreams: () => streams.stats(),
    close(drainTimeoutMs = 30_000, resultLingerMs = 0) {
      closing ??= (async () => {
        // New tasks get 503; requests in flight (?wait=true) finish as the pool drains.
        shutdown.beginShutdown();
        streams.stop();
        streams.endAll();
        await pool.close({ drainTimeoutMs });
        if (unreadAtClose.size > 0 && resultLingerMs > 0) {
          await new Promise<void>((resolve) => {
            const timer = setTimeout(resolve, resultLingerMs);
            allRead = () => {
              clearTimeout(timer);
              resolve();
            };
          });
        }
        await app.close();
      })();
      return closing;
    },
  };
}
