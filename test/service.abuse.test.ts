import { request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createService, type Service } from '../src/service/app.js';
import { eventually, fixture } from './support/processes.js';

// A bounded load-and-abuse run against a listening server: a few thousand requests,
// every bad input the service has been shown to mishandle, mixed with good ones. What
// must hold: no 500, every error in the envelope with its documented status, the good
// tasks served, and the server's memory for records within its bounds.

const RECORD_BYTES = 256 * 1024;
const STREAM_BYTES = 64 * 1024;
let service: Service;
let port: number;

beforeAll(async () => {
  service = await createService({
    pool: { task: fixture('tasks.mjs'), maxWorkers: 2, taskTimeoutMs: 2000, memoryLimitMb: 256 },
    taskRecords: { maxBytes: RECORD_BYTES, maxResultBytes: 32 * 1024 },
    bodyLimitBytes: 64 * 1024,
    maxStreamBufferBytes: STREAM_BYTES,
    eventLogSize: 2000,
  });
  await service.app.listen({ host: '127.0.0.1', port: 0 });
  port = (service.app.server.address() as { port: number }).port;
});
afterAll(() => service.close(0));

interface Answer {
  status: number;
  body: string;
}

/** One request over a fresh connection, with whatever headers and path the case needs: fetch would refuse some of them. */
function send(method: string, path: string, body?: string, headers: Record<string, string> = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      { host: '127.0.0.1', port, method, path, headers: { ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers }, agent: false },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk) => (text += chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

const task = (body: unknown) => JSON.stringify(body);
const nested = (depth: number) => `{"task":"echo","payload":${'['.repeat(depth)}${']'.repeat(depth)}}`;

/** Each kind of request: how to send it, and the status and code it must get. */
const KINDS: Record<string, { make: (i: number) => Promise<Answer>; status: number; code?: string }> = {
  ok: { make: (i) => send('POST', '/v1/tasks', task({ task: 'echo', payload: { i } })), status: 202 },
  overMemory: { make: () => send('POST', '/v1/tasks', task({ task: 'echo', memoryLimitMb: 1e300 })), status: 400, code: 'ERR_CONFIG' },
  overTimeout: { make: () => send('POST', '/v1/tasks', task({ task: 'echo', timeoutMs: 2_147_483_647 })), status: 400, code: 'ERR_CONFIG' },
  deep: { make: () => send('POST', '/v1/tasks', nested(100)), status: 400, code: 'ERR_PAYLOAD_TOO_DEEP' },
  veryDeep: { make: () => send('POST', '/v1/tasks', nested(20_000)), status: 400, code: 'ERR_BAD_JSON' },
  notJson: { make: () => send('POST', '/v1/tasks', '{"task":'), status: 400, code: 'ERR_BAD_JSON' },
  proto: { make: () => send('POST', '/v1/tasks', '{"task":"echo","payload":{"__proto__":{"polluted":1}}}'), status: 400, code: 'ERR_BAD_JSON' },
  textPlain: { make: () => send('POST', '/v1/tasks', 'task=echo', { 'content-type': 'text/plain' }), status: 415, code: 'ERR_UNSUPPORTED_MEDIA_TYPE' },
  tooLarge: { make: () => send('POST', '/v1/tasks', task({ task: 'echo', payload: 'x'.repeat(70_000) })), status: 413, code: 'ERR_BODY_TOO_LARGE' },
  unknownTask: { make: () => send('POST', '/v1/tasks', task({ task: 'rm -rf /' })), status: 404, code: 'ERR_UNKNOWN_TASK' },
  unknownRoute: { make: () => send('GET', '/v2/anything'), status: 404, code: 'ERR_ROUTE_NOT_FOUND' },
  wrongMethod: { make: () => send('PUT', '/v1/tasks', '{}'), status: 405, code: 'ERR_METHOD_NOT_ALLOWED' },
  badEncoding: { make: () => send('GET', '/v1/tasks/%E0%A4%A'), status: 400, code: 'ERR_BAD_URL' },
  longId: { make: () => send('GET', `/v1/tasks/${'t'.repeat(4000)}`), status: 400, code: 'ERR_BAD_URL' },
  missingTask: { make: () => send('GET', '/v1/tasks/t999999999'), status: 404, code: 'ERR_TASK_NOT_FOUND' },
  evilHost: { make: () => send('GET', '/v1/pool', undefined, { host: 'evil.example' }), status: 421, code: 'ERR_HOST_NOT_ALLOWED' },
  bigint: { make: () => send('POST', '/v1/tasks?wait=true', task({ task: 'bigResultOfKind', payload: 'bigint' })), status: 200 },
  circular: { make: () => send('POST', '/v1/tasks?wait=true', task({ task: 'bigResultOfKind', payload: 'circular' })), status: 200 },
  bigResult: { make: () => send('POST', '/v1/tasks', task({ task: 'bigResultOfKind', payload: 20_000 })), status: 202 },
  hugeResult: { make: () => send('POST', '/v1/tasks', task({ task: 'bigResultOfKind', payload: 40_000 })), status: 202 },
  // A failure whose message is 30 KB: the audit trail carries it to every stream.
  loudFailure: { make: () => send('POST', '/v1/tasks', task({ task: 'fail', payload: 'x'.repeat(30_000) })), status: 202 },
};

describe('a server under load and abuse', () => {
  it('answers 3,000 mixed requests without a 500, each error in the envelope with its status, and keeps its records within bounds', async () => {
    // A client that opens the event stream and never reads: the server must not hold more than the limit for it.
    const nonReader = connect({ host: '127.0.0.1', port });
    nonReader.on('error', () => {});
    await new Promise((resolve) => nonReader.once('connect', resolve));
    nonReader.write(`GET /v1/events HTTP/1.1\r\nhost: 127.0.0.1:${port}\r\n\r\n`);
    nonReader.pause();
    expect(await eventually(() => service.eventStreams().open === 1)).toBe(true);

    const names = Object.keys(KINDS);
    // Good requests are half of the load; the bad ones take turns in the other half.
    const plan = Array.from({ length: 3000 }, (_, i) => (i % 2 === 0 ? 'ok' : (names[1 + ((i >> 1) % (names.length - 1))] as string)));
    const answers: Array<{ kind: string; answer: Answer }> = [];
    let next = 0;
    await Promise.all(
      Array.from({ length: 24 }, async () => {
        while (next < plan.length) {
          const i = next++;
          const kind = plan[i] as string;
          answers.push({ kind, answer: await (KINDS[kind] as (typeof KINDS)[string]).make(i) });
        }
      }),
    );
    expect(answers).toHaveLength(3000);
    expect(answers.filter(({ answer }) => answer.status >= 500)).toEqual([]);
    const wrong = answers.filter(({ kind, answer }) => answer.status !== KINDS[kind]?.status).map(({ kind, answer }) => `${kind}: ${answer.status} ${answer.body.slice(0, 200)}`);
    expect([...new Set(wrong)]).toEqual([]);
    for (const { kind, answer } of answers) {
      const spec = KINDS[kind] as (typeof KINDS)[string];
      const body = JSON.parse(answer.body);
      if (answer.status >= 400) {
        expect(Object.keys(body)).toEqual(['error']);
        expect(body.error).toMatchObject({ code: spec.code, message: expect.any(String) });
      }
      if (kind === 'bigint' || kind === 'circular') expect(body).toMatchObject({ state: 'failed', error: { code: 'ERR_RESULT_NOT_SERIALIZABLE' } });
    }

    // Every good task is served; what the service remembers of them stays within its bounds.
    const accepted = answers.filter(({ kind }) => kind === 'ok').map(({ answer }) => JSON.parse(answer.body).id as string);
    const last = accepted.at(-1) as string;
    let record = JSON.parse((await send('GET', `/v1/tasks/${last}`)).body);
    for (let tries = 0; tries < 200 && (record.state === 'queued' || record.state === 'running'); tries += 1) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      record = JSON.parse((await send('GET', `/v1/tasks/${last}`)).body);
    }
    expect(record).toMatchObject({ state: 'succeeded', result: { i: expect.any(Number) } });
    let view = JSON.parse((await send('GET', '/v1/pool')).body);
    for (let tries = 0; tries < 200 && view.counts.submitted > view.counts.succeeded + view.counts.failed; tries += 1) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      view = JSON.parse((await send('GET', '/v1/pool')).body);
    }
    expect(view.records.settledBytes).toBeLessThanOrEqual(RECORD_BYTES);
    // Every task the pool was given settled: the good ones (and the big results) as successes, the
    // unrepresentable results and loud failures as failures; nothing is left over or counted twice.
    const count = (kinds: string[]) => answers.filter(({ kind }) => kinds.includes(kind)).length;
    expect(view.counts.succeeded).toBe(count(['ok', 'bigResult', 'hugeResult']));
    expect(view.counts.failed).toBe(count(['bigint', 'circular', 'loudFailure']));
    expect(view.state).toBe('running');

    // The non-reader falls behind the ring and is closed as lagging, never holding more than its limit
    // (more loud failures, until the kernel's socket buffers are full too).
    for (let batch = 0; batch < 40 && service.eventStreams().lagged === 0; batch += 1) {
      await Promise.all(Array.from({ length: 20 }, () => KINDS.loudFailure?.make(0)));
    }
    expect(await eventually(() => service.eventStreams().open === 0, 10_000)).toBe(true);
    expect(service.eventStreams()).toMatchObject({ lagged: 1 });
    // A frame larger than what is left under the limit still goes out into a socket holding under
    // its 16 KiB high-water mark; the loud failures' frames are ~61 KB (the message, and the stack that repeats it).
    expect(service.eventStreams().peakBufferedBytes).toBeLessThanOrEqual(Math.max(STREAM_BYTES, 16 * 1024 + 64 * 1024));
    nonReader.destroy();
  }, 120_000);
});
