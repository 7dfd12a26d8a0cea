import { availableParallelism } from 'node:os';
import { z } from 'zod';
import type { InspectionEvent, Observer } from 'xstate';
import { ConfigError, type ConfigIssue } from './errors.js';
import { capabilitiesOf, type BackendCapabilities } from './runtime/backend.js';

/** The largest delay `setTimeout` honours; beyond it Node fires at once. */
const MAX_TIMER_MS = 2_147_483_647;

/** The pool's defaults for a task's deadline and a worker's memory: the service caps what a client asks for by them. */
export const DEFAULT_TASK_TIMEOUT_MS = 300_000;
export const DEFAULT_MEMORY_LIMIT_MB = 2048;

/** An integer option from `min` to `max`, whose every error says `expected <what>` (the message names the field and value). */
export const int = (min: number, what: string, max = MAX_TIMER_MS) =>
  z
    .number({ error: `expected ${what}` })
    .int({ error: `expected ${what}` })
    .min(min, { error: `expected ${what}` })
    .max(max, { error: `expected ${what}` });

const positiveMb = z.number({ error: 'expected a number > 0' }).positive({ error: 'expected a number > 0' }).finite({ error: 'expected a number > 0' });

const restartSchema = z
  .strictObject({
    backoffMs: int(0, 'an integer >= 0 (ms)').default(100),
    maxBackoffMs: int(0, 'an integer >= 0 (ms)').default(30_000),
    maxRestarts: int(0, 'an integer >= 0', 1_000_000).default(5),
    windowMs: int(1, 'an integer > 0 (ms)').default(30_000),
    /** A degraded pool tries one worker again after this long, doubling while the tries fail. */
    recoverAfterMs: int(1, 'an integer > 0 (ms)').default(30_000),
    maxRecoverAfterMs: int(1, 'an integer > 0 (ms)').default(600_000),
  })
  .refine((r) => r.maxBackoffMs >= r.backoffMs, { error: 'expected maxBackoffMs >= backoffMs', path: ['maxBackoffMs'] })
  .refine((r) => r.maxRecoverAfterMs >= r.recoverAfterMs, { error: 'expected maxRecoverAfterMs >= recoverAfterMs', path: ['maxRecoverAfterMs'] });

const quarantineSchema = z.union(
  [
    z.literal(false),
    z.strictObject({
      failures: int(1, 'an integer from 1 to 1000', 1000).default(2),
      windowMs: int(1, `an integer from 1 to ${MAX_TIMER_MS} (ms)`).default(600_000),
    }),
  ],
  { error: 'expected false, or { failures, windowMs }' },
);

/** A worker's device. */
const DEVICE = /^(cpu|cuda:\d+)$/;
/** What a task may ask for: a device, or `cuda` for any GPU. */
const DEVICE_SELECTOR = /^(cpu|cuda|cuda:\d+)$/;
const device = z.string({ error: "expected 'cpu' or 'cuda:N'" }).regex(DEVICE, { error: "expected 'cpu' or 'cuda:N' (e.g. 'cuda:0')" });

