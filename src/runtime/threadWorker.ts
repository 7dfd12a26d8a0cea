import { Worker } from 'node:worker_threads';
import type { TaskAbortReason, TaskAssignment } from '../../machines/taskTypes.js';
import type { WorkerExit } from '../../machines/workerActors.js';
import type { FromWorker, ResultFormat, ToWorker } from './protocol.js';
import { awaitReady } from './startHandshake.js';
import { threadExecArgv } from './threadExecArgv.js';
import { sendTasks, type ConnectedWorker, type WorkerListener } from './workerConnection.js';

const ENTRY = new URL('./worker/threadEntry.js', import.meta.url);
/** The host's options that apply to a thread; without the list a thread inherits them all. */
const EXEC_ARGV = threadExecArgv(process.execArgv);

export interface ThreadWorkerOptions {
  readonly workerId: string;
  readonly taskModule: string;
  readonly startTimeoutMs: number;
  /** V8 heap limit of the thread: the only memory limit a thread can have. */
  readonly heapLimitMb: number;
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
export class ThreadWorker implements ConnectedWorker {
  readonly exited: Promise<WorkerExit>;
  exit: WorkerExit | undefined;
  /** The task module's exported functions, as the worker reported them when ready. */
  tasks: readonly string[] = [];
  #outOfMemory = false;
  /** What the thread died of, as its 'error' event said: the reason a start failed. */
  #error: Error | undefined;
  #listener: WorkerListener | undefined;

  private constructor(
    private readonly thread: Worker,
    private readonly heapLimitBytes: number,
  ) {
    thread.on('error', (error: Error & { code?: string }) => {
      this.#error = error;
      if (error.code === 'ERR_WORKER_OUT_OF_MEMORY') this.#outOfMemory = true;
    });
    this.exited = new Promise((resolve) => {
      thread.once('exit', (exitCode) => {
        this.exit = { exitCode, signal: null };
        resolve(this.exit);
        this.#listener?.exit(this.#report());
      });
    });
    thread.on('message', (message: FromWorker) => {
      if (message.type === 'result') this.#listener?.result(message);
      else if (message.type === 'progress') this.#listener?.progress(message);
    });
  }

  get threadId(): number {
    return this.thread.threadId;
  }

  /** Gives a spare thread its slot's identity. */
  adopt(workerId: string): void {
    const message: ToWorker = { type: 'adopt', workerId };
    this.thread.postMessage(message);
  }

  static async start(options: ThreadWorkerOptions): Promise<ThreadWorker> {
    const thread = new Worker(ENTRY, {
      // The pool's own execArgv was checked at createPool: only options a thread can take.
      execArgv: options.execArgv.length > 0 ? [...EXEC_ARGV, ...options.execArgv] : EXEC_ARGV,
      // A thread's process.env is a copy of the host's, with the pool's `env` on top.
      ...(Object.keys(options.env).length > 0 ? { env: { ...process.env, ...options.env } } : {}),
      workerData: { taskModule: options.taskModule, workerId: options.workerId, device: 'cpu', resultFormat: options.resultFormat },
      resourceLimits: { maxOldGenerationSizeMb: options.heapLimitMb },
    });
    const worker = new ThreadWorker(thread, options.heapLimitMb * 1024 * 1024);
    const handshake = {
      subscribe: (onMessage: (message: FromWorker) => void, onExit: (code: number | null, signal: string | null) => void) => {
        const onThreadExit = (code: number) => onExit(code, null);
        thread.on('message', onMessage);
        thread.once('exit', onThreadExit);
        return () => {
          thread.off('message', onMessage);
          thread.off('exit', onThreadExit);
        };
      },
      kill: () => worker.terminate(),
      stderrTail: '',
      get ownError() {
        return worker.#error;
      },
    };
    worker.tasks = await awaitReady(handshake, { what: 'worker thread', ...options });
    return worker;
  }

  listen(listener: WorkerListener | undefined): void {
    this.#listener = listener;
    if (listener !== undefined && this.exit !== undefined) listener.exit(this.#report());
  }

  /** How the thread ended, for its machine; running out of heap is a memory kill, not a crash. */
  #report() {
    const exit = this.exit as WorkerExit;
    return this.#outOfMemory
      ? { ...exit, outOfMemory: { resource: 'heap' as const, limitBytes: this.heapLimitBytes } }
      : { ...exit };
  }

  run(tasks: readonly TaskAssignment[]): void {
    sendTasks(tasks, (message) => this.thread.postMessage(message), (result) => this.#listener?.result(result));
  }

  abort(taskId: string, reason: TaskAbortReason): void {
    const message: ToWorker = { type: 'abort', id: taskId, reason };
    this.thread.postMessage(message);
  }


  /** Stops the thread wherever it is (V8 terminates execution); resolves with its exit. */
  async terminate(): Promise<WorkerExit> {
    if (this.exit === undefined) await this.thread.terminate();
    return this.exited;
  }
}
