import type { FromWorker } from './protocol.js';

/** Why a worker (process or thread) did not become ready. */
export class WorkerStartError extends Error {
  constructor(
    message: string,
    readonly code: string,
    readonly stderrTail: string,
  ) {
    super(message);
    this.name = 'WorkerStartError';
  }
}

export interface StartingWorker {
  /** Subscribes to the worker's messages and exit; returns the unsubscribe. */
  subscribe(onMessage: (message: FromWorker) => void, onExit: (exitCode: number | null, signal: string | null) => void): () => void;
  /** Ends it at once; used when the start fails, so no half-started worker is left. */
  kill(): Promise<unknown>;
  readonly stderrTail: string;
}

/**
 * Waits for a new worker's `ready` and resolves with the task names it reported: rejects with a {@link WorkerStartError} — after
 * ending the worker — when its task module fails to load, it exits first, it takes
 * longer than `startTimeoutMs`, or `signal` aborts. Shared by both backends.
 */
export function awaitReady(
  worker: StartingWorker,
  options: { readonly what: string; readonly taskModule: string; readonly startTimeoutMs: number; readonly signal?: AbortSignal | undefined },
): Promise<readonly string[]> {
  return new Promise((resolve, reject) => {
    let settled = false;
    let tasks: readonly string[] = [];
    const finish = (error?: WorkerStartError) => {
      if (settled) return;
      settled = true;
      unsubscribe();
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
      if (error === undefined) resolve(tasks);
      else void worker.kill().then(() => reject(error));
    };
    const unsubscribe = worker.subscribe(
      (message) => {
        if (message.type === 'ready') {
          tasks = message.tasks;
          finish();
        }
        else if (message.type === 'load-error') {
          const e = message.error;
          const error = new WorkerStartError(`task module ${options.taskModule} failed to load: ${e.name}: ${e.message}`, 'ERR_TASK_MODULE_LOAD', '');
          finish(Object.assign(error, { cause: e, stack: e.stack }));
        }
      },
      (exitCode, signal) =>
        finish(
          new WorkerStartError(
            `${options.what} exited during start (exit code ${String(exitCode)}, signal ${String(signal)})`,
            'ERR_WORKER_START_EXIT',
            worker.stderrTail,
          ),
        ),
    );
    const timer = setTimeout(
      () => finish(new WorkerStartError(`${options.what} did not become ready within ${options.startTimeoutMs} ms`, 'ERR_WORKER_START_TIMEOUT', worker.stderrTail)),
      options.startTimeoutMs,
    );
    const onAbort = () => finish(new WorkerStartError(`${options.what} start aborted`, 'ERR_WORKER_START_ABORTED', ''));
    options.signal?.addEventListener('abort', onAbort, { once: true });
  });
}
