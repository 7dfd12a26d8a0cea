import { describe, expect, it } from 'vitest';
import { EVIDENCE_TESTS } from '../src/inference/evidenceTests.js';
import { inferMechanism, InvalidLinkError } from '../src/inference/tasks.js';
import { betaCdf, betaQuantile } from './support/betaDistribution.js';

type Posterior = Awaited<ReturnType<typeof inferMechanism>>;

const link = (overrides: Record<string, unknown> = {}) => ({ id: 'L', causeId: 'plan', effectId: 'outcome', evidence: [], ...overrides });

describe('the Beta quantiles used as the reference', () => {
  it('should match known values', () => {
    expect(betaCdf(0.5, 2, 2)).toBeCloseTo(0.5, 12);
    expect(betaQuantile(0.05, 1, 1)).toBeCloseTo(0.05, 9);
    // Beta(2, 5): CDF(0.2) = 1 − 0.8^6 − 6·0.2·0.8^5 = 0.34464
    expect(betaCdf(0.2, 2, 5)).toBeCloseTo(0.34464, 9);
  });
});

describe('inferMechanism against the closed-form Beta–Binomial posterior', () => {
  it.each([
    { successes: 7, trials: 20, alpha: 2, beta: 3 },
    { successes: 0, trials: 10, alpha: 1, beta: 1 },
    { successes: 45, trials: 50, alpha: 0.5, beta: 0.5 },
    { successes: 300, trials: 1000, alpha: 5, beta: 5 },
  ])('should recover the posterior mean and 90 %% interval for %o', async ({ successes, trials, alpha, beta }) => {
    const result = await inferMechanism(
      link({ observations: { successes, trials }, prior: { alpha, beta }, sampling: { chains: 4, draws: 6000, warmup: 1000, seed: 11 } }),
    );
    const a = alpha + successes;
    const b = beta + trials - successes;
    const exactMean = a / (a + b);
    expect(Math.abs(result.posterior.mean - exactMean)).toBeLessThan(4 * result.posterior.mcse);
    const [lo, hi] = result.posterior.ci90 as [number, number];
    const exactSd = Math.sqrt((a * b) / ((a + b) ** 2 * (a + b + 1)));
    // Interval ends within a tenth of a posterior sd of the exact Beta quantiles.
    expect(Math.abs(lo - betaQuantile(0.05, a, b))).toBeLessThan(0.1 * exactSd);
    expect(Math.abs(hi - betaQuantile(0.95, a, b))).toBeLessThan(0.1 * exactSd);
    expect(result.posterior.sd).toBeCloseTo(exactSd, 2);
    expect(result.posterior.rhat).toBeLessThan(1.01);
    expect(result.posterior.ess).toBeGreaterThan(1000);
  });
});

