import type { Backend, BackendCapabilities, BackendOptions } from './backend.js';
import { ProcessWorker } from './processWorker.js';
import { forgetProcess, sampleWorkerMemory } from './processTreeMemory.js';

const ALL: BackendCapabilities['gpu'] = { ok: true };

/** A process can be given one GPU, measured, limited per task, and take any Node option. */
export const PROCESS_CAPABILITIES: BackendCapabilities = {
  gpu: ALL,
  memorySampling: ALL,
  perTaskMemoryLimit: ALL,
  execArgv: { refused: () => [], why: '', instead: '' },
};

/**
 * The process backend: each worker a forked child process in its own process group,
 * its memory the RSS of its process tree (/proc on Linux, pidusage elsewhere).
 */
export function createProcessBackend(options: BackendOptions): Backend<ProcessWorker> {
  return {
    capabilities: PROCESS_CAPABILITIES,
    start: ({ workerId, device, startTimeoutMs, signal }) =>
      ProcessWorker.start({
        workerId,
        device,
        startTimeoutMs,
        signal,
        taskModule: options.taskModule,
        execArgv: options.execArgv,
        env: options.env,
        resultFormat: options.resultFormat,
      }),
    sampleMemory: { sample: sampleWorkerMemory, forget: forgetProcess },
  };
}
