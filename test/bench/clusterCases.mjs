// The cases of npm run bench:cluster. A case is one way to run the bench's tasks (./peers/tasks.mjs
// names: noop, echo) on `concurrency` workers:
//
//   { name, what,
//     unavailable?() → string | undefined            why it is skipped on this checkout, if it is
//     start(ctx) → Promise<{ submit(name, payload) → Promise<result>, close() → Promise<void> }>
//     redeliveryAfterKill?(ctx, settings) → Promise<{ ms, note? }> }
//
// ctx = { redisUrl, queue, concurrency, track(child), trackPid(pid) }: `queue` is fresh for every
// start (no `:`, which BullMQ refuses). The harness kills, at the end and also on error, every
// descendant of the bench still alive, every tracked ChildProcess and every tracked pid (for a
// process that has left the bench's tree, such as an orphan of a killed host).
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Queue, QueueEvents, Worker } from 'bullmq';
import { createBenchPool } from './pools.mjs';

const PROCESSOR = fileURLToPath(new URL('./peers/bullmqProcessor.mjs', import.meta.url));
const CONSUMER = fileURLToPath(new URL('./peers/bullmqConsumer.mjs', import.meta.url));
export const CLUSTER_DIST = fileURLToPath(new URL('../../dist/src/cluster/index.js', import.meta.url));

const connectionOf = (redisUrl) => {
  const { hostname, port } = new URL(redisUrl);
  return { host: hostname, port: Number(port) };
};

/**
 * The producer side every BullMQ case shares: a Queue to add to and QueueEvents to learn the
 * outcome, job ids chosen here so that the waiter is in place before the job can finish.
 * Finished jobs are removed, as a pool's caller would want: Redis must not grow with every task.
 */
async function bullmqProducer(ctx) {
  const connection = connectionOf(ctx.redisUrl);
  const queue = new Queue(ctx.queue, { connection, defaultJobOptions: { removeOnComplete: true, removeOnFail: true } });
  const events = new QueueEvents(ctx.queue, { connection });
  await Promise.all([queue.waitUntilReady(), events.waitUntilReady()]);
  const waiting = new Map();
  events.on('completed', ({ jobId, returnvalue }) => {
    waiting.get(jobId)?.resolve(returnvalue);
    waiting.delete(jobId);
  });
  events.on('failed', ({ jobId, failedReason }) => {
    waiting.get(jobId)?.reject(new Error(failedReason));
    waiting.delete(jobId);
  });
  let next = 0;
  return {
    submit(name, payload) {
      const jobId = `t${(next += 1)}`;
      const done = new Promise((resolve, reject) => waiting.set(jobId, { resolve, reject }));
      return queue.add(name, payload ?? null, { jobId }).then(() => done);
    },
    async close() {
      await events.close();
      await queue.close();
    },
  };
}

/** A BullMQ consumer in its own process (./peers/bullmqConsumer.mjs), talking over IPC. */
function startConsumer(ctx, workerOptions, { reportActive = true } = {}) {
  const args = [CONSUMER, ctx.redisUrl, ctx.queue, JSON.stringify(workerOptions), ...(reportActive ? ['--report-active'] : [])];
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
  ctx.track(child);
  const ready = new Promise((resolve, reject) => {
    child.on('message', (message) => message.ready && resolve(undefined));
    child.once('exit', (code, signal) => reject(new Error(`consumer exited (${code ?? signal}) before it was ready`)));
  });
  const active = new Promise((resolve) => child.on('message', (message) => message.active && resolve(message)));
  return { child, ready, active };
}

/**
 * A host holding a long job is SIGKILLed; another consumer, already waiting, picks the job up once
 * BullMQ's stalled check finds the lock gone. Measured: SIGKILL → the job active on the other host.
 */
