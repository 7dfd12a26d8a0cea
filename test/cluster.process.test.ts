import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { ConfigError, TaskCancelledError, TaskError, WorkerCrashedError, WorkerTimeoutError } from '../src/index.js';
import { clusterHosts, workerPidsOf } from './support/clusterHosts.js';
import { eventually, isAlive } from './support/processes.js';
import { openRedisServers } from './support/redisServer.js';

// Hosts are real `poolvisor worker` processes on loopback, against a private Redis: a
// host that dies is SIGKILLed like a crashed machine would be.

const openRedis = openRedisServers();
const { startHost, client } = clusterHosts();

describe('a cluster of poolvisor hosts on Redis', () => {
  it('runs tasks on the hosts and gives back results and the same typed errors as the local pool', async () => {
    const redis = await openRedis();
    await startHost(redis, 'typed', { args: ['--workers', '2'] });
    const c = await client(redis, 'typed');
    expect(await c.run('echo', { x: [1, '2'] })).toEqual({ x: [1, '2'] });
    expect(await c.run('echo', '123')).toBe('123');
    // A bad option is the pool's own ConfigError, naming the field, and nothing is enqueued.
    const bad = await c.run('echo', 1, { timeoutMs: -1 }).catch((e: unknown) => e);
    expect(bad).toBeInstanceOf(ConfigError);
    expect((bad as ConfigError).message).toBe('timeoutMs: expected an integer from 1 to 2147483647 (ms), got -1');
    const timeout = await c.run('spin', null, { timeoutMs: 300 }).catch((e: unknown) => e);
    expect(timeout).toBeInstanceOf(WorkerTimeoutError);
    expect(timeout).toMatchObject({ code: 'ERR_WORKER_TIMEOUT', timeoutMs: 300, elapsedMs: expect.any(Number) });
    const thrown = await c.run('fail', 'bad input').catch((e: unknown) => e);
    expect(thrown).toBeInstanceOf(TaskError);
    expect((thrown as TaskError).cause).toMatchObject({ name: 'RangeError', message: 'bad input' });
    // Retried once on a crash, as asked: the second attempt crashes too.
    const crashed = await c.run('exitWith', 3, { retries: 1 }).catch((e: unknown) => e);
    expect(crashed).toBeInstanceOf(WorkerCrashedError);
    expect(crashed).toMatchObject({ exitCode: 3 });
    // The same key twice runs once.
    const [a, b] = await Promise.all([c.run('whoami', null, { key: 'link:L1' }), c.run('whoami', null, { key: 'link:L1' })]);
    expect(a).toEqual(b);
    // Cancelling a running task kills it on the host that runs it.
    const abort = new AbortController();
    const cancelled = c.run('spin', null, { timeoutMs: 60_000, signal: abort.signal }).catch((e: unknown) => e);
    await new Promise((resolve) => setTimeout(resolve, 300));
    abort.abort();
    expect(await cancelled).toMatchObject({ code: 'ERR_TASK_CANCELLED', stage: 'running' });
    // Progress from the task, through its job, to the caller.
    const fractions: number[] = [];
    expect(await c.run('reportsProgress', { steps: 3, everyMs: 80 }, { onProgress: (fraction) => fractions.push(fraction) })).toBe(3);
    expect(fractions).toEqual([1 / 3, 2 / 3, 1]);
    const status = await c.status();
    expect(status.hosts).toHaveLength(1);
    expect(status.hosts[0]).toMatchObject({ slots: { cpu: 2 }, poolState: 'running' });
  }, 60_000);

  it('settles 200 tasks exactly once when a host is SIGKILLed mid-run, running again only what the dead host held', async () => {
    const redis = await openRedis();
    const [doomed] = await Promise.all([startHost(redis, 'kill', { args: ['--workers', '2'] }), startHost(redis, 'kill', { args: ['--workers', '2'] })]);
    const c = await client(redis, 'kill');
    const log = join(mkdtempSync(join(tmpdir(), 'poolvisor-cluster-')), 'runs.log');
    writeFileSync(log, '');
    const doomedWorkers = workerPidsOf(doomed.pid);
    expect(doomedWorkers.length).toBeGreaterThanOrEqual(2); // its two workers and a spare
    const runs = Array.from({ length: 200 }, (_, i) => c.run<{ i: number; pid: number }>('logged', { ms: 40, i, log }));
    // Killed mid-run: after a second of the batch, the moment one of its workers has just started a
    // task (each takes 40 ms). A fixed moment could fall between two of its tasks on a loaded
    // machine, when it holds none, and then nothing would run twice.
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const justStartedOnDoomed = () => {
      const starts = readFileSync(log, 'utf8').trim().split('\n').filter(Boolean).map((line) => line.split(' ').map(Number));
      const last = starts.filter(([, pid]) => doomedWorkers.includes(pid as number)).at(-1);
      return last !== undefined && Date.now() - (last[2] as number) < 15;
    };
    expect(await eventually(justStartedOnDoomed, 10_000, 1)).toBe(true);
    const killedAt = Date.now();
    doomed.child.kill('SIGKILL');
    const results = await Promise.all(runs);
    expect(results.map((r) => r.i)).toEqual(results.map((_, i) => i));
    // No process of the dead host survives it.
    expect(await eventually(() => doomedWorkers.every((pid) => !isAlive(pid)), 5000)).toBe(true);

    // Each task ran once, except one the dead host was running when it died: that one ran again, once, elsewhere.
    const starts = readFileSync(log, 'utf8').trim().split('\n').map((line) => line.split(' ').map(Number) as [number, number, number]);
    const byTask = new Map<number, Array<[number, number, number]>>();
    for (const start of starts) byTask.set(start[0], [...(byTask.get(start[0]) ?? []), start]);
    expect(byTask.size).toBe(200);
    const rerun = [...byTask.values()].filter((list) => list.length > 1);
    for (const list of rerun) {
      expect(list).toHaveLength(2);
      expect(doomedWorkers).toContain(list[0]?.[1]);
      expect(doomedWorkers).not.toContain(list[1]?.[1]);
    }
    expect(rerun.length).toBeGreaterThan(0);
    expect(rerun.length).toBeLessThanOrEqual(2);
    // Handed back by the live host's heartbeat check, not BullMQ's 30 s lock expiry.
    const redeliveredAfterMs = Math.min(...rerun.map((list) => (list[1] as [number, number, number])[2])) - killedAt;
    expect(redeliveredAfterMs).toBeLessThan(10_000);
  }, 60_000);
  it("settles a task cancelled while queued by another client as cancelled, for every client that waits on it", async () => {
    const redis = await openRedis();
    await startHost(redis, 'others', { args: ['--workers', '1'] });
    const [waiter, canceller] = await Promise.all([client(redis, 'others'), client(redis, 'others')]);
    const busy = waiter.run('sleep', 1500);
    const queuedId = await waiter.submit('echo', 'never');
    const queued = waiter.result(queuedId).catch((error: unknown) => error);
    const keyed = waiter.run('echo', 'also never', { key: 'queued-2' }).catch((error: unknown) => error);
    const keyedId = await canceller.submit('echo', 'also never', { key: 'queued-2' });
    await Promise.all([canceller.cancel(queuedId), canceller.cancel(keyedId)]);
    expect(await queued).toBeInstanceOf(TaskCancelledError);
    expect(await keyed).toBeInstanceOf(TaskCancelledError);
    // Asked afterwards, the cancel's tombstone says how it ended.
    await expect(waiter.result(queuedId)).rejects.toMatchObject({ code: 'ERR_TASK_CANCELLED' });
    expect(await busy).toBe(1500);
  });

  it('settles every task of a burst even when outcome events are trimmed from the stream before the client reads them', async () => {
    const redis = await openRedis();
    await startHost(redis, 'burst', { args: ['--workers', '2'] });
    const c = await client(redis, 'burst');
    expect(await c.run('echo', 0)).toBe(0);
    // BullMQ trims a queue's event stream to about opts.maxLenEvents (10,000) as it writes; at 1,
    // it keeps only the last stream node (~100 entries), so a client lagging by more loses outcomes.
    const admin = new Redis(redis.url);
    try {
      await admin.hset('bull:burst.cpu:meta', 'opts.maxLenEvents', '1');
      const results = await Promise.all(Array.from({ length: 1500 }, (_, i) => c.run('echo', i)));
      expect(results).toEqual(results.map((_, i) => i));
      expect(await admin.xlen('bull:burst.cpu:events')).toBeLessThan(1000);
    } finally {
      admin.disconnect();
    }
  }, 60_000);
});
