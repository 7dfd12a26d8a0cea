import {
  createPool,
  PoolError,
  ResultNotSerializableError,
  TaskCancelledError,
  TaskError,
  WorkerCrashedError,
  WorkerMemoryError,
  WorkerTimeoutError,
  type Pool,
  type PoolOptions,
  type RunOptions,
} from '../index.js';
import { InvalidLinkError, parseLink } from './link.js';
import type { inferMechanism } from './tasks.js';

/** The task module with `inferMechanism`, to pass as `createPool({ task })`. */
export const inferenceTaskModule = new URL('./tasks.js', import.meta.url);

/** What `inferMechanism` returns: posterior of θ, tests, mechanism type, sampling facts. */
export type MechanismPosterior = Awaited<ReturnType<typeof inferMechanism>>;

/** Why one link failed, in a word a batch report can count by. */
export type InferenceFailureKind = 'invalid' | 'timeout' | 'memory' | 'crash' | 'cancelled' | 'error' | 'rejected';

export interface InferenceFailure {
  readonly kind: InferenceFailureKind;
  readonly code: string;
  readonly message: string;
  /** The typed error, with its evidence (worker, pid, memory samples, …). */
  readonly error: Error;
}

/** One link's outcome in `inferMany`, in the order they settle. */
export type InferenceOutcome =
  | { readonly ok: true; readonly index: number; readonly linkId: string | undefined; readonly posterior: MechanismPosterior; readonly elapsedMs: number }
  | { readonly ok: false; readonly index: number; readonly linkId: string | undefined; readonly failure: InferenceFailure; readonly elapsedMs: number };

export interface InferManyProgress {
  readonly done: number;
  readonly failed: number;
  readonly running: number;
}

export interface InferManyOptions {
  /** Links in flight at once (default: twice the pool's workers). */
  readonly concurrency?: number;
  readonly onProgress?: (progress: InferManyProgress) => void;
  /** Options for every run (timeout, memory limit, device, retries …). */
  readonly run?: Omit<RunOptions, 'signal'>;
  /** Stops submitting; links in flight are cancelled. */
  readonly signal?: AbortSignal;
}

/** Classifies a failure of `inferMechanism` for reports. */
export function classifyFailure(error: unknown): InferenceFailure {
  if (error instanceof InvalidLinkError) return { kind: 'invalid', code: 'ERR_INVALID_LINK', message: error.message, error };
  const e = error instanceof Error ? error : new Error(String(error));
  // A link the worker itself refused (checked here first, so only if the two ever disagree): the same code as here.
  const refusedInWorker = error instanceof TaskError && (error.cause as { code?: string } | undefined)?.code === 'ERR_INVALID_LINK';
  const code = refusedInWorker ? 'ERR_INVALID_LINK' : error instanceof PoolError ? error.code : 'ERR_UNKNOWN';
  let kind: InferenceFailureKind = 'error';
  if (error instanceof TaskError) kind = refusedInWorker ? 'invalid' : 'error';
  else if (error instanceof WorkerTimeoutError) kind = 'timeout';
  else if (error instanceof WorkerMemoryError) kind = 'memory';
  else if (error instanceof WorkerCrashedError) kind = 'crash';
  else if (error instanceof TaskCancelledError) kind = 'cancelled';
  else if (error instanceof ResultNotSerializableError) kind = 'error';
  else if (error instanceof PoolError) kind = 'rejected';
  const message = error instanceof TaskError ? String((error.cause as { message?: string } | undefined)?.message ?? e.message) : e.message;
  return { kind, code, message, error: e };
}

const linkIdOf = (link: unknown): string | undefined =>
  typeof link === 'object' && link !== null && typeof (link as { id?: unknown }).id === 'string' ? (link as { id: string }).id : undefined;