describe('inferMechanism on evidence', () => {
  const run = (evidence: unknown[], extra: Record<string, unknown> = {}): Promise<Posterior> =>
    inferMechanism(link({ evidence, sampling: { chains: 4, draws: 4000, warmup: 1000, seed: 3 }, ...extra }));

  it('should be reproducible: the same seed gives the same result, another seed another', async () => {
    const evidence = [{ test: 'hoop', passed: true }, { test: 'smoking_gun', passed: true }];
    expect(await run(evidence)).toEqual(await run(evidence));
    const other = await inferMechanism(link({ evidence, sampling: { chains: 4, draws: 4000, warmup: 1000, seed: 4 } }));
    expect(other.posterior.mean).not.toBe((await run(evidence)).posterior.mean);
  });

  it('should move θ the way each test says, with R-hat under 1.01', async () => {
    const none = await run([]);
    const smokingGun = await run([{ test: 'smoking_gun', passed: true }]);
    const failedHoop = await run([{ test: 'hoop', passed: false }]);
    const straw = await run([{ test: 'straw_in_the_wind', passed: true }]);
    const decisive = await run([{ test: 'doubly_decisive', passed: true }]);
    expect(none.posterior.mean).toBeCloseTo(0.5, 1);
    expect(smokingGun.posterior.mean).toBeGreaterThan(none.posterior.mean + 0.1);
    expect(failedHoop.posterior.mean).toBeLessThan(none.posterior.mean - 0.1);
    expect(Math.abs(straw.posterior.mean - none.posterior.mean)).toBeLessThan(smokingGun.posterior.mean - none.posterior.mean);
    expect(decisive.posterior.mean).toBeGreaterThan(smokingGun.posterior.mean);
    for (const r of [none, smokingGun, failedHoop, straw, decisive]) expect(r.posterior.rhat).toBeLessThan(1.01);
  });

  it('should match numerical integration of the same posterior on evidence and observations', async () => {
    const evidence = [
      { test: 'hoop', passed: true },
      { test: 'smoking_gun', passed: false },
      { test: 'straw_in_the_wind', passed: true },
    ];
    const result = await inferMechanism(
      link({ evidence, observations: { successes: 3, trials: 8 }, sampling: { chains: 4, draws: 8000, warmup: 1000, seed: 5 } }),
    );
    // ∫ θ p(θ) dθ on a fine grid, p(θ) ∝ θ^3 (1−θ)^5 Π (θ·present + (1−θ)·absent)
    let mass = 0;
    let moment = 0;
    for (let i = 1; i < 20000; i += 1) {
      const t = i / 20000;
      let p = t ** 3 * (1 - t) ** 5;
      for (const item of evidence) {
        const test = EVIDENCE_TESTS[item.test as keyof typeof EVIDENCE_TESTS];
        p *= item.passed ? t * test.sensitivity + (1 - t) * test.falsePositive : t * (1 - test.sensitivity) + (1 - t) * (1 - test.falsePositive);
      }
      mass += p;
      moment += t * p;
    }
    expect(Math.abs(result.posterior.mean - moment / mass)).toBeLessThan(4 * result.posterior.mcse);
  });

  it('should report necessity, sufficiency and the mechanism type', async () => {
    const result = await run([
      { id: 'budget-approved', test: 'hoop', passed: true, mechanism: 'financiero' },
      { id: 'staff-hired', test: 'hoop', passed: false, mechanism: 'administrativo' },
      { id: 'minutes', test: 'smoking_gun', passed: true, mechanism: 'financiero' },
      { test: 'straw_in_the_wind', passed: true, mechanism: 'politico' },
    ]);
    expect(result.tests.necessity).toEqual({ passed: false, hoops: 2, missing: ['staff-hired'] });
    expect(result.tests.sufficiency).toEqual({ passed: true, by: ['minutes'] });
    // Dirichlet(1,…,1) + counts of passed, tagged evidence: financiero 2, politico 1 of 3.
    expect(result.mechanism.taggedEvidence).toBe(3);
    expect(result.mechanism.probabilities).toEqual({ administrativo: 1 / 8, tecnico: 1 / 8, financiero: 3 / 8, politico: 2 / 8, mixto: 1 / 8 });
    expect(result.mechanism.mostLikely).toBe('financiero');
    expect(result.drawsCount).toBe(16000);
  });

  it('should keep every draw when asked, and not otherwise', async () => {
    const kept = await inferMechanism(link({ sampling: { chains: 2, draws: 300, warmup: 100, seed: 1, keepDraws: true } }));
    expect(kept.draws?.map((d) => d.length)).toEqual([300, 300]);
    expect((await run([])).draws).toBeUndefined();
  });

  it('should name every bad field of an invalid link', async () => {
    const error = await inferMechanism({ id: '', causeId: 'a', evidence: [{ test: 'hooop', passed: 'yes' }], observations: { successes: 5, trials: 2 } }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidLinkError);
    expect(error).toMatchObject({ code: 'ERR_INVALID_LINK' });
    const message = (error as Error).message;
    expect(message).toContain('id: expected a non-empty string, got ""');
    expect(message).toContain('effectId: expected a non-empty string, got nothing');
    expect(message).toContain('evidence[0].test: expected one of hoop, smoking_gun, doubly_decisive, straw_in_the_wind, got "hooop"');
    expect(message).toContain('evidence[0].passed: expected true or false, got "yes"');
    expect(message).toContain('observations.successes: expected successes <= trials, got 5');
  });
});
