import { parseArgs } from 'node:util';
import type { PoolOptions } from '../index.js';
import { POOL_FLAGS, poolOptionsFromFlags, SERVICE_FLAGS, wholeNumber } from '../poolFlags.js';

export const WORKER_USAGE = `usage: poolvisor worker --redis URL --queue NAME [options]

Joins a poolvisor cluster as a host: runs one local pool and takes the queue's jobs
(BullMQ on Redis) for each device class it has, as many at once as it has workers of
that class. SIGTERM/SIGINT drains: no new jobs, running tasks finish within the drain
timeout (what is left goes back to the queue), then it leaves the cluster and exits 0.

options:
  --redis URL            redis://host:port[/db] (env POOLVISOR_REDIS)
  --queue NAME           the cluster queue (env POOLVISOR_QUEUE; jobs go to NAME.cpu, NAME.cuda)
                         (the pool options below also come from POOLVISOR_TASK, POOLVISOR_WORKERS, …, as for serve)
  --task MODULE          task module path (default: the bundled Bayesian inference tasks)
  --workers N, --timeout MS, --memory MB, --devices LIST, --backend process|thread
  --drain-timeout MS     on SIGTERM/SIGINT, let tasks finish for this long (default 30000)`;

/** `poolvisor worker`: a cluster host until SIGTERM/SIGINT, then a drain and exit 0. */
export async function clusterWorkerCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      redis: { type: 'string' },
      queue: { type: 'string' },
      ...SERVICE_FLAGS,
      ...POOL_FLAGS,
    },
  });
  const redis = values.redis ?? process.env.POOLVISOR_REDIS;
  const queue = values.queue ?? process.env.POOLVISOR_QUEUE;
  if (!redis || !queue) {
    process.stderr.write(`poolvisor worker: --redis and --queue are required\n\n${WORKER_USAGE}\n`);
    return 2;
  }
  const { inferenceTaskModule } = await import('../inference/index.js');
  const pool = { task: inferenceTaskModule, ...poolOptionsFromFlags(values, process.env) } as PoolOptions;
  const drainTimeoutMs = wholeNumber('--drain-timeout', values['drain-timeout']) ?? 30_000;

  // Loaded here, not at the CLI's start: `serve` and `infer` need no BullMQ.
  const { createClusterWorker } = await import('./clusterWorker.js');
  const host = await createClusterWorker({
    redis,
    queue,
    pool,
    onError: (error) => process.stderr.write(`poolvisor worker: ${error.message}\n`),
  });
  process.stdout.write(`${JSON.stringify({ host: host.hostId, pid: process.pid, queue, slots: host.status().slots })}\n`);
  await new Promise<void>((resolve) => {
    const stop = () => void host.close(drainTimeoutMs).then(resolve);
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
  });
  return 0;
}
