import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { parseOptions, poolOptionsSchema, type PoolOptions } from '../config.js';
import { flagOrEnv, POOL_FLAGS, poolOptionsFromFlags, SERVICE_FLAGS, wholeNumber } from '../poolFlags.js';
import { checkToken, isLoopback, MIN_TOKEN_LENGTH } from './accessControl.js';
import { ConfigError } from '../errors.js';
import { createService } from './app.js';
import { authFailuresSchema, type AuthFailureOptions } from './authFailures.js';
import { createClusterService } from './clusterApp.js';
import { CLUSTER_ONLY_FIELDS, clusterConfigFields, type ClusterServiceSettingsInput } from './clusterOptions.js';
import { serviceLimitsSchema, type ServiceLimitOptions } from './serviceLimits.js';

export const SERVE_USAGE = `usage: poolvisor serve [options]

Runs the HTTP API, the live dashboard (/) and the metrics (/metrics) over one pool (npm start)
or, with --redis and --queue, in front of a cluster: tasks are enqueued for the poolvisor worker
hosts, and the dashboard shows one panel per live host.
Each option can also come from the environment (POOLVISOR_HOST, POOLVISOR_PORT, POOLVISOR_TOKEN,
POOLVISOR_ALLOWED_HOSTS, POOLVISOR_REDIS, POOLVISOR_QUEUE, POOLVISOR_TASK, POOLVISOR_WORKERS,
POOLVISOR_TIMEOUT, POOLVISOR_MEMORY, POOLVISOR_DEVICES, POOLVISOR_BACKEND, POOLVISOR_DRAIN_TIMEOUT)
or a JSON --config file; flags win, then the environment.

options:
  --host HOST            address to bind (default 127.0.0.1; any other needs a token)
  --port PORT            port (default 7070; 0 picks a free one)
  --token TOKEN          require Authorization: Bearer TOKEN on every route but /healthz, /readyz
                         and the dashboard page (at least 16 characters; 10 wrong tokens from one
                         address within a minute lock it out for a minute: 429)
  --allowed-hosts HOSTS  comma-separated host names the Host header may name besides localhost,
                         127.x.x.x and [::1] (without a token only those are answered)
  --redis URL            serve a cluster at redis://host:port[/db] instead of a local pool: no
                         pool runs here (the pool options below belong to poolvisor worker, and
                         are refused with --redis; POOLVISOR_TASK and the like are ignored)
  --queue NAME           the cluster queue (needed with --redis)
  --task MODULE          task module path (default: the bundled Bayesian inference tasks)
  --workers N, --timeout MS, --memory MB, --devices LIST, --backend process|thread
  --drain-timeout MS     on SIGTERM/SIGINT, let tasks finish for this long (default 30000); in
                         front of a cluster, how long ?wait=true requests may still get theirs
  --cors ORIGINS         comma-separated origins allowed to call the API from a browser
  --inspect WS_URL       stream XState inspection events to @statelyai/inspect at WS_URL
  --config FILE          JSON: { host, port, token, allowedHosts, drainTimeoutMs, cors,
                         authFailures: { limit, windowMs, lockoutMs, maxAddresses },
                         taskRecords: { maxCount, maxBytes, maxResultBytes }, maxPayloadDepth,
                         maxPendingPayloadBytes, maxStreamBufferBytes, maxEventStreams,
                         resultLingerMs (default 5000),
                         pool: { …createPool options } }; in front of a cluster, instead of pool,
                         taskRecords and maxPendingPayloadBytes:
                         redis, queue, maxTaskTimeoutMs (default 300000), maxTaskMemoryLimitMb
                         (default 2048), maxWaitingRequests (default 1024), redisTimeoutMs
                         (default 5000), statusIntervalMs (default 1000)`;

const fileSchema = z.strictObject({
  host: z.string().optional(),
  port: z.number().int().min(0).max(65535).optional(),
  // Checked by checkToken, not here: a schema's error would quote the value.
  token: z.unknown().optional(),
  allowedHosts: z.array(z.string({ error: 'expected host names' }), { error: 'expected an array of host names' }).optional(),
  authFailures: authFailuresSchema.optional(),
  drainTimeoutMs: z.number().int().min(0).optional(),
  cors: z.array(z.string()).optional(),
  inspect: z.string().optional(),
  /** After a drain, how long to keep answering until the results that settled during it are read. */
  resultLingerMs: z.number().int().min(0).optional(),
  ...serviceLimitsSchema.partial().shape,
  pool: poolOptionsSchema.partial().optional(),
  ...clusterConfigFields,
});

