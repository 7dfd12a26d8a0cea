import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createService, type Service } from '../src/service/app.js';
import { fixture } from './support/processes.js';
import { readEvents, type SseEvent } from './support/sse.js';

let service: Service;
let base: string;

beforeAll(async () => {
  service = await createService({
    pool: { task: fixture('tasks.mjs'), maxWorkers: 2, taskTimeoutMs: 2000, restart: { maxRestarts: 50 } },
    eventLogSize: 100_000, // the whole run fits: the resume test reads it from the start
  });
  base = await service.app.listen({ host: '127.0.0.1', port: 0 });
});
afterAll(() => service.close(0));

describe('a listening server', () => {
  it('accounts for 2,000 submitted tasks with poison among them through GET /v1/tasks/:id', async () => {
    const kinds = Array.from({ length: 2000 }, (_, i) => (i % 400 === 7 ? 'spin' : i % 500 === 11 ? 'exit' : i % 50 === 3 ? 'throw' : 'ok'));
    const ids: string[] = [];
    for (let i = 0; i < kinds.length; i += 100) {
      const batch = await Promise.all(
        kinds.slice(i, i + 100).map(async (kind, j) => {
          const response = await fetch(`${base}/v1/tasks`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ task: 'mixed', payload: { kind, value: i + j }, ...(kind === 'spin' ? { timeoutMs: 200 } : {}) }),
          });
          expect(response.status).toBe(202);
          return ((await response.json()) as { id: string }).id;
        }),
      );
      ids.push(...batch);
    }
    expect(new Set(ids).size).toBe(2000);
    const settled = async () => {
      const records = await Promise.all(ids.map(async (id) => (await fetch(`${base}/v1/tasks/${id}`)).json() as Promise<any>));
      return records;
    };
    let records = await settled();
    for (let tries = 0; tries < 100 && records.some((r) => r.state === 'queued' || r.state === 'running'); tries += 1) {
      await new Promise((resolve) => setTimeout(resolve, 200));
      records = await settled();
    }
    records.forEach((record, i) => {
      const kind = kinds[i];
      if (kind === 'ok') expect(record).toMatchObject({ state: 'succeeded', result: i });
      else expect(record).toMatchObject({ state: 'failed', error: { code: { spin: 'ERR_WORKER_TIMEOUT', exit: 'ERR_WORKER_CRASHED', throw: 'ERR_TASK_FAILED' }[kind as 'spin'] } });
    });
  }, 120_000);

  it('streams the transitions of a killed worker in order: busy → killed → restarting → idle', async () => {
    const { id } = (await (
      await fetch(`${base}/v1/tasks`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ task: 'spin', timeoutMs: 300 }) })
    ).json()) as { id: string };
    const events = await readEvents(`${base}/v1/events`, {}, (seen) =>
      seen.some((e) => e.event === 'audit' && e.data.type === 'worker.restarted' && seen.some((k) => k.event === 'audit' && k.data.type === 'worker.killed' && k.data.taskId === id)),
    );
    const killed = events.find((e) => e.event === 'audit' && e.data.type === 'worker.killed' && e.data.taskId === id);
    expect(killed?.data.termination).toMatchObject({ reason: 'timeout', timeoutMs: 300 });
    const worker = killed?.data.workerId as string;
    // One state event per state path; killed.terminating → killed.awaitingVerdict is one `killed`.
    const states = events
      .filter((e) => e.event === 'state' && e.data.actor === worker)
      .map((e) => e.data.state as string)
      .filter((state, i, all) => state !== all[i - 1]);
    const from = states.lastIndexOf('busy', states.indexOf('killed'));
    expect(states.slice(from, from + 4)).toEqual(['busy', 'killed', 'restarting', 'idle']);
    // Event ids increase, so a client can resume.
    const ids = events.filter((e) => e.id !== undefined).map((e) => Number(e.id));
    expect(ids).toEqual([...ids].sort((a, b) => a - b));
  });

  it('resumes from Last-Event-ID with what the client missed', async () => {
    const first = await readEvents(`${base}/v1/events`, {}, (seen) => seen.filter((e) => e.id).length >= 5);
    const fifth = first.filter((e) => e.id)[4] as SseEvent;
    const resumed = await readEvents(`${base}/v1/events`, { 'last-event-id': String(fifth.id) }, (seen) => seen.filter((e) => e.id).length >= 1);
    expect(Number(resumed.find((e) => e.id)?.id)).toBe(Number(fifth.id) + 1);
  });
});
