import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import Fastify, { type FastifyInstance } from 'fastify';
import { installAccessControl, resolveAccess, type ResolvedAccess } from './accessControl.js';
import type { AuthFailureOptions } from './authFailures.js';
import { dashboardIcon, dashboardPage } from './dashboard/page.js';
import { envelopeServerOptions, HttpError, installErrorEnvelope } from './httpErrors.js';
import { installJsonBody } from './jsonBody.js';
import { resolveServiceLimits, type ServiceLimitOptions, type ServiceLimits } from './serviceLimits.js';

/** The options of the service's edge: who may call it, and how much one client's requests may make it hold. */
export interface ServiceEdgeOptions {
  /** A payload nested deeper than this is refused with 400 (default 64). */
  readonly maxPayloadDepth?: number;
  /**
   * When set (at least 16 characters), every route but /healthz, /readyz and the dashboard's
   * page and script needs `Authorization: Bearer <token>`.
   */
  readonly token?: string | undefined;
  /**
   * Host names a request's `Host` may name besides the loopback ones (DNS rebinding). When
   * unset: loopback names only without a token, any host with one.
   */
  readonly allowedHosts?: readonly string[] | undefined;
  /** The lockout after wrong tokens (default: 10 from one address within 60 s lock it out for 60 s). */
  readonly authFailures?: AuthFailureOptions | undefined;
  /** Request bodies above this many bytes get 413 (default 1 MiB). */
  readonly bodyLimitBytes?: number;
  /** Allow browsers from these origins (CORS is off by default). */
  readonly corsOrigins?: readonly string[];
  /** Fastify's logger: false in tests, pino options in the CLI. */
  readonly logger?: boolean | Record<string, unknown>;
  /** How many events `/v1/events` can replay after a reconnect (default 10,000). */
  readonly eventLogSize?: number;
  /** Bytes an event stream may have waiting in its socket before it is not written to (default 1 MiB). */
  readonly maxStreamBufferBytes?: number;
  /** Event streams open at once; one more gets 503 `ERR_TOO_MANY_STREAMS` (default 64). */
  readonly maxEventStreams?: number;
}

/** The edge's options, checked: done before anything starts, so a weak token or a bad bound starts no worker and opens no connection. */
export interface ResolvedEdge {
  readonly access: ResolvedAccess;
  readonly limits: ServiceLimits;
  readonly bodyLimitBytes: number;
}

export function resolveServiceEdge(options: ServiceEdgeOptions & Pick<ServiceLimitOptions, 'taskRecords' | 'maxPendingPayloadBytes'>): ResolvedEdge {
  return {
    access: resolveAccess({ token: options.token, corsOrigins: options.corsOrigins, allowedHosts: options.allowedHosts, authFailures: options.authFailures }),
    limits: resolveServiceLimits({
      taskRecords: options.taskRecords,
      maxPayloadDepth: options.maxPayloadDepth,
      maxPendingPayloadBytes: options.maxPendingPayloadBytes,
      maxStreamBufferBytes: options.maxStreamBufferBytes,
      maxEventStreams: options.maxEventStreams,
    }),
    bodyLimitBytes: options.bodyLimitBytes ?? 1024 * 1024,
  };
}

export interface ServiceEdge {
  readonly app: FastifyInstance;
  /** From now on, new tasks and new event streams get 503 `ERR_SHUTTING_DOWN`. */
  beginShutdown(): void;
  readonly shuttingDown: boolean;
}

const clientScript = readFileSync(new URL('./dashboard/client.js', import.meta.url), 'utf8');
// The memory charts' library (uPlot), served as the package ships it: the page has no build step.
const requireFromHere = createRequire(import.meta.url);
const chartScript = readFileSync(requireFromHere.resolve('uplot/dist/uPlot.iife.min.js'), 'utf8');
const chartStyle = readFileSync(requireFromHere.resolve('uplot/dist/uPlot.min.css'), 'utf8');

/**
 * The part every poolvisor service shares, whatever runs its tasks (one local pool, or a
 * cluster): the Fastify server with its limits, the refusal of new work while shutting down,
 * the door (Host, CORS, token), the error envelope, the JSON body parser, the dashboard's
 * page and script, and `/healthz`. The caller adds the routes that need its task runner.
 */
export function createServiceEdge(resolved: ResolvedEdge, logger: ServiceEdgeOptions['logger']): ServiceEdge {
  const app = Fastify({ logger: logger ?? false, bodyLimit: resolved.bodyLimitBytes, ...envelopeServerOptions });
  let shuttingDown = false;
  app.addHook('onRequest', async (request) => {
    // While draining, no new work and no new streams; results (and cancels) stay available to the clients that got a 202.
    if (shuttingDown && (request.method === 'POST' || request.url.startsWith('/v1/events'))) {
      throw new HttpError(503, 'ERR_SHUTTING_DOWN', 'the service is shutting down');
    }
  });
  installAccessControl(app, resolved.access);
  installErrorEnvelope(app, resolved.bodyLimitBytes);
  installJsonBody(app);
  app.get('/healthz', async () => ({ ok: true }));
  app.get('/', async (_request, reply) => reply.type('text/html; charset=utf-8').send(dashboardPage));
  app.get('/dashboard/client.js', async (_request, reply) => reply.type('text/javascript; charset=utf-8').send(clientScript));
  app.get('/dashboard/uplot.js', async (_request, reply) => reply.type('text/javascript; charset=utf-8').header('cache-control', 'max-age=86400').send(chartScript));
  app.get('/dashboard/uplot.css', async (_request, reply) => reply.type('text/css; charset=utf-8').header('cache-control', 'max-age=86400').send(chartStyle));
  // The page names its icon; /favicon.ico is where browsers look without being told.
  for (const path of ['/favicon.svg', '/favicon.ico']) {
    app.get(path, async (_request, reply) => reply.type('image/svg+xml').header('cache-control', 'max-age=86400').send(dashboardIcon));
  }
  return {
    app,
    beginShutdown() {
      shuttingDown = true;
    },
    get shuttingDown() {
      return shuttingDown;
    },
  };
}
