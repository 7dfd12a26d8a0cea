import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { isAbsolute, resolve as resolvePath } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { serialize } from 'node:v8';
import { createActor, type Actor, type StateValue } from 'xstate';
import type { PoolEvent, TaskRequest } from '../machines/poolEvents.js';
import { supervisorMachine } from '../machines/supervisorMachine.js';
import type { TaskFailure } from '../machines/taskTypes.js';
import { readPoolView, readTaskNames, type PoolView, type WorkerView } from '../machines/poolStatus.js';
import { workerMachine } from '../machines/workerMachine.js';
import {
  acquireOptionsSchema,
  closeOptionsSchema,
  mbToBytes,
  parseOptions,
  resolvePoolOptions,
  runOptionsSchema,
  type AcquireOptions,
  type CloseOptions,
  type PoolOptions,
  type ResolvedPoolOptions,
  type RunOptions,
} from './config.js';
import {
  ConfigError,
  LeaseExpiredError,
  LeaseLostError,
  NoMatchingDeviceError,
  PoolClosedError,
  PoolDegradedError,
  PoolError,
  QueueFullError,
  TaskCancelledError,
  TaskError,
  ResultNotSerializableError,
  TaskQuarantinedError,
  WorkerCrashedError,
  WorkerMemoryError,
  WorkerTimeoutError,
} from './errors.js';
import { prepareGpuSupport, type GpuStatus } from './runtime/gpu/index.js';
import { hostMemoryMonitor } from './runtime/hostMemory.js';
import { capabilitiesOf, createBackend, type Capability } from './runtime/backend.js';
import { createRuntime } from './runtime/runtime.js';

const MiB = 1024 * 1024;

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

/**
 * One entry of the audit trail: every decision the pool takes, with `at` (ms since
 * the epoch). Results are not repeated here; they go to the caller's promise.
 */
export type PoolAuditEvent = WithErrorCode<DistributiveOmit<Exclude<PoolEvent, { type: 'tasks.failed' }>, 'value'>> & { readonly at: number };

/** A failed task's audit event also names the typed error its caller got (`ERR_WORKER_TIMEOUT`), beside the failure as the supervisor decided it. */
type WithErrorCode<E> = E extends { readonly type: 'task.failed' } ? E & { readonly errorCode: string } : E;

/** One worker as the pool's read model shows it (machines/poolStatus.ts). */
export type WorkerStatus = WorkerView;

export interface PoolStatus extends PoolView {
  readonly gpu: GpuStatus;
  /** What an idle worker was measured to need at start (resident memory), the floor for any memory limit; undefined where not measured. */
  readonly idleWorkerBytes: number | undefined;
}

/** What {@link Pool.submit} returns. */
export interface TaskSubmission<T> {
  /** The task's id in the audit trail; undefined when it was refused before it had one. */
  readonly taskId: string | undefined;
  readonly result: Promise<T>;
  /** Set when the pool refused the task without running it; `result` rejects with it. */
  readonly refusal: Error | undefined;
}

interface PendingTask {
  readonly resolve: (value: unknown) => void;
  readonly reject: (error: Error) => void;
  readonly signal: AbortSignal | undefined;
  readonly onAbort: (() => void) | undefined;
  readonly onProgress: ((fraction: number, detail: unknown) => void) | undefined;
}

interface PendingLease {
  readonly resolve: (lease: Lease) => void;
  readonly reject: (error: Error) => void;
  readonly signal: AbortSignal | undefined;
  readonly onAbort: (() => void) | undefined;
}

type SupervisorActor = Actor<typeof supervisorMachine>;

/** What {@link Pool.actor} shows of the supervisor actor. */
export interface SupervisorInspection {
  readonly id: string;
  readonly sessionId: string;
  getSnapshot(): { readonly value: StateValue; readonly status: 'active' | 'done' | 'error' | 'stopped' };
}

function resolveTaskModule(task: URL | string): string {
  let url: URL;
  if (task instanceof URL) url = task;
  else if (task.startsWith('file:')) url = new URL(task);
  else if (isAbsolute(task) || task.startsWith('.') || existsSync(resolvePath(task))) url = pathToFileURL(resolvePath(task));
  else {
    throw new ConfigError([
      { field: 'task', message: `expected a file URL or a path such as new URL('./tasks.js', import.meta.url), got ${JSON.stringify(task)}`, received: task },
    ]);
  }
  if (url.protocol === 'file:' && !existsSync(fileURLToPath(url))) {
    throw new ConfigError([{ field: 'task', message: `expected an existing module file, got ${url.href} (no such file)`, received: task }]);
  }
  return url.href;
}

