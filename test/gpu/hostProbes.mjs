// What realGpuCheck.mjs reads of the host by itself, beside the pool: nvidia-smi,
// /proc (process trees, liveness, children's CPU time). Every call has a timeout and
// none throws: a probe that fails returns why, so one run tells as much as it can.
import { execFile, execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

export const MiB = 1024 * 1024;

/** @param {number} ms */
export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * @typedef {{ ok: boolean, code: number | string | null, stdout: string, stderr: string, ms: number, error?: string }} CommandResult
 */

/**
 * Runs a command to completion; never rejects.
 * @param {string} command
 * @param {readonly string[]} args
 * @param {number} [timeoutMs]
 * @returns {Promise<CommandResult>}
 */
export function runCommand(command, args, timeoutMs = 10_000) {
  const started = performance.now();
  return new Promise((resolve) => {
    execFile(command, [...args], { timeout: timeoutMs, encoding: 'utf8', killSignal: 'SIGKILL' }, (error, stdout, stderr) => {
      const ms = performance.now() - started;
      if (!error) return resolve({ ok: true, code: 0, stdout, stderr, ms });
      const code = /** @type {{ code?: number | string }} */ (error).code ?? null;
      resolve({ ok: false, code, stdout: stdout ?? '', stderr: stderr ?? '', ms, error: error.message.split('\n')[0] ?? String(error) });
    });
  });
}

/**
 * @param {readonly string[]} args
 * @param {number} [timeoutMs]
 */
export const nvidiaSmi = (args, timeoutMs = 10_000) => runCommand('nvidia-smi', args, timeoutMs);

/**
 * `--query-*` output (csv, noheader, nounits) as one record per line, keyed by the queried fields.
 * @param {string} out
 * @param {readonly string[]} fields
 * @returns {Record<string, string>[]}
 */
export function parseQuery(out, fields) {
  return out
    .split('\n')
    .filter((line) => line.trim().length > 0)
    .map((line) => {
      const values = line.split(',').map((value) => value.trim());
      return Object.fromEntries(fields.map((field, i) => [field, values[i] ?? '']));
    });
}

/** @param {string} pid */
function statOf(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name may hold spaces and parentheses: the fields start after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { state: fields[0] ?? '?', ppid: Number(fields[1]) };
  } catch {
    return undefined;
  }
}

/**
 * Running, not a zombie.
 * @param {number} pid
 */
export function isAlive(pid) {
  const stat = statOf(String(pid));
  return stat !== undefined && stat.state !== 'Z' && stat.state !== 'X';
}

/** @param {number} pid */
function commandLine(pid) {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean).join(' ').slice(0, 160);
  } catch {
    return '';
  }
}

/**
 * The process tree under `root` (root included), from every process's parent in /proc:
 * unlike `task/<pid>/children`, this also sees children started from other threads.
 * @param {number} root
 * @returns {{ pid: number, ppid: number, state: string, cmd: string }[]}
 */
export function processTree(root) {
  /** @type {Map<number, { ppid: number, state: string }[]>} */
  const byParent = new Map();
  /** @type {Map<number, { pid: number, ppid: number, state: string }>} */
  const all = new Map();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const stat = statOf(name);
    if (stat === undefined) continue;
    const entry = { pid: Number(name), ...stat };
    all.set(entry.pid, entry);
    byParent.set(stat.ppid, [...(byParent.get(stat.ppid) ?? []), entry]);
  }
  const first = all.get(root);
  if (first === undefined) return [];
  const tree = [];
  const pending = [first];
  while (pending.length > 0 && tree.length < 256) {
    const entry = /** @type {{ pid: number, ppid: number, state: string }} */ (pending.shift());
    tree.push({ ...entry, cmd: commandLine(entry.pid) });
    pending.push(.../** @type {{ pid: number, ppid: number, state: string }[]} */ (byParent.get(entry.pid) ?? []));
  }
  return tree;
}

/** Worker processes of this process (any pool), the running ones: the same test as test/support/processes.ts. */
export function workerChildren() {
  return processTree(process.pid)
    .filter((entry) => entry.ppid === process.pid && entry.state !== 'Z' && entry.cmd.includes('processEntry.js'))
    .map((entry) => entry.pid);
}

let ticksPerSecond = 0;

/** CPU time (user + system, ms) of this process's children that have exited and been waited for, e.g. nvidia-smi calls. */
export function exitedChildrenCpuMs() {
  if (ticksPerSecond === 0) {
    try {
      ticksPerSecond = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      ticksPerSecond = 100;
    }
  }
  const stat = readFileSync('/proc/self/stat', 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // After the name: state is field 3 of stat(5); cutime and cstime are fields 16 and 17.
  const ticks = Number(fields[13]) + Number(fields[14]);
  return (ticks * 1000) / ticksPerSecond;
}

/**
 * @param {readonly number[]} values
 * @param {number} q between 0 and 1
 */
export function quantile(values, q) {
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

/** @param {number | undefined} value */
export const round = (value, digits = 1) => (value === undefined || !Number.isFinite(value) ? value : Number(value.toFixed(digits)));
