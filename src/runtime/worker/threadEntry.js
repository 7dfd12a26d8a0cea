// @ts-check
/**
 * Runs inside a worker thread: the thread backend's counterpart of processEntry.js.
 * A thread shares the host's process: it has no RSS, pid or CUDA_VISIBLE_DEVICES of
 * its own, and dies with the host, so it needs no orphan watchdog.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { createTaskRunner, serializeError, taskNames } from './taskRunner.js';

/** @typedef {import('../protocol.js').FromWorker} FromWorker */
/** @typedef {import('../protocol.js').ToWorker} ToWorker */

const port = /** @type {NonNullable<typeof parentPort>} */ (parentPort);
const { taskModule, device, resultFormat } = /** @type {{ taskModule: string, workerId: string, device: string, resultFormat: import('../protocol.js').ResultFormat }} */ (workerData);
let workerId = /** @type {{ workerId: string }} */ (workerData).workerId;

/** @param {FromWorker} message */
function send(message) {
  port.postMessage(message);
}

/** @type {Record<string, unknown>} */
let tasks;
try {
  tasks = await import(taskModule);
} catch (error) {
  send({ type: 'load-error', error: serializeError(error) });
  throw error; // ends the thread; the pool already has the reason
}

const runner = createTaskRunner({ tasks, send, identity: () => ({ workerId, device }), resultFormat });
port.on('message', (/** @type {ToWorker} */ message) => {
  if (message.type === 'run') runner.run(message.tasks);
  else if (message.type === 'abort') runner.abort(message.id, message.reason);
  else if (message.type === 'adopt') workerId = message.workerId;
});
send({ type: 'ready', tasks: taskNames(tasks) });
