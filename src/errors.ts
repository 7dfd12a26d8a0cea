import type { MemoryBreach, MemoryResource, MemorySample, PoisonFailure, SerializedError } from '../machines/taskTypes.js';

/**
 * Every error poolvisor gives a caller: a stable `code` to branch on and the evidence
 * of what happened as plain fields. `docs/errors.md` lists them all.
 */
export class PoolError extends Error {
  readonly code: string;

  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'PoolError';
    this.code = code;
  }
}

/** Where a task ran: every failure of a started task says which worker it was. */
export interface WorkerEvidence {
  readonly taskId: string;
  readonly workerId: string;
  readonly pid: number | undefined;
  readonly device: string;
}

/** The task ran past its deadline; the worker was killed and replaced. */
export class WorkerTimeoutError extends PoolError {
  readonly taskId: string;
  readonly workerId: string;
  readonly pid: number | undefined;
  readonly device: string;
  readonly elapsedMs: number;
  readonly timeoutMs: number;
  /** Set when the deadline was its lease's (`acquire({ timeoutMs })`), not the task's own. */
  readonly leaseId: string | undefined;

  constructor(evidence: WorkerEvidence & { elapsedMs: number; timeoutMs: number; leaseId?: string | undefined }) {
    const where = `on ${evidence.workerId} (pid ${String(evidence.pid)}); the worker was killed`;
    super(
      'ERR_WORKER_TIMEOUT',
      evidence.leaseId === undefined
        ? `task ${evidence.taskId} ran past its ${evidence.timeoutMs} ms deadline ${where}`
        : `task ${evidence.taskId} was running when lease ${evidence.leaseId} ran past its ${evidence.timeoutMs} ms deadline ${where}`,
    );
    this.name = 'WorkerTimeoutError';
    ({ taskId: this.taskId, workerId: this.workerId, pid: this.pid, device: this.device } = evidence);
    this.elapsedMs = evidence.elapsedMs;
    this.timeoutMs = evidence.timeoutMs;
    this.leaseId = evidence.leaseId;
  }
}

/**
 * A memory limit was breached and the worker was killed at once: the resident
 * memory of its process tree (`rss`), the GPU memory it held (`gpu`), the V8 heap of
 * a worker thread (`heap`), or the host ran under its reserve and this was the most
 * recently started task (`host`).
 */
export class WorkerMemoryError extends PoolError {
  readonly taskId: string;
  readonly workerId: string;
  readonly pid: number | undefined;
  readonly device: string;
  readonly resource: MemoryResource;
  /** What was measured of `resource` (for `host`: what the host was using). */
  readonly usedBytes: number;
  /** The limit it crossed (for `host`: total memory less the reserve). */
  readonly limitBytes: number;
  /** The worker's resident memory at the time. */
  readonly rssBytes: number;
  /** The task's most recent samples before the kill, oldest first. */
  readonly samples: readonly MemorySample[];

  constructor(evidence: WorkerEvidence & MemoryBreach) {
    const mib = (bytes: number) => `${(bytes / 1048576).toFixed(1)} MiB`;
    const what =
      evidence.resource === 'host'
        ? `the host was using ${mib(evidence.usedBytes)}, over the ${mib(evidence.limitBytes)} its memory reserve allows, and task ${evidence.taskId} was the most recently started`
        : `task ${evidence.taskId} used ${mib(evidence.usedBytes)} of ${evidence.resource === 'gpu' ? `GPU memory on ${evidence.device}` : evidence.resource === 'heap' ? 'V8 heap' : 'RSS'}, over its ${mib(evidence.limitBytes)} limit`;
    super('ERR_WORKER_MEMORY', `${what}; worker ${evidence.workerId} (pid ${String(evidence.pid)}) was killed`);
    this.name = 'WorkerMemoryError';
    ({ taskId: this.taskId, workerId: this.workerId, pid: this.pid, device: this.device } = evidence);
    this.resource = evidence.resource;
    this.usedBytes = evidence.usedBytes;
    this.limitBytes = evidence.limitBytes;
    this.rssBytes = evidence.rssBytes;
    this.samples = evidence.samples;
  }
}

