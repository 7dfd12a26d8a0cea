import { Worker } from 'node:worker_threads';
import type { WorkerExit } from '../../machines/workerActors.js';
import { BackendWorker } from './backendWorker.js';
import type { ResultFormat } from './protocol.js';
import { threadExecArgv } from './threadExecArgv.js';
import type { ExitReport } from './workerConnection.js';

const ENTRY = new URL('./worker/threadEntry.js', import.meta.url);
/** The host's options that apply to a thread; without the list a thread inherits them all. */
const EXEC_ARGV = threadExecArgv(process.execArgv);
const MiB = 1024 * 1024;

export interface ThreadWorkerOptions {
  readonly workerId: string;
  readonly taskModule: string;
  readonly startTimeoutMs: number;
  /** V8 heap limit of the thread: the only memory limit a thread can have. */
  readonly heapLimitBytes: number;
  /** The pool's `execArgv` option, after the host's own options that apply to a thread. */
  readonly execArgv: readonly string[];
  /** The pool's `env` option: added to the thread's copy of the host's environment. */
  readonly env: Readonly<Record<string, string>>;
  readonly resultFormat: ResultFormat;
  readonly signal?: AbortSignal | undefined;
}

/**
 * One worker thread. A deadline ends it with `worker.terminate()`, which stops even a
 * synchronous loop; a heap over `resourceLimits` ends it with ERR_WORKER_OUT_OF_MEMORY.
 * What a thread cannot have: its own RSS, pid, environment for CUDA, or survival of a
 * native crash — that takes the whole host down (docs/devices.md).
 */
export class ThreadWorker extends BackendWorker {
  readonly pid = undefined;
  #outOfMemory = false;
  /** What the thread died of, as its 'error' event said: the reason a start failed. */
  #error: Error | undefined;

  private constructor(
    private readonly thread: Worker,
    private readonly heapLimitBytes: number,
  ) {
    super(thread, (message) => thread.postMessage(message));
    thread.on('error', (error: Error & { code?: string }) => {
      this.#error = error;
      if (error.code === 'ERR_WORKER_OUT_OF_MEMORY') this.#outOfMemory = true;
    });
  }

  /** A thread's 'error' event precedes its exit: why a start failed. */
  get ownError(): unknown {
    return this.#error;
  }

  static async start(options: ThreadWorkerOptions): Promise<ThreadWorker> {
    const thread = new Worker(ENTRY, {
      // The pool's own execArgv was checked at createPool: only options a thread can take.
      execArgv: options.execArgv.length > 0 ? [...EXEC_ARGV, ...options.execArgv] : EXEC_ARGV,
      // A thread's process.env is a copy of the host's, with the pool's `env` on top.
      ...(Object.keys(options.env).length > 0 ? { env: { ...process.env, ...options.env } } : {}),
      workerData: { taskModule: options.taskModule, workerId: options.workerId, device: 'cpu', resultFormat: options.resultFormat },
      // V8 takes the limit in MiB: the one place the pool's bytes go back to them.
      resourceLimits: { maxOldGenerationSizeMb: options.heapLimitBytes / MiB },
    });
    const worker = new ThreadWorker(thread, options.heapLimitBytes);
    await worker.handshake('worker thread', options);
    return worker;
  }

  /** Running out of heap is a memory kill, not a crash. */
  protected override exitReport(exit: WorkerExit): ExitReport {
    return this.#outOfMemory ? { ...exit, outOfMemory: { resource: 'heap', limitBytes: this.heapLimitBytes } } : { ...exit };
  }

  /** Stops the thread wherever it is (V8 terminates execution): there is no grace, no signal to ignore. */
  override async terminate(): Promise<WorkerExit> {
    if (this.exit === undefined) await this.thread.terminate();
    return this.exited;
  }
}
