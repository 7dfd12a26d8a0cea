import type { FromWorker } from './protocol.js';

/** Why a worker (process or thread) did not become ready; `cause` is the worker's own error when it had one. */
export class WorkerStartError extends Error {
  constructor(
    message: string,
    readonly code: string,
    readonly stderrTail: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'WorkerStartError';
  }
}

export interface StartingWorker {
  /** Subscribes to the worker's messages and exit; returns the unsubscribe. */
  subscribe(onMessage: (message: FromWorker) => void, onExit: (exitCode: number | null, signal: string | null) => void): () => void;
  /** Ends it at once; used when the start fails, so no half-started worker is left. */
  kill(): Promise<unknown>;
  readonly stderrTail: string;
  /** What the worker threw on its way down, when it can tell (a thread's 'error' event precedes its exit). */
  readonly ownError?: unknown;
  /** Resolves once the worker's stderr has been read to its end. */
  readonly outputDone?: Promise<unknown>;
}

/**
 * How long an exit waits for the rest of stderr: the exit can be seen before the last
 * lines, which say why, are read; and a grandchild may hold the pipe open for good.
 */
const OUTPUT_WAIT_MS = 200;
/** A reason in a message is one line, not a whole stack. */
const MAX_REASON_CHARS = 500;

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
          const error = new WorkerStartError(`task module ${options.taskModule} failed to load: ${e.name}: ${e.message}`, 'ERR_TASK_MODULE_LOAD', '', { cause: e });
          // The module's stack says where it broke; ours would only show this handshake.
          finish(Object.assign(error, { stack: e.stack }));
        }
      },
      (exitCode, signal) => {
        const failed = () => {
          const own = worker.ownError;
          const reason = own === undefined ? reasonIn(worker.stderrTail) : describe(own);
          finish(
            new WorkerStartError(
              `${options.what} exited during start (exit code ${String(exitCode)}, signal ${String(signal)})${reason === undefined ? '' : `: ${reason}`}`,
              'ERR_WORKER_START_EXIT',
              worker.stderrTail,
              own === undefined ? undefined : { cause: own },
            ),
          );
        };
        if (worker.outputDone === undefined) return failed();
        let wait: NodeJS.Timeout | undefined;
        void Promise.race([worker.outputDone, new Promise((resolve) => (wait = setTimeout(resolve, OUTPUT_WAIT_MS)))]).then(() => {
          clearTimeout(wait);
          failed();
        });
      },
    );
    const timer = setTimeout(
      () => finish(new WorkerStartError(`${options.what} did not become ready within ${options.startTimeoutMs} ms`, 'ERR_WORKER_START_TIMEOUT', worker.stderrTail)),
      options.startTimeoutMs,
    );
    const onAbort = () => finish(new WorkerStartError(`${options.what} start aborted`, 'ERR_WORKER_START_ABORTED', ''));
    options.signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** An error as Node prints its first line: `Error [ERR_X]: message`. */
function describe(error: unknown): string {
  if (typeof error !== 'object' || error === null) return String(error).slice(0, MAX_REASON_CHARS);
  const { name, code, message } = error as { name?: unknown; code?: unknown; message?: unknown };
  const label = `${typeof name === 'string' ? name : 'Error'}${typeof code === 'string' ? ` [${code}]` : ''}`;
  return `${label}: ${String(message)}`.slice(0, MAX_REASON_CHARS);
}

/**
 * The line of a dead process's stderr that says why: the last that reads as an error
 * (`TypeError: …`, `Error [ERR_…]: …`, `node: bad option: …`), else the last that is
 * neither a stack frame nor Node's version footer.
 */
function reasonIn(stderr: string): string | undefined {
  const lines = stderr
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line.length > 0 && !line.startsWith('at ') && !/^Node\.js v\d/.test(line));
  let reason = lines.at(-1);
  for (const line of lines) if (/^(\S*node\w*: |[\w$.]*(Error|Exception)\b( \[\w+\])?:)/.test(line)) reason = line;
  return reason?.slice(0, MAX_REASON_CHARS);
}
