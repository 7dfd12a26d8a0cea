import type { ResolvedPoolOptions } from '../../config.js';
import { ConfigError } from '../../errors.js';
import { discoverGpus, GpuMemorySampler, type GpuInfo } from './nvidiaSmi.js';

/** What the pool knows of its GPUs, in `pool.status().gpu`. */
export interface GpuStatus {
  /** Whether GPU memory is being measured (and so `gpuMemoryLimitMb` enforced). */
  readonly sampling: boolean;
  /** The GPUs discovery found; undefined when discovery was off or not needed. */
  readonly gpus: readonly GpuInfo[] | undefined;
  /** Why GPU memory is not measured, when it is not and GPU workers exist. */
  readonly reason: string | undefined;
}

export interface GpuSupport {
  readonly status: () => GpuStatus;
  readonly sampler: GpuMemorySampler | undefined;
}

const NONE: GpuSupport = { status: () => ({ sampling: false, gpus: undefined, reason: undefined }), sampler: undefined };

/**
 * Checks the configured GPUs against the host before anything starts, and sets up
 * GPU memory sampling. A config that names a GPU the host lacks is a ConfigError; a
 * GPU limit that cannot be enforced is said out loud (a process warning and
 * `status().gpu.reason`), never skipped silently.
 */
export async function prepareGpuSupport(config: ResolvedPoolOptions): Promise<GpuSupport> {
  const gpuWorkers = config.workerDevices.filter((device) => device.startsWith('cuda:'));
  if (gpuWorkers.length === 0) {
    if (config.gpuMemoryLimitMb !== undefined) {
      throw new ConfigError([
        {
          field: 'gpuMemoryLimitMb',
          message: `expected it only with workers on cuda devices, got ${config.gpuMemoryLimitMb} with devices ${JSON.stringify([...new Set(config.workerDevices)])}`,
          received: config.gpuMemoryLimitMb,
        },
      ]);
    }
    return NONE;
  }

  let gpus: GpuInfo[] | undefined;
  if (config.gpuDiscovery) {
    try {
      gpus = await discoverGpus();
    } catch (error) {
      throw new ConfigError([
        {
          field: 'devices',
          message: `expected GPUs that nvidia-smi can list for ${gpuWorkers[0]}, but it failed (${(error as Error).message}); set gpuDiscovery: false to start without this check (GPU memory limits are then not enforced)`,
          received: config.workerDevices,
        },
      ]);
    }
    const missing = [...new Set(gpuWorkers)].filter((device) => !gpus?.some((gpu) => `cuda:${gpu.index}` === device));
    if (missing.length > 0) {
      const have = gpus.length === 0 ? 'no GPU' : gpus.map((gpu) => `cuda:${gpu.index} (${gpu.name})`).join(', ');
      throw new ConfigError([
        { field: 'devices', message: `expected devices this host has (${have}), got ${missing.join(', ')}`, received: config.workerDevices },
      ]);
    }
  }

  const sampler = new GpuMemorySampler(config.memoryPollMs);
  await sampler.sample();
  let warned = false;
  const warnIfUnenforced = () => {
    if (warned || sampler.error === undefined || config.gpuMemoryLimitMb === undefined) return;
    warned = true;
    process.emitWarning(`GPU memory limits are not enforced: ${sampler.error.message}`, { code: 'POOLVISOR_GPU_UNENFORCED' });
  };
  warnIfUnenforced();
  if (sampler.error !== undefined && !config.gpuDiscovery) {
    // nvidia-smi is not there at all: do not keep trying every poll.
    return { sampler: undefined, status: () => ({ sampling: false, gpus, reason: (sampler.error as Error).message }) };
  }
  sampler.start();
  return {
    sampler,
    status: () => {
      warnIfUnenforced();
      return { sampling: sampler.error === undefined, gpus, reason: sampler.error?.message };
    },
  };
}
