// @ts-check
/**
 * A thread inside each worker process that ends the process's tree (its descendants,
 * in whatever group, then its own group) once the pool's process is gone. The IPC
 * 'disconnect' event does the same, but only when the main thread is free: a task
 * stuck in `for(;;){}` never sees it. This thread does.
 */
import { workerData } from 'node:worker_threads';
import { killOwnTree } from './processTree.js';

const { ppid, everyMs } = /** @type {{ ppid: number, everyMs: number }} */ (workerData);

setInterval(() => {
  // Reparented (to init or a subreaper): the pool died without closing us.
  if (process.ppid === ppid) return;
  killOwnTree();
}, everyMs);