/**
 * A pool of supervised worker processes. Create one with {@link createPool}.
 *
 * @example
 * ```ts
 * const pool = await createPool({ task: new URL('./tasks.js', import.meta.url), maxWorkers: 4 });
 * try {
 *   const posterior = await pool.run('inferMechanism', link, { timeoutMs: 60_000 });
 * } catch (error) {
 *   if (error instanceof WorkerTimeoutError) console.log(error.workerId, error.elapsedMs);
 * }
 * await pool.close();
 * ```
 */
export class Pool {
  readonly #actor: SupervisorActor;
  readonly options: Readonly<ResolvedPoolOptions>;
  readonly #pending = new Map<string, PendingTask>();
  readonly #leaseWaiters = new Map<string, PendingLease>();
  readonly #listeners = new Set<(event: PoolAuditEvent) => void>();
  #nextId = 0;
  #taskNames: readonly string[] = [];
  #closing: Promise<void> | undefined;
  #fatal: unknown;
  #idleWorkerBytes: number | undefined;

  readonly #disposeRuntime: () => Promise<void>;
  readonly #gpuStatus: () => GpuStatus;
  readonly #perTaskMemoryLimit: Capability;

  /** @internal use {@link createPool} */
  constructor(actor: SupervisorActor, options: ResolvedPoolOptions, disposeRuntime: () => Promise<void>, gpuStatus: () => GpuStatus) {
    this.#actor = actor;
    this.options = options;
    this.#perTaskMemoryLimit = capabilitiesOf(options.backend).perTaskMemoryLimit;
    this.#disposeRuntime = disposeRuntime;
    this.#gpuStatus = gpuStatus;
    actor.on('*', (event) => this.#onEvent(event as PoolEvent));
    actor.subscribe({
      error: (error) => {
        // The machines handle every child error; reaching this is a bug, and still must not hang a caller.
        this.#fatal = error;
        const failure = new PoolError('ERR_POOL_INTERNAL', `the pool's supervisor failed: ${String(error)}`, { cause: error });
        for (const [id, pending] of this.#pending) this.#settle(id, pending, undefined, failure);
        for (const waiter of this.#leaseWaiters.values()) waiter.reject(failure);
        this.#leaseWaiters.clear();
      },
    });
  }

  /**
   * The supervisor actor, for inspection: its state and its snapshots' status. What it holds
   * (its context, its children) stays inside; read the pool with {@link Pool.status}, and
   * XState's inspection events with the `inspect` option.
   */
  get actor(): SupervisorInspection {
    return this.#actor;
  }

  /**
   * Runs the task module's export `name` with `payload` on a worker, and resolves
   * with what it returns. Rejects with a typed {@link PoolError}: the task threw
   * ({@link TaskError}), ran past its deadline ({@link WorkerTimeoutError}), went
   * over its memory limit ({@link WorkerMemoryError}), its worker died
   * ({@link WorkerCrashedError}), it was cancelled, or the pool refused it.
   */
  run<T = unknown>(name: string, payload?: unknown, options?: RunOptions): Promise<T> {
    return this.#submit(name, payload, options, undefined).result as Promise<T>;
  }

  /**
   * Like {@link Pool.run}, but says at once whether the pool took the task: `refusal`
   * is set (and `result` rejects with it) when the task was refused without running —
   * invalid options, queue full, pool degraded or closed, no matching device. A
   * service answers an HTTP request from that without waiting for the task.
   */
  submit<T = unknown>(name: string, payload?: unknown, options?: RunOptions): TaskSubmission<T> {
    const submission = this.#submit(name, payload, options, undefined) as TaskSubmission<T>;
    // The caller learns of a refusal from `refusal`; its rejected `result` is not an unhandled one.
    if (submission.refusal) submission.result.catch(() => {});
    return submission;
  }

  /**
   * Reserves one worker for a series of runs (state kept in the worker between them).
   * The worker is still deadline- and memory-supervised; if it is killed, the lease is
   * lost and its further runs fail with {@link LeaseLostError}.
   *
   * @example
   * ```ts
   * await using lease = await pool.acquire();
   * await lease.run('loadModel', path);
   * await lease.run('score', batch);
   * ```
   */
  acquire(options?: AcquireOptions): Promise<Lease> {
    let opts: ReturnType<typeof acquireOptionsSchema.parse>;
    try {
      opts = parseOptions(acquireOptionsSchema, options);
    } catch (error) {
      return Promise.reject(error);
    }
    const overCap = this.#overCap(opts);
    if (overCap) return Promise.reject(overCap);
    const refusal = this.#refusal();
    if (refusal) return Promise.reject(refusal);
    const leaseId = `lease-${++this.#nextId}`;
    const signal = opts.signal;
    if (signal?.aborted) return Promise.reject(new TaskCancelledError({ taskId: leaseId, stage: 'queued', reason: signal.reason }));
    const timeoutMs = opts.timeoutMs ?? this.options.taskTimeoutMs;
    return new Promise<Lease>((resolve, reject) => {
      const onAbort = signal
        ? () => {
            this.#leaseWaiters.delete(leaseId);
            this.#actor.send({ type: 'lease.release', leaseId });
            reject(new TaskCancelledError({ taskId: leaseId, stage: 'queued', reason: signal.reason }));
          }
        : undefined;
      if (signal && onAbort) signal.addEventListener('abort', onAbort, { once: true });
      this.#leaseWaiters.set(leaseId, { resolve, reject, signal, onAbort });
      this.#actor.send({ type: 'lease.acquire', leaseId, priority: opts.priority ?? 0, device: opts.device, timeoutMs });
    });
  }

  /**
   * The task names the module exports, as the workers reported them when ready; the
   * last list seen is kept, so it does not go empty while every worker restarts.
   */
  taskNames(): readonly string[] {
    this.#taskNames = readTaskNames(this.#actor.getSnapshot()) ?? this.#taskNames;
    return this.#taskNames;
  }


  /** A consistent picture of the pool now: every worker's state, pid, memory and task. */
  status(): PoolStatus {
    return { ...readPoolView(this.#actor.getSnapshot()), gpu: this.#gpuStatus(), idleWorkerBytes: this.#idleWorkerBytes };
  }


  /**
   * Subscribes to the audit trail: `task.submitted/started/progress/succeeded/failed/retrying`,
   * `worker.spawned/killed/exited/restart-scheduled/restarted/stopped`,
   * `memory.warning`, `lease.*`, `pool.degraded/draining/closed`. Returns the unsubscribe.
   */
  on(type: 'event', listener: (event: PoolAuditEvent) => void): () => void {
    if (type !== 'event') throw new ConfigError([{ field: 'type', message: `expected 'event', got ${JSON.stringify(type)}`, received: type }]);
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /**
   * Stops taking tasks, lets queued and running ones finish for up to
   * `drainTimeoutMs` (default 30 s), fails what is left with {@link PoolClosedError},
   * and resolves once every worker process has exited.
   */
  close(options?: CloseOptions): Promise<void> {
    if (this.#closing) return this.#closing;
    const { drainTimeoutMs } = parseOptions(closeOptionsSchema, options);
    const stopped = new Promise<void>((resolve) => {
      const snapshot = this.#actor.getSnapshot();
      if (snapshot.status !== 'active') return resolve();
      const subscription = this.#actor.subscribe({
        next: (next) => {
          if (next.status === 'done') {
            subscription.unsubscribe();
            resolve();
          }
        },
        error: () => resolve(),
      });
      this.#actor.send({ type: 'pool.close', drainTimeoutMs });
    });
    this.#closing = stopped.then(() => this.#disposeRuntime());
    return this.#closing;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  /** @internal */
  submitToLease(leaseId: string, name: string, payload: unknown, options: RunOptions | undefined): Promise<unknown> {
    return this.#submit(name, payload, options, leaseId).result;
  }

  /** @internal What an idle worker was measured to need; per-task memory limits must be above it. */
  setIdleWorkerBytes(bytes: number): void {
    this.#idleWorkerBytes = bytes;
  }

  /** @internal */
  releaseLease(leaseId: string): void {
    if (this.#actor.getSnapshot().status === 'active') this.#actor.send({ type: 'lease.release', leaseId });
  }

  #refusal(): Error | undefined {
    if (this.#fatal !== undefined) return new PoolError('ERR_POOL_INTERNAL', `the pool's supervisor failed: ${String(this.#fatal)}`, { cause: this.#fatal });
    if (this.#closing || this.#actor.getSnapshot().status !== 'active') return new PoolClosedError();
    return undefined;
  }

  /** A task (or lease) that asks for more than the pool's `maxTask*` caps allow: the first field over. */
  #overCap(opts: { timeoutMs?: number | undefined; memoryLimitMb?: number | undefined }): ConfigError | undefined {
    const { maxTaskTimeoutMs, maxTaskMemoryLimitMb } = this.options;
    const over = (field: string, value: number, cap: number, option: string) =>
      new ConfigError([{ field, message: `expected at most ${cap} (the pool's ${option}), got ${value}`, received: value }]);
    if (maxTaskTimeoutMs !== undefined && opts.timeoutMs !== undefined && opts.timeoutMs > maxTaskTimeoutMs) {
      return over('timeoutMs', opts.timeoutMs, maxTaskTimeoutMs, 'maxTaskTimeoutMs');
    }
    if (maxTaskMemoryLimitMb !== undefined && opts.memoryLimitMb !== undefined && opts.memoryLimitMb > maxTaskMemoryLimitMb) {
      return over('memoryLimitMb', opts.memoryLimitMb, maxTaskMemoryLimitMb, 'maxTaskMemoryLimitMb');
    }
    return undefined;
  }

  #submit(name: string, payload: unknown, options: RunOptions | undefined, leaseId: string | undefined): TaskSubmission<unknown> {
    const refused = (error: Error): TaskSubmission<unknown> => ({ taskId: undefined, result: Promise.reject(error), refusal: error });
    if (typeof name !== 'string' || name.length === 0) {
      return refused(new ConfigError([{ field: 'name', message: `expected the name of an exported task, got ${JSON.stringify(name)}`, received: name }]));
    }
    let opts: RunOptions | undefined;
    if (options !== undefined) {
      try {
        opts = parseOptions(runOptionsSchema, options);
      } catch (error) {
        return refused(error as Error);
      }
      const overCap = this.#overCap(opts);
      if (overCap) return refused(overCap);
      const perTask = this.#perTaskMemoryLimit;
      if (!perTask.ok && (opts.memoryLimitMb !== undefined || opts.gpuMemoryLimitMb !== undefined)) {
        const field = opts.memoryLimitMb !== undefined ? 'memoryLimitMb' : 'gpuMemoryLimitMb';
        return refused(new ConfigError([{ field, message: `${perTask.why}, got ${String(opts[field])}; ${perTask.instead}`, received: opts[field] }]));
      }
    }
    const memoryLimitBytes = opts?.memoryLimitMb === undefined ? undefined : mbToBytes(opts.memoryLimitMb);
    const floor = this.#idleWorkerBytes;
    if (memoryLimitBytes !== undefined && floor !== undefined && memoryLimitBytes <= floor) {
      return refused(memoryFloorError(opts?.memoryLimitMb as number, floor));
    }
    const closed = this.#refusal();
    if (closed) return refused(closed);
    const id = opts?.taskId ?? String(++this.#nextId);
    if (this.#pending.has(id)) {
      return refused(new ConfigError([{ field: 'taskId', message: `expected an id no running or queued task has, got ${JSON.stringify(id)}`, received: id }]));
    }
    const signal = opts?.signal;
    if (signal?.aborted) return refused(new TaskCancelledError({ taskId: id, stage: 'queued', reason: signal.reason }));
    const task: TaskRequest = {
      id,
      name,
      payload,
      priority: opts?.priority ?? 0,
      timeoutMs: opts?.timeoutMs,
      memoryLimitBytes,
      gpuMemoryLimitBytes: opts?.gpuMemoryLimitMb === undefined ? undefined : mbToBytes(opts.gpuMemoryLimitMb),
      retries: opts?.retries ?? 0,
      retryOn: opts?.retryOn ?? ['crash', 'memory'],
      leaseId,
      device: opts?.device,
      key: opts?.key,
    };
    // The supervisor settles a task it refuses (queue full, degraded, no such device)
    // during the send itself: a rejection while sending is the refusal.
    let sending = true;
    let refusal: Error | undefined;
    const result = new Promise((resolve, reject) => {
      const onAbort = signal ? () => this.#actor.send({ type: 'task.cancel', taskId: id }) : undefined;
      if (signal && onAbort) signal.addEventListener('abort', onAbort, { once: true });
      const rejectAndNote = (error: Error) => {
        if (sending) refusal = error;
        reject(error);
      };
      this.#pending.set(id, { resolve, reject: rejectAndNote, signal, onAbort, onProgress: opts?.onProgress });
      this.#actor.send({ type: 'task.submit', task });
    });
    sending = false;
    return { taskId: id, result, refusal };
  }

  #settle(id: string, pending: PendingTask, value: unknown, error: Error | undefined): void {
    this.#pending.delete(id);
    if (pending.signal && pending.onAbort) pending.signal.removeEventListener('abort', pending.onAbort);
    if (error) pending.reject(error);
    else pending.resolve(value);
  }

  /** The caller waiting for this lease, no longer waiting (nor listening for an abort). */
  #takeLeaseWaiter(leaseId: string) {
    const waiter = this.#leaseWaiters.get(leaseId);
    if (waiter === undefined) return undefined;
    this.#leaseWaiters.delete(leaseId);
    if (waiter.signal && waiter.onAbort) waiter.signal.removeEventListener('abort', waiter.onAbort);
    return waiter;
  }

  #onEvent(event: PoolEvent): void {
    let errorCode: string | undefined;
    switch (event.type) {
      case 'task.succeeded': {
        const pending = this.#pending.get(event.taskId);
        if (pending) this.#settle(event.taskId, pending, event.value, undefined);
        break;
      }
      case 'task.failed': {
        const pending = this.#pending.get(event.taskId);
        if (pending) {
          const error = failureToError(event.taskId, event.failure, pending.signal);
          this.#settle(event.taskId, pending, undefined, error);
          errorCode = codeOf(error);
        }
        break;
      }
      case 'task.progress': {
        const onProgress = this.#pending.get(event.taskId)?.onProgress;
        if (onProgress !== undefined) callProgress(onProgress, event);
        break;
      }
      case 'lease.granted':
        this.#takeLeaseWaiter(event.leaseId)?.resolve(new Lease(this, event.leaseId, event.workerId));
        break;
      case 'lease.failed':
        this.#takeLeaseWaiter(event.leaseId)?.reject(failureToError(event.leaseId, event.failure, undefined));
        break;
      case 'tasks.failed':
        return this.#manyFailed(event);
    }
    if (this.#listeners.size > 0) {
      // Results go to the caller's promise, not the audit trail (and `delete` would slow every copy).
      const { value: _value, ...rest } = event as PoolEvent & { value?: unknown };
      if (event.type === 'task.failed') errorCode ??= codeOf(withoutStack(() => failureToError(event.taskId, event.failure, undefined)));
      const audit = (errorCode === undefined ? { ...rest, at: Date.now() } : { ...rest, errorCode, at: Date.now() }) as PoolAuditEvent;
      for (const listener of this.#listeners) listener(audit);
    }
  }

  /** Settles each task of a bulk failure, and tells the audit trail of each as its own `task.failed`. */
  #manyFailed(event: Extract<PoolEvent, { type: 'tasks.failed' }>): void {
    const at = Date.now();
    // One failure for them all: every task gets the same kind of error.
    let errorCode: string | undefined;
    for (const { taskId, attempt } of event.tasks) {
      const pending = this.#pending.get(taskId);
      if (pending) {
        const error = withoutStack(() => failureToError(taskId, event.failure, pending.signal));
        this.#settle(taskId, pending, undefined, error);
        errorCode ??= codeOf(error);
      }
      if (this.#listeners.size === 0) continue;
      errorCode ??= codeOf(withoutStack(() => failureToError(taskId, event.failure, undefined)));
      const audit: PoolAuditEvent = { type: 'task.failed', taskId, failure: event.failure, errorCode, attempt, at };
      for (const listener of this.#listeners) listener(audit);
    }
  }
}

/**
 * A caller's `onProgress`, kept from breaking the pool: it runs inside the supervisor's
 * event delivery, so a throw is reported as a warning instead of going through it.
 */
function callProgress(onProgress: (fraction: number, detail: unknown) => void, event: { taskId: string; fraction: number; detail: unknown }): void {
  try {
    onProgress(event.fraction, event.detail);
  } catch (error) {
    process.emitWarning(`onProgress of task ${event.taskId} threw: ${String(error)}`, { code: 'POOLVISOR_ON_PROGRESS_THREW' });
  }
}

/** A worker reserved by {@link Pool.acquire}; release it (or `await using` it) when done. */
export class Lease {
  #released = false;

  /** @internal */
  constructor(
    private readonly pool: Pool,
    readonly leaseId: string,
    readonly workerId: string,
  ) {}

  /** Runs a task on this lease's worker; runs of one lease go one at a time, in order. */
  run<T = unknown>(name: string, payload?: unknown, options?: RunOptions): Promise<T> {
    if (this.#released) return Promise.reject(new LeaseLostError({ leaseId: this.leaseId, workerId: this.workerId }));
    return this.pool.submitToLease(this.leaseId, name, payload, options) as Promise<T>;
  }

  /** Gives the worker back to the pool. Runs still waiting on the lease are cancelled. */
  release(): void {
    if (this.#released) return;
    this.#released = true;
    this.pool.releaseLease(this.leaseId);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.release();
  }
}

/**
 * An error made without capturing a stack. Used where the pool fails a whole queue at
 * once: the stack would only show the pool's own internals, and capturing it is most
 * of the cost (100k tasks: ~1 s with stacks, ~0.15 s without, measured here).
 */
function withoutStack<T>(make: () => T): T {
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  try {
    return make();
  } finally {
    Error.stackTraceLimit = limit;
  }
}

/** The stable code of an error the pool made (every one of them is a PoolError). */
function codeOf(error: Error): string {
  return (error as { code?: string }).code ?? 'ERR_POOL_INTERNAL';
}

function failureToError(taskId: string, failure: TaskFailure, signal: AbortSignal | undefined): Error {
  switch (failure.code) {
    case 'TIMEOUT':
      return new WorkerTimeoutError({ taskId, ...failure });
    case 'MEMORY':
      return new WorkerMemoryError({ taskId, ...failure });
    case 'CRASHED':
      return new WorkerCrashedError({ taskId, ...failure });
    case 'TASK_ERROR':
      return new TaskError({ taskId, ...failure });
    case 'RESULT_NOT_SERIALIZABLE':
      return new ResultNotSerializableError({ taskId, ...failure });
    case 'CANCELLED':
      return new TaskCancelledError({ taskId, stage: failure.stage, workerId: failure.workerId, reason: signal?.reason });
    case 'QUEUE_FULL':
      return new QueueFullError(failure);
    case 'CLOSED':
      return new PoolClosedError();
    case 'DEGRADED':
      return new PoolDegradedError(failure);
    case 'LEASE_LOST':
      return new LeaseLostError(failure);
    case 'LEASE_EXPIRED':
      return new LeaseExpiredError(failure);
    case 'QUARANTINED':
      return new TaskQuarantinedError({ taskId, ...failure });
    case 'NO_MATCHING_DEVICE':
      return new NoMatchingDeviceError(failure);
  }
}

/**
 * Starts a pool: validates the options (a bad one throws {@link ConfigError} naming
 * the field, the value and what is allowed, and starts nothing), forks the workers,
 * and resolves once every worker is ready — or once the pool is degraded because
 * they cannot start (see `pool.status().degraded`).
 *
 * @example
 * ```ts
 * const pool = await createPool({
 *   task: new URL('./tasks.js', import.meta.url),
 *   maxWorkers: 4, taskTimeoutMs: 300_000, memoryLimitMb: 2048,
 * });
 * ```
 */
export async function createPool(options: PoolOptions): Promise<Pool> {
  const config = resolvePoolOptions(options);
  const taskModule = resolveTaskModule(config.task);
  const gpu = await prepareGpuSupport(config);
  const backend = createBackend(config.backend, {
    taskModule,
    execArgv: config.execArgv,
    env: config.env,
    resultFormat: config.resultFormat,
    memoryLimitBytes: config.memoryLimitBytes,
  });
  const runtime = createRuntime(backend, { spareWorkers: config.spareWorkers, startTimeoutMs: config.startTimeoutMs, gpuSampler: gpu.sampler });
  const machine = supervisorMachine.provide({
    actors: { worker: workerMachine.provide({ actors: runtime.actors }), hostMemoryMonitor },
  });
  const devices = config.workerDevices;
  const { memoryLimitBytes } = config;
  const actor = createActor(machine, {
    input: {
      devices,
      worker: {
        memoryLimitBytes,
        gpuMemoryLimitBytes: config.gpuMemoryLimitBytes ?? Number.POSITIVE_INFINITY,
        softMemoryRatio: config.softMemoryRatio,
        memoryPollMs: config.memoryPollMs,
        // Above the soft threshold a task is sampled four times as often (at least every 5 ms).
        fastMemoryPollMs: Math.max(5, Math.round(config.memoryPollMs / 4)),
        killGraceMs: config.killGraceMs,
        startTimeoutMs: config.startTimeoutMs,
        deadlineWarningMs: config.deadlineWarningMs,
        cancelGraceMs: config.cancelGraceMs,
      },
      maxQueue: config.maxQueue,
      maxBatch: config.maxBatch,
      taskTimeoutMs: config.taskTimeoutMs,
      hostMemoryReserveBytes: config.hostMemoryReserveBytes,
      restart: { ...config.restart, jitterRatio: 0.2 },
      quarantine: config.quarantine === false ? undefined : config.quarantine,
      fingerprint: fingerprintPayload,
      now: Date.now,
      random: Math.random,
    },
    ...(config.inspect ? { inspect: config.inspect } : {}),
  });
  const pool = new Pool(
    actor,
    config,
    async () => {
      gpu.sampler?.stop();
      await runtime.dispose();
    },
    gpu.status,
  );
  // What an idle worker needs is measured as each first comes up: a memory limit at or
  // below it would only kill idle workers over and over, so such a pool is refused at once.
  let floor: number | undefined;
  let tooSmall: ConfigError | undefined;
  const noteIdle = (rss: number | undefined) => {
    if (rss === undefined) return;
    floor = Math.max(floor ?? 0, rss);
    if (rss >= memoryLimitBytes) tooSmall ??= memoryFloorError(config.memoryLimitMb, rss);
  };
  // Elsewhere than Linux the sample is asynchronous (pidusage): those are awaited below.
  const pendingSamples: Array<Promise<void>> = [];
  const ready = new Promise<void>((resolve) => {
    const started = new Set<string>();
    const unsubscribe = pool.on('event', (event) => {
      if (event.type === 'worker.spawned') {
        started.add(event.workerId);
        if (backend.sampleMemory !== undefined && event.pid !== undefined) {
          const rss = backend.sampleMemory.sample(event.pid);
          if (rss instanceof Promise) pendingSamples.push(rss.then(noteIdle));
          else noteIdle(rss);
        }
      }
      // A thread's memory limit is its V8 heap: one too small for the task module to load ends every start.
      if (event.type === 'worker.killed' && event.termination.reason === 'start-failed' && event.termination.error.cause?.code === 'ERR_WORKER_OUT_OF_MEMORY') {
        tooSmall ??= new ConfigError([
          {
            field: 'memoryLimitMb',
            message: `expected a V8 heap limit a worker thread can start in (its heap ran out while it loaded the task module), got ${config.memoryLimitMb}`,
            received: config.memoryLimitMb,
          },
        ]);
      }
      if (tooSmall || started.size === devices.length || event.type === 'pool.degraded' || event.type === 'pool.closed') {
        unsubscribe();
        resolve();
      }
    });
  });
  actor.start();
  await ready;
  await Promise.all(pendingSamples);
  if (tooSmall) {
    await pool.close({ drainTimeoutMs: 0 });
    throw tooSmall;
  }
  if (floor !== undefined) pool.setIdleWorkerBytes(floor);
  // A pool that recovers from degraded may have turned its spares off (a spare failed to start).
  // Heard on the actor, by type: an audit listener would make the pool copy every event for it.
  actor.on('pool.recovered', () => runtime.prepareSpares(devices));
  if (pool.status().state === 'running') runtime.prepareSpares(devices);
  return pool;
}

function memoryFloorError(memoryLimitMb: number, idleBytes: number): ConfigError {
  return new ConfigError([
    {
      field: 'memoryLimitMb',
      message: `expected more than an idle worker needs (${(idleBytes / MiB).toFixed(1)} MiB resident, measured at start), got ${memoryLimitMb}`,
      received: memoryLimitMb,
    },
  ]);
}

/**
 * How the pool recognises one input among many: a hash of the payload as it will
 * cross to the worker (the structured-clone bytes). Only computed for a task whose
 * name had a crash or memory kill lately, or one that just had one.
 */
function fingerprintPayload(request: TaskRequest): string {
  let bytes: Buffer;
  try {
    bytes = serialize(request.payload);
  } catch {
    // It cannot cross to a worker either; such a task fails before it could harm one.
    return `unserializable:${typeof request.payload}`;
  }
  return createHash('sha256').update(bytes).digest('base64url').slice(0, 22);
}
