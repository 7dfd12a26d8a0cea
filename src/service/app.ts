import { readFileSync } from 'node:fs';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { InspectionEvent } from 'xstate';
import { z } from 'zod';
import { supervisorMachine } from '../../machines/supervisorMachine.js';
import { workerMachine, workerStateName } from '../../machines/workerMachine.js';
import { parseOptions, runOptionsSchema, type PoolOptions } from '../config.js';
import { ConfigError, NoMatchingDeviceError, PoolClosedError, PoolDegradedError, QueueFullError, TaskQuarantinedError } from '../errors.js';
import { inferenceTaskModule } from '../inference/engine.js';
import { describeMachine } from '../machineGraph.js';
import { createPool, type Pool } from '../pool.js';
import { dashboardPage } from './dashboard/page.js';
import { EventLog } from './eventLog.js';
import { createPoolMetrics } from './metrics.js';
import { publicRecord, serializePoolError, TaskStore, type TaskRecord } from './taskStore.js';

export interface ServiceOptions {
  /** The pool's options; `task` defaults to the bundled inference module. */
  readonly pool?: Partial<PoolOptions>;
  /** When set, every route but /healthz needs `Authorization: Bearer <token>`. */
  readonly token?: string | undefined;
  /** Request bodies above this many bytes get 413 (default 1 MiB). */
  readonly bodyLimitBytes?: number;
  /** Allow browsers from these origins (CORS is off by default). */
  readonly corsOrigins?: readonly string[];
  /** Fastify's logger: false in tests, pino options in the CLI. */
  readonly logger?: boolean | Record<string, unknown>;
  /** Extra XState inspection observer (e.g. @statelyai/inspect's WebSocket inspector). */
  readonly inspect?: ((event: InspectionEvent) => void) | undefined;
  /** How many events `/v1/events` can replay after a reconnect (default 10,000). */
  readonly eventLogSize?: number;
}

export interface Service {
  readonly app: FastifyInstance;
  readonly pool: Pool;
  /** Stops accepting requests, drains the pool for up to `drainTimeoutMs`, closes it. */
  close(drainTimeoutMs?: number): Promise<void>;
}

const submitSchema = runOptionsSchema
  .pick({ timeoutMs: true, memoryLimitMb: true, device: true, priority: true, key: true })
  .extend({
    task: z.string({ error: 'expected the name of an exported task' }).min(1, { error: 'expected the name of an exported task' }),
    payload: z.unknown().optional(),
  })
  .strict();

class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly extra: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

function statePath(value: unknown): string {
  if (typeof value === 'string') return value;
  const [key, child] = Object.entries(value as Record<string, unknown>)[0] ?? ['', ''];
  return `${key}.${statePath(child)}`;
}

/** The refusals the pool gives at once, as HTTP answers. */
function refusal(error: unknown): HttpError | undefined {
  if (error instanceof QueueFullError) return new HttpError(429, error.code, error.message, { retryAfterSeconds: 1 });
  if (error instanceof PoolDegradedError || error instanceof PoolClosedError) return new HttpError(503, error.code, error.message);
  if (error instanceof NoMatchingDeviceError) return new HttpError(400, error.code, error.message, { devices: error.devices });
  if (error instanceof ConfigError) return new HttpError(400, error.code, error.message, { issues: error.issues });
  if (error instanceof TaskQuarantinedError) {
    // The input, not the service, is the problem: the same request will be refused until the quarantine ends.
    const retryAfterSeconds = Math.max(1, Math.ceil((error.untilMs - Date.now()) / 1000));
    return new HttpError(422, error.code, error.message, { retryAfterSeconds, fingerprint: error.fingerprint, failures: error.failures });
  }
  return undefined;
}

/**
 * Builds the service over one pool: the HTTP API, the event stream, the metrics and
 * the dashboard. Builds, never listens: the CLI listens, tests use `app.inject`.
 */