/**
 * Bayesian mechanism inference on a supervised pool: each link runs as one task on
 * a worker, with the pool's deadline and memory limits. The integration pattern for
 * any engine: a task module whose exports are the engine's operations, and a thin
 * class that routes calls to the pool and classifies failures.
 *
 * @example
 * ```ts
 * const engine = await InferenceEngine.create({ maxWorkers: 4, taskTimeoutMs: 60_000, memoryLimitMb: 512 });
 * const posterior = await engine.inferMechanism(link);
 * for await (const outcome of engine.inferMany(links, { concurrency: 8 })) console.log(outcome);
 * await engine.close();
 * ```
 */
export class InferenceEngine {
  constructor(readonly pool: Pool) {}

  /** Creates a pool running the bundled inference task module. */
  static async create(options: Omit<PoolOptions, 'task'> = {}): Promise<InferenceEngine> {
    return new InferenceEngine(await createPool({ ...options, task: inferenceTaskModule }));
  }

  /**
   * Infers one link; rejects with {@link InvalidLinkError} (`ERR_INVALID_LINK`, naming each bad
   * field and its value) before the pool sees a bad link, else with the pool's typed errors.
   */
  inferMechanism(link: unknown, options?: RunOptions): Promise<MechanismPosterior> {
    try {
      parseLink(link);
    } catch (error) {
      return Promise.reject(error as Error);
    }
    return this.pool.run<MechanismPosterior>('inferMechanism', link, options);
  }

  /**
   * Infers many links, at most `concurrency` at a time, yielding each outcome as it
   * settles — a posterior or a classified failure. One bad link never fails the batch.
   */
  async *inferMany(links: Iterable<unknown> | AsyncIterable<unknown>, options: InferManyOptions = {}): AsyncGenerator<InferenceOutcome> {
    const concurrency = options.concurrency ?? 2 * this.pool.options.maxWorkers;
    const settled: InferenceOutcome[] = [];
    let wake: (() => void) | undefined;
    let running = 0;
    let done = 0;
    let failed = 0;
    const cancel = new AbortController();
    const onAbort = () => cancel.abort(options.signal?.reason);
    options.signal?.addEventListener('abort', onAbort, { once: true });

    const start = (link: unknown, index: number) => {
      const linkId = linkIdOf(link);
      // A bad link fails here, without a worker's time.
      try {
        parseLink(link);
      } catch (error) {
        settled.push({ ok: false, index, linkId, failure: classifyFailure(error), elapsedMs: 0 });
        return;
      }
      running += 1;
      const started = performance.now();
      this.pool.run<MechanismPosterior>('inferMechanism', link, { ...options.run, signal: cancel.signal }).then(
        (posterior) => settled.push({ ok: true, index, linkId, posterior, elapsedMs: performance.now() - started }),
        (error: unknown) => settled.push({ ok: false, index, linkId, failure: classifyFailure(error), elapsedMs: performance.now() - started }),
      ).finally(() => {
        running -= 1;
        wake?.();
      });
    };
    const drain = function* (): Generator<InferenceOutcome> {
      while (settled.length > 0) {
        const outcome = settled.shift() as InferenceOutcome;
        if (outcome.ok) done += 1;
        else failed += 1;
        options.onProgress?.({ done, failed, running });
        yield outcome;
      }
    };
    const waitForOne = () => new Promise<void>((resolve) => (wake = resolve));

    try {
      let index = 0;
      for await (const link of links) {
        if (cancel.signal.aborted) break;
        while (running >= concurrency) {
          await waitForOne();
          yield* drain();
        }
        if (cancel.signal.aborted) break;
        start(link, index);
        index += 1;
        yield* drain();
      }
      while (running > 0 || settled.length > 0) {
        if (settled.length === 0) await waitForOne();
        yield* drain();
      }
    } finally {
      options.signal?.removeEventListener('abort', onAbort);
      cancel.abort(); // a consumer that stops early cancels what is still in flight
    }
  }

  close(options?: { drainTimeoutMs?: number }): Promise<void> {
    return this.pool.close(options);
  }
}
