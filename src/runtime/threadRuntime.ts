import type { ResultFormat } from './protocol.js';
import { fromCallback, fromPromise } from 'xstate';
import type {
  MemoryPollerCommand,
  MemoryPollerEvent,
  MemoryPollerInput,
  StartedWorker,
  StartWorkerInput,
  TerminateWorkerInput,
  WorkerExit,
} from '../../machines/workerActors.js';
import { SpareWorkers } from './spareWorkers.js';
import { ThreadWorker } from './threadWorker.js';
import { workerConnection } from './workerConnection.js';

export interface ThreadRuntimeOptions {
  readonly taskModule: string;
  /** The thread's V8 heap limit (`resourceLimits.maxOldGenerationSizeMb`). */
  readonly heapLimitMb: number;
  /** Threads started ahead, so that a killed worker is replaced at once. */
  readonly spareWorkers: number;
  /** How long a spare may take to start. */
  readonly startTimeoutMs: number;
  readonly execArgv: readonly string[];
  readonly env: Readonly<Record<string, string>>;
  readonly resultFormat: ResultFormat;
}

const asThread = (worker: StartedWorker): ThreadWorker => worker.handle as ThreadWorker;

/** Every thread runs on the host's CPU: the backend refuses GPU devices. */
const THREAD_DEVICE = 'cpu';

/**
 * The thread backend: the same worker machine's actors, implemented with
 * worker_threads. There is nothing to poll (a thread has no memory of its own to
 * measure): the heap limit is V8's, and reaching it ends the thread. Like the process
 * runtime it keeps spares: a thread takes tens of milliseconds to boot and import the
 * task module.
 */
export function createThreadRuntime(options: ThreadRuntimeOptions) {
  const startThread = (workerId: string, startTimeoutMs: number, signal?: AbortSignal) =>
    ThreadWorker.start({
      workerId,
      taskModule: options.taskModule,
      startTimeoutMs,
      heapLimitMb: options.heapLimitMb,
      execArgv: options.execArgv,
      env: options.env,
      resultFormat: options.resultFormat,
      signal,
    });
  const spares = new SpareWorkers(options.spareWorkers, () => startThread('', options.startTimeoutMs));

  const actors = {
    startWorker: fromPromise<StartedWorker, StartWorkerInput>(async ({ input, signal }) => {
      const worker = await spares.adoptOrStart(THREAD_DEVICE, input.workerId, () => startThread(input.workerId, input.startTimeoutMs, signal), signal);
      return { pid: undefined, handle: worker, tasks: worker.tasks };
    }),

    workerConnection,

    memoryPoller: fromCallback<MemoryPollerCommand, MemoryPollerInput, MemoryPollerEvent>(() => () => {}),

    terminateWorker: fromPromise<WorkerExit, TerminateWorkerInput>(async ({ input }) => {
      if (input.worker === undefined) return { exitCode: null, signal: null };
      return asThread(input.worker).terminate();
    }),
  };

  return {
    actors,
    /** Starts the spares (after the first workers, so they do not slow the pool's start), again after a recovery. */
    prepareSpares: () => {
      spares.resume();
      spares.fill(THREAD_DEVICE);
    },
    dispose: () => spares.dispose(),
  };
}