export async function createService(options: ServiceOptions = {}): Promise<Service> {
  const events = new EventLog(options.eventLogSize ?? 10_000);
  const lastState = new Map<string, string>();
  // Every state change of every worker (and of the supervisor), from XState's own inspection events.
  const inspect = (event: InspectionEvent) => {
    options.inspect?.(event);
    if (event.type !== '@xstate.snapshot') return;
    const snapshot = event.snapshot as { value?: unknown; context?: { workerId?: unknown } };
    const isRoot = event.actorRef.sessionId === event.rootId;
    const actor = isRoot ? 'supervisor' : typeof snapshot.context?.workerId === 'string' ? snapshot.context.workerId : undefined;
    if (actor === undefined || snapshot.value === undefined) return;
    const path = statePath(snapshot.value);
    if (lastState.get(actor) === path) return;
    lastState.set(actor, path);
    events.append('state', { actor, path, state: isRoot ? path : workerStateName(snapshot.value), at: Date.now() });
  };
  const pool = await createPool({ task: inferenceTaskModule, ...options.pool, inspect });
  const metrics = createPoolMetrics(pool);
  const store = new TaskStore(10_000);
  const statusListeners = new Set<(status: unknown) => void>();
  pool.on('event', (event) => {
    metrics.record(event);
    events.append('audit', event);
    if (event.type === 'task.started') {
      const record = store.get(event.taskId);
      if (record && record.state === 'queued') record.state = 'running';
    }
  });
  const limits = {
    memoryLimitBytes: pool.options.memoryLimitMb * 1024 * 1024,
    softMemoryRatio: pool.options.softMemoryRatio,
    gpuMemoryLimitBytes: pool.options.gpuMemoryLimitMb === undefined ? null : pool.options.gpuMemoryLimitMb * 1024 * 1024,
  };
  const poolView = () => ({ ...pool.status(), tasks: pool.taskNames(), limits });
  const statusTimer = setInterval(() => {
    if (statusListeners.size === 0) return;
    const view = { ...poolView(), at: Date.now() };
    for (const listener of statusListeners) listener(view);
  }, 500);
  statusTimer.unref();

  const app = Fastify({ logger: options.logger ?? false, bodyLimit: options.bodyLimitBytes ?? 1024 * 1024 });

  let shuttingDown = false;
  const streams = new Set<import('node:http').ServerResponse>();
  app.addHook('onRequest', async (request, reply) => {
    if (shuttingDown && request.url !== '/healthz') throw new HttpError(503, 'ERR_SHUTTING_DOWN', 'the service is shutting down');
    const origin = request.headers.origin;
    if (origin && options.corsOrigins?.includes(origin)) {
      reply.header('access-control-allow-origin', origin).header('vary', 'origin');
      reply.header('access-control-allow-headers', 'authorization, content-type, last-event-id');
      reply.header('access-control-allow-methods', 'GET, POST, DELETE');
      if (request.method === 'OPTIONS') return reply.code(204).send();
    }
    if (options.token === undefined || request.url === '/healthz' || request.url === '/' || request.url.startsWith('/dashboard/')) return;
    if (request.headers.authorization !== `Bearer ${options.token}`) {
      reply.header('www-authenticate', 'Bearer');
      throw new HttpError(401, 'ERR_UNAUTHORIZED', 'this route needs Authorization: Bearer <token>');
    }
  });

  app.setErrorHandler((error: Error & { statusCode?: number; code?: string }, _request, reply) => {
    if (error instanceof HttpError) {
      if (error.status === 429 || error.status === 422) reply.header('retry-after', String(error.extra.retryAfterSeconds ?? 1));
      return reply.code(error.status).send({ error: { code: error.code, message: error.message, ...error.extra } });
    }
    if (error instanceof ConfigError) return reply.code(400).send({ error: { code: error.code, message: error.message, issues: error.issues } });
    if (error.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
      return reply.code(413).send({ error: { code: 'ERR_BODY_TOO_LARGE', message: `the request body is over the ${options.bodyLimitBytes ?? 1048576}-byte limit` } });
    }
    if (error.statusCode !== undefined && error.statusCode >= 400 && error.statusCode < 500) {
      return reply.code(error.statusCode).send({ error: { code: 'ERR_BAD_REQUEST', message: error.message } });
    }
    reply.log.error(error);
    return reply.code(500).send({ error: { code: 'ERR_INTERNAL', message: 'internal error; see the server log' } });
  });

  const settle = (record: TaskRecord, promise: Promise<unknown>) =>
    promise.then(
      (result) => {
        record.state = 'succeeded';
        record.result = result;
        record.settledAt = Date.now();
      },
      (error: unknown) => {
        record.state = (error as { code?: string }).code === 'ERR_TASK_CANCELLED' ? 'cancelled' : 'failed';
        record.error = serializePoolError(error);
        record.settledAt = Date.now();
      },
    );

  app.post('/v1/tasks', async (request: FastifyRequest<{ Querystring: { wait?: string } }>, reply: FastifyReply) => {
    const body = parseOptions(submitSchema, request.body);
    const names = pool.taskNames();
    if (names.length > 0 && !names.includes(body.task)) {
      throw new HttpError(404, 'ERR_UNKNOWN_TASK', `no task "${body.task}" in the task module; its tasks: ${names.join(', ')}`, { tasks: names });
    }
    const record = store.create(body.task);
    const { task, payload, ...runOptions } = body;
    const submission = pool.submit(task, payload, { ...runOptions, taskId: record.id, signal: record.cancel.signal });
    if (submission.refusal) {
      // Refused without running (queue full, degraded, closed, bad options): an HTTP error, no record.
      store.delete(record.id);
      throw refusal(submission.refusal) ?? submission.refusal;
    }
    const settled = settle(record, submission.result);
    if (request.query.wait === 'true' || request.query.wait === '1') {
      await settled;
      return reply.code(200).send(publicRecord(record));
    }
    return reply.code(202).header('location', `/v1/tasks/${record.id}`).send({ id: record.id, state: record.state });
  });

  app.get('/v1/tasks/:id', async (request: FastifyRequest<{ Params: { id: string } }>) => {
    const record = store.get(request.params.id);
    if (!record) throw new HttpError(404, 'ERR_TASK_NOT_FOUND', `no task ${request.params.id} (unknown, or forgotten: the service keeps the last 10,000)`);
    return publicRecord(record);
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

  app.get('/v1/machines', async () => ({ worker: describeMachine(workerMachine), supervisor: describeMachine(supervisorMachine) }));

  app.get('/v1/events', (request: FastifyRequest<{ Querystring: { since?: string } }>, reply: FastifyReply) => {
    const lastId = Number(request.headers['last-event-id'] ?? request.query.since ?? 0) || 0;
    reply.hijack();
    const raw = reply.raw;
    raw.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', connection: 'keep-alive', ...(reply.getHeaders() as Record<string, string>) });
    const write = (id: number | undefined, type: string, data: unknown) => {
      if (raw.writableEnded || raw.destroyed) return;
      raw.write(`${id === undefined ? '' : `id: ${id}\n`}event: ${type}\ndata: ${JSON.stringify(data)}\n\n`);
    };
    for (const event of events.since(lastId)) write(event.id, event.type, event.data);
    const unsubscribe = events.subscribe((event) => write(event.id, event.type, event.data));
    const onStatus = (status: unknown) => write(undefined, 'status', status);
    statusListeners.add(onStatus);
    write(undefined, 'status', { ...poolView(), at: Date.now() });
    const keepAlive = setInterval(() => !raw.writableEnded && raw.write(': keep-alive\n\n'), 15_000);
    streams.add(raw);
    raw.on('close', () => {
      streams.delete(raw);
      clearInterval(keepAlive);
      unsubscribe();
      statusListeners.delete(onStatus);
    });
  });

  app.get('/metrics', async (_request, reply) => {
    metrics.refresh();
    reply.header('content-type', metrics.registry.contentType);
    return metrics.registry.metrics();
  });

  app.get('/healthz', async () => ({ ok: true }));

  app.get('/readyz', async (_request, reply) => {
    const status = pool.status();
    const serving = status.workers.some((w) => w.state === 'idle' || w.state === 'busy' || w.state === 'monitoring');
    const ready = status.state === 'running' && serving;
    return reply.code(ready ? 200 : 503).send({ ready, state: status.state, degraded: status.degraded?.reason ?? null });
  });

  app.get('/', async (_request, reply) => reply.type('text/html; charset=utf-8').send(dashboardPage));
  const clientScript = readFileSync(new URL('./dashboard/client.js', import.meta.url), 'utf8');
  app.get('/dashboard/client.js', async (_request, reply) => reply.type('text/javascript; charset=utf-8').send(clientScript));

  let closing: Promise<void> | undefined;
  return {
    app,
    pool,
    close(drainTimeoutMs = 30_000) {
      closing ??= (async () => {
        // New requests get 503; requests in flight (?wait=true) finish as the pool drains.
        shuttingDown = true;
        clearInterval(statusTimer);
        for (const stream of streams) stream.end();
        await pool.close({ drainTimeoutMs });
        await app.close();
      })();
      return closing;
    },
  };
}

/** Whether a host name binds only to this machine. */
export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || host === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(host);
}
