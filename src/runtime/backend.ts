import type { ResultFormat } from './protocol.js';
import type { BackendWorker } from './backendWorker.js';
import { PROCESS_CAPABILITIES, createProcessBackend } from './processBackend.js';
import { THREAD_CAPABILITIES, createThreadBackend } from './threadBackend.js';

export type BackendName = 'process' | 'thread';

/** One thing a backend can or cannot do; what it cannot, it says why, and what to do instead. */
export type Capability = { readonly ok: true } | { readonly ok: false; readonly why: string; readonly instead: string };

/**
 * What a backend can enforce. Read in one place for each use: the config's validation
 * (`config.ts`), a task's own options (`Pool.#submit`), and the runtime (memory sampling).
 */
export interface BackendCapabilities {
  /** Workers on `cuda:N` devices: each must see only its own GPU. */
  readonly gpu: Capability;
  /** A worker's own memory can be sampled: `memoryPollMs`, `softMemoryRatio` and `gpuMemoryLimitMb` mean something. */
  readonly memorySampling: Capability;
  /** A memory limit per task (`run(…, { memoryLimitMb })`), not only per pool. */
  readonly perTaskMemoryLimit: Capability;
  /** The Node options of the pool's `execArgv` that a worker cannot take ([] when it takes them all). */
  readonly execArgv: { readonly refused: (execArgv: readonly string[]) => string[]; readonly why: string; readonly instead: string };
}

/** What a runtime asks of a backend to start one worker. */
export interface WorkerSpec {
  readonly workerId: string;
  readonly device: string;
  readonly startTimeoutMs: number;
  /** Aborts the start (the slot's start was cancelled): the half-started worker is ended. */
  readonly signal?: AbortSignal | undefined;
}

/**
 * Resident memory of a worker, by its pid: the sum over its process tree, the pids seen
 * pushed to `pids` when given (to add up their GPU memory); undefined once it is gone.
 */
export interface MemorySampler {
  sample(pid: number, pids?: number[]): number | undefined | Promise<number | undefined>;
  /** Lets go of what sampling kept open for a worker no longer sampled. */
  forget(pid: number): void;
}

/**
 * How the pool gets OS workers: a child process each, or a worker_thread each. The one
 * runtime (`runtime.ts`) turns a backend into the worker machine's actors; the machines
 * never see which one it is. A worker ends itself (`BackendWorker.terminate`), since the
 * spares end theirs too.
 */
export interface Backend<W extends BackendWorker = BackendWorker> {
  readonly capabilities: BackendCapabilities;
  /** Starts a worker; resolves once its task module is loaded, rejects with a WorkerStartError (the worker ended). */
  start(spec: WorkerSpec): Promise<W>;
  /** Undefined where a worker's memory cannot be measured apart from the host's (`capabilities.memorySampling`). */
  readonly sampleMemory: MemorySampler | undefined;
}

/** What a pool's options give its backend. */
export interface BackendOptions {
  /** The task module, as a URL string `import()` accepts. */
  readonly taskModule: string;
  /** The pool's `execArgv`: a thread takes only some (checked at createPool, see `capabilities.execArgv`). */
  readonly execArgv: readonly string[];
  readonly env: Readonly<Record<string, string>>;
  readonly resultFormat: ResultFormat;
  /** The pool's memory limit: a thread's V8 heap limit (a process is sampled instead). */
  readonly memoryLimitBytes: number;
}

const CAPABILITIES: Readonly<Record<BackendName, BackendCapabilities>> = { process: PROCESS_CAPABILITIES, thread: THREAD_CAPABILITIES };

export function capabilitiesOf(backend: BackendName): BackendCapabilities {
  return CAPABILITIES[backend];
}

export function createBackend(backend: BackendName, options: BackendOptions): Backend {
  return backend === 'thread' ? createThreadBackend(options) : createProcessBackend(options);
}
