import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createService, type Service } from '../src/service/app.js';
import { eventually, fixture } from './support/processes.js';
import { readEvents } from './support/sse.js';

const LIMIT_BYTES = 64 * 1024;
const MAX_STREAMS = 4;

let service: Service;
let base: string;

beforeAll(async () => {
  service = await createService({
    pool: { task: fixture('tasks.mjs'), maxWorkers: 2, taskTimeoutMs: 5000 },
    // A small ring and limit, so a few hundred big events leave a non-reader behind.
    eventLogSize: 300,
    maxStreamBufferBytes: LIMIT_BYTES,
    maxEventStreams: MAX_STREAMS,
  });
  base = await service.app.listen({ host: '127.0.0.1', port: 0 });
});
afterAll(() => service.close(0));

const submit = (task: string, payload?: unknown) =>
  fetch(`${base}/v1/tasks?wait=true`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ task, payload }) }).then(
    async (response) => (await response.json()) as { id: string; state: string },
  );

/** A client that sends its request and then never reads: what it is sent piles up in the server. */
async function openNonReader(path: string): Promise<net.Socket> {
  const { hostname, port } = new URL(base);
  const socket = net.connect({ host: hostname, port: Number(port) });
  socket.on('error', () => {});
  await new Promise((resolve) => socket.once('connect', resolve));
  socket.write(`GET ${path} HTTP/1.1\r\nhost: ${hostname}\r\n\r\n`);
  socket.pause();
  return socket;
}