export const poolOptionsSchema = z.strictObject({
  /**
   * `process` (default): each worker a child process — RSS, GPU and process-group
   * limits, survives native crashes. `thread`: worker_threads — cheaper, but only a V8
   * heap limit, and a native crash takes the host down (docs/devices.md).
   */
  backend: z.enum(['process', 'thread'], { error: "expected 'process' or 'thread'" }).default('process'),
  /** The module whose named async exports are the tasks. */
  task: z.union([z.instanceof(URL), z.string().min(1)], { error: 'expected a URL or a module path' }),
  maxWorkers: int(1, 'an integer from 1 to 1024', 1024).optional(),
  taskTimeoutMs: int(1, `an integer from 1 to ${MAX_TIMER_MS} (ms)`).default(DEFAULT_TASK_TIMEOUT_MS),
  memoryLimitMb: positiveMb.default(DEFAULT_MEMORY_LIMIT_MB),
  /**
   * The most a task's own `timeoutMs` (or a lease's) may ask for: above it, `run` and
   * `acquire` refuse the task with a ConfigError. No cap when unset. The service sets it
   * to `taskTimeoutMs`, so a client cannot lift the operator's deadline.
   */
  maxTaskTimeoutMs: int(1, `an integer from 1 to ${MAX_TIMER_MS} (ms)`).optional(),
  /** The most a task's own `memoryLimitMb` may ask for (see maxTaskTimeoutMs). */
  maxTaskMemoryLimitMb: positiveMb.optional(),
  /**
   * What a task's result must be to count as a success. `structured-clone` (default):
   * anything the worker can send back (Maps, BigInts, cycles…). `json`: also
   * representable as JSON, checked in the worker, as an HTTP API needs; a result that
   * is not fails its task with ResultNotSerializableError.
   */
  resultFormat: z.enum(['structured-clone', 'json'], { error: "expected 'structured-clone' or 'json'" }).default('structured-clone'),
  /** GPU memory per worker on a `cuda:*` device, measured with nvidia-smi; no limit when unset. */
  gpuMemoryLimitMb: positiveMb.optional(),
  /** Below this much available host memory, the most recently started task is killed (no guard when unset). */
  hostMemoryReserveMb: positiveMb.optional(),
  /**
   * Check `cuda:N` devices against the GPUs nvidia-smi lists, at start-up. Turn off
   * only where discovery is impossible; GPU memory limits are then reported as
   * unenforceable when nvidia-smi cannot be run.
   */
  gpuDiscovery: z.boolean({ error: 'expected true or false' }).default(true),
  /** Worker i runs on devices[i % devices.length]. */
  devices: z
    .array(device, { error: "expected an array of devices such as ['cpu', 'cuda:0']" })
    .min(1, { error: 'expected at least one device' })
    .default(['cpu']),
  /** An explicit device per worker, instead of cycling through `devices`; its length is the number of workers. */
  workerDevices: z
    .array(device, { error: "expected an array with one device per worker, such as ['cpu', 'cuda:0', 'cuda:0']" })
    .min(1, { error: 'expected at least one worker' })
    .max(1024, { error: 'expected at most 1024 workers' })
    .optional(),
  maxQueue: int(0, 'an integer >= 0', Number.MAX_SAFE_INTEGER).default(10_000),
  /**
   * The most tasks a worker is handed at once, its current one included. Tasks go
   * ahead of time only while the queue is deep and only if their name's recent runs
   * were fast (about 2 ms of expected work per worker); 1 hands out one at a time.
   */
  maxBatch: int(1, 'an integer from 1 to 1024', 1024).default(32),
  memoryPollMs: int(5, 'an integer from 5 to 60000 (ms)', 60_000).default(100),
  softMemoryRatio: z
    .number({ error: 'expected a number > 0 and <= 1' })
    .gt(0, { error: 'expected a number > 0 and <= 1' })
    .max(1, { error: 'expected a number > 0 and <= 1' })
    .default(0.8),
  killGraceMs: int(0, 'an integer >= 0 (ms)').default(1000),
  /**
   * How long before its deadline a running task's `ctx.signal` aborts, at most: the lead
   * is the smaller of this and a tenth of the task's timeout. 0: no warning. The kill at
   * the deadline is not moved.
   */
  deadlineWarningMs: int(0, 'an integer from 0 to 60000 (ms)', 60_000).default(1000),
  /**
   * A cancelled running task's `ctx.signal` aborts at once; its worker is killed this much
   * later unless the task returned first (then the worker is kept). The caller's promise
   * rejects at once either way. 0: killed at once, no signal.
   */
  cancelGraceMs: int(0, 'an integer from 0 to 10000 (ms)', 10_000).default(100),
  startTimeoutMs: int(1, 'an integer > 0 (ms)').default(30_000),
  /** Workers (processes, or threads) started ahead, per device, so a killed worker is replaced at once. */
  spareWorkers: int(0, 'an integer from 0 to 16', 16).default(1),
  restart: restartSchema.default({ backoffMs: 100, maxBackoffMs: 30_000, maxRestarts: 5, windowMs: 30_000, recoverAfterMs: 30_000, maxRecoverAfterMs: 600_000 }),
  /**
   * Poison inputs: when tasks of one name with the same input (a hash of the payload, or
   * the run's `key`) crash their worker or go over a memory limit on `failures` different
   * workers within `windowMs`, further ones fail fast with TaskQuarantinedError until
   * `windowMs` after the last failure. `false` turns it off.
   */
  quarantine: quarantineSchema.default({ failures: 2, windowMs: 600_000 }),
  /** An XState inspection observer, passed to `createActor` (see docs/architecture.md). */
  inspect: z
    .custom<Observer<InspectionEvent> | ((event: InspectionEvent) => void)>(
      (value) => typeof value === 'function' || (typeof value === 'object' && value !== null),
      { error: 'expected a function or an observer object' },
    )
    .optional(),
  /** Node flags for workers (e.g. `--max-old-space-size=4096`); a thread takes only those that load and run code (`--import`, …). */
  execArgv: z.array(z.string({ error: 'expected strings' }), { error: 'expected an array of strings' }).default([]),
  /** Extra environment variables for workers (a thread gets a copy of the host's environment with these on top). */
  env: z.record(z.string(), z.string({ error: 'expected string values' }), { error: 'expected an object of strings' }).default({}),
});