/** The worker process died by itself while running the task. */
export class WorkerCrashedError extends PoolError {
  readonly taskId: string;
  readonly workerId: string;
  readonly pid: number | undefined;
  readonly device: string;
  readonly exitCode: number | null;
  readonly signal: string | null;
  /** The last few KiB the worker wrote to stderr: often the real reason. */
  readonly stderrTail: string | undefined;

  constructor(evidence: WorkerEvidence & { exitCode: number | null; signal: string | null; stderrTail?: string | undefined; error?: SerializedError | undefined }) {
    const how = evidence.error
      ? `its supervision failed (${evidence.error.name}: ${evidence.error.message})`
      : `it exited with code ${String(evidence.exitCode)}, signal ${String(evidence.signal)}`;
    super('ERR_WORKER_CRASHED', `worker ${evidence.workerId} (pid ${String(evidence.pid)}) died running task ${evidence.taskId}: ${how}`, {
      cause: evidence.error,
    });
    this.name = 'WorkerCrashedError';
    ({ taskId: this.taskId, workerId: this.workerId, pid: this.pid, device: this.device } = evidence);
    this.exitCode = evidence.exitCode;
    this.signal = evidence.signal;
    this.stderrTail = evidence.stderrTail;
  }
}

/** The task threw (or rejected). `cause` holds its name, message and stack from the worker. */
export class TaskError extends PoolError {
  readonly taskId: string;
  readonly workerId: string;
  readonly pid: number | undefined;
  readonly device: string;

  constructor(evidence: WorkerEvidence & { error: SerializedError }) {
    super('ERR_TASK_FAILED', `task ${evidence.taskId} threw ${evidence.error.name}: ${evidence.error.message}`, { cause: evidence.error });
    this.name = 'TaskError';
    ({ taskId: this.taskId, workerId: this.workerId, pid: this.pid, device: this.device } = evidence);
  }
}

/**
 * The task returned, but its value cannot be given back: it cannot be cloned across to
 * the pool, or (with `resultFormat: 'json'`, as the service uses) it is not
 * representable as JSON — a BigInt, a cycle. Checked in the worker, so the task fails
 * as it ends instead of a reader failing on it later.
 */
export class ResultNotSerializableError extends PoolError {
  readonly taskId: string;
  readonly workerId: string;
  readonly pid: number | undefined;
  readonly device: string;
  readonly format: 'structured-clone' | 'json';

  constructor(evidence: WorkerEvidence & { format: 'structured-clone' | 'json'; error: SerializedError }) {
    super('ERR_RESULT_NOT_SERIALIZABLE', `task ${evidence.taskId} returned a value that ${evidence.format === 'json' ? 'JSON cannot represent' : 'cannot be sent back from its worker'}: ${evidence.error.message}`);
    this.name = 'ResultNotSerializableError';
    ({ taskId: this.taskId, workerId: this.workerId, pid: this.pid, device: this.device, format: this.format } = evidence);
  }
}

/** The caller's AbortSignal fired, while the task was queued or running (the worker was then killed). */
export class TaskCancelledError extends PoolError {
  readonly taskId: string;
  readonly stage: 'queued' | 'running';
  readonly workerId: string | undefined;

  constructor(evidence: { taskId: string; stage: 'queued' | 'running'; workerId?: string | undefined; reason?: unknown }) {
    super('ERR_TASK_CANCELLED', `task ${evidence.taskId} was cancelled while ${evidence.stage}`, { cause: evidence.reason });
    this.name = 'TaskCancelledError';
    this.taskId = evidence.taskId;
    this.stage = evidence.stage;
    this.workerId = evidence.workerId;
  }
}

