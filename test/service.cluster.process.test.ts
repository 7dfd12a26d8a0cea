import { afterEach, describe, expect, it } from 'vitest';
import { createClusterService, type ClusterService, type ClusterServiceOptions } from '../src/service/clusterApp.js';
import { clusterHosts } from './support/clusterHosts.js';
import { openRedisServers, type RedisServer } from './support/redisServer.js';
import { readEvents } from './support/sse.js';

// The service in front of a cluster, against a private Redis and real `poolvisor worker`
// host processes running test/fixtures/tasks.mjs: nothing here is a mock.

const openRedis = openRedisServers();
const { startHost, noteWorkers } = clusterHosts();
const services: ClusterService[] = [];
afterEach(async () => {
  await Promise.all(services.splice(0).map((service) => service.close(0)));
});

let shared: RedisServer | undefined;
const redis = async () => (shared ??= await openRedis());

async function openService(server: RedisServer, queue: string, options: Partial<ClusterServiceOptions> = {}): Promise<ClusterService> {
  const service = await createClusterService({ redis: server.url, queue, statusIntervalMs: 200, ...options });
  services.push(service);
  return service;
}

const post = (service: ClusterService, body: unknown, query = '', headers: Record<string, string> = {}) =>
  service.app.inject({ method: 'POST', url: `/v1/tasks${query}`, headers: { 'content-type': 'application/json', ...headers }, payload: JSON.stringify(body) });
const get = async (service: ClusterService, url: string) => service.app.inject({ url });

/** Polls `read` until `done` holds of it (at most `timeoutMs`); answers the last value read. */
async function until<T>(read: () => Promise<T>, done: (value: T) => boolean, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let value = await read();
  while (!done(value) && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    value = await read();
  }
  return value;
}

