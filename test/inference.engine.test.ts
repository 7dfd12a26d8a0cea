import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InferenceEngine, InvalidLinkError, type InferenceOutcome } from '../src/inference/index.js';
import { liveWorkerChildren } from './support/processes.js';
import { hungryLink, invalidLink, slowLink, validLink } from './support/links.js';

let engine: InferenceEngine;

beforeAll(async () => {
  engine = await InferenceEngine.create({ maxWorkers: 2, taskTimeoutMs: 3000, memoryLimitMb: 160, spareWorkers: 1 });
});
afterAll(async () => {
  await engine.close({ drainTimeoutMs: 0 });
  expect(liveWorkerChildren()).toEqual([]);
});

describe('InferenceEngine on a real pool', () => {
  it('infers one link as a task on a worker', async () => {
    const posterior = await engine.inferMechanism(validLink(1));
    expect(posterior.linkId).toBe('L1');
    expect(posterior.workerId).toMatch(/^worker-\d$/);
    expect(posterior.device).toBe('cpu');
    expect(posterior.posterior.rhat).toBeLessThan(1.05);
    expect(posterior.tests.necessity.status).toBe('passed');
    // A bad link is refused before the pool: the one code, each field once, no task.
    const submitted = engine.pool.status().counts.submitted;
    const refused = await engine.inferMechanism(invalidLink).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(InvalidLinkError);
    expect(refused).toMatchObject({ code: 'ERR_INVALID_LINK', issues: [{ field: 'evidence[0].test', received: 'smoking-gun' }] });
    expect(engine.pool.status().counts.submitted).toBe(submitted);
    // A hoop passed and a smoking gun failed (link 1), on P(H) = 7/12 from 6 of 10 observations (uniform prior).
    const bayesFactor = (0.95 / 0.6) * (0.65 / 0.95);
    expect(posterior.presence.probability).toBeCloseTo(((7 / 12) * bayesFactor) / ((7 / 12) * bayesFactor + 5 / 12), 10);
  });

  it('settles every link of a mixed batch, each with the right outcome, streaming as they settle', async () => {
    const links = [validLink(1), invalidLink, slowLink, validLink(2), hungryLink, validLink(3), 'not even an object', validLink(4)];
    const outcomes: InferenceOutcome[] = [];
    let maxRunning = 0;
    // A deadline with room for the hungry link to reach its memory limit first, even on a loaded machine.
    const run = { timeoutMs: 6000 };
    for await (const outcome of engine.inferMany(links, { concurrency: 3, run, onProgress: (p) => (maxRunning = Math.max(maxRunning, p.running)) })) {
      outcomes.push(outcome);
    }
    expect(outcomes.map((o) => o.index).sort()).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    const byIndex = new Map(outcomes.map((o) => [o.index, o]));
    const kindOf = (i: number) => {
      const o = byIndex.get(i) as InferenceOutcome;
      return o.ok ? 'ok' : o.failure.kind;
    };
    expect([0, 1, 2, 3, 4, 5, 6, 7].map(kindOf)).toEqual(['ok', 'invalid', 'timeout', 'ok', 'memory', 'ok', 'invalid', 'ok']);
    const invalid = byIndex.get(1) as Extract<InferenceOutcome, { ok: false }>;
    expect(invalid.failure.message).toContain('evidence[0].test: expected one of hoop');
    const memory = byIndex.get(4) as Extract<InferenceOutcome, { ok: false }>;
    expect(memory.failure).toMatchObject({ code: 'ERR_WORKER_MEMORY', error: { resource: 'rss', limitBytes: 160 * 1024 * 1024 } });
    // The slow one settled last among the first few: results came as they settled, not in order.
    expect(outcomes.findIndex((o) => o.index === 2)).toBeGreaterThan(outcomes.findIndex((o) => o.index === 3));
    expect(maxRunning).toBeLessThanOrEqual(3);
  });

  it('stops submitting and cancels what runs when the signal aborts', async () => {
    const stop = new AbortController();
    const links = [slowLink, slowLink, validLink(9), validLink(10)];
    const outcomes: InferenceOutcome[] = [];
    setTimeout(() => stop.abort(), 300);
    for await (const outcome of engine.inferMany(links, { concurrency: 2, signal: stop.signal })) outcomes.push(outcome);
    expect(outcomes.map((o) => (o.ok ? 'ok' : o.failure.kind))).toEqual(['cancelled', 'cancelled']);
    expect(await engine.inferMechanism(validLink(11))).toMatchObject({ linkId: 'L11' });
  });
});