/** `maxQueue` tasks were already waiting. */
export class QueueFullError extends PoolError {
  readonly queued: number;
  readonly maxQueue: number;

  constructor(evidence: { queued: number; maxQueue: number }) {
    super('ERR_QUEUE_FULL', `the queue is full (${evidence.queued} of maxQueue ${evidence.maxQueue} waiting); try again later`);
    this.name = 'QueueFullError';
    this.queued = evidence.queued;
    this.maxQueue = evidence.maxQueue;
  }
}

/** The pool is closing or closed; it takes no new tasks, and queued ones left at the drain deadline end here. */
export class PoolClosedError extends PoolError {
  constructor() {
    super('ERR_POOL_CLOSED', 'the pool is closed');
    this.name = 'PoolClosedError';
  }
}

/**
 * A worker failed more often than the restart-intensity limit allows (a task module
 * that cannot load, a host that kills every worker). The pool stopped restarting and
 * fails fast; `cause` is the last failure.
 */
export class PoolDegradedError extends PoolError {
  readonly reason: string;

  constructor(evidence: { reason: string; lastError?: SerializedError | undefined }) {
    const last = evidence.lastError ? `; last error: ${evidence.lastError.message}` : '';
    super('ERR_POOL_DEGRADED', `the pool is degraded: ${evidence.reason}${last}`, { cause: evidence.lastError });
    this.name = 'PoolDegradedError';
    this.reason = evidence.reason;
  }
}

/** The leased worker was killed or replaced; whatever state the lease built up in it is gone. */
export class LeaseLostError extends PoolError {
  readonly leaseId: string;
  readonly workerId: string;

  constructor(evidence: { leaseId: string; workerId: string }) {
    super('ERR_LEASE_LOST', `lease ${evidence.leaseId} lost its worker ${evidence.workerId || '(none)'}`);
    this.name = 'LeaseLostError';
    this.leaseId = evidence.leaseId;
    this.workerId = evidence.workerId;
  }
}

/**
 * The lease was held past its deadline (`acquire({ timeoutMs })`, counted from the
 * grant): its worker was ended and replaced, and every later run on it fails with this.
 */
export class LeaseExpiredError extends PoolError {
  readonly leaseId: string;
  readonly workerId: string;
  readonly timeoutMs: number;

  constructor(evidence: { leaseId: string; workerId: string; timeoutMs: number }) {
    super('ERR_LEASE_EXPIRED', `lease ${evidence.leaseId} was held past its ${evidence.timeoutMs} ms deadline; its worker was ended and given back to the pool`);
    this.name = 'LeaseExpiredError';
    this.leaseId = evidence.leaseId;
    this.workerId = evidence.workerId;
    this.timeoutMs = evidence.timeoutMs;
  }
}

/**
 * The task's input is refused for a while: tasks of the same name with the same input
 * (a hash of the payload, or the caller's `key`) crashed their worker or went over a
 * memory limit on more than one worker. `failures` is that evidence.
 */
export class TaskQuarantinedError extends PoolError {
  readonly taskId: string;
  /** The task's name (`name` is the error's). */
  readonly taskName: string;
  readonly fingerprint: string;
  readonly failures: readonly PoisonFailure[];
  /** Until when (ms since the epoch) this input is refused. */
  readonly untilMs: number;

  constructor(evidence: { taskId: string; name: string; fingerprint: string; failures: readonly PoisonFailure[]; untilMs: number }) {
    const codes = evidence.failures.map((f) => `${f.code === 'CRASHED' ? 'crashed' : 'over its memory limit'} on ${f.workerId} (pid ${String(f.pid)}, task ${f.taskId})`);
    super(
      'ERR_TASK_QUARANTINED',
      `task ${evidence.taskId} was refused: its input to "${evidence.name}" took down ${evidence.failures.length} workers (${codes.join('; ')}) and is quarantined until ${new Date(evidence.untilMs).toISOString()}`,
    );
    this.name = 'TaskQuarantinedError';
    this.taskId = evidence.taskId;
    this.taskName = evidence.name;
    this.fingerprint = evidence.fingerprint;
    this.failures = evidence.failures;
    this.untilMs = evidence.untilMs;
  }
}