describe('poolvisor serve in front of a cluster', () => {
  it('enqueues a task that a host runs: ?wait=true answers the settled record, GET reads it later with its result and host', async () => {
    const server = await redis();
    const host = await startHost(server, 'run', { args: ['--workers', '2'] });
    const service = await openService(server, 'run');

    // A task no live host offers is refused as over one pool, naming what they offer; nothing is enqueued.
    const unknown = await post(service, { task: 'nope' });
    expect(unknown.statusCode).toBe(404);
    expect(unknown.json().error).toMatchObject({ code: 'ERR_UNKNOWN_TASK', message: expect.stringContaining('no live host offers a task "nope"'), tasks: expect.arrayContaining(['echo', 'sleep']) });
    expect((await get(service, '/v1/cluster')).json().queues.cpu).toMatchObject({ waiting: 0 });

    const waited = await post(service, { task: 'echo', payload: { x: [1, '2'] } }, '?wait=true');
    expect(waited.statusCode).toBe(200);
    expect(waited.json()).toMatchObject({ id: expect.stringMatching(/^cpu\.[^/]+$/), task: 'echo', state: 'succeeded', attempts: 1, result: { x: [1, '2'] } });
    // The job itself says which host ran it: a service that never saw it running still knows.
    const other = await openService(server, 'run');
    expect((await get(other, `/v1/tasks/${waited.json().id}`)).json()).toMatchObject({ state: 'succeeded', host: host.id });

    const accepted = await post(service, { task: 'sleep', payload: 400 });
    expect(accepted.statusCode).toBe(202);
    const { id, state } = accepted.json();
    expect(state).toBe('queued');
    expect(accepted.headers.location).toBe(`/v1/tasks/${id}`);
    // While it runs, its lock says which host holds it.
    const running = await until(() => get(service, `/v1/tasks/${id}`), (r) => r.json().state !== 'queued');
    expect(running.json()).toMatchObject({ id, state: 'running', host: host.id, startedAt: expect.any(String), settledAt: null });
    const settled = await until(() => get(service, `/v1/tasks/${id}`), (r) => r.json().state === 'succeeded');
    expect(settled.json()).toMatchObject({ id, task: 'sleep', state: 'succeeded', result: 400, host: host.id, attempts: 1, settledAt: expect.any(String) });
    // The client's own id form, URL-encoded, names the same task.
    const [deviceClass, jobId] = (id as string).split(/\.(.*)/s) as [string, string];
    expect((await get(service, `/v1/tasks/${deviceClass}%2F${jobId}`)).json()).toMatchObject({ id, state: 'succeeded' });
  }, 60_000);

  it("gives a failing task's typed error with its code and evidence: a task that throws, one whose worker crashes", async () => {
    const server = await redis();
    await startHost(server, 'fail', { args: ['--workers', '2'] });
    const service = await openService(server, 'fail');

    const thrown = await post(service, { task: 'fail', payload: 'nope' }, '?wait=true');
    expect(thrown.statusCode).toBe(200);
    expect(thrown.json()).toMatchObject({ state: 'failed', error: { code: 'ERR_TASK_FAILED', name: 'TaskError', evidence: { cause: { name: 'RangeError', message: 'nope' } } } });
    const crashed = await post(service, { task: 'exitWith', payload: 3 }, '?wait=true');
    expect(crashed.json()).toMatchObject({ state: 'failed', error: { code: 'ERR_WORKER_CRASHED', name: 'WorkerCrashedError', evidence: { exitCode: 3 } } });
    // GET reads the same record from the job.
    expect((await get(service, `/v1/tasks/${crashed.json().id}`)).json()).toEqual(crashed.json());
  }, 60_000);

  it('cancels a waiting task and a running one (both then read cancelled), answers 409 once settled and 404 for unknown ids', async () => {
    const server = await redis();
    await startHost(server, 'cancel', { args: ['--workers', '1'] });
    const service = await openService(server, 'cancel');

    const spinning = (await post(service, { task: 'spin', timeoutMs: 60_000 })).json().id as string;
    expect((await until(() => get(service, `/v1/tasks/${spinning}`), (r) => r.json().state === 'running')).json().state).toBe('running');
    // The host's one slot is taken: this one waits.
    const waiting = (await post(service, { task: 'sleep', payload: 10 })).json().id as string;
    expect((await get(service, `/v1/tasks/${waiting}`)).json().state).toBe('queued');

    const cancelWaiting = await service.app.inject({ method: 'DELETE', url: `/v1/tasks/${waiting}` });
    expect([cancelWaiting.statusCode, cancelWaiting.json()]).toEqual([202, { id: waiting, state: 'cancelling' }]);
    expect((await get(service, `/v1/tasks/${waiting}`)).json()).toMatchObject({ state: 'cancelled', error: { code: 'ERR_TASK_CANCELLED', evidence: { stage: 'queued' } } });

    expect((await service.app.inject({ method: 'DELETE', url: `/v1/tasks/${spinning}` })).statusCode).toBe(202);
    const cancelled = await until(() => get(service, `/v1/tasks/${spinning}`), (r) => r.json().state !== 'running');
    expect(cancelled.json()).toMatchObject({ state: 'cancelled', error: { code: 'ERR_TASK_CANCELLED', evidence: { stage: 'running' } } });

    const again = await service.app.inject({ method: 'DELETE', url: `/v1/tasks/${spinning}` });
    expect([again.statusCode, again.json().error.code]).toEqual([409, 'ERR_TASK_SETTLED']);
    for (const unknown of ['cpu.nobody-1', 'cuda.k-nothing', 't1', 'gpu.1']) {
      const response = await get(service, `/v1/tasks/${unknown}`);
      expect([unknown, response.statusCode, response.json().error.code]).toEqual([unknown, 404, 'ERR_TASK_NOT_FOUND']);
      expect((await service.app.inject({ method: 'DELETE', url: `/v1/tasks/${unknown}` })).statusCode).toBe(404);
    }
  }, 60_000);

  it('runs a keyed task once: the same key is the same id, and both callers get the one outcome', async () => {
    const server = await redis();
    await startHost(server, 'keyed', { args: ['--workers', '2'] });
    const service = await openService(server, 'keyed');
    const [a, b] = await Promise.all([post(service, { task: 'whoami', key: 'link:L1' }, '?wait=true'), post(service, { task: 'whoami', key: 'link:L1' }, '?wait=true')]);
    expect(a.json().id).toMatch(/^cpu\.k-/);
    expect(b.json()).toEqual(a.json());
    const third = await post(service, { task: 'whoami', key: 'link:L1' });
    expect(third.json()).toEqual({ id: a.json().id, state: 'queued' });
    expect((await get(service, `/v1/tasks/${a.json().id}`)).json()).toMatchObject({ state: 'succeeded', result: a.json().result });
  }, 60_000);

  it('refuses bad input and options past the caps with 400 naming the field, enqueuing nothing', async () => {
    const server = await redis();
    const service = await openService(server, 'caps', { maxTaskTimeoutMs: 60_000, maxTaskMemoryLimitMb: 512, maxPayloadDepth: 4 });
    const cases: Array<[unknown, string, string]> = [
      [{ task: 'echo', timeoutMs: 60_001 }, 'ERR_CONFIG', "timeoutMs: expected at most 60000 (the service's maxTaskTimeoutMs), got 60001"],
      [{ task: 'echo', memoryLimitMb: 1e300 }, 'ERR_CONFIG', "memoryLimitMb: expected at most 512 (the service's maxTaskMemoryLimitMb), got 1e+300"],
      [{ task: 'echo', timeoutMs: -1 }, 'ERR_CONFIG', 'timeoutMs: expected an integer from 1 to 2147483647 (ms), got -1'],
      [{ task: 'echo', retries: 'many' }, 'ERR_CONFIG', 'retries:'],
      [{ task: 'echo', path: '/etc/passwd' }, 'ERR_CONFIG', 'path'],
      [{ payload: 1 }, 'ERR_CONFIG', 'task: expected the name of an exported task'],
      [{ task: 'echo', payload: [[[[[1]]]]] }, 'ERR_PAYLOAD_TOO_DEEP', 'payload: expected at most 4 levels of nesting, got 5'],
    ];
    for (const [body, code, message] of cases) {
      const response = await post(service, body);
      expect([JSON.stringify(body), response.statusCode, response.json().error.code]).toEqual([JSON.stringify(body), 400, code]);
      expect(response.json().error.message).toContain(message);
    }
    const cluster = (await get(service, '/v1/cluster')).json();
    expect(cluster.queues.cpu).toMatchObject({ waiting: 0, active: 0, completed: 0, failed: 0 });
    expect((await get(service, '/metrics')).body).not.toMatch(/^poolvisor_tasks_submitted_total\{/m);
  }, 30_000);

  it('streams task.queued → task.started → task.succeeded for one task, with the periodic cluster event', async () => {
    const server = await redis();
    const host = await startHost(server, 'stream', { args: ['--workers', '1'] });
    const service = await openService(server, 'stream');
    const base = await service.app.listen({ host: '127.0.0.1', port: 0 });
    let id: string | undefined;
    const reading = readEvents(`${base}/v1/events`, {}, (events) => events.some((e) => e.event === 'audit' && e.data.type === 'task.succeeded' && e.data.taskId === id));
    // Connected before the task is submitted: the replay would hold it anyway, but the cluster event comes first.
    await new Promise((resolve) => setTimeout(resolve, 300));
    id = (await post(service, { task: 'sleep', payload: 50 })).json().id;
    const events = await reading;
    const mine = events.filter((e) => e.event === 'audit' && e.data.taskId === id);
    expect(mine.map((e) => e.data.type)).toEqual(['task.queued', 'task.started', 'task.succeeded']);
    expect(mine[0]?.data).toMatchObject({ name: 'sleep', at: expect.any(Number) });
    expect(mine.every((e) => Number(e.id) > 0)).toBe(true);
    const cluster = events.find((e) => e.event === 'cluster');
    expect(cluster?.id).toBeUndefined();
    expect(cluster?.data).toMatchObject({ mode: 'cluster', queue: 'stream', redis: 'ok', hosts: [{ id: host.id }], queues: { cpu: expect.any(Object) } });
    // The filter takes the cluster event by its name.
    const filtered = await readEvents(`${base}/v1/events?types=cluster`, {}, (seen) => seen.length > 0);
    expect(filtered.map((e) => e.event)).toEqual(['cluster']);
    expect((await get(service, '/v1/events?types=status')).json().error).toMatchObject({ code: 'ERR_CONFIG' });
  }, 60_000);

  it('lists two live hosts with their workers; a SIGKILLed host is gone from /v1/cluster within seconds', async () => {
    const server = await redis();
    const [doomed, survivor] = await Promise.all([startHost(server, 'hosts', { args: ['--workers', '2'] }), startHost(server, 'hosts', { args: ['--workers', '1'] })]);
    const service = await openService(server, 'hosts');
    expect((await get(service, '/readyz')).json()).toEqual({ ready: true, redis: 'ok', hosts: 2 });
    const cluster = (await get(service, '/v1/cluster')).json();
    expect(cluster.queue).toBe('hosts');
    expect(cluster.hosts.map((h: { id: string }) => h.id).sort()).toEqual([doomed.id, survivor.id].sort());
    const byId = new Map(cluster.hosts.map((h: { id: string }) => [h.id, h]));
    expect(byId.get(doomed.id)).toMatchObject({ pid: doomed.pid, slots: { cpu: 2 }, poolState: 'running', running: 0, workers: [{ id: 'worker-0', device: 'cpu' }, { id: 'worker-1', device: 'cpu' }], tasks: expect.arrayContaining(['echo', 'spin']) });
    expect(byId.get(survivor.id)).toMatchObject({ pid: survivor.pid, slots: { cpu: 1 }, workers: [{ id: 'worker-0', state: expect.any(String) }] });
    expect((await get(service, '/metrics')).body).toMatch(/^poolvisor_cluster_hosts 2$/m);

    noteWorkers(doomed);
    const killedAt = Date.now();
    doomed.child.kill('SIGKILL');
    const after = await until(() => get(service, '/v1/cluster'), (r) => r.json().hosts.length === 1, 10_000);
    expect(after.json().hosts.map((h: { id: string }) => h.id)).toEqual([survivor.id]);
    expect(Date.now() - killedAt).toBeLessThan(10_000);
  }, 60_000);

  it('needs the token on every route but the open ones when one is configured', async () => {
    const server = await redis();
    const service = await openService(server, 'token', { token: 'a-long-enough-secret-token' });
    for (const url of ['/v1/cluster', '/v1/tasks/cpu.x-1', '/v1/events', '/metrics']) {
      const denied = await get(service, url);
      expect([url, denied.statusCode, denied.json().error.code]).toEqual([url, 401, 'ERR_UNAUTHORIZED']);
    }
    expect((await post(service, { task: 'echo' })).statusCode).toBe(401);
    const allowed = await service.app.inject({ url: '/v1/cluster', headers: { authorization: 'Bearer a-long-enough-secret-token' } });
    expect(allowed.statusCode).toBe(200);
    const accepted = await post(service, { task: 'echo', payload: 1 }, '', { authorization: 'Bearer a-long-enough-secret-token' });
    expect(accepted.statusCode).toBe(202);
    // Probes need none: no host is up, so not ready.
    expect((await get(service, '/healthz')).statusCode).toBe(200);
    expect((await get(service, '/readyz')).json()).toEqual({ ready: false, redis: 'ok', hosts: 0 });
    await expect(createClusterService({ redis: server.url, queue: 'token', token: 'short' })).rejects.toThrow('token: expected at least 16 characters, got 5');
  }, 30_000);

  it('answers 503 ERR_REDIS_UNAVAILABLE, never a 500 or a hang, while Redis is away, and serves again when it is back', async () => {
    const server = await openRedis();
    const service = await openService(server, 'outage', { redisTimeoutMs: 500 });
    expect((await post(service, { task: 'echo' })).statusCode).toBe(202);
    await server.kill();
    const started = Date.now();
    for (const request of [() => post(service, { task: 'echo' }), () => get(service, '/v1/tasks/cpu.x-1'), () => get(service, '/v1/cluster')]) {
      const response = await request();
      expect([response.statusCode, response.json().error.code]).toEqual([503, 'ERR_REDIS_UNAVAILABLE']);
      expect(response.headers['retry-after']).toBe('1');
    }
    expect(Date.now() - started).toBeLessThan(5000);
    expect((await get(service, '/readyz')).json()).toEqual({ ready: false, redis: 'unreachable', hosts: 0 });
    expect((await get(service, '/metrics')).body).toMatch(/^poolvisor_cluster_redis_up 0$/m);
    await server.restart();
    const back = await until(() => post(service, { task: 'echo' }), (r) => r.statusCode === 202, 20_000);
    expect(back.statusCode).toBe(202);
  }, 60_000);

  it('starts while Redis is away, answers 503 until it comes up, then serves', async () => {
    const server = await openRedis();
    await server.kill();
    const started = Date.now();
    const service = await openService(server, 'late', { redisTimeoutMs: 500 });
    // Up within its Redis timeout, not whenever Redis comes.
    expect(Date.now() - started).toBeLessThan(5000);
    expect((await get(service, '/readyz')).json()).toEqual({ ready: false, redis: 'unreachable', hosts: 0 });
    const refused = await post(service, { task: 'echo' });
    expect([refused.statusCode, refused.json().error.code]).toEqual([503, 'ERR_REDIS_UNAVAILABLE']);
    await server.restart();
    const host = await startHost(server, 'late', { args: ['--workers', '1'] });
    const done = await until(() => post(service, { task: 'echo', payload: 7 }, '?wait=true'), (r) => r.statusCode === 200, 20_000);
    expect(done.json()).toMatchObject({ state: 'succeeded', result: 7, host: host.id });
  }, 60_000);

  it('bounds the requests that wait, and answers them 503 when it closes while their tasks still run', async () => {
    const server = await redis();
    // No host serves this queue: nothing settles.
    const service = await openService(server, 'waiters', { maxWaitingRequests: 2 });
    const waits = [post(service, { task: 'sleep', payload: 1 }, '?wait=true'), post(service, { task: 'sleep', payload: 1 }, '?wait=true')];
    await until(async () => (await get(service, '/metrics')).body, (text) => /^poolvisor_waiting_requests 2$/m.test(text));
    const third = await post(service, { task: 'sleep', payload: 1 }, '?wait=true');
    expect([third.statusCode, third.json().error.code, third.headers['retry-after']]).toEqual([429, 'ERR_TOO_MANY_WAITERS', '1']);
    // Without ?wait, still accepted.
    expect((await post(service, { task: 'sleep', payload: 1 })).statusCode).toBe(202);
    const closed = service.close(200);
    const late = await post(service, { task: 'echo' });
    expect([late.statusCode, late.json().error.code]).toEqual([503, 'ERR_SHUTTING_DOWN']);
    const answers = await Promise.all(waits);
    for (const answer of answers) expect([answer.statusCode, answer.json().error.code, answer.json().error.id]).toEqual([503, 'ERR_SHUTTING_DOWN', expect.stringMatching(/^cpu\./)]);
    await closed;
  }, 30_000);
});
