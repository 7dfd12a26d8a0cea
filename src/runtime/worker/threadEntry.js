// @ts-check
/**
 * Runs inside a worker thread: the thread backend's counterpart of processEntry.js.
 * A thread shares the host's process: it has no RSS, pid or CUDA_VISIBLE_DEVICES of
 * its own, and dies with the host, so it needs no orphan watchdog.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { serializeError, serveTaskModule } from './taskRunner.js';

/** @typedef {import('../protocol.js').FromWorker} FromWorker */

const port = /** @type {NonNullable<typeof parentPort>} */ (parentPort);
const { taskModule, workerId, device, resultFormat } = /** @type {{ taskModule: string, workerId: string, device: string, resultFormat: import('../protocol.js').ResultFormat }} */ (workerData);

/** @param {FromWorker} message */
function send(message) {
  port.postMessage(message);
}

await serveTaskModule({
  taskModule,
  workerId,
  device,
  resultFormat,
  send,
  receive: (handler) => port.on('message', handler),
  // Ends the thread; the pool already has the reason.
  loadFailed: (error) => {
    send({ type: 'load-error', error: serializeError(error) });
    throw error;
  },
});
