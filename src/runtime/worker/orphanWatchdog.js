// @ts-check
/**
 * A thread inside each worker process that ends the process group once the pool's
 * process is gone. The IPC 'disconnect' event does the same, but only when the main
 * thread is free: a task stuck in `for(;;){}` never sees it. This thread does.
 */
import { workerData } from 'node:worker_threads';

const { pid, ppid, everyMs } = /** @type {{ pid: number, ppid: number, everyMs: number }} */ (workerData);

setInterval(() => {
  // Reparented (to init or a subreaper): the pool died without closing us.
  if (process.ppid === ppid) return;
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    process.kill(pid, 'SIGKILL');
  }
}, everyMs);
