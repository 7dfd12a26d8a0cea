import { readFileSync } from 'node:fs';
import si from 'systeminformation';

export interface HostMemory {
  readonly availableBytes: number;
  readonly totalBytes: number;
}

/**
 * The host's available memory: MemAvailable from /proc/meminfo on Linux (what the
 * kernel could hand out without swapping; a synchronous read of a small file),
 * systeminformation elsewhere.
 */
export function readHostMemory(): HostMemory | Promise<HostMemory> {
  if (process.platform !== 'linux') return si.mem().then((mem) => ({ availableBytes: mem.available, totalBytes: mem.total }));
  const meminfo = readFileSync('/proc/meminfo', 'latin1');
  const kib = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(meminfo)?.[1] ?? Number.NaN) * 1024;
  return { availableBytes: kib('MemAvailable'), totalBytes: kib('MemTotal') };
}
