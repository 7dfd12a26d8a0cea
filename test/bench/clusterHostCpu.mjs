// Where a cluster host's CPU goes per task, next to BullMQ's sandboxed host: each host runs in a
// process of its own (2 workers / concurrency 2), this process is the producer, and the host's
// threads are read from /proc/<pid>/task/*/stat before and after N no-op tasks: its main thread
// (user, system), V8's other threads (GC, compiler), and its child processes (the pool's workers, or
// BullMQ's sandboxed children). Also the pool alone, driven the way a host
// drives it: two callers, one task at a time each. At most 500 tasks are in flight at once.
// Run: npm run build && node test/bench/clusterHostCpu.mjs [--tasks 8000]
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Queue, QueueEvents } from 'bullmq';
import { createClusterClient } from '../../dist/src/cluster/index.js';
import { createPool } from '../../dist/src/index.js';
import { startRedisServer } from '../support/redisServer.mjs';

const { values } = parseArgs({ options: { tasks: { type: 'string', default: '8000' } } });
const TASKS = Number(values.tasks);
const WARMUP = 200;
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const BENCH_TASKS = fileURLToPath(new URL('./peers/tasks.mjs', import.meta.url));
const CONSUMER = fileURLToPath(new URL('./peers/bullmqConsumer.mjs', import.meta.url));
const TICK_US = 10_000; // /proc counts CPU in 1/100 s

/** utime and stime of each thread of `pid`, by thread id. */
function threadTicks(pid) {
  const ticks = new Map();
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'latin1');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    ticks.set(Number(tid), { user: Number(fields[11]), system: Number(fields[12]) });
  }
  return ticks;
}

/** The host's child processes (its workers, or BullMQ's sandboxed children), from /proc. */
function childrenOf(pid) {
  return readdirSync(`/proc/${pid}/task`).flatMap((tid) =>
    readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').trim().split(' ').filter(Boolean).map(Number),
  );
}

/** utime + stime of a process, all its threads (0 once it is gone). */
function processTicks(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(fields[11]) + Number(fields[12]);
  } catch {
    return 0;
  }
}

/** CPU µs per task of the host's main thread (user, system) and of its other threads. */
function perTask(pid, before, after) {
  const main = { user: 0, system: 0 };
  let others = 0;
  for (const [tid, end] of after) {
    const start = before.get(tid) ?? { user: 0, system: 0 };
    const user = ((end.user - start.user) * TICK_US) / TASKS;
    const system = ((end.system - start.system) * TICK_US) / TASKS;
    if (tid === pid) Object.assign(main, { user, system });
    else others += user + system;
  }
  return { main, others };
}

/**
 * Runs `count` tasks with at most IN_FLIGHT at once: plenty to keep two workers busy, and few
 * enough that a QueueEvents reader never falls 10,000 stream entries behind (BullMQ trims its
 * event stream there, and a producer of its own then waits forever for the trimmed outcomes).
 */
const IN_FLIGHT = 500;
async function runAll(count, submit) {
  let started = 0;
  const lane = async () => {
    while (started < count) {
      started += 1;
      await submit();
    }
  };
  await Promise.all(Array.from({ length: Math.min(IN_FLIGHT, count) }, lane));
}

async function measureHost(label, pid, submit) {
  await runAll(WARMUP, submit);
  const before = threadTicks(pid);
  const children = childrenOf(pid);
  const childrenBefore = children.map(processTicks);
  const start = performance.now();
  await runAll(TASKS, submit);
  const seconds = (performance.now() - start) / 1000;
  const { main, others } = perTask(pid, before, threadTicks(pid));
  const childUs = children.reduce((sum, child, i) => sum + processTicks(child) - (childrenBefore[i] ?? 0), 0) * TICK_US / TASKS;
  console.log(`| ${label} | ${Math.round(TASKS / seconds).toLocaleString('en')} | ${main.user.toFixed(0)} | ${main.system.toFixed(0)} | ${others.toFixed(0)} | ${childUs.toFixed(0)} |`);
}

