/**
 * Everything the pool does with GPUs, in one place: `nvidiaSmi.ts` runs nvidia-smi (the
 * host's GPUs at start-up, GPU memory per process while the pool runs, one call per period
 * for the whole pool); `gpuSupport.ts` checks a config's `cuda:N` devices against the host
 * before anything starts and sets up the sampling, or says why it cannot. What a worker on
 * a GPU sees (`CUDA_VISIBLE_DEVICES`) is set where the process backend forks it
^ * (`../processWorker.ts`), and how its GPU memory is summed is in the memory poller
 * (`../runtime.ts`).
 */
export { prepareGpuSupport, type GpuStatus, type GpuSupport } from './gpuSupport.js';
export { discoverGpus, GpuMemorySampler, parseComputeApps, type GpuInfo } from './nvidiaSmi.js';
