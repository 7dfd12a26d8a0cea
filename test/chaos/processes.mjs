// @ts-check
/**
 * What the chaos suite knows of processes, read from /proc (Linux). A process is named
 * by its pid *and* its start time, so a pid the kernel has reused for something else
 * is not mistaken for a survivor.
 */
import { readdirSync, readFileSync } from 'node:fs';

/**
 * The process's start time (clock ticks since boot), or undefined when it is gone.
 * @param {number} pid
 */
export function startTimeOf(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces) start at state, field 3; starttime is field 22.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return fields[0] === 'Z' ? undefined : Number(fields[19]);
  } catch {
    return undefined;
  }
}

/**
 * Alive: running, not a zombie, and the same process that was seen at `startTime`.
 * @param {number} pid
 * @param {number | undefined} startTime
 */
export function isAlive(pid, startTime) {
  const now = startTimeOf(pid);
  return now !== undefined && (startTime === undefined || now === startTime);
}

/** @param {number} pid */
export function commandLineOf(pid) {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ').trim();
  } catch {
    return '';
  }
}

/** The OS threads of this process: worker threads, V8's and libuv's. */
export function threadCount() {
  return Number(/^Threads:\s+(\d+)/m.exec(readFileSync('/proc/self/status', 'utf8'))?.[1]);
}

/** Live children of this process, started by any of its threads (worker threads fork too). */
export function liveChildren() {
  /** @type {number[]} */
  const pids = [];
  let threads;
  try {
    threads = readdirSync(`/proc/${process.pid}/task`);
  } catch {
    return pids;
  }
  for (const thread of threads) {
    let children = '';
    try {
      children = readFileSync(`/proc/${process.pid}/task/${thread}/children`, 'utf8');
    } catch {
      continue;
    }
    for (const pid of children.trim().split(' ').filter(Boolean).map(Number)) {
      if (isAlive(pid, undefined)) pids.push(pid);
    }
  }
  return pids;
}
