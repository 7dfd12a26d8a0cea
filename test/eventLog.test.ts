import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EventLog } from '../src/service/eventLog.js';
import { createService, type Service } from '../src/service/app.js';
import { fixture } from './support/processes.js';
import { readEvents, type SseEvent } from './support/sse.js';

const ids = (log: EventLog) => {
  const held: number[] = [];
  for (let id = log.oldestId; id <= log.newestId; id += 1) held.push(log.get(id)?.id ?? -id);
  return held;
};

describe('EventLog, a ring of the last `capacity` events', () => {
  it('should hold nothing, and say so, before the first event', () => {
    const log = new EventLog(4);
    expect([log.newestId, log.oldestId]).toEqual([0, 1]);
    expect(log.get(0)).toBeUndefined();
    expect(log.get(1)).toBeUndefined();
  });

  it('should keep exactly the last `capacity` events once it has wrapped around, several times over', () => {
    const log = new EventLog(5);
    for (let i = 1; i <= 23; i += 1) {
      log.append('audit', { n: i });
      // At every point: the newest event, and at most `capacity` of them, all readable in order.
      expect(log.newestId).toBe(i);
      expect(log.oldestId).toBe(Math.max(1, i - 4));
      expect(ids(log)).toEqual(Array.from({ length: Math.min(i, 5) }, (_, k) => log.oldestId + k));
    }
    expect(log.get(19)).toMatchObject({ id: 19, type: 'audit', data: { n: 19 } });
    expect(log.get(23)).toMatchObject({ id: 23, data: { n: 23 } });
    // Overwritten events are gone, even though their slot holds a newer one (18 % 5 === 23 % 5).
    for (const gone of [1, 3, 13, 18]) expect(log.get(gone)).toBeUndefined();
    // And one not yet written is not there either (24 % 5 === 19 % 5).
    expect(log.get(24)).toBeUndefined();
  });

  it('should tell subscribers of every event, in order, until they unsubscribe', () => {
    const log = new EventLog(2);
    const seen: number[] = [];
    const unsubscribe = log.subscribe((event) => seen.push(event.id));
    for (let i = 0; i < 5; i += 1) log.append('state', i);
    unsubscribe();
    log.append('state', 5);
    expect(seen).toEqual([1, 2, 3, 4, 5]);
  });

  it('should give each event one SSE frame with its id, type and data', () => {
    const log = new EventLog(3);
    log.append('audit', { type: 'task.submitted', taskId: 't1' });
    const event = log.get(1);
    expect(event?.frame.toString()).toBe('id: 1\nevent: audit\ndata: {"type":"task.submitted","taskId":"t1"}\n\n');
    expect(event?.frame).toBe(event?.frame);
  });
});

describe('GET /v1/events after the ring wrapped around', () => {
  const CAPACITY = 12;
  let service: Service;
  let base: string;

  beforeAll(async () => {
    service = await createService({ pool: { task: fixture('tasks.mjs'), maxWorkers: 1, spareWorkers: 0 }, eventLogSize: CAPACITY });
    base = await service.app.listen({ host: '127.0.0.1', port: 0 });
    // Each task makes at least three audit events: the ring has wrapped several times over.
    for (let i = 0; i < 8; i += 1) {
      const response = await fetch(`${base}/v1/tasks?wait=true`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ task: 'echo', payload: i }) });
      expect(response.status).toBe(200);
    }
  });
  afterAll(() => service.close(0));

  const isLastEnd = (e: SseEvent) => e.data.type === 'task.succeeded' && e.data.taskId === 't8';
  // Up to and with the last task's end; a status frame (sent, never logged) has no id and is left out.
  const replay = async (headers: Record<string, string>, query = '') => {
    const seen = (await readEvents(`${base}/v1/events${query}`, headers, (events) => events.some(isLastEnd), 10_000)).filter((e) => e.id !== undefined);
    return seen.slice(0, seen.findIndex(isLastEnd) + 1);
  };

  it('should replay from the oldest event still held, ids consecutive, at most `capacity` of them', async () => {
    const events = await replay({}, '?since=0');
    const eventIds = events.map((e) => Number(e.id));
    expect(eventIds[0]).toBeGreaterThan(1);
    expect(eventIds.length).toBeLessThanOrEqual(CAPACITY);
    expect(eventIds).toEqual(eventIds.map((_, k) => (eventIds[0] as number) + k));
    expect(events.at(-1)?.data).toMatchObject({ type: 'task.succeeded', taskId: 't8' });
  });

  it('should resume after a Last-Event-ID still in the ring, and from the oldest held after one already overwritten', async () => {
    const all = (await replay({}, '?since=0')).map((e) => Number(e.id));
    const oldest = all[0] as number;
    const resumed = await replay({ 'last-event-id': String(oldest + 2) });
    expect(resumed.map((e) => Number(e.id))).toEqual(all.slice(3));
    const fromGone = await replay({ 'last-event-id': '1' });
    expect(fromGone.map((e) => Number(e.id))).toEqual(all);
  });
});
