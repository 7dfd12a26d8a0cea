import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { clusterKeys } from '../src/cluster/names.js';
import { WorkerCrashedError, WorkerMemoryError, WorkerTimeoutError } from '../src/index.js';
import { clusterHosts, runsByTask, workerPidsOf } from './support/clusterHosts.js';
import { FakeNvidiaSmi } from './support/fakeNvidiaSmi.js';
import { eventually, isAlive } from './support/processes.js';
import { openRedisServers } from './support/redisServer.js';

// The faults of issue #12 item 6, each with real `poolvisor worker` processes on loopback
// and a private redis-server: a host drained by SIGTERM, Redis killed and restarted, poison
// tasks, and device routing with a host coming and going.

const openRedis = openRedisServers();
const { startHost, client, noteWorkers } = clusterHosts();
const MiB = 1024 * 1024;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
/** Polls an async predicate until it holds, for at most `timeoutMs`; says whether it did. */
const until = async (predicate: () => Promise<boolean>, timeoutMs = 10_000) => {
  for (const deadline = Date.now() + timeoutMs; Date.now() < deadline; await sleep(50)) if (await predicate()) return true;
  return predicate();
};
const runLog = () => {
  const log = join(mkdtempSync(join(tmpdir(), 'poolvisor-cluster-')), 'runs.log');
  writeFileSync(log, '');
  return log;
};

