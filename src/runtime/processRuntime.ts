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
import type { GpuMemorySampler } from './gpu/index.js';
import { ProcessWorker } from './processWorker.js';
import { forgetProcess, sampleWorkerMemory, type ProcessTreeSampler } from './processTreeMemory.js';
import { everyTick } from './sharedTicker.js';
import { SpareWorkers } from './spareWorkers.js';
import { workerConnection } from './workerConnection.js';

export interface ProcessRuntimeOptions {
  /** The task module, as a URL string `import()` accepts. */
  readonly taskModule: string;
  readonly execArgv: readonly string[];
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly resultFormat: ResultFormat;
  /** Replaceable for tests; defaults to /proc on Linux, pidusage elsewhere. */
  readonly sampleMemory?: ProcessTreeSampler | undefined;
  readonly now?: (() => number) | undefined;
  /** Started-ahead processes kept per device (0: none). */
  readonly spareWorkers: number;
  /** How long a spare may take to start. */
  readonly startTimeoutMs: number;
  /** Set when GPU memory is sampled: workers on `cuda:*` then report it. */
  readonly gpuSampler?: GpuMemorySampler | undefined;
}

const asProcess = (worker: StartedWorker): ProcessWorker => worker.handle as ProcessWorker;

/**
 * The process backend: the worker machine's named actors, implemented with forked
 * child processes, and the spares that make a replacement ready at once. The actors
 * are supplied to the machine with `workerMachine.provide({ actors })`; `dispose`
 * ends the spares once the pool has closed.
 */
export function createProcessRuntime(options: ProcessRuntimeOptions) {
  const sample = options.sampleMemory ?? sampleWorkerMemory;
  const now = options.now ?? Date.now;
  const startProcess = (workerId: string, device: string, startTimeoutMs: number, signal?: AbortSignal) =>
    ProcessWorker.start({ workerId, device, taskModule: options.taskModule, startTimeoutMs, execArgv: options.execArgv, env: options.env, resultFormat: options.resultFormat, signal });
  const spares = new SpareWorkers(options.spareWorkers, (device) => startProcess('', device, options.startTimeoutMs));

  const actors = {
    startWorker: fromPromise<StartedWorker, StartWorkerInput>(async ({ input, signal }) => {
      const worker = await spares.adoptOrStart(
        input.device,
        input.workerId,
        () => startProcess(input.workerId, input.device, input.startTimeoutMs, signal),
        signal,
      );
      return { pid: worker.pid, handle: worker, tasks: worker.tasks };
    }),

    workerConnection,

    memoryPoller: fromCallback<MemoryPollerCommand, MemoryPollerInput, MemoryPollerEvent>(({ input, sendBack, receive }) => {
      const pid = input.worker.pid;
      if (pid === undefined) return () => {};
      // A sendBack can make the machine leave the state, which runs the cleanup below
      // synchronously, inside `tick`: the flag keeps a stopped poller from re-arming.
      let stopped = false;
      let inFlight = false;
      const gpu = input.device.startsWith('cuda:') ? options.gpuSampler : undefined;
      // GPU memory is the pool-wide nvidia-smi table, summed over this worker's process tree.
      const deliver = (rssBytes: number | undefined, pids: readonly number[]) => {
        inFlight = false;
        if (stopped || rssBytes === undefined) return;
        const table = gpu?.latest;
        let gpuBytes: number | undefined;
        if (table !== undefined) {
          gpuBytes = 0;
          for (const p of pids) gpuBytes += table.get(p) ?? 0;
        }
        sendBack({ type: 'memory.sample', rssBytes, gpuBytes, atMs: now() });
      };
      const tick = () => {
        if (inFlight) return; // an async sampler that is slower than the interval skips a beat
        const pids: number[] = [];
        const result = sample(pid, gpu ? pids : undefined);
        if (typeof result === 'number' || result === undefined) return deliver(result, pids);
        inFlight = true;
        void result.then(
          (rss) => deliver(rss, pids),
          () => deliver(undefined, pids),
        );
      };
      let cancel = everyTick(input.intervalMs, tick);
      receive((command) => {
        if (stopped) return;
        cancel();
        cancel = everyTick(command.type === 'poll.fast' ? input.fastIntervalMs : input.intervalMs, tick);
      });
      return () => {
        stopped = true;
        cancel();
        forgetProcess(pid);
      };
    }),

    terminateWorker: fromPromise<WorkerExit, TerminateWorkerInput>(async ({ input }) => {
      if (input.worker === undefined) return { exitCode: null, signal: null };
      return asProcess(input.worker).terminate({ graceMs: input.graceMs, immediate: input.immediate });
    }),
  };

  return {
    actors,
    /** Starts the spares (after the first workers, so they do not slow the pool's start), again after a recovery. */
    prepareSpares: (devices: readonly string[]) => {
      spares.resume();
      new Set(devices).forEach((device) => spares.fill(device));
    },
    dispose: () => spares.dispose(),
  };
}