describe('GET /v1/events', () => {
  it('should send only the events ?types= asks for, live and in the replay', async () => {
    const first = await submit('echo', 1);
    // Only this test runs tasks now: the next task.succeeded is the second task's.
    const live = readEvents(`${base}/v1/events?types=task.succeeded,state`, {}, (seen) => seen.some((e) => e.data.type === 'task.succeeded' && e.data.taskId !== first.id));
    await eventually(() => service.eventStreams().open === 1);
    const second = await submit('echo', 2);
    const events = await live;
    expect(events.some((e) => e.data.taskId === second.id)).toBe(true);
    expect(events.length).toBeGreaterThan(0);
    for (const event of events) {
      if (event.event === 'audit') expect(event.data.type).toBe('task.succeeded');
      else expect(event.event).toBe('state');
    }

    // The replay from the start of the ring is filtered the same way.
    const replay = await readEvents(`${base}/v1/events?types=task.*&since=0`, {}, (seen) => seen.some((e) => e.data.taskId === second.id && e.data.type === 'task.succeeded'));
    expect(replay.every((e) => e.event === 'audit' && e.data.type.startsWith('task.'))).toBe(true);
    expect(replay.filter((e) => e.data.taskId === first.id).map((e) => e.data.type)).toEqual(['task.submitted', 'task.started', 'task.succeeded']);

    const statusOnly = await readEvents(`${base}/v1/events?types=status`, {}, (seen) => seen.length >= 2);
    expect(statusOnly.map((e) => e.event)).toEqual(['status', 'status']);
    await eventually(() => service.eventStreams().open === 0);
  });

  it('should answer 400 naming the field for a filter or resume id it cannot read', async () => {
    for (const [query, field, received] of [
      ['types=task', 'types', 'task'],
      ['types=task.*,Worker.killed', 'types', 'task.*,Worker.killed'],
      ['types=', 'types', ''],
      ['since=yesterday', 'since', 'yesterday'],
    ] as const) {
      const response = await fetch(`${base}/v1/events?${query}`);
      expect(response.status).toBe(400);
      const body = (await response.json()) as { error: { code: string; issues: Array<{ field: string; received: unknown }> } };
      expect(body.error).toMatchObject({ code: 'ERR_CONFIG', issues: [{ field, received }] });
    }
    const badHeader = await fetch(`${base}/v1/events`, { headers: { 'last-event-id': '-3' } });
    expect(badHeader.status).toBe(400);
    expect(((await badHeader.json()) as { error: { issues: Array<{ field: string }> } }).error.issues[0]?.field).toBe('Last-Event-ID');
    expect(service.eventStreams().open).toBe(0);
  });

  it('should answer 503 ERR_TOO_MANY_STREAMS with Retry-After past maxEventStreams', async () => {
    const aborts = Array.from({ length: MAX_STREAMS }, () => new AbortController());
    try {
      await Promise.all(aborts.map((abort) => fetch(`${base}/v1/events?types=state`, { signal: abort.signal })));
      expect(service.eventStreams().open).toBe(MAX_STREAMS);
      const refused = await fetch(`${base}/v1/events`);
      expect(refused.status).toBe(503);
      expect(refused.headers.get('retry-after')).toMatch(/^\d+$/);
      expect(await refused.json()).toMatchObject({ error: { code: 'ERR_TOO_MANY_STREAMS', limit: MAX_STREAMS } });
    } finally {
      for (const abort of aborts) abort.abort();
    }
    expect(await eventually(() => service.eventStreams().open === 0)).toBe(true);
  });

  it('should close a stream whose client never reads, holding no more than maxStreamBufferBytes for it', async () => {
    const lagged = service.eventStreams().lagged;
    const socket = await openNonReader('/v1/events');
    try {
      expect(await eventually(() => service.eventStreams().open === 1)).toBe(true);
      // Each failure carries a 16 KB message: a few hundred fill the kernel's buffers, the
      // stream's limit, then the ring of 300 events.
      const message = 'x'.repeat(16_000);
      for (let batch = 0; batch < 40 && service.eventStreams().lagged === lagged; batch += 1) {
        const settled = await Promise.all(Array.from({ length: 50 }, () => submit('fail', message)));
        expect(settled.every((record) => record.state === 'failed')).toBe(true);
      }
      expect(service.eventStreams().lagged).toBe(lagged + 1);
      expect(await eventually(() => service.eventStreams().open === 0)).toBe(true);
      expect(service.eventStreams().peakBufferedBytes).toBeGreaterThan(0);
      expect(service.eventStreams().peakBufferedBytes).toBeLessThanOrEqual(LIMIT_BYTES);
    } finally {
      socket.destroy();
    }
  }, 120_000);

  it('should tell a stream that fell behind where to resume, in a final lagging event', async () => {
    const socket = await openNonReader('/v1/events?types=task.failed');
    let text = '';
    try {
      expect(await eventually(() => service.eventStreams().open === 1)).toBe(true);
      const lagged = service.eventStreams().lagged;
      const message = 'y'.repeat(16_000);
      const flood = (async () => {
        for (let batch = 0; batch < 40 && service.eventStreams().lagged === lagged; batch += 1) {
          await Promise.all(Array.from({ length: 50 }, () => submit('fail', message)));
        }
      })();
      expect(await eventually(() => service.eventStreams().lagged > lagged, 100_000, 5)).toBe(true);
      // The client starts reading: it gets what was queued for it, the lagging event last.
      socket.on('data', (chunk: Buffer) => {
        text += chunk.toString('latin1');
      });
      socket.resume();
      await flood;
      await eventually(() => text.includes('event: lagging'), 10_000);
    } finally {
      socket.destroy();
    }
    const frame = text.slice(text.indexOf('event: lagging'));
    const lagging = JSON.parse(frame.slice(frame.indexOf('data: ') + 6, frame.indexOf('\n', frame.indexOf('data: ')))) as Record<string, unknown>;
    expect(lagging).toMatchObject({ code: 'ERR_STREAM_LAGGING', limitBytes: LIMIT_BYTES });
    expect(lagging.lastEventId).toEqual(expect.any(Number));
    const ids = [...text.matchAll(/^id: (\d+)$/gm)].map((match) => Number(match[1]));
    expect(ids.at(-1)).toBe(lagging.lastEventId);
  }, 120_000);
});
