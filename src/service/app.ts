import { readFileSync } from 'node:fs';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { InspectionEvent } from 'xstate';
import { z } from 'zod';
import { supervisorMachine } from '../../machines/supervisorMachine.js';
import { workerMachine, workerStateName } from '../../machines/workerMachine.js';
import { parseOptions, runOptionsSchema, type PoolOptions } from '../config.js';
import { installAccessControl } from './accessControl.js';
import { inferenceTaskModule } from '../inference/engine.js';
import { describeMachine } from '../machineGraph.js';
import { createPool, type Pool } from '../pool.js';
import { dashboardPage } from './dashboard/page.js';
import { EventLog } from './eventLog.js';
import { registerEventStream, type EventStreamStats } from './eventStream.js';
import { HttpError, installErrorEnvelope, refusal } from './httpErrors.js';
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
  /** Bytes an event stream may have waiting in its socket before it is not written to (default 1 MiB). */
  readonly maxStreamBufferBytes?: number;
  /** Event streams open at once; one more gets 503 `ERR_TOO_MANY_STREAMS` (default 64). */
  readonly maxEventStreams?: number;
}

export interface Service {
  readonly app: FastifyInstance;
  readonly pool: Pool;
  /** The open `/v1/events` streams, how many lagged, and the most bytes one had waiting. */
  eventStreams(): EventStreamStats;
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

function statePath(value: unknown): string {
  if (typeof value === 'string') return value;
  const [key, child] = Object.entries(value as Record<string, unknown>)[0] ?? ['', ''];
  return `${key}.${statePath(child)}`;
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

  const bodyLimitBytes = options.bodyLimitBytes ?? 1024 * 1024;
  const app = Fastify({ logger: options.logger ?? false, bodyLimit: bodyLimitBytes });

  let shuttingDown = false;
  app.addHook('onRequest', async (request) => {
    if (shuttingDown && request.url !== '/healthz') throw new HttpError(503, 'ERR_SHUTTING_DOWN', 'the service is shutting down');
  });
  installAccessControl(app, { token: options.token, corsOrigins: options.corsOrigins });
  installErrorEnvelope(app, bodyLimitBytes);

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

  const streams = registerEventStream(app, { events, poolView }, { maxStreamBufferBytes: options.maxStreamBufferBytes, maxEventStreams: options.maxEventStreams });

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
    eventStreams: () => streams.stats(),
    close(drainTimeoutMs = 30_000) {
      closing ??= (async () => {
        // New requests get 503; requests in flight (?wait=true) finish as the pool drains.
        shuttingDown = true;
        streams.stop();
        streams.endAll();
        await pool.close({ drainTimeoutMs });
        await app.close();
      })();
      return closing;
    },
  };
}
