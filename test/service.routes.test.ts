import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createService, type Service } from '../src/service/app.js';
import { eventually, fixture } from './support/processes.js';

let service: Service;
let locked: Service;
const json = (body: unknown) => ({ 'content-type': 'application/json', payload: JSON.stringify(body) });

beforeAll(async () => {
  service = await createService({ pool: { task: fixture('tasks.mjs'), maxWorkers: 1, maxQueue: 1, spareWorkers: 0 }, bodyLimitBytes: 2048 });
  locked = await createService({ pool: { task: fixture('tasks.mjs'), maxWorkers: 1, spareWorkers: 0 }, token: 'a-long-enough-secret-token' });
});
afterAll(async () => {
  await Promise.all([service.close(0), locked.close(0)]);
});

const post = (s: Service, body: unknown, query = '') =>
  s.app.inject({ method: 'POST', url: `/v1/tasks${query}`, headers: { 'content-type': 'application/json' }, payload: JSON.stringify(body) });

describe('the HTTP API (app.inject)', () => {
  it('POST /v1/tasks → 202 with an id; GET answers the state and, once settled, the result', async () => {
    const accepted = await post(service, { task: 'sleep', payload: 30 });
    expect(accepted.statusCode).toBe(202);
    const { id } = accepted.json();
    expect(accepted.headers.location).toBe(`/v1/tasks/${id}`);
    let record = (await service.app.inject({ url: `/v1/tasks/${id}` })).json();
    expect(['queued', 'running']).toContain(record.state);
    await new Promise((resolve) => setTimeout(resolve, 300));
    record = (await service.app.inject({ url: `/v1/tasks/${id}` })).json();
    expect(record).toMatchObject({ id, task: 'sleep', state: 'succeeded', result: 30 });
  });

  it('?wait=true answers with the result, and a task failure is a result (200), not a 500', async () => {
    const ok = await post(service, { task: 'echo', payload: { x: 1 } }, '?wait=true');
    expect(ok.statusCode).toBe(200);
    expect(ok.json()).toMatchObject({ state: 'succeeded', result: { x: 1 } });
    const killed = await post(service, { task: 'spin', timeoutMs: 100 }, '?wait=true');
    expect(killed.statusCode).toBe(200);
    expect(killed.json()).toMatchObject({ state: 'failed', error: { code: 'ERR_WORKER_TIMEOUT', evidence: { timeoutMs: 100, workerId: 'worker-0' } } });
    const thrown = await post(service, { task: 'fail', payload: 'nope' }, '?wait=true');
    expect(thrown.json()).toMatchObject({ state: 'failed', error: { code: 'ERR_TASK_FAILED', evidence: { cause: { name: 'RangeError', message: 'nope' } } } });
  });

  it('400 names the bad field; 404 lists the registered tasks; 413 over the body limit', async () => {
    const bad = await post(service, { task: 'echo', timeoutMs: -1 });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().error).toMatchObject({ code: 'ERR_CONFIG', message: 'timeoutMs: expected an integer from 1 to 2147483647 (ms), got -1' });
    const unknownField = await post(service, { task: 'echo', path: '/etc/passwd' });
    expect(unknownField.statusCode).toBe(400);
    expect(unknownField.json().error.issues[0].field).toBe('path');
    const missing = await post(service, { payload: 1 });
    expect(missing.json().error.message).toContain('task: expected the name of an exported task, got nothing');
    const unknown = await post(service, { task: 'rm -rf' });
    expect(unknown.statusCode).toBe(404);
    expect(unknown.json().error).toMatchObject({ code: 'ERR_UNKNOWN_TASK', tasks: expect.arrayContaining(['echo', 'spin']) });
    const huge = await post(service, { task: 'echo', payload: 'x'.repeat(5000) });
    expect(huge.statusCode).toBe(413);
    expect(huge.json().error.code).toBe('ERR_BODY_TOO_LARGE');
    const notJson = await service.app.inject({ method: 'POST', url: '/v1/tasks', headers: { 'content-type': 'application/json' }, payload: '{' });
    expect(notJson.statusCode).toBe(400);
    const device = await post(service, { task: 'echo', device: 'cuda' });
    expect(device.statusCode).toBe(400);
    expect(device.json().error).toMatchObject({ code: 'ERR_NO_MATCHING_DEVICE', devices: ['cpu'] });
  });

  it('429 with Retry-After when the queue is full', async () => {
    const running = post(service, { task: 'sleep', payload: 400 }, '?wait=true');
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect((await post(service, { task: 'sleep', payload: 1 })).statusCode).toBe(202); // fills the one queue slot
    const full = await post(service, { task: 'sleep', payload: 1 });
    expect(full.statusCode).toBe(429);
    expect(full.headers['retry-after']).toBe('1');
    expect(full.json().error.code).toBe('ERR_QUEUE_FULL');
    await running;
  });

  it('DELETE cancels a running task; 409 once settled; 404 for an unknown id', async () => {
    const { id } = (await post(service, { task: 'spin', timeoutMs: 60_000 })).json();
    await new Promise((resolve) => setTimeout(resolve, 100));
    const cancel = await service.app.inject({ method: 'DELETE', url: `/v1/tasks/${id}` });
    expect(cancel.statusCode).toBe(202);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect((await service.app.inject({ url: `/v1/tasks/${id}` })).json()).toMatchObject({ state: 'cancelled', error: { code: 'ERR_TASK_CANCELLED' } });
    expect((await service.app.inject({ method: 'DELETE', url: `/v1/tasks/${id}` })).statusCode).toBe(409);
    expect((await service.app.inject({ url: '/v1/tasks/t999999' })).statusCode).toBe(404);
  });

  it('GET /v1/pool, /v1/machines, /healthz, /readyz and the dashboard page', async () => {
    // The previous test killed the only worker: /readyz rightly says 503 until its replacement is up.
    expect(await eventually(() => service.pool.status().workers.some((w) => w.state === 'idle'))).toBe(true);
    const pool = (await service.app.inject({ url: '/v1/pool' })).json();
    expect(pool).toMatchObject({ state: 'running', workers: [{ id: 'worker-0', device: 'cpu' }], limits: { softMemoryRatio: 0.8 } });
    expect(pool.tasks).toContain('echo');
    const machines = (await service.app.inject({ url: '/v1/machines' })).json();
    expect(machines.worker.states.map((s: { path: string }) => s.path)).toEqual(expect.arrayContaining(['alive.running.busy', 'alive.running.monitoring', 'killed.terminating']));
    expect(machines.supervisor.transitions).toContainEqual({ source: 'running', target: 'degraded', event: 'always', guard: 'isDegraded' });
    expect((await service.app.inject({ url: '/healthz' })).json()).toEqual({ ok: true });
    expect((await service.app.inject({ url: '/readyz' })).statusCode).toBe(200);
    const page = await service.app.inject({ url: '/' });
    expect(page.headers['content-type']).toContain('text/html');
    expect(page.body).toContain('/dashboard/client.js');
    expect((await service.app.inject({ url: '/dashboard/client.js' })).body).toContain('/v1/machines');
  });

  it('/metrics parses as Prometheus text and counts what happened', async () => {
    const text = (await service.app.inject({ url: '/metrics' })).body;
    for (const line of text.split('\n').filter(Boolean)) {
      expect(line).toMatch(/^(# (HELP|TYPE) [a-z_:][a-z0-9_:]* .+|[a-z_:][a-z0-9_:]*(\{[a-z_]+="[^"]*"(,[a-z_]+="[^"]*")*\})? -?[0-9.e+-]+|[a-z_:][a-z0-9_:]*(\{.*\})? (NaN|\+Inf|-Inf))$/);
    }
    expect(text).toMatch(/^poolvisor_tasks_total\{outcome="succeeded"\} [1-9]\d*$/m);
    expect(text).toMatch(/^poolvisor_worker_kills_total\{reason="timeout"\} [1-9]\d*$/m);
    expect(text).toMatch(/^poolvisor_worker_state\{worker="worker-0",state="(idle|busy|restarting)"\} 1$/m);
    expect(text).toMatch(/^poolvisor_queue_depth \d+$/m);
    expect(text).toMatch(/^poolvisor_task_duration_seconds_bucket\{le="\+Inf",outcome="succeeded"\} \d+$/m);
  });
});

describe('with a token', () => {
  it('needs Authorization: Bearer on every route but the open ones (all listed in service.access.test.ts)', async () => {
    expect((await locked.app.inject({ url: '/healthz' })).statusCode).toBe(200);
    const denied = await locked.app.inject({ url: '/v1/pool' });
    expect(denied.statusCode).toBe(401);
    expect(denied.headers['www-authenticate']).toBe('Bearer');
    expect(denied.json().error.code).toBe('ERR_UNAUTHORIZED');
    expect((await locked.app.inject({ url: '/metrics' })).statusCode).toBe(401);
    expect((await locked.app.inject({ url: '/v1/pool', headers: { authorization: 'Bearer wrong' } })).statusCode).toBe(401);
    const allowed = await locked.app.inject({ url: '/v1/pool', headers: { authorization: 'Bearer a-long-enough-secret-token' } });
    expect(allowed.statusCode).toBe(200);
    const run = await locked.app.inject({ method: 'POST', url: '/v1/tasks?wait=true', headers: { authorization: 'Bearer a-long-enough-secret-token', 'content-type': 'application/json' }, payload: JSON.stringify({ task: 'echo', payload: 2 }) });
    expect(run.json()).toMatchObject({ state: 'succeeded', result: 2 });
  });

  it('sends no CORS headers unless origins are configured', async () => {
    const response = await service.app.inject({ url: '/healthz', headers: { origin: 'https://evil.example' } });
    expect(response.headers['access-control-allow-origin']).toBeUndefined();
  });
});

describe('a poison input', () => {
  it('is answered 422 ERR_TASK_QUARANTINED with its evidence and Retry-After, while other requests are served', async () => {
    const crashed = [await post(service, { task: 'exitWith', payload: 7 }, '?wait=true'), await post(service, { task: 'exitWith', payload: 7 }, '?wait=true')];
    expect(crashed.map((r) => [r.statusCode, r.json().error.code])).toEqual([
      [200, 'ERR_WORKER_CRASHED'],
      [200, 'ERR_WORKER_CRASHED'],
    ]);
    const refused = await post(service, { task: 'exitWith', payload: 7 });
    expect(refused.statusCode).toBe(422);
    expect(refused.json().error).toMatchObject({ code: 'ERR_TASK_QUARANTINED', failures: [{ code: 'CRASHED' }, { code: 'CRASHED' }] });
    expect(Number(refused.headers['retry-after'])).toBeGreaterThan(60);
    const byKey = await post(service, { task: 'echo', payload: 'fine', key: 'k-1' }, '?wait=true');
    expect(byKey.json()).toMatchObject({ state: 'succeeded', result: 'fine' });
  });
});

describe('a degraded or closing pool', () => {
  it('answers 503 with the reason, and /readyz says not ready', async () => {
    const broken = await createService({
      pool: { task: fixture('brokenOnLoad.mjs'), maxWorkers: 1, restart: { backoffMs: 5, maxBackoffMs: 10, maxRestarts: 1, windowMs: 10_000 } },
    });
    try {
      const refused = await post(broken, { task: 'anything' });
      expect(refused.statusCode).toBe(503);
      expect(refused.json().error).toMatchObject({ code: 'ERR_POOL_DEGRADED', message: expect.stringContaining('broken on purpose') });
      const ready = await broken.app.inject({ url: '/readyz' });
      expect(ready.statusCode).toBe(503);
      expect(ready.json()).toMatchObject({ ready: false, state: 'degraded' });
    } finally {
      await broken.close(0);
    }
    const closing = await createService({ pool: { task: fixture('tasks.mjs'), maxWorkers: 1, spareWorkers: 0 } });
    const inFlight = post(closing, { task: 'sleep', payload: 200 }, '?wait=true');
    await new Promise((resolve) => setTimeout(resolve, 50));
    const closed = closing.close(5000);
    const late = await post(closing, { task: 'echo', payload: 1 });
    expect(late.statusCode).toBe(503);
    expect(late.json().error.code).toBe('ERR_SHUTTING_DOWN');
    expect((await inFlight).json()).toMatchObject({ state: 'succeeded', result: 200 }); // drained, not cut
    await closed;
  });
});
