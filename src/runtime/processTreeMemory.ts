import { closeSync, openSync, readFileSync, readSync } from 'node:fs';
import pidusage from 'pidusage';
import { walkDescendants } from './worker/processTree.js';

/**
 * Resident memory of a process and its descendants, in bytes; undefined when the
 * process is gone. On Linux it reads /proc synchronously: two small reads per process
 * per sample (`statm` and the main thread's `children`), measured far cheaper than
 * pidusage or async reads at 10 Hz. Elsewhere it asks pidusage for the process alone.
 */
export type ProcessTreeSampler = (pid: number, pids?: number[]) => number | undefined | Promise<number | undefined>;

const LINUX = process.platform === 'linux';
/** A fork bomb must not turn the sampler into one: at most this many processes per tree, root included. */
const MAX_TREE_SIZE = 256;

let pageSize: number | undefined;

/**
 * The kernel's page size, without a native call: `statm` counts pages, `status`
 * reports kB, and both describe this very process.
 */
function detectPageSize(): number {
  try {
    const status = readFileSync('/proc/self/status', 'utf8');
    const statm = readFileSync('/proc/self/statm', 'utf8');
    const rssKb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1]);
    const pages = Number(statm.split(' ')[1]);
    const ratio = (rssKb * 1024) / pages;
    // Round to a power of two: the two reads are a moment apart.
    const size = 2 ** Math.round(Math.log2(ratio));
    return Number.isFinite(size) && size >= 4096 ? size : 4096;
  } catch {
    return 4096;
  }
}

/**
 * /proc files stay open between samples and are re-read with pread at offset 0: one
 * system call per read instead of open/fstat/read/close, which is what keeps the
 * poller cheap (8 workers at 10 Hz). A file whose process is gone fails to read and
 * is closed.
 */
const openFiles = new Map<string, number>();
const buffer = Buffer.alloc(4096);
/** Enough for a worker tree and its grandchildren; past it files are opened per read. */
const MAX_OPEN_FILES = 512;

function readProc(path: string): string | undefined {
  let fd = openFiles.get(path);
  try {
    if (fd === undefined) {
      fd = openSync(path, 'r');
      if (openFiles.size < MAX_OPEN_FILES) openFiles.set(path, fd);
    }
    const length = readSync(fd, buffer, 0, buffer.length, 0);
    if (!openFiles.has(path)) closeSync(fd);
    return buffer.toString('latin1', 0, length);
  } catch {
    if (fd !== undefined) {
      openFiles.delete(path);
      try {
        closeSync(fd);
      } catch {
        // already closed
      }
    }
    return undefined;
  }
}

/** Closes the files kept open for a process that is no longer sampled. */
export function forgetProcess(pid: number): void {
  for (const suffix of ['statm', `task/${pid}/children`]) {
    const path = `/proc/${pid}/${suffix}`;
    const fd = openFiles.get(path);
    if (fd === undefined) continue;
    openFiles.delete(path);
    try {
      closeSync(fd);
    } catch {
      // already closed
    }
  }
}

function residentBytes(pid: number): number | undefined {
  const statm = readProc(`/proc/${pid}/statm`);
  if (statm === undefined) return undefined;
  const space = statm.indexOf(' ');
  return Number.parseInt(statm.slice(space + 1), 10) * (pageSize as number);
}

function childrenOf(pid: number): string | undefined {
  return readProc(`/proc/${pid}/task/${pid}/children`);
}

/**
 * Sums RSS over the tree rooted at `pid`. Children are those started by each
 * process's main thread, which is where Node's child_process spawns them; a child
 * started from a worker_thread is not counted (the kill still reaches it: it reads
 * every thread's list, which costs several times more than a sample may).
 */
export function sampleProcessTreeRss(pid: number, pids?: number[]): number | undefined {
  pageSize ??= detectPageSize();
  const root = residentBytes(pid);
  if (root === undefined) return undefined;
  pids?.push(pid);
  let total = root;
  walkDescendants(
    [pid],
    childrenOf,
    (child) => {
      const bytes = residentBytes(child);
      if (bytes === undefined) return false;
      total += bytes;
      pids?.push(child);
      return true;
    },
    MAX_TREE_SIZE - 1,
  );
  return total;
}

async function samplePidusage(pid: number, pids?: number[]): Promise<number | undefined> {
  pids?.push(pid);
  try {
    return (await pidusage(pid)).memory;
  } catch {
    return undefined;
  }
}

/** The best sampler for this platform. */
export const sampleWorkerMemory: ProcessTreeSampler = LINUX ? sampleProcessTreeRss : samplePidusage;
