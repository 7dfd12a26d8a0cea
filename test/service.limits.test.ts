import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createService, type Service } from '../src/service/app.js';
import { fixture, liveWorkerChildren } from './support/processes.js';

// What a client sends, or a task returns, cannot lift the operator's limits, grow the
// service without bound, or produce a 500.

let service: Service;
const logLines: Array<Record<string, any>> = [];

beforeAll(async () => {
  service = await createService({
    pool: { task: fixture('tasks.mjs'), maxWorkers: 1, spareWorkers: 0, taskTimeoutMs: 1000, memoryLimitMb: 100 },
    taskRecords: { maxCount: 1000, maxBytes: 64 * 1024, maxResultBytes: 16 * 1024 },
    logger: { level: 'info', stream: { write: (line: string) => logLines.push(JSON.parse(line)) } },
  });
});
afterAll(() => service.close(0));

const post = (s: Service, body: unknown, query = '') =>
  s.app.inject({ method: 'POST', url: `/v1/tasks${query}`, headers: { 'content-type': 'application/json' }, payload: typeof body === 'string' ? body : JSON.stringify(body) });

describe('createService', () => {
  it('refuses a bound that cannot work before starting a worker', async () => {
    const before = liveWorkerChildren();
    const starting = createService({ pool: { task: fixture('tasks.mjs'), spareWorkers: 0 }, taskRecords: { maxBytes: -1 } });
    // Checked synchronously, before createPool: no worker process was forked for it.
    expect(liveWorkerChildren()).toEqual(before);
    await expect(starting).rejects.toThrow('taskRecords.maxBytes: expected an integer >= 1 (characters), got -1');
    expect(liveWorkerChildren()).toEqual(before);
  });
});

describe("a client's own limits", () => {
  it('are capped by the server: above the cap is a 400 naming the field, the value and the cap', async () => {
    const memory = await post(service, { task: 'echo', payload: 1, memoryLimitMb: 1e300 });
    expect(memory.statusCode).toBe(400);
    expect(memory.json().error).toMatchObject({ code: 'ERR_CONFIG', message: "memoryLimitMb: expected at most 100 (the pool's maxTaskMemoryLimitMb), got 1e+300" });
    const timeout = await post(service, { task: 'echo', payload: 1, timeoutMs: 2_147_483_647 });
    expect(timeout.statusCode).toBe(400);
    expect(timeout.json().error.issues).toEqual([{ field: 'timeoutMs', message: "expected at most 1000 (the pool's maxTaskTimeoutMs), got 2147483647", received: 2_147_483_647 }]);
    // At or under the cap, a client may still ask for less.
    const under = await post(service, { task: 'sleep', payload: 300, timeoutMs: 100 }, '?wait=true');
    expect(under.json()).toMatchObject({ state: 'failed', error: { code: 'ERR_WORKER_TIMEOUT', evidence: { timeoutMs: 100 } } });
    expect((await service.app.inject({ url: '/v1/pool' })).json().limits).toMatchObject({ taskTimeoutMs: 1000, maxTaskTimeoutMs: 1000, maxTaskMemoryLimitMb: 100 });
  });
});

describe('what the API cannot represent', () => {
  it('a result that is not JSON fails its task with ERR_RESULT_NOT_SERIALIZABLE, and the record reads 200 ever after', async () => {
    for (const [kind, reason] of [
      ['bigint', 'Do not know how to serialize a BigInt'],
      ['circular', 'Converting circular structure to JSON'],
    ]) {
      const waited = await post(service, { task: 'bigResultOfKind', payload: kind }, '?wait=true');
      expect(waited.statusCode).toBe(200);
      expect(waited.json()).toMatchObject({ state: 'failed', error: { code: 'ERR_RESULT_NOT_SERIALIZABLE', evidence: { format: 'json' } } });
      expect(waited.json().error.message).toContain(reason);
      const read = await service.app.inject({ url: `/v1/tasks/${waited.json().id}` });
      expect(read.statusCode).toBe(200);
      expect(read.json().error.code).toBe('ERR_RESULT_NOT_SERIALIZABLE');
    }
  });

  it('a payload nested too deep is a 400 naming the field, however deep', async () => {
    const nested = (depth: number) => `{"task":"echo","payload":${'['.repeat(depth)}${']'.repeat(depth)}}`;
    const over = await post(service, nested(65));
    expect(over.statusCode).toBe(400);
    expect(over.json().error).toMatchObject({ code: 'ERR_PAYLOAD_TOO_DEEP', field: 'payload', maxDepth: 64 });
    // Far deeper bodies are refused by the JSON parser itself, before anything walks them.
    for (const depth of [5_000, 200_000]) {
      const response = await post(service, nested(depth));
      expect(response.statusCode).toBe(400);
      expect(response.json().error.code).toBe('ERR_BAD_JSON');
    }
    const deepest = `${'{"a":'.repeat(63)}1${'}'.repeat(63)}`;
    expect((await post(service, `{"task":"echo","payload":${deepest}}`, '?wait=true')).json()).toMatchObject({ state: 'succeeded' });
  });
});

