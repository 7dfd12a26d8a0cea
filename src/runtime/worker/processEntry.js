// @ts-check
/**
 * Runs inside a worker process: imports the user's task module, then runs one task
 * at a time on request. It knows nothing of the pool beyond the protocol.
 *
 * It installs no SIGTERM handler on purpose: the default action ends the process at
 * once, even in the middle of a synchronous loop, which is what a kill needs.
 */

import { Worker } from 'node:worker_threads';

/** @typedef {import('../protocol.js').FromWorker} FromWorker */
/** @typedef {import('../protocol.js').ToWorker} ToWorker */
/** @typedef {import('../../../machines/taskTypes.js').SerializedError} SerializedError */

const moduleUrl = process.env.POOLVISOR_TASK_MODULE ?? '';
let workerId = process.env.POOLVISOR_WORKER_ID ?? '';
const device = process.env.POOLVISOR_DEVICE ?? 'cpu';

if (typeof process.send !== 'function') {
  process.stderr.write('poolvisor: this is a worker entry; the pool starts it\n');
  process.exit(2);
}

// The pool is gone (it crashed or was killed): take our process group with us, so a
// runaway task and whatever it started do not outlive their supervisor. The event
// needs a free main thread; the watchdog thread covers a main thread that is stuck.
new Worker(new URL('./orphanWatchdog.js', import.meta.url), {
  workerData: { pid: process.pid, ppid: process.ppid, everyMs: 100 },
  resourceLimits: { maxOldGenerationSizeMb: 8, maxYoungGenerationSizeMb: 2 },
}).unref();
process.on('disconnect', () => {
  try {
    process.kill(-process.pid, 'SIGKILL');
  } catch {
    process.exit(0);
  }
});

/**
 * @param {unknown} error
 * @returns {SerializedError}
 */
function serializeError(error) {
  if (typeof error === 'object' && error !== null) {
    const e = /** @type {{ name?: unknown, message?: unknown, stack?: unknown, code?: unknown }} */ (error);
    return {
      name: typeof e.name === 'string' ? e.name : 'Error',
      message: typeof e.message === 'string' ? e.message : String(error),
      stack: typeof e.stack === 'string' ? e.stack : undefined,
      code: typeof e.code === 'string' ? e.code : undefined,
    };
  }
  return { name: 'Error', message: String(error) };
}

/**
 * @param {FromWorker} message
 * @param {() => void} [done]
 */
function send(message, done) {
  /** @type {NonNullable<typeof process.send>} */ (process.send)(message, undefined, undefined, done);
}

/** @type {Record<string, unknown>} */
let tasks;
try {
  tasks = await import(moduleUrl);
} catch (error) {
  send({ type: 'load-error', error: serializeError(error) }, () => process.exit(70));
  await new Promise(() => {});
  throw error; // unreachable; tells the type checker `tasks` is set below
}

const names = Object.keys(tasks).filter((name) => typeof tasks[name] === 'function');

/** @param {Extract<ToWorker, { type: 'run' }>} message */
async function run(message) {
  const task = tasks[message.name];
  if (typeof task !== 'function') {
    const error = {
      name: 'TaskNotFoundError',
      code: 'ERR_TASK_NOT_FOUND',
      message: `no task "${message.name}" in the task module; it exports: ${names.join(', ') || '(no functions)'}`,
    };
    return send({ type: 'result', id: message.id, ok: false, error });
  }
  /** @type {FromWorker} */
  let reply;
  try {
    const value = await task(message.payload, { taskId: message.id, workerId, device });
    reply = { type: 'result', id: message.id, ok: true, value };
  } catch (error) {
    reply = { type: 'result', id: message.id, ok: false, error: serializeError(error) };
  }
  try {
    send(reply);
  } catch (error) {
    // The value cannot be cloned (a function, a socket): the task still settles, as a failure that says so.
    send({ type: 'result', id: message.id, ok: false, error: serializeError(error) });
  }
}

process.on('message', (/** @type {ToWorker} */ message) => {
  if (message.type === 'run') void run(message);
  else if (message.type === 'adopt') workerId = message.workerId;
});

send({ type: 'ready', tasks: names });