async function bullmqRedelivery(ctx, settings, boundMs) {
  const producer = await bullmqProducer(ctx);
  const doomed = startConsumer(ctx, settings);
  await doomed.ready;
  producer.submit('hold', { ms: 600_000 }).catch(() => {});
  const held = await doomed.active;
  const heir = startConsumer(ctx, settings);
  await heir.ready;
  const killedAt = Date.now();
  doomed.child.kill('SIGKILL');
  // A sandboxed child is not told its host died (BullMQ's child has no 'disconnect' handler).
  for (const pid of held.children) ctx.trackPid(pid);
  await new Promise((resolve) => setTimeout(resolve, 500));
  const orphans = held.children.filter((pid) => alive(pid));
  const bound = new Promise((resolve) => setTimeout(resolve, boundMs, undefined));
  const again = await Promise.race([heir.active, bound]);
  heir.child.kill('SIGKILL');
  // The heir's sandboxed child took the job and, its host killed, would be orphaned the same way.
  const heirChildren = again?.children ?? [];
  for (const pid of heirChildren) ctx.trackPid(pid);
  for (const pid of [...held.children, ...heirChildren]) if (alive(pid)) process.kill(pid, 'SIGKILL');
  await producer.close();
  const note = orphans.length ? `the killed host's sandboxed child (pid ${orphans.join(', ')}) was still running the job 0.5 s later, orphaned` : undefined;
  if (!again) return { ms: undefined, note: `not redelivered within ${boundMs / 1000} s` };
  return { ms: again.at - killedAt, ...(note ? { note } : {}) };
}

function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** BullMQ's defaults, and locks short enough that a dead host's jobs come back within seconds. */
export const REDELIVERY_SETTINGS = {
  default: { settings: {}, boundMs: 150_000, repeats: 1 },
  fast: { settings: { lockDuration: 5_000, stalledInterval: 2_500 }, boundMs: 30_000, repeats: 3 },
};

/** @returns {Record<string, object>} by name */
export const CASES = {
  local: {
    what: 'poolvisor createPool, 2 process workers, pool.run (one host, no Redis)',
    async start(ctx) {
      const pool = await createBenchPool('poolvisor-process', { workers: ctx.concurrency });
      return { submit: (name, payload) => pool.run(name, payload), close: () => pool.close() };
    },
  },

  'bullmq-sandboxed': {
    what: 'BullMQ Worker with a processor file (child processes), concurrency 2; Queue.add + QueueEvents',
    async start(ctx) {
      const producer = await bullmqProducer(ctx);
      const worker = new Worker(ctx.queue, PROCESSOR, { connection: connectionOf(ctx.redisUrl), concurrency: ctx.concurrency, useWorkerThreads: false });
      await worker.waitUntilReady();
      return { submit: producer.submit, close: async () => (await worker.close(true), await producer.close()) };
    },
    redeliveryAfterKill: (ctx, { settings, boundMs }) => bullmqRedelivery(ctx, settings, boundMs),
  },

  // The like-for-like peer of `cluster-1`: a BullMQ host in a process of its own, apart from the
  // producer, as a cluster host is (in `bullmq-sandboxed` the Worker shares the bench's process
  // and event loop with the Queue and QueueEvents, which no deployment across hosts can do).
  'bullmq-sandboxed-host': {
    what: 'BullMQ Worker with a processor file (child processes), concurrency 2, in its own process; Queue.add + QueueEvents in the bench',
    async start(ctx) {
      const producer = await bullmqProducer(ctx);
      const consumer = startConsumer(ctx, { concurrency: ctx.concurrency, useWorkerThreads: false }, { reportActive: false });
      await consumer.ready;
      return {
        submit: producer.submit,
        async close() {
          await producer.close();
          await new Promise((resolve) => (consumer.child.once('exit', resolve), consumer.child.kill('SIGTERM')));
        },
      };
    },
  },

  'bullmq-inprocess': {
    what: 'BullMQ Worker with an in-process async function, concurrency 2 (reference: no isolation)',
    async start(ctx) {
      const producer = await bullmqProducer(ctx);
      const worker = new Worker(ctx.queue, async (job) => (job.name === 'echo' ? job.data : null), { connection: connectionOf(ctx.redisUrl), concurrency: ctx.concurrency });
      await worker.waitUntilReady();
      return { submit: producer.submit, close: async () => (await worker.close(true), await producer.close()) };
    },
  },

  // poolvisor's cluster (#12): N worker hosts, `concurrency` workers in all, a cluster client as
  // the producer. Written once dist/src/cluster/index.js exists; until then, skipped with a note.
  // To add it, replace `start` below (and add `redeliveryAfterKill` the same way), e.g.:
  //   async start(ctx) {
  //     const { createClusterClient } = await import(CLUSTER_DIST);
  //     const hosts = spread(ctx.concurrency, N).map((workers) => spawn(process.execPath,
  //       ['dist/src/cli.js', 'worker', '--redis', ctx.redisUrl, '--queue', ctx.queue,
  //        '--task', 'test/bench/peers/tasks.mjs', '--workers', String(workers)]));
  //     hosts.forEach(ctx.track);                // + wait until each says it is ready
  //     const client = await createClusterClient({ redis: ctx.redisUrl, queue: ctx.queue });
  //     return { submit: (name, payload) => client.run(name, payload),
  //              close: async () => { await client.close(); for (const h of hosts) h.kill('SIGTERM'); } };
  //   },
  'cluster-1': clusterCase(1),
  'cluster-2': clusterCase(2),
};

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const BENCH_TASKS = fileURLToPath(new URL('./peers/tasks.mjs', import.meta.url));