describe('cluster faults', () => {
  it('drains a host on SIGTERM: it finishes what it runs, takes no more, exits 0, and no task stalls or runs twice', async () => {
    const redis = await openRedis();
    const drainTimeoutMs = 10_000;
    const args = ['--workers', '2', '--drain-timeout', String(drainTimeoutMs)];
    const [drained, other] = await Promise.all([startHost(redis, 'drain', { args }), startHost(redis, 'drain', { args })]);
    const c = await client(redis, 'drain');
    const log = runLog();
    const runs = Array.from({ length: 100 }, (_, i) => c.run<{ i: number; pid: number }>('logged', { ms: 50, i, log }));
    await sleep(500);
    const drainedWorkers = noteWorkers(drained);
    expect(drainedWorkers.length).toBeGreaterThanOrEqual(2);
    const termAt = Date.now();
    drained.child.kill('SIGTERM');
    const exit = await drained.exited;
    const exitedAfterMs = Date.now() - termAt;
    expect(exit).toEqual({ code: 0, signal: null });
    expect(exitedAfterMs).toBeLessThan(drainTimeoutMs);

    const results = await Promise.all(runs);
    expect(results.map((r) => r.i)).toEqual(results.map((_, i) => i));
    // Each task ran once (the log has one start per run), on the worker its result names.
    const started = runsByTask(log);
    expect(started.size).toBe(100);
    for (const [i, list] of started) {
      expect(list, `task ${i}`).toHaveLength(1);
      expect(list[0]?.pid, `task ${i}`).toBe(results[i]?.pid);
    }
    // It took no more: at most what it held when the signal came (its two slots, and as many
    // fetched before the handler ran) started on it after the SIGTERM, while the other host
    // went on with what was left.
    const all = [...started.values()].flat();
    const drainedRuns = all.filter((run) => drainedWorkers.includes(run.pid));
    expect(drainedRuns.length).toBeGreaterThan(0);
    expect(drainedRuns.filter((run) => run.at > termAt).length).toBeLessThanOrEqual(4);
    expect(all.filter((run) => run.at > termAt && !drainedRuns.includes(run)).length).toBeGreaterThanOrEqual(20);
    // It left the cluster, and its workers died with it.
    expect((await c.status()).hosts.map((h) => h.id)).toEqual([other.id]);
    expect(await eventually(() => drainedWorkers.every((pid) => !isAlive(pid)), 5000)).toBe(true);
  }, 30_000);

  it('lists a host told to stop as draining while it finishes its task, and not at all once it has left', async () => {
    const redis = await openRedis();
    const host = await startHost(redis, 'leaving', { args: ['--workers', '1', '--drain-timeout', '10000'] });
    const c = await client(redis, 'leaving');
    const log = runLog();
    const task = c.run<{ i: number }>('logged', { ms: 2000, i: 0, log });
    expect(await until(async () => runsByTask(log).size === 1)).toBe(true);
    const stateOf = async () => (await c.status()).hosts.find((h) => h.id === host.id)?.poolState;
    expect(await stateOf()).toBe('running');
    host.child.kill('SIGTERM');
    // Its next heartbeat (every 400 ms) says so, while its task still runs.
    expect(await until(async () => (await stateOf()) === 'draining', 1500)).toBe(true);
    expect(runsByTask(log).size).toBe(1);
    expect(await task).toMatchObject({ i: 0 });
    expect(await host.exited).toEqual({ code: 0, signal: null });
    expect(await stateOf()).toBeUndefined();
  });

  it('loses no accepted task when Redis is SIGKILLed mid-run and restarted from its AOF: hosts and client reconnect by themselves', async () => {
    const redis = await openRedis({ appendonly: true, appendfsync: 'always' });
    const args = ['--workers', '2'];
    const hosts = await Promise.all([startHost(redis, 'aof', { args }), startHost(redis, 'aof', { args })]);
    const errors: Error[] = [];
    const c = await client(redis, 'aof', { onError: (error) => errors.push(error) });
    const log = runLog();
    type Result = { i: number; pid: number };
    // Two waiters per task, through `result` (which asks Redis once, then waits for the event).
    const outcomes = new Map<string, Array<Promise<{ value: Result } | { error: unknown }>>>();
    const submit = async (i: number, ms: number) => {
      const taskId = await c.submit('logged', { ms, i, log });
      const wait = () => c.result<Result>(taskId).then((value) => ({ value }), (error: unknown) => ({ error }));
      outcomes.set(taskId, [wait(), wait()]);
      return taskId;
    };
    // Two long tasks still run when Redis comes back, after the hosts' heartbeats (2 s TTL) have
    // expired in it: each host finds itself presumed dead and stops them; they must run again, not fail.
    const accepted = await Promise.all([submit(0, 5000), submit(1, 5000), ...Array.from({ length: 60 }, (_, k) => submit(2 + k, 100))]);
    await sleep(700);
    await redis.kill();
    // Submitted while Redis is down: accepted once `submit` resolves (ioredis holds the add until it is back).
    const late = Array.from({ length: 10 }, (_, k) => submit(62 + k, 100));
    await sleep(2500);
    await redis.restart();
    accepted.push(...(await Promise.all(late)));
    expect(accepted).toHaveLength(72);

    const settled = await Promise.all(accepted.map((id) => Promise.all(outcomes.get(id) ?? [])));
    const results = settled.map(([first, second], i) => {
      expect(first, accepted[i]).toHaveProperty('value');
      // One outcome per task: both waiters, and Redis asked afterwards, agree on it.
      expect(second).toEqual(first);
      return (first as { value: Result }).value;
    });
    expect(results.map((r) => r.i)).toEqual(results.map((_, i) => i));
    for (const [i, id] of accepted.entries()) expect(await c.result(id)).toEqual(results[i]);
    // At least once. A task may run twice: a host stopped it when it found itself presumed
    // dead, or its completion was lost with the connection and a live host handed it back;
    // the client still settles it once.
    const started = runsByTask(log);
    expect([...started.keys()].sort((x, y) => x - y)).toEqual(results.map((_, i) => i));
    for (const [i, result] of results.entries()) expect(started.get(i)?.map((run) => run.pid)).toContain(result.pid);
    // The client's connection errors went to its onError, not to stderr.
    expect(errors.length).toBeGreaterThan(0);

    // Both hosts are back in the cluster and both take jobs again (their BullMQ workers resumed).
    const status = await c.status();
    expect(status.hosts.map((h) => h.id).sort()).toEqual(hosts.map((h) => h.id).sort());
    for (const host of status.hosts) expect(host).toMatchObject({ poolState: 'running', slots: { cpu: 2 } });
    const after = await Promise.all(Array.from({ length: 20 }, () => c.run<{ pid: number }>('whereAmI', 100)));
    for (const host of hosts) expect(after.some((r) => workerPidsOf(host.pid).includes(r.pid)), host.id).toBe(true);
  }, 60_000);

  it('stops a host told to drain while Redis is down: it exits 0 soon after its drain timeout, its task stopped and its workers gone', async () => {
    const redis = await openRedis();
    const drainTimeoutMs = 1000;
    const host = await startHost(redis, 'down', { args: ['--workers', '1', '--drain-timeout', String(drainTimeoutMs)] });
    const c = await client(redis, 'down');
    const log = runLog();
    await c.submit('logged', { ms: 60_000, i: 0, log });
    expect(await until(async () => runsByTask(log).size === 1)).toBe(true);
    const workers = noteWorkers(host);
    expect(workers.length).toBeGreaterThanOrEqual(1);
    await redis.kill();
    const termAt = Date.now();
    host.child.kill('SIGTERM');
    const exit = await host.exited;
    // The drain (1 s), a short goodbye to Redis (2 s), then the connections are dropped (~5 s in all here).
    expect(exit).toEqual({ code: 0, signal: null });
    expect(Date.now() - termAt).toBeLessThan(drainTimeoutMs + 10_000);
    expect(await eventually(() => workers.every((pid) => !isAlive(pid)), 5000)).toBe(true);
    // The client closes too, without Redis to say goodbye to.
    const closeAt = Date.now();
    await c.close();
    expect(Date.now() - closeAt).toBeLessThan(5000);
  });

  it('puts back a live host that a late reaper took out of the cluster (it read the heartbeat as gone just before the host came back)', async () => {
    const redis = await openRedis();
    const host = await startHost(redis, 'rejoin', { args: ['--workers', '1'] });
    const c = await client(redis, 'rejoin');
    const keys = clusterKeys('rejoin');
    const direct = new Redis(redis.url);
    try {
      const workers = await direct.hgetall(keys.workers(host.id));
      expect(Object.keys(workers)).toEqual(['cpu']);
      // What #reap does last, while the host's heartbeat is alive again.
      await direct.multi().hdel(keys.workers(host.id), 'cpu').srem(keys.hosts, host.id).exec();
      expect((await c.status()).hosts).toEqual([]);
      expect(await until(async () => (await c.status()).hosts.length === 1, 5000)).toBe(true);
      expect(await direct.hgetall(keys.workers(host.id))).toEqual(workers);
    } finally {
      direct.disconnect();
    }
  }, 30_000);

  it('gives the client the typed error of a poison task (crash, runaway, memory) with its evidence, and leaves the other tasks and the hosts alone', async () => {
    const redis = await openRedis();
    const args = ['--workers', '2'];
    const hosts = await Promise.all([startHost(redis, 'poison', { args }), startHost(redis, 'poison', { args })]);
    const c = await client(redis, 'poison');
    const settle = <T>(promise: Promise<T>) => promise.then((value) => ({ value }), (error: unknown) => ({ error }));
    const good = (i: number) => settle(c.run<{ i: number }>('echo', { i }));
    // Each poison input differs (exit code, payload): the same input failing twice would be quarantined instead.
    const goodBefore = Array.from({ length: 20 }, (_, i) => good(i));
    const crashes = [3, 4].map((code) => settle(c.run('exitWith', code)));
    const runaways = [1, 2].map((n) => settle(c.run('spin', n, { timeoutMs: 400 })));
    const hogs = [10, 11].map((everyMs) => settle(c.run('growOffHeap', { everyMs, chunkMiB: 2 }, { memoryLimitMb: 120, timeoutMs: 20_000 })));
    const goodAfter = Array.from({ length: 20 }, (_, i) => good(20 + i));

    for (const [k, { error }] of (await Promise.all(crashes)).map((o, k) => [k, o as { error: unknown }] as const)) {
      expect(error).toBeInstanceOf(WorkerCrashedError);
      expect(error).toMatchObject({ code: 'ERR_WORKER_CRASHED', exitCode: 3 + k, pid: expect.any(Number), workerId: expect.any(String) });
    }
    for (const outcome of await Promise.all(runaways)) {
      const { error } = outcome as { error: unknown };
      expect(error).toBeInstanceOf(WorkerTimeoutError);
      expect(error).toMatchObject({ code: 'ERR_WORKER_TIMEOUT', timeoutMs: 400, pid: expect.any(Number) });
      expect((error as WorkerTimeoutError).elapsedMs).toBeGreaterThanOrEqual(400);
    }
    for (const outcome of await Promise.all(hogs)) {
      const { error } = outcome as { error: unknown };
      expect(error).toBeInstanceOf(WorkerMemoryError);
      const memory = error as WorkerMemoryError;
      expect(memory).toMatchObject({ code: 'ERR_WORKER_MEMORY', limitBytes: 120 * MiB, pid: expect.any(Number) });
      expect(memory.usedBytes).toBeGreaterThan(memory.limitBytes);
      expect(memory.samples.length).toBeGreaterThan(0);
    }
    const goods = await Promise.all([...goodBefore, ...goodAfter]);
    expect(goods).toEqual(goods.map((_, i) => ({ value: { i } })));

    // Both hosts still serve, with their pools running and their workers back.
    const status = await c.status();
    expect(status.hosts.map((h) => h.id).sort()).toEqual(hosts.map((h) => h.id).sort());
    for (const host of status.hosts) expect(host).toMatchObject({ poolState: 'running', slots: { cpu: 2 } });
    const after = await Promise.all(Array.from({ length: 20 }, () => c.run<{ pid: number }>('whereAmI', 50)));
    for (const host of hosts) expect(after.some((r) => workerPidsOf(host.pid).includes(r.pid)), host.id).toBe(true);
  }, 60_000);

  it("routes by device: a cpu-only host never takes a cuda task, and cuda tasks wait (not fail) while no cuda host is up", async () => {
    const redis = await openRedis();
    const path = process.env.PATH;
    const smi = new FakeNvidiaSmi();
    smi.gpus(1);
    const gpuEnv = { ...process.env };
    process.env.PATH = path; // only the cuda hosts see the fake nvidia-smi
    try {
      const cpuHost = await startHost(redis, 'devices', { args: ['--workers', '2', '--devices', 'cpu'] });
      const gpuArgs = ['--workers', '2', '--devices', 'cuda:0'];
      const gpuHost = await startHost(redis, 'devices', { args: gpuArgs, env: gpuEnv });
      const c = await client(redis, 'devices');
      const status = await c.status();
      expect(Object.fromEntries(status.hosts.map((h) => [h.id, h.slots]))).toEqual({ [cpuHost.id]: { cpu: 2 }, [gpuHost.id]: { cuda: 2 } });
      expect(status.hosts.find((h) => h.id === gpuHost.id)?.devices).toEqual(['cuda:0', 'cuda:0']);

      type Where = { pid: number; cuda: string | null };
      const batch = (n: number, device: string) => Array.from({ length: n }, () => c.run<Where>('whereAmI', 30, { device }));
      const [onCuda, onCpu] = await Promise.all([Promise.all(batch(12, 'cuda')), Promise.all(batch(12, 'cpu'))]);
      const cpuWorkers = workerPidsOf(cpuHost.pid);
      const gpuWorkers = noteWorkers(gpuHost);
      for (const where of onCuda) {
        expect(gpuWorkers).toContain(where.pid);
        expect(where.cuda).toBe('0');
      }
      for (const where of onCpu) {
        expect(cpuWorkers).toContain(where.pid);
        expect(where.cuda).toBe('');
      }

      // The only cuda host dies while it runs two cuda tasks: those, and cuda tasks sent after,
      // wait in their queue (no other host may take them), while cpu tasks go on.
      let settled = 0;
      const count = <T>(p: Promise<T>) => p.finally(() => (settled += 1));
      const held = Array.from({ length: 2 }, () => count(c.run<Where>('whereAmI', 3000, { device: 'cuda' })));
      expect(await until(async () => (await c.status()).queues.cuda.active === 2)).toBe(true);
      gpuHost.child.kill('SIGKILL');
      await gpuHost.exited;
      const waiting = batch(6, 'cuda:0').map(count);
      expect(await Promise.all(batch(6, 'cpu'))).toHaveLength(6);
      await sleep(1500);
      expect(settled).toBe(0);
      expect((await c.status()).queues.cuda).toMatchObject({ waiting: 6, active: 2, failed: 0 });

      // A cuda host comes back: it takes the dead host's two from their locks, and runs them all.
      const back = await startHost(redis, 'devices', { args: gpuArgs, env: gpuEnv });
      const late = await Promise.all([...held, ...waiting]);
      const backWorkers = noteWorkers(back);
      for (const where of late) {
        expect(backWorkers).toContain(where.pid);
        expect(where.cuda).toBe('0');
      }
      expect(await eventually(() => gpuWorkers.every((pid) => !isAlive(pid)), 5000)).toBe(true);
    } finally {
      process.env.PATH = path;
      smi.restore();
    }
  }, 60_000);
});
