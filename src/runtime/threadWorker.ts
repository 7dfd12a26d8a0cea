import { Worker } from 'node:worker_threads';
import type { TaskAssignment } from '../../machines/taskTypes.js';
import type { WorkerExit } from '../../machines/workerActors.js';
import type { ResultMessage } from './processWorker.js';
import type { FromWorker, ToWorker } from './protocol.js';

const ENTRY = new URL('./worker/threadEntry.js', import.meta.url);

export interface ThreadWorkerOptions {
  readonly workerId: string;
  readonly taskModule: string;
  readonly startTimeoutMs: number;
  /** V8 heap limit of the thread: the only memory limit a thread can have. */
  readonly heapLimitMb: number;
  readonly signal?: AbortSignal | undefined;
}

export interface ThreadWorkerListener {
  result(message: ResultMessage): void;
  exit(exit: WorkerExit, outOfMemory: boolean): void;
}

/**
 * One worker thread. A deadline ends it with `worker.terminate()`, which stops even a
 * synchronous loop; a heap over `resourceLimits` ends it with ERR_WORKER_OUT_OF_MEMORY.
 * What a thread cannot have: its own RSS, pid, environment for CUDA, or survival of a
 * native crash — that takes the whole host down (docs/devices.md).
 */
export class ThreadWorker {
  readonly exited: Promise<WorkerExit>;
  exit: WorkerExit | undefined;
  #outOfMemory = false;
  #listener: ThreadWorkerListener | undefined;

  private constructor(private readonly thread: Worker) {
    thread.on('error', (error: Error & { code?: string }) => {
      if (error.code === 'ERR_WORKER_OUT_OF_MEMORY') this.#outOfMemory = true;
    });
    this.exited = new Promise((resolve) => {
      thread.once('exit', (exitCode) => {
        this.exit = { exitCode, signal: null };
        resolve(this.exit);
        this.#listener?.exit(this.exit, this.#outOfMemory);
      });
    });
    thread.on('message', (message: FromWorker) => {
      if (message.type === 'result') this.#listener?.result(message);
    });
  }

  get threadId(): number {
    return this.thread.threadId;
  }

  static start(options: ThreadWorkerOptions): Promise<ThreadWorker> {
    return new Promise((resolve, reject) => {
      const thread = new Worker(ENTRY, {
        workerData: { taskModule: options.taskModule, workerId: options.workerId, device: 'cpu' },
        resourceLimits: { maxOldGenerationSizeMb: options.heapLimitMb },
      });
      const worker = new ThreadWorker(thread);
      let settled = false;
      const fail = (error: Error) => {
        if (settled) return;
        settled = true;
        cleanup();
        void worker.terminate().then(() => reject(error));
      };
      const onMessage = (message: FromWorker) => {
        if (message.type === 'ready' && !settled) {
          settled = true;
          cleanup();
          resolve(worker);
        } else if (message.type === 'load-error') {
          const e = message.error;
          fail(Object.assign(new Error(`task module ${options.taskModule} failed to load: ${e.name}: ${e.message}`), { code: 'ERR_TASK_MODULE_LOAD', cause: e, stack: e.stack }));
        }
      };
      const onExit = (exitCode: number) =>
        fail(Object.assign(new Error(`worker thread exited during start (exit code ${exitCode})`), { code: 'ERR_WORKER_START_EXIT' }));
      const timer = setTimeout(
        () => fail(Object.assign(new Error(`worker thread did not become ready within ${options.startTimeoutMs} ms`), { code: 'ERR_WORKER_START_TIMEOUT' })),
        options.startTimeoutMs,
      );
      const onAbort = () => fail(Object.assign(new Error('worker start aborted'), { code: 'ERR_WORKER_START_ABORTED' }));
      const cleanup = () => {
        clearTimeout(timer);
        thread.off('message', onMessage);
        thread.off('exit', onExit);
        options.signal?.removeEventListener('abort', onAbort);
      };
      thread.on('message', onMessage);
      thread.once('exit', onExit);
      options.signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  listen(listener: ThreadWorkerListener | undefined): void {
    this.#listener = listener;
    if (listener !== undefined && this.exit !== undefined) listener.exit(this.exit, this.#outOfMemory);
  }

  run(task: TaskAssignment): void {
    const message: ToWorker = { type: 'run', id: task.id, name: task.name, payload: task.payload };
    try {
      this.thread.postMessage(message);
    } catch (error) {
      const e = error as Error;
      this.#listener?.result({ type: 'result', id: task.id, ok: false, error: { name: e.name, message: e.message, stack: e.stack } });
    }
  }

  /** Stops the thread wherever it is (V8 terminates execution); resolves with its exit. */
  async terminate(): Promise<WorkerExit> {
    if (this.exit === undefined) await this.thread.terminate();
    return this.exited;
  }
}
