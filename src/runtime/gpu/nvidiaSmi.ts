import { execFile } from 'node:child_process';

/** One GPU as nvidia-smi lists it. */
export interface GpuInfo {
  readonly index: number;
  readonly name: string;
  readonly memoryTotalBytes: number;
}

const MiB = 1024 * 1024;
const NVIDIA_SMI_TIMEOUT_MS = 5000;

function nvidiaSmi(args: readonly string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('nvidia-smi', args, { timeout: NVIDIA_SMI_TIMEOUT_MS, encoding: 'utf8' }, (error, stdout, stderr) => {
      if (error) reject(Object.assign(new Error(`nvidia-smi ${args[0]} failed: ${stderr.trim() || error.message}`), { cause: error }));
      else resolve(stdout);
    });
  });
}

/** The GPUs of this host, from `nvidia-smi --query-gpu`. Rejects when nvidia-smi is missing or fails. */
export async function discoverGpus(): Promise<GpuInfo[]> {
  const out = await nvidiaSmi(['--query-gpu=index,name,memory.total', '--format=csv,noheader,nounits']);
  return out
    .split('\n')
    .map((line) => line.split(',').map((field) => field.trim()))
    .filter((fields) => fields.length >= 3 && /^\d+$/.test(fields[0] as string))
    .map(([index, name, total]) => ({ index: Number(index), name: name as string, memoryTotalBytes: Number(total) * MiB }));
}

/** Parses `pid, used_memory` lines (MiB); lines that are not two numbers ("[N/A]", notices) are skipped. */
export function parseComputeApps(out: string): Map<number, number> {
  const usage = new Map<number, number>();
  for (const line of out.split('\n')) {
    const match = /^\s*(\d+)\s*,\s*(\d+)\s*$/.exec(line);
    if (!match) continue;
    const pid = Number(match[1]);
    // A process on several GPUs is listed once per GPU.
    usage.set(pid, (usage.get(pid) ?? 0) + Number(match[2]) * MiB);
  }
  return usage;
}

/**
 * GPU memory per process, sampled with one nvidia-smi call per period for the whole
 * pool (not one per worker), asynchronously; workers' pollers read the latest table.
 * A failure is kept as `error` and reported, not skipped silently.
 */
export class GpuMemorySampler {
  #latest: Map<number, number> | undefined;
  #error: Error | undefined;
  #timer: NodeJS.Timeout | undefined;
  #inFlight = false;

  constructor(private readonly everyMs: number) {}

  /** GPU bytes per pid from the last successful sample; undefined before the first, or after a failure. */
  get latest(): ReadonlyMap<number, number> | undefined {
    return this.#latest;
  }

  get error(): Error | undefined {
    return this.#error;
  }

  /** Takes one sample now; resolves when it is in. */
  async sample(): Promise<void> {
    if (this.#inFlight) return;
    this.#inFlight = true;
    try {
      this.#latest = parseComputeApps(await nvidiaSmi(['--query-compute-apps=pid,used_memory', '--format=csv,noheader,nounits']));
      this.#error = undefined;
    } catch (error) {
      this.#latest = undefined;
      this.#error = error as Error;
    } finally {
      this.#inFlight = false;
    }
  }

  start(): void {
    if (this.#timer) return;
    this.#timer = setInterval(() => void this.sample(), this.everyMs);
    this.#timer.unref();
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }
}