export type PoolOptions = z.input<typeof poolOptionsSchema>;
/** The options as the pool uses them: defaults filled in, one device per worker, and each `…Mb` also in bytes. */
export type ResolvedPoolOptions = z.output<typeof poolOptionsSchema> & {
  maxWorkers: number;
  workerDevices: string[];
  memoryLimitBytes: number;
  gpuMemoryLimitBytes: number | undefined;
  hostMemoryReserveBytes: number | undefined;
};

const MiB = 1024 * 1024;

/** An option's megabytes (MiB) in bytes: the one conversion, at the edge where options come in. */
export function mbToBytes(mb: number): number {
  return Math.round(mb * MiB);
}

const RETRYABLE = ['crash', 'memory', 'timeout'] as const;

export const runOptionsSchema = z.strictObject({
  /** Your id for the task, as the audit trail will show it; the pool numbers tasks itself otherwise. */
  taskId: z
    .string({ error: 'expected a string' })
    .regex(/^[A-Za-z][\w.:-]{0,127}$/, { error: 'expected a letter, then up to 127 letters, digits, _ . : or -' })
    .optional(),
  timeoutMs: int(1, `an integer from 1 to ${MAX_TIMER_MS} (ms)`).optional(),
  memoryLimitMb: positiveMb.optional(),
  /** Your name for this input, to recognise a poison input by instead of a hash of the payload. */
  key: z.string({ error: 'expected a string of 1 to 256 characters' }).min(1, { error: 'expected a string of 1 to 256 characters' }).max(256, { error: 'expected a string of 1 to 256 characters' }).optional(),
  gpuMemoryLimitMb: positiveMb.optional(),
  priority: int(-1_000_000, 'an integer from -1000000 to 1000000', 1_000_000).optional(),
  /** `cpu`, `cuda` (any GPU) or `cuda:N`; any worker when unset. */
  device: z
    .string({ error: "expected 'cpu', 'cuda' or 'cuda:N'" })
    .regex(DEVICE_SELECTOR, { error: "expected 'cpu', 'cuda' or 'cuda:N'" })
    .optional(),
  signal: z.instanceof(AbortSignal, { error: 'expected an AbortSignal' }).optional(),
  /**
   * Called with each progress report of the task (`ctx.progress(fraction, detail)` in the
   * task), in order, until it settles. Stays in this process: it need not be cloneable.
   */
  onProgress: z
    .custom<(fraction: number, detail: unknown) => void>((value) => typeof value === 'function', { error: 'expected a function (fraction, detail) => void' })
    .optional(),
  retries: int(0, 'an integer from 0 to 100', 100).optional(),
  retryOn: z
    .array(z.enum(RETRYABLE, { error: `expected one of ${RETRYABLE.join(', ')}` }), { error: 'expected an array' })
    .optional(),
});

export type RunOptions = z.input<typeof runOptionsSchema>;

/** `timeoutMs` of a lease: how long it may be held, counted from the grant (default: the pool's taskTimeoutMs). */
export const acquireOptionsSchema = runOptionsSchema.pick({ priority: true, signal: true, device: true, timeoutMs: true });
export type AcquireOptions = z.input<typeof acquireOptionsSchema>;

export const closeOptionsSchema = z.strictObject({
  drainTimeoutMs: int(0, 'an integer >= 0 (ms)').default(30_000),
});
export type CloseOptions = z.input<typeof closeOptionsSchema>;

function valueAt(input: unknown, path: readonly PropertyKey[]): unknown {
  let value = input;
  for (const key of path) {
    if (typeof value !== 'object' || value === null) return undefined;
    value = (value as Record<PropertyKey, unknown>)[key];
  }
  return value;
}

function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'function') return 'a function';
  if (value instanceof URL) return value.href;
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}

function toIssues(error: z.ZodError, input: unknown, prefix: string): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  for (const issue of error.issues) {
    const base = [prefix, ...issue.path.map(String)].filter(Boolean).join('.');
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) {
        const field = base ? `${base}.${key}` : key;
        issues.push({ field, message: 'unknown option (not ignored: check the spelling)', received: valueAt(input, [...issue.path, key]) });
      }
      continue;
    }
    const received = valueAt(input, issue.path);
    const got = received === undefined && issue.path.length > 0 ? 'nothing' : describe(received);
    issues.push({ field: base || prefix || '(options)', message: `${issue.message}, got ${got}`, received });
  }
  return issues;
}

