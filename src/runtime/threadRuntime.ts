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
import { ThreadWorker } from './threadWorker.js';
import { workerConnection } from './workerConnection.js';

export interface ThreadRuntimeOptions {
  readonly taskModule: string;
  /** The thread's V8 heap limit (`resourceLimits.maxOldGenerationSizeMb`). */
  readonly heapLimitMb: number;
}

const asThread = (worker: StartedWorker): ThreadWorker => worker.handle as ThreadWorker;

/**
 * The thread backend: the same worker machine's actors, implemented with
 * worker_threads. There is nothing to poll (a thread has no memory of its own to
 * measure): the heap limit is V8's, and reaching it ends the thread.
 */
export function createThreadRuntime(options: ThreadRuntimeOptions) {
  return {
    startWorker: fromPromise<StartedWorker, StartWorkerInput>(async ({ input, signal }) => {
      const worker = await ThreadWorker.start({
        workerId: input.workerId,
        taskModule: options.taskModule,
        startTimeoutMs: input.startTimeoutMs,
        heapLimitMb: options.heapLimitMb,
        signal,
      });
      return { pid: undefined, handle: worker, tasks: worker.tasks };
    }),

    workerConnection,

    memoryPoller: fromCallback<MemoryPollerCommand, MemoryPollerInput, MemoryPollerEvent>(() => () => {}),

    terminateWorker: fromPromise<WorkerExit, TerminateWorkerInput>(async ({ input }) => {
      if (input.worker === undefined) return { exitCode: null, signal: null };
      return asThread(input.worker).terminate();
    }),
  };
}