interface ServeSettings {
  host: string;
  port: number;
  token: string | undefined;
  allowedHosts: string[] | undefined;
  authFailures: AuthFailureOptions | undefined;
  drainTimeoutMs: number;
  cors: string[];
  inspect: string | undefined;
  resultLingerMs: number;
  limits: ServiceLimitOptions;
  pool: Partial<PoolOptions>;
  /** Set with --redis: the service stands in front of that cluster, and `pool` is empty. */
  cluster: ClusterServiceSettingsInput | undefined;
}

/** The flags that configure a local pool: with --redis there is none here, so each is a mistake said at once. */
const LOCAL_POOL_FLAGS = ['task', 'workers', 'timeout', 'memory', 'devices', 'backend', 'inspect'] as const;
/** The config fields that bound a local pool's service (its pool, its task records, the payloads it holds): refused with --redis for the same reason. */
const LOCAL_ONLY_FIELDS = ['pool', 'taskRecords', 'maxPendingPayloadBytes', 'inspect'] as const;

/**
 * The cluster this service stands in front of, or undefined for a local pool. Pool flags
 * with --redis are refused in one line: they would configure nothing (hosts run the pools).
 */
function clusterSettings(
  values: Record<string, string | undefined>,
  env: NodeJS.ProcessEnv,
  file: z.output<typeof fileSchema>,
  /** The fields the config file named (the parsed file also holds the schema's defaults). */
  named: ReadonlySet<string>,
): ClusterServiceSettingsInput | undefined {
  const redis = values.redis ?? env.POOLVISOR_REDIS ?? file.redis;
  const queue = values.queue ?? env.POOLVISOR_QUEUE ?? file.queue;
  const clusterOnly = CLUSTER_ONLY_FIELDS.filter((key) => file[key] !== undefined);
  if (redis === undefined || redis === '') {
    const strays = [...(values.queue === undefined ? [] : ['--queue']), ...(file.queue === undefined ? [] : ['config.queue']), ...clusterOnly.map((key) => `config.${key}`)];
    if (strays.length > 0) {
      throw new ConfigError([{ field: strays[0] as string, message: `needs --redis (or POOLVISOR_REDIS, config redis): ${strays.join(', ')} configure a service in front of a cluster`, received: strays }]);
    }
    return undefined;
  }
  const poolFlags = [
    ...LOCAL_POOL_FLAGS.filter((flag) => values[flag] !== undefined).map((flag) => `--${flag}`),
    ...LOCAL_ONLY_FIELDS.filter((key) => named.has(key)).map((key) => `config.${key}`),
  ];
  if (poolFlags.length > 0) {
    throw new ConfigError([
      {
        field: '--redis',
        message: `cannot go with ${poolFlags.join(', ')}: with --redis, serve runs no pool (the hosts do); give the pool options to poolvisor worker`,
        received: poolFlags,
      },
    ]);
  }
  if (queue === undefined || queue === '') throw new ConfigError([{ field: '--queue', message: 'required with --redis (or POOLVISOR_QUEUE, config queue)', received: queue }]);
  return {
    redis,
    queue,
    ...Object.fromEntries(clusterOnly.map((key) => [key, file[key]])),
  };
}


