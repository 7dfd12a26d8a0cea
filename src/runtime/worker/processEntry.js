// @ts-check
/**
 * Runs inside a worker process: imports the user's task module, then runs one task
 * at a time on request. It knows nothing of the pool beyond the protocol.
 *
 * It installs no SIGTERM handler on purpose: the default action ends the process at
 * once, even in the middle of a synchronous loop, which is what a kill needs.
 */

import { ChildProcess } from 'node:child_process';
import { Worker } from 'node:worker_threads';
import { killOwnTree } from './processTree.js';
import { serializeError, serveTaskModule } from './taskRunner.js';

/** @typedef {import('../protocol.js').FromWorker} FromWorker */

const moduleUrl = process.env.POOLVISOR_TASK_MODULE ?? '';
const workerId = process.env.POOLVISOR_WORKER_ID ?? '';
const device = process.env.POOLVISOR_DEVICE ?? 'cpu';
const resultFormat = process.env.POOLVISOR_RESULT_FORMAT === 'json' ? 'json' : 'structured-clone';

if (typeof process.send !== 'function') {
  process.stderr.write('poolvisor: this is a worker entry; the pool starts it\n');
  process.exit(2);
}

// The pool is gone (it crashed or was killed): take everything we started with us,
// also what left our process group, so a runaway task and its children do not outlive
// their supervisor. The event needs a free main thread; the watchdog thread covers a
// main thread that is stuck.
new Worker(new URL('./orphanWatchdog.js', import.meta.url), {
  workerData: { ppid: process.ppid, everyMs: 100 },
  resourceLimits: { maxOldGenerationSizeMb: 8, maxYoungGenerationSizeMb: 2 },
}).unref();
process.on('disconnect', () => killOwnTree());
// A task that calls process.exit() ends the worker before the pool can collect its
// tree; by the time the pool kills the group, a child that left it is init's.
process.on('exit', () => killOwnTree({ keepSelf: true }));

/**
 * @param {FromWorker} message
 * @param {() => void} [done]
 */
function send(message, done) {
  /** @type {NonNullable<typeof process.send>} */ (process.send)(message, undefined, undefined, done);
}

// Every child a task starts is told to the pool the moment spawn() returns. Should this
// worker be killed from outside (kill -9, the kernel's OOM killer), the pool still knows
// whom to end: once the worker is gone its children are init's, and nothing in /proc ties
// them to it any more. spawn, exec, execFile and fork all come through here; a child
// started from a worker_thread does not (that thread has its own child_process).
// `spawn` is on the prototype at run time, though Node's types leave it out.
const childProto = /** @type {{ spawn: (this: ChildProcess, ...args: unknown[]) => unknown }} */ (/** @type {unknown} */ (ChildProcess.prototype));
const spawnChild = childProto.spawn;
/**
 * @this {ChildProcess}
 * @param {unknown[]} args
 */
childProto.spawn = function spawn(...args) {
  const result = spawnChild.apply(this, args);
  if (this.pid !== undefined && process.connected) {
    try {
      send({ type: 'child', pid: this.pid });
    } catch {
      // The pool is gone: the disconnect handler ends the tree.
    }
  }
  return result;
};

await serveTaskModule({
  taskModule: moduleUrl,
  workerId,
  device,
  resultFormat,
  send,
  receive: (handler) => process.on('message', handler),
  // Exits once the pool has the reason (its stderr may say more).
  loadFailed: (error) => {
    send({ type: 'load-error', error: serializeError(error) }, () => process.exit(70));
    return new Promise(() => {});
  },
});
