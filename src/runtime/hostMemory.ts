import { readFileSync } from 'node:fs';
import si from 'systeminformation';
import { fromCallback, type EventObject } from 'xstate';
import type { HostMemoryEvent, HostMemoryMonitorInput } from '../../machines/supervisorMachine.js';

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

/** The supervisor's `hostMemoryMonitor` actor: host memory every `intervalMs`, when a reserve is set. */
export const hostMemoryMonitor = fromCallback<EventObject, HostMemoryMonitorInput, HostMemoryEvent>(({ input, sendBack }) => {
  if (input.reserveBytes === undefined) return () => {};
  let stopped = false;
  const deliver = (memory: HostMemory) => {
    if (!stopped) sendBack({ type: 'host.memory', ...memory });
  };
  const timer = setInterval(() => {
    try {
      const memory = readHostMemory();
      if ('then' in memory) void memory.then(deliver, () => {});
      else deliver(memory);
    } catch {
      // /proc/meminfo unreadable this once: the next poll tries again.
    }
  }, input.intervalMs);
  timer.unref();
  return () => {
    stopped = true;
    clearInterval(timer);
  };
});
