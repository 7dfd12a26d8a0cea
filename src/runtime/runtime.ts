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
import type { Backend } from './backend.js';
import type { BackendWorker } from './backendWorker.js';
import type { GpuMemorySampler } from './gpu/index.js';
import { everyTick } from './sharedTicker.js';
import { SpareWorkers } from './spareWorkers.js';
import { workerConnection } from './workerConnection.js';

export interface RuntimeOptions {
  /** Started-ahead workers kept per device (0: none). */
  readonly spareWorkers: number;
  /** How long a spare may take to start. */
  readonly startTimeoutMs: number;
  /** Set when GPU memory is sampled: workers on `cuda:*` then report it. */
  readonly gpuSampler?: GpuMemorySampler | undefined;
}

const NO_POLLER = fromCallback<MemoryPollerCommand, MemoryPollerInput, MemoryPollerEvent>(() => () => {});

/**
 * The worker machine's named actors over a backend, and the spares that make a
 * replacement ready at once. The actors are supplied to the machine with
 * `workerMachine.provide({ actors })`; `dispose` ends the spares once the pool has closed.
 */
export function createRuntime(backend: Backend, options: RuntimeOptions) {
  const spares = new SpareWorkers<BackendWorker>(options.spareWorkers, (device) =>
    backend.start({ workerId: '', device, startTimeoutMs: options.startTimeoutMs }),
  );
  const memory = backend.sampleMemory;

  const actors = {
    startWorker: fromPromise<StartedWorker, StartWorkerInput>(async ({ input, signal }) => {
      const { workerId, device, startTimeoutMs } = input;
      const worker = await spares.adoptOrStart(device, workerId, () => backend.start({ workerId, device, startTimeoutMs, signal }), signal);
      return { pid: worker.pid, handle: worker, tasks: worker.tasks };
    }),

    workerConnection,

    // A backend that cannot measure a worker's memory has nothing to poll.
    memoryPoller:
      memory === undefined
        ? NO_POLLER
        : fromCallback<MemoryPollerCommand, MemoryPollerInput, MemoryPollerEvent>(({ input, sendBack, receive }) => {
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
              sendBack({ type: 'memory.sample', rssBytes, gpuBytes, atMs: Date.now() });
            };
            const tick = () => {
              if (inFlight) return; // an async sampler that is slower than the interval skips a beat
              const pids: number[] = [];
              const result = memory.sample(pid, gpu ? pids : undefined);
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
              memory.forget(pid);
            };
          }),

    terminateWorker: fromPromise<WorkerExit, TerminateWorkerInput>(async ({ input }) => {
      if (input.worker === undefined) return { exitCode: null, signal: null };
      return (input.worker.handle as BackendWorker).terminate({ graceMs: input.graceMs, immediate: input.immediate });
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