/** A `poolvisor worker` host in its own process; resolves once it has joined the cluster. */
async function startHost(ctx, workers) {
  const child = spawn(process.execPath, ['dist/src/cli.js', 'worker', '--redis', ctx.redisUrl, '--queue', ctx.queue, '--task', BENCH_TASKS, '--workers', String(workers)], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  ctx.track(child);
  const line = await new Promise((resolve, reject) => {
    let text = '';
    child.stdout.on('data', (chunk) => {
      text += chunk;
      if (text.includes('\n')) resolve(text.split('\n')[0]);
    });
    child.once('exit', (code, signal) => reject(new Error(`host exited (${code ?? signal}) before it joined`)));
  });
  return { child, ...JSON.parse(line) };
}

/** Workers split over hosts: 2 over 1 → [2]; 2 over 2 → [1, 1]. */
const spread = (total, hosts) => Array.from({ length: hosts }, (_, i) => Math.floor(total / hosts) + (i < total % hosts ? 1 : 0));

function clusterCase(hosts) {
  return {
    what: `poolvisor cluster: ${hosts} \`poolvisor worker\` host${hosts > 1 ? 's' : ''} on Redis, 2 workers in all; createClusterClient.run`,
    unavailable: () => (existsSync(CLUSTER_DIST) ? undefined : 'dist/src/cluster/index.js does not exist (npm run build)'),
    async start(ctx) {
      const { createClusterClient } = await import(CLUSTER_DIST);
      const started = await Promise.all(spread(ctx.concurrency, hosts).map((workers) => startHost(ctx, workers)));
      const client = await createClusterClient({ redis: ctx.redisUrl, queue: ctx.queue });
      return {
        submit: (name, payload) => client.run(name, payload),
        async close() {
          await client.close();
          await Promise.all(started.map(({ child }) => new Promise((resolve) => (child.once('exit', resolve), child.kill('SIGTERM')))));
        },
      };
    },
    /**
     * A host running a long task is SIGKILLed; the other host's heartbeat check hands the job
     * back. Measured: SIGKILL → the job started again (its `processedOn`, stamped by Redis-side
     * BullMQ on the other host). The lock (30 s) and stalled check (30 s) stay BullMQ's defaults.
     */
    async redeliveryAfterKill(ctx, { boundMs }) {
      const { createClusterClient } = await import(CLUSTER_DIST);
      const doomed = await startHost(ctx, 1);
      const client = await createClusterClient({ redis: ctx.redisUrl, queue: ctx.queue });
      const { Queue } = await import('bullmq');
      const queue = new Queue(`${ctx.queue}.cpu`, { connection: connectionOf(ctx.redisUrl) });
      try {
        const taskId = await client.submit('hold', { ms: 600_000 });
        const jobId = taskId.split('/')[1];
        const startedOn = async () => (await queue.getJob(jobId))?.processedOn;
        while ((await startedOn()) === undefined) await new Promise((resolve) => setTimeout(resolve, 10));
        const heir = await startHost(ctx, 1);
        const killedAt = Date.now();
        doomed.child.kill('SIGKILL');
        let again;
        while (Date.now() - killedAt < boundMs) {
          const on = await startedOn();
          if (on !== undefined && on >= killedAt) {
            again = on;
            break;
          }
          await new Promise((resolve) => setTimeout(resolve, 10));
        }
        await client.cancel(taskId);
        heir.child.kill('SIGKILL');
        if (again === undefined) return { ms: undefined, note: `not redelivered within ${boundMs / 1000} s` };
        return { ms: again - killedAt, note: 'default BullMQ lock and stalled settings; heartbeat TTL 2 s' };
      } finally {
        await queue.close();
        await client.close();
      }
    },
  };
}
