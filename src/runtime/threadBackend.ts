import type { Backend, BackendCapabilities, BackendOptions } from './backend.js';
import { threadExecArgv } from './threadExecArgv.js';
import { ThreadWorker } from './threadWorker.js';

const PROCESS_BACKEND = "use backend: 'process' (the default), where each worker is a process of its own";

/**
 * What a worker thread cannot do, and why: it shares the host's process, so it has no
 * environment, RSS or GPU of its own, and its heap limit is fixed when it starts.
 */
export const THREAD_CAPABILITIES: BackendCapabilities = {
  gpu: {
    ok: false,
    why: 'a worker thread cannot be given a GPU: CUDA_VISIBLE_DEVICES is per process, so every thread would see every GPU',
    instead: PROCESS_BACKEND,
  },
  memorySampling: {
    ok: false,
    why: "a thread's memory cannot be measured apart from the host's: the thread backend enforces memoryLimitMb as the V8 heap limit (resourceLimits), with no sampling, no soft threshold, no GPU limit",
    instead: PROCESS_BACKEND,
  },
  perTaskMemoryLimit: {
    ok: false,
    why: "a worker thread's heap limit is fixed when the thread starts, so it cannot be set per task with backend: 'thread'",
    instead: "set memoryLimitMb on the pool, or use backend: 'process'",
  },
  // A thread can take only some Node options (the rest configure the whole process, or Node refuses them).
  execArgv: {
    refused: (execArgv) => {
      const kept = new Set(threadExecArgv(execArgv));
      return execArgv.filter((arg) => !kept.has(arg));
    },
    why: 'a worker thread takes only the Node options that load and run code (--import, --require, --conditions, --experimental-*, warnings…)',
    instead: `for the heap limit use memoryLimitMb; ${PROCESS_BACKEND}`,
  },
};

/**
 * The thread backend: each worker a worker_thread, its memory limit V8's heap limit
 * (reaching it ends the thread). There is nothing to sample: a thread has no memory of
 * its own to measure.
 */
export function createThreadBackend(options: BackendOptions): Backend<ThreadWorker> {
  return {
    capabilities: THREAD_CAPABILITIES,
    start: ({ workerId, startTimeoutMs, signal }) =>
      ThreadWorker.start({
        workerId,
        startTimeoutMs,
        signal,
        taskModule: options.taskModule,
        heapLimitBytes: options.memoryLimitBytes,
        execArgv: options.execArgv,
        env: options.env,
        resultFormat: options.resultFormat,
      }),
    sampleMemory: undefined,
  };
}