const children = new Set();
const stop = () => {
  // SIGTERM: BullMQ's consumer then closes its sandboxed children, which a SIGKILL would orphan.
  for (const child of children) child.kill('SIGTERM');
};
process.on('exit', stop);
// Stopped from outside (Ctrl-C, a timeout): the hosts go too.
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => process.exit(130));

const server = await startRedisServer();
try {
  console.log(`${TASKS.toLocaleString('en')} no-op tasks after ${WARMUP}; CPU µs per task of the host process\n`);
  console.log('| host | tasks/s | main thread user | main thread system | other threads | its child processes |');
  console.log('|---|---|---|---|---|---|');

  // poolvisor: a `poolvisor worker` host; the cluster client here.
  const host = spawn(process.execPath, ['dist/src/cli.js', 'worker', '--redis', server.url, '--queue', 'cpu-host', '--task', BENCH_TASKS, '--workers', '2'], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  children.add(host);
  await new Promise((resolve) => host.stdout.once('data', resolve));
  const client = await createClusterClient({ redis: server.url, queue: 'cpu-host' });
  await measureHost('poolvisor host (`poolvisor worker`)', host.pid, () => client.run('noop'));
  await client.close();
  await new Promise((resolve) => (host.once('exit', resolve), host.kill('SIGTERM')));

  // BullMQ: its sandboxed Worker in a process of its own; a Queue and QueueEvents here.
  const { port } = new URL(server.url);
  const connection = { host: '127.0.0.1', port: Number(port) };
  const consumer = spawn(process.execPath, [CONSUMER, server.url, 'bull-host', JSON.stringify({ concurrency: 2, useWorkerThreads: false })], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
  children.add(consumer);
  await new Promise((resolve) => consumer.on('message', (message) => message.ready && resolve(undefined)));
  const queue = new Queue('bull-host', { connection, defaultJobOptions: { removeOnComplete: true, removeOnFail: true } });
  const events = new QueueEvents('bull-host', { connection });
  await events.waitUntilReady();
  const waiting = new Map();
  events.on('completed', ({ jobId }) => (waiting.get(jobId)?.(), waiting.delete(jobId)));
  let next = 0;
  const add = () => {
    const jobId = `t${(next += 1)}`;
    const done = new Promise((resolve) => waiting.set(jobId, resolve));
    return queue.add('noop', null, { jobId }).then(() => done);
  };
  await measureHost('BullMQ sandboxed host (`bullmqConsumer.mjs`)', consumer.pid, add);
  await events.close();
  await queue.close();
  await new Promise((resolve) => (consumer.once('exit', resolve), consumer.kill('SIGTERM')));

  // The pool alone, as a host drives it: two callers, one task at a time each, with the options a host passes.
  const pool = await createPool({ task: new URL('./peers/tasks.mjs', import.meta.url), maxWorkers: 2, resultFormat: 'json' });
  const caller = async (count) => {
    for (let i = 0; i < count; i += 1) {
      const abort = new AbortController();
      await pool.run('noop', null, { device: 'cpu', signal: abort.signal, onProgress: () => {} });
    }
  };
  await Promise.all([caller(WARMUP), caller(WARMUP)]);
  const cpu = process.cpuUsage();
  const start = performance.now();
  await Promise.all([caller(TASKS / 2), caller(TASKS / 2)]);
  const seconds = (performance.now() - start) / 1000;
  const used = process.cpuUsage(cpu);
  await pool.close();
  console.log(`\nthe pool alone, two callers one task at a time: ${Math.round(TASKS / seconds).toLocaleString('en')} tasks/s, main process ${(used.user / TASKS).toFixed(0)} µs user + ${(used.system / TASKS).toFixed(0)} µs system per task (all its threads)`);
} finally {
  stop();
  await server.stop();
}