describe('pending payloads', () => {
  it('weigh at most maxPendingPayloadBytes together: past it, 429, and the bytes come back as tasks settle', async () => {
    const small = await createService({ pool: { task: fixture('tasks.mjs'), maxWorkers: 1, spareWorkers: 0 }, maxPendingPayloadBytes: 10_000 });
    try {
      const body = (ms: number) => ({ task: 'sleep', payload: ms, key: 'k'.repeat(200) });
      const size = JSON.stringify(body(200)).length;
      const accepted = [];
      for (let i = 0; i < Math.floor(10_000 / size); i += 1) accepted.push(await post(small, body(200)));
      expect(accepted.map((r) => r.statusCode)).toEqual(accepted.map(() => 202));
      const refused = await post(small, body(200));
      expect(refused.statusCode).toBe(429);
      expect(refused.headers['retry-after']).toBe('1');
      expect(refused.json().error).toMatchObject({ code: 'ERR_QUEUE_FULL', message: expect.stringContaining('10000-byte limit') });
      const last = accepted.at(-1)?.json().id;
      while ((await small.app.inject({ url: `/v1/tasks/${last}` })).json().state !== 'succeeded') await new Promise((resolve) => setTimeout(resolve, 50));
      expect((await small.app.inject({ url: '/v1/pool' })).json().pendingPayloadBytes).toBe(0);
      expect((await post(small, body(1))).statusCode).toBe(202);
    } finally {
      await small.close(0);
    }
  });
});

describe('task records', () => {
  it('are bounded in characters: the oldest results go first, and one over the per-record cap is kept as its size', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 20; i += 1) {
      const response = await post(service, { task: 'bigResultOfKind', payload: 8 * 1024 }, '?wait=true');
      expect(response.json()).toMatchObject({ state: 'succeeded', result: 'x'.repeat(8 * 1024) });
      ids.push(response.json().id);
    }
    const { records } = (await service.app.inject({ url: '/v1/pool' })).json();
    expect(records.settledBytes).toBeLessThanOrEqual(64 * 1024);
    const metrics = (await service.app.inject({ url: '/metrics' })).body;
    expect(metrics).toContain(`\npoolvisor_task_records_bytes ${records.settledBytes}\n`);
    expect(metrics).toMatch(/^poolvisor_pending_payload_bytes 0$/m);
    expect(metrics).toMatch(/^poolvisor_event_streams 0$/m);
    expect((await service.app.inject({ url: `/v1/tasks/${ids[0]}` })).json().error.code).toBe('ERR_TASK_NOT_FOUND');
    expect((await service.app.inject({ url: `/v1/tasks/${ids.at(-1)}` })).json()).toMatchObject({ state: 'succeeded', result: 'x'.repeat(8 * 1024) });

    // The caller who waited gets the whole result, once; the record keeps only its size.
    const large = await post(service, { task: 'bigResultOfKind', payload: 20_000 }, '?wait=true');
    expect(large.json()).toMatchObject({ state: 'succeeded', result: 'x'.repeat(20_000), resultTooLarge: { bytes: 20_002, limitBytes: 16 * 1024 } });
    const kept = (await service.app.inject({ url: `/v1/tasks/${large.json().id}` })).json();
    expect(kept).toMatchObject({ state: 'succeeded', resultTooLarge: { bytes: 20_002, limitBytes: 16 * 1024 } });
    expect(kept.result).toBeUndefined();
  });
});

describe('the log', () => {
  it('has every kill at warn with its evidence', async () => {
    const response = await post(service, { task: 'spin', timeoutMs: 100 }, '?wait=true');
    const taskId = response.json().id;
    const kill = logLines.find((line) => line.event?.type === 'worker.killed' && line.event.taskId === taskId);
    expect(kill).toMatchObject({ level: 40, event: { termination: { reason: 'timeout', timeoutMs: 100 } } });
    expect(kill?.msg).toContain('killed: timeout');
  });
});

describe('a draining service', () => {
  it('still answers GET for tasks it accepted, refusing new ones, until their results are read', async () => {
    const draining = await createService({ pool: { task: fixture('tasks.mjs'), maxWorkers: 1, spareWorkers: 0 } });
    const accepted = (await post(draining, { task: 'sleep', payload: 300 })).json();
    const closed = draining.close(10_000, 60_000);
    expect((await post(draining, { task: 'echo', payload: 1 })).json().error.code).toBe('ERR_SHUTTING_DOWN');
    let record = (await draining.app.inject({ url: `/v1/tasks/${accepted.id}` })).json();
    expect(['queued', 'running']).toContain(record.state);
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(draining.pool.status().state).toBe('closed');
    // The pool is closed, the server lingers for the one result nobody has read: the first read lets it go.
    record = (await draining.app.inject({ url: `/v1/tasks/${accepted.id}` })).json();
    expect(record).toMatchObject({ state: 'succeeded', result: 300 });
    await closed;
  });
});

describe('poolvisor serve on a port in use', () => {
  it('exits 1 with one clear line instead of waiting for ever', async () => {
    const taken = createServer();
    taken.listen(0, '127.0.0.1');
    await once(taken, 'listening');
    const { port } = taken.address() as { port: number };
    try {
      const root = fileURLToPath(new URL('..', import.meta.url));
      const child = spawn(process.execPath, ['dist/src/cli.js', 'serve', '--port', String(port), '--workers', '1', '--task', fileURLToPath(fixture('tasks.mjs'))], {
        cwd: root,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stderr = '';
      child.stderr.on('data', (chunk) => (stderr += chunk));
      const [code] = (await once(child, 'exit')) as [number];
      expect(code).toBe(1);
      expect(stderr).toBe(`poolvisor serve: cannot listen on 127.0.0.1:${port}: the address is in use (EADDRINUSE)\n`);
    } finally {
      taken.close();
    }
  }, 30_000);
});