/** Parses against a schema or throws a {@link ConfigError} naming every bad field. */
export function parseOptions<T extends z.ZodType>(schema: T, input: unknown, prefix = ''): z.output<T> {
  const result = schema.safeParse(input ?? {});
  if (result.success) return result.data;
  throw new ConfigError(toIssues(result.error, input ?? {}, prefix));
}

/**
 * What the chosen backend cannot enforce, asked for all the same: each such field is
 * refused with the reason its capabilities give, rather than started with a limit that
 * does nothing.
 */
function backendIssues(
  capabilities: BackendCapabilities,
  input: Record<string, unknown>,
  parsed: z.output<typeof poolOptionsSchema>,
  devices: readonly string[],
): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  const gpu = devices.find((device) => device.startsWith('cuda:'));
  if (gpu !== undefined && !capabilities.gpu.ok) {
    issues.push({
      field: input.workerDevices !== undefined ? 'workerDevices' : 'devices',
      message: `${capabilities.gpu.why}; got ${gpu}; ${capabilities.gpu.instead}`,
      received: input.workerDevices ?? input.devices,
    });
  }
  const refused = capabilities.execArgv.refused(parsed.execArgv);
  if (refused.length > 0) {
    const { why, instead } = capabilities.execArgv;
    issues.push({ field: 'execArgv', message: `${why}, got ${JSON.stringify(refused)}; ${instead}`, received: input.execArgv });
  }
  const sampling = capabilities.memorySampling;
  if (!sampling.ok) {
    for (const field of ['gpuMemoryLimitMb', 'memoryPollMs', 'softMemoryRatio'] as const) {
      if (input[field] === undefined) continue;
      issues.push({
        field,
        message: `not available with backend: '${parsed.backend}' (${sampling.why}), got ${JSON.stringify(parsed[field])}; ${sampling.instead}`,
        received: input[field],
      });
    }
  }
  return issues;
}

export function resolvePoolOptions(input: PoolOptions): ResolvedPoolOptions {
  if (typeof input !== 'object' || input === null) {
    throw new ConfigError([{ field: '(options)', message: `expected an options object, got ${describe(input)}`, received: input }]);
  }
  const parsed = parseOptions(poolOptionsSchema, input);
  if (parsed.workerDevices !== undefined) {
    if (parsed.maxWorkers !== undefined && parsed.maxWorkers !== parsed.workerDevices.length) {
      throw new ConfigError([
        {
          field: 'maxWorkers',
          message: `expected ${parsed.workerDevices.length} (one worker per entry of workerDevices), got ${parsed.maxWorkers}`,
          received: parsed.maxWorkers,
        },
      ]);
    }
  }
  // A cap below the pool's own default would refuse what the pool itself does to a task that asks for nothing.
  if (parsed.maxTaskTimeoutMs !== undefined && parsed.maxTaskTimeoutMs < parsed.taskTimeoutMs) {
    throw new ConfigError([
      { field: 'maxTaskTimeoutMs', message: `expected at least taskTimeoutMs (${parsed.taskTimeoutMs}), got ${parsed.maxTaskTimeoutMs}`, received: parsed.maxTaskTimeoutMs },
    ]);
  }
  if (parsed.maxTaskMemoryLimitMb !== undefined && parsed.maxTaskMemoryLimitMb < parsed.memoryLimitMb) {
    throw new ConfigError([
      { field: 'maxTaskMemoryLimitMb', message: `expected at least memoryLimitMb (${parsed.memoryLimitMb}), got ${parsed.maxTaskMemoryLimitMb}`, received: parsed.maxTaskMemoryLimitMb },
    ]);
  }
  const maxWorkers = parsed.workerDevices?.length ?? parsed.maxWorkers ?? availableParallelism();
  const workerDevices = parsed.workerDevices ?? Array.from({ length: maxWorkers }, (_, i) => parsed.devices[i % parsed.devices.length] as string);
  const issues = backendIssues(capabilitiesOf(parsed.backend), input as Record<string, unknown>, parsed, workerDevices);
  if (issues.length > 0) throw new ConfigError(issues);
  // Megabytes are the options' unit; everything past this point counts bytes.
  return {
    ...parsed,
    maxWorkers,
    workerDevices,
    memoryLimitBytes: mbToBytes(parsed.memoryLimitMb),
    gpuMemoryLimitBytes: parsed.gpuMemoryLimitMb === undefined ? undefined : mbToBytes(parsed.gpuMemoryLimitMb),
    hostMemoryReserveBytes: parsed.hostMemoryReserveMb === undefined ? undefined : mbToBytes(parsed.hostMemoryReserveMb),
  };
}