/** The task (or lease) asked for a device no worker of this pool runs on. */
export class NoMatchingDeviceError extends PoolError {
  readonly requested: string;
  readonly devices: readonly string[];

  constructor(evidence: { requested: string; devices: readonly string[] }) {
    super('ERR_NO_MATCHING_DEVICE', `no worker runs on a device matching "${evidence.requested}"; this pool has: ${evidence.devices.join(', ')}`);
    this.name = 'NoMatchingDeviceError';
    this.requested = evidence.requested;
    this.devices = evidence.devices;
  }
}

export interface ConfigIssue {
  /** Dotted path of the option, e.g. `restart.maxRestarts`. */
  readonly field: string;
  readonly message: string;
  readonly received: unknown;
}

/** An option or a run argument is invalid; `issues` names each field, what it got and what is allowed. */
export class ConfigError extends PoolError {
  readonly issues: readonly ConfigIssue[];

  constructor(issues: readonly ConfigIssue[]) {
    super('ERR_CONFIG', issues.map((issue) => `${issue.field}: ${issue.message}`).join('; '));
    this.name = 'ConfigError';
    this.issues = issues;
  }
}

/** A pool error as plain data: its stable code, name and message, and its evidence fields (with `cause`). */
export interface PoolErrorData {
  readonly code: string;
  readonly name: string;
  readonly message: string;
  readonly evidence: Record<string, unknown>;
}

/**
 * Any error the pool gives, as data that survives JSON: what the HTTP API shows and what
 * a cluster host stores in a failed job, from which {@link poolErrorFromData} rebuilds it.
 */
export function poolErrorData(error: unknown): PoolErrorData {
  const e = error as PoolError;
  const evidence = Object.fromEntries(Object.entries(e).filter(([key]) => !['code', 'name', 'message', 'stack'].includes(key)));
  if (e.cause !== undefined) evidence.cause = e.cause instanceof Error ? { name: e.cause.name, message: e.cause.message } : e.cause;
  return { code: e.code ?? 'ERR_UNKNOWN', name: e.name ?? 'Error', message: e.message ?? String(error), evidence };
}

const ERROR_CLASSES: Record<string, new (...args: never[]) => PoolError> = {
  WorkerTimeoutError,
  WorkerMemoryError,
  WorkerCrashedError,
  TaskError,
  ResultNotSerializableError,
  TaskCancelledError,
  QueueFullError,
  PoolClosedError,
  PoolDegradedError,
  LeaseLostError,
  LeaseExpiredError,
  TaskQuarantinedError,
  NoMatchingDeviceError,
  ConfigError,
};

/**
 * The error {@link poolErrorData} described, as the same class with the same message and
 * evidence, so `instanceof WorkerTimeoutError` and `error.elapsedMs` work on the far side
 * of a process or a host. Unknown names come back as a plain PoolError with the code.
 */
export function poolErrorFromData(data: PoolErrorData): PoolError {
  const ErrorClass = Object.hasOwn(ERROR_CLASSES, data.name) ? ERROR_CLASSES[data.name] : undefined;
  const error: PoolError = ErrorClass ? Object.create(ErrorClass.prototype) : new PoolError(data.code, data.message);
  const { cause, ...evidence } = data.evidence;
  Object.assign(error, evidence);
  Object.defineProperties(error, {
    name: { value: data.name, writable: true, configurable: true },
    code: { value: data.code, writable: true, enumerable: true, configurable: true },
    message: { value: data.message, writable: true, configurable: true },
    ...(cause === undefined ? {} : { cause: { value: cause, writable: true, configurable: true } }),
  });
  return error;
}
