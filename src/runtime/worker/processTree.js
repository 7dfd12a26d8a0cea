// @ts-check
/**
 * A process's descendants, read from /proc (Linux; elsewhere every walk finds nothing).
 * The memory sampler sums them, a kill must reach them. It lives on the worker side
 * because a worker ends its own tree when the pool dies, and that side imports only
 * from its own folder; the pool imports it from here.
 */
import { closeSync, openSync, readdirSync, readSync } from 'node:fs';

/** A fork bomb must not make the killer one: a kill reaches at most this many processes. */
export const MAX_KILL_TREE = 1024;
/** Rounds of stop-and-look before the SIGKILL; each finds only what the one before missed. */
const MAX_FREEZE_ROUNDS = 4;

const buffer = Buffer.alloc(64 * 1024);

/**
 * A /proc file's text, or undefined once its process is gone. Cheaper than
 * readFileSync (no fstat, no second read for the end of file): a kill reads hundreds.
 * @param {string} path
 * @returns {string | undefined}
 */
function readProc(path) {
  let fd;
  try {
    fd = openSync(path, 'r');
    return buffer.toString('latin1', 0, readSync(fd, buffer, 0, buffer.length, 0));
  } catch {
    return undefined;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/**
 * Visits the descendants of `roots`, each reached through its parent's children list,
 * at most `limit` of them. `visit` returns false for a process that is gone or already
 * seen: the walk does not descend into it.
 * @param {Iterable<number>} roots
 * @param {(pid: number) => string | undefined} childrenOf the kernel's list: pids separated by spaces
 * @param {(pid: number) => boolean} visit
 * @param {number} limit
 * @returns {number} how many were visited
 */
export function walkDescendants(roots, childrenOf, visit, limit) {
  const pending = [...roots];
  let visited = 0;
  while (pending.length > 0) {
    const list = childrenOf(/** @type {number} */ (pending.pop()));
    if (list === undefined || list.length === 0) continue;
    for (const field of list.split(' ')) {
      const child = Number.parseInt(field, 10);
      if (!(child > 1)) continue;
      if (visited >= limit) return visited;
      if (!visit(child)) continue;
      visited += 1;
      pending.push(child);
    }
  }
  return visited;
}

/**
 * The children of every thread of `pid`. A child is listed under the thread that
 * started it, so the main thread's list misses what a worker_thread spawned.
 * @param {number} pid
 * @returns {string | undefined}
 */
export function childrenOfAllThreads(pid) {
  let threads;
  try {
    threads = readdirSync(`/proc/${pid}/task`);
  } catch {
    return undefined;
  }
  let list = '';
  // A thread that ended meanwhile has no list; its children moved to another thread's.
  for (const tid of threads) list += `${readProc(`/proc/${pid}/task/${tid}/children`) ?? ''} `;
  return list;
}

/**
 * Fields 3 onwards of /proc/<pid>/stat; the command name before them may hold spaces.
 * @param {number} pid
 */
function statFields(pid) {
  const stat = readProc(`/proc/${pid}/stat`);
  return stat?.slice(stat.lastIndexOf(')') + 2).split(' ');
}

/**
 * When `pid` started, in clock ticks since boot; undefined when it is gone or a zombie.
 * A pid and its start time name one process: a pid the kernel has handed to someone
 * else since has another start time.
 * @param {number} pid
 * @returns {string | undefined}
 */
export function startTimeOf(pid) {
  const fields = statFields(pid);
  if (fields === undefined || fields[0] === 'Z') return undefined;
  return fields[19];
}

/**
 * This process and its ancestors: whatever a walk returns, these are never signalled.
 * @returns {Set<number>}
 */
export function selfAndAncestors() {
  const pids = new Set([process.pid]);
  let pid = process.ppid;
  while (pid > 1 && !pids.has(pid) && pids.size < 256) {
    pids.add(pid);
    pid = Number(statFields(pid)?.[1] ?? 0);
  }
  return pids;
}

/**
 * Adds the live processes under `roots` (the roots included) to `tree`, by pid with
 * their start times. A known pid whose start time changed is someone else's now: it is
 * neither kept nor walked from.
 * @param {Iterable<number>} roots
 * @param {Map<number, string>} [tree]
 * @returns {Map<number, string>}
 */
export function collectTree(roots, tree = new Map()) {
  const alive = [];
  for (const pid of roots) {
    const start = startTimeOf(pid);
    const known = tree.get(pid);
    if (start === undefined || (known !== undefined && known !== start)) continue;
    tree.set(pid, start);
    alive.push(pid);
  }
  walkDescendants(
    alive,
    childrenOfAllThreads,
    (pid) => {
      if (tree.size >= MAX_KILL_TREE) return false;
      const start = startTimeOf(pid);
      if (start === undefined || tree.get(pid) === start) return false;
      tree.set(pid, start);
      return true;
    },
    MAX_KILL_TREE,
  );
  return tree;
}

/**
 * Sends `signal` to each process of `tree` that is still the one collected.
 * @param {Map<number, string>} tree
 * @param {NodeJS.Signals} signal
 * @param {Set<number>} spared
 */
export function signalTree(tree, signal, spared) {
  for (const [pid, start] of tree) {
    if (spared.has(pid) || startTimeOf(pid) !== start) continue;
    try {
      process.kill(pid, signal);
    } catch {
      // gone since the check
    }
  }
}

/**
 * SIGKILLs every process of `tree` and what they have started since it was collected.
 * SIGKILL alone leaves a race: a child forked just before its parent dies is handed to
 * init and no longer found under it. So each is stopped first (SIGSTOP cannot be caught
 * or ignored) and the stopped ones are walked again, until a walk finds nothing new: a
 * stopped process forks nothing more.
 * @param {Map<number, string>} tree
 * @param {Set<number>} spared
 */
export function killTree(tree, spared) {
  for (let round = 0; round < MAX_FREEZE_ROUNDS; round += 1) {
    const known = tree.size;
    signalTree(tree, 'SIGSTOP', spared);
    collectTree([...tree.keys()], tree);
    if (tree.size === known) break;
  }
  signalTree(tree, 'SIGKILL', spared);
}

/**
 * Ends this process's own tree: every descendant, whatever its process group, then the
 * group itself (and this process with it, unless `keepSelf`).
 * @param {{ keepSelf?: boolean }} [options]
 */
export function killOwnTree({ keepSelf = false } = {}) {
  const tree = collectTree([process.pid]);
  killTree(tree, selfAndAncestors());
  if (keepSelf) return;
  try {
    process.kill(-process.pid, 'SIGKILL');
  } catch {
    process.kill(process.pid, 'SIGKILL');
  }
}