export function serveSettings(argv: string[], env: NodeJS.ProcessEnv): ServeSettings {
  const { values } = parseArgs({
    args: argv,
    options: {
      host: { type: 'string' },
      port: { type: 'string' },
      token: { type: 'string' },
      'allowed-hosts': { type: 'string' },
      redis: { type: 'string' },
      queue: { type: 'string' },
      ...SERVICE_FLAGS,
      ...POOL_FLAGS,
      cors: { type: 'string' },
      inspect: { type: 'string' },
      config: { type: 'string' },
    },
  });
  const configPath = values.config ?? env.POOLVISOR_CONFIG;
  let file: z.output<typeof fileSchema> = {};
  let named = new Set<string>();
  if (configPath) {
    let text: string;
    try {
      text = readFileSync(configPath, 'utf8');
    } catch (error) {
      throw new Error(`cannot read ${configPath}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
    }
    const raw: unknown = JSON.parse(text);
    file = parseOptions(fileSchema, raw, 'config');
    named = new Set(Object.keys(raw as object));
    checkToken(file.token, 'config.token');
  }
  const pick = (flag: string | undefined, name: string) => flag ?? env[`POOLVISOR_${name}`];
  const whole = (flag: string) => {
    const { value, source } = flagOrEnv(flag, values, env);
    return wholeNumber(source, value);
  };
  const cluster = clusterSettings(values, env, file, named);
  // In front of a cluster no pool runs here: the POOLVISOR_* pool variables, often shared with the hosts' environment, are theirs.
  const pool = cluster === undefined ? poolOptionsFromFlags(values, env, file.pool) : {};
  // The token is checked where it came from, and named by that source, never echoed.
  const token =
    values.token !== undefined
      ? checkToken(values.token, '--token')
      : env.POOLVISOR_TOKEN !== undefined
        ? checkToken(env.POOLVISOR_TOKEN, 'POOLVISOR_TOKEN')
        : (file.token as string | undefined);
  const hosts = pick(values['allowed-hosts'], 'ALLOWED_HOSTS')?.split(',') ?? file.allowedHosts;
  return {
    host: pick(values.host, 'HOST') ?? file.host ?? '127.0.0.1',
    port: whole('port') ?? file.port ?? 7070,
    token,
    allowedHosts: hosts?.map((h) => h.trim()).filter(Boolean),
    authFailures: file.authFailures,
    drainTimeoutMs: whole('drain-timeout') ?? file.drainTimeoutMs ?? 30_000,
    cors: (pick(values.cors, 'CORS')?.split(',') ?? file.cors ?? []).map((o) => o.trim()).filter(Boolean),
    inspect: pick(values.inspect, 'INSPECT') ?? file.inspect,
    resultLingerMs: file.resultLingerMs ?? 5000,
    limits: {
      taskRecords: file.taskRecords,
      maxPayloadDepth: file.maxPayloadDepth,
      maxPendingPayloadBytes: file.maxPendingPayloadBytes,
      maxStreamBufferBytes: file.maxStreamBufferBytes,
      maxEventStreams: file.maxEventStreams,
    },
    pool,
    cluster,
  };
}

/** `poolvisor serve`: listens until SIGTERM/SIGINT, then drains and exits 0. */
export async function serve(argv: string[]): Promise<number> {
  const settings = serveSettings(argv, process.env);
  if (!isLoopback(settings.host) && settings.token === undefined) {
    process.stderr.write(
      `poolvisor serve: refusing to bind ${settings.host} without a token: anyone who can reach it could run tasks. ` +
        `Set --token (or POOLVISOR_TOKEN, at least ${MIN_TOKEN_LENGTH} characters), or bind 127.0.0.1.\n`,
    );
    return 2;
  }
  const logger = process.stdout.isTTY ? { transport: { target: 'pino-pretty' } } : true;
  const edge = { token: settings.token, allowedHosts: settings.allowedHosts, authFailures: settings.authFailures, corsOrigins: settings.cors, ...settings.limits, logger };
  let service: { app: FastifyInstance; close(drainTimeoutMs?: number, resultLingerMs?: number): Promise<void> };
  let serving: Record<string, unknown>;
  if (settings.cluster !== undefined) {
    const cluster = await createClusterService({ ...edge, ...settings.cluster });
    service = cluster;
    serving = { redis: settings.cluster.redis.replace(/\/\/[^@/]*@/, '//'), queue: settings.cluster.queue };
  } else {
    let inspect: ((event: import('xstate').InspectionEvent) => void) | undefined;
    if (settings.inspect) {
      const { createWebSocketInspector } = await import('@statelyai/inspect');
      const inspector = createWebSocketInspector({ url: settings.inspect });
      inspect = (event) => inspector.inspect.next?.(event);
    }
    const local = await createService({ ...edge, pool: settings.pool, inspect });
    service = local;
    serving = { workers: local.pool.status().workers.length, tasks: local.pool.taskNames() };
  }
  let address: string;
  try {
    address = await service.app.listen({ host: settings.host, port: settings.port });
  } catch (error) {
    // Nothing is served: close the pool (or the cluster's connections) first, so no worker outlives the failed start.
    await service.close(0);
    const { code, message } = error as NodeJS.ErrnoException;
    const why = code === 'EADDRINUSE' ? 'the address is in use' : code === 'EACCES' ? 'permission denied' : code === 'EADDRNOTAVAIL' ? 'no such address on this machine' : message;
    process.stderr.write(`poolvisor serve: cannot listen on ${settings.host}:${settings.port}: ${why}${code === undefined ? '' : ` (${code})`}\n`);
    return 1;
  }
  service.app.log.info({ address, ...serving }, 'poolvisor is serving');
  process.stdout.write(`poolvisor: dashboard at ${address}/ (API under ${address}/v1, metrics at ${address}/metrics)\n`);
  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      service.app.log.info({ signal, drainTimeoutMs: settings.drainTimeoutMs }, 'draining');
      void service.close(settings.drainTimeoutMs, settings.resultLingerMs).then(resolve);
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
  return 0;
}
