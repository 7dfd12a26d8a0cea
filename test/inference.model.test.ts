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

  /** L₁ / L₀ of the evidence, from the tests' calibrations: plain arithmetic. */
  const bayesFactor = (evidence: Array<{ test: string; passed: boolean }>) =>
    evidence.reduce((bf, item) => {
      const test = EVIDENCE_TESTS[item.test as keyof typeof EVIDENCE_TESTS];
      return bf * (item.passed ? test.sensitivity / test.falsePositive : (1 - test.sensitivity) / (1 - test.falsePositive));
    }, 1);

  it("should update the mechanism's presence as Van Evera's tests say: exact arithmetic at P(H) = 0.5", async () => {
    const cases: Array<[string, Array<{ test: string; passed: boolean }>, number]> = [
      ['nothing', [], 0.5],
      ['a doubly decisive test passed', [{ test: 'doubly_decisive', passed: true }], 0.95],
      ['three passed', Array.from({ length: 3 }, () => ({ test: 'doubly_decisive', passed: true })), 6859 / 6860],
      ['a doubly decisive test failed', [{ test: 'doubly_decisive', passed: false }], 0.05],
      ['a smoking gun passed', [{ test: 'smoking_gun', passed: true }], 7 / 8],
      ['a smoking gun failed', [{ test: 'smoking_gun', passed: false }], 0.65 / (0.65 + 0.95)],
      ['a hoop passed', [{ test: 'hoop', passed: true }], 0.95 / (0.95 + 0.6)],
      ['a hoop failed', [{ test: 'hoop', passed: false }], 0.05 / (0.05 + 0.4)],
      ['a straw in the wind passed', [{ test: 'straw_in_the_wind', passed: true }], 0.6],
    ];
    for (const [what, evidence, expected] of cases) {
      const result = await run(evidence);
      expect([what, result.presence.probability]).toEqual([what, expect.closeTo(expected, 12)]);
      expect(result.presence.bayesFactor).toBeCloseTo(bayesFactor(evidence), 10);
      expect(result.presence.priorProbability).toBe(0.5);
    }
    // As the names say: a smoking gun passed nearly confirms, failing it proves little; a hoop the other way round.
    const p = async (test: string, passed: boolean) => (await run([{ test, passed }])).presence.probability;
    expect(await p('smoking_gun', true)).toBeGreaterThan(0.85);
    expect(Math.abs((await p('smoking_gun', false)) - 0.5)).toBeLessThan(0.1);
    expect(await p('hoop', false)).toBeLessThan(0.15);
    expect(Math.abs((await p('hoop', true)) - 0.5)).toBeLessThan(0.15);
    expect(Math.abs((await p('straw_in_the_wind', true)) - 0.5)).toBeLessThan(0.15);
  });

  it('should give, for a θ the prior fixes, P(H | E) = θ·L₁ / (θ·L₁ + (1 − θ)·L₀) with an interval that collapses on it', async () => {
    const evidence = [{ test: 'hoop', passed: true }, { test: 'smoking_gun', passed: true }, { test: 'straw_in_the_wind', passed: false }];
    const result = await run(evidence, { prior: { alpha: 300_000, beta: 100_000 } });
    const theta = 0.75;
    const l1 = 0.95 * 0.35 * 0.4;
    const l0 = 0.6 * 0.05 * 0.6;
    const exact = (theta * l1) / (theta * l1 + (1 - theta) * l0);
    expect(result.presence.probability).toBeCloseTo(exact, 5);
    const [lo, hi] = result.presence.ci90 as [number, number];
    expect(lo).toBeLessThanOrEqual(exact);
    expect(hi).toBeGreaterThanOrEqual(exact);
    expect(hi - lo).toBeLessThan(1e-3);
  });

  it('should match quadrature of the one-dimensional integral over θ with a Beta prior and observations', async () => {
    const evidence = [
      { test: 'hoop', passed: true },
      { test: 'smoking_gun', passed: false },
      { test: 'straw_in_the_wind', passed: true },
    ];
    const result = await inferMechanism(
      link({ evidence, observations: { successes: 3, trials: 8 }, prior: { alpha: 2, beta: 2 }, sampling: { chains: 4, draws: 8000, warmup: 1000, seed: 5 } }),
    );
    const l1 = 0.95 * 0.65 * 0.6;
    const l0 = 0.6 * 0.95 * 0.4;
    const q = (t: number) => (t * l1) / (t * l1 + (1 - t) * l0);
    // p(θ | E) ∝ θ^(a−1) (1−θ)^(b−1) (θ·L₁ + (1−θ)·L₀) with a = 2 + 3, b = 2 + 5, by the midpoint rule on a fine grid.
    const cells = 200_000;
    const density: number[] = [];
    let mass = 0;
    let presence = 0;
    let moment = 0;
    for (let i = 0; i < cells; i += 1) {
      const t = (i + 0.5) / cells;
      const p = t ** 4 * (1 - t) ** 6 * (t * l1 + (1 - t) * l0);
      density.push(p);
      mass += p;
      presence += q(t) * p;
      moment += t * p;
    }
    const quantileOf = (level: number) => {
      let cumulative = 0;
      for (let i = 0; i < cells; i += 1) {
        cumulative += (density[i] as number) / mass;
        if (cumulative >= level) return (i + 0.5) / cells;
      }
      return 1;
    };
    expect(result.presence.probability).toBeCloseTo(presence / mass, 6);
    expect(Math.abs(result.posterior.mean - moment / mass)).toBeLessThan(4 * result.posterior.mcse);
    const [lo, hi] = result.presence.ci90 as [number, number];
    expect(Math.abs(lo - q(quantileOf(0.05)))).toBeLessThan(0.01);
    expect(Math.abs(hi - q(quantileOf(0.95)))).toBeLessThan(0.01);
    expect(result.posterior.rhat).toBeLessThan(1.01);
  });

  it('should report necessity, sufficiency and the mechanism type', async () => {
    const result = await run([
      { id: 'budget-approved', test: 'hoop', passed: true, mechanism: 'financiero' },
      { id: 'staff-hired', test: 'hoop', passed: false, mechanism: 'administrativo' },
      { id: 'minutes', test: 'smoking_gun', passed: true, mechanism: 'financiero' },
      { test: 'straw_in_the_wind', passed: true, mechanism: 'politico' },
    ]);
    expect(result.tests.necessity).toEqual({ status: 'failed', tests: 2, missing: ['staff-hired'] });
    expect(result.tests.sufficiency).toEqual({ status: 'passed', tests: 1, by: ['minutes'] });
    // Dirichlet(1,…,1) + counts of passed, tagged evidence: financiero 2, politico 1 of 3.
    expect(result.mechanism.taggedEvidence).toBe(3);
    expect(result.mechanism.probabilities).toEqual({ administrativo: 1 / 8, tecnico: 1 / 8, financiero: 3 / 8, politico: 2 / 8, mixto: 1 / 8 });
    expect(result.mechanism.mostLikely).toBe('financiero');
    expect(result.drawsCount).toBe(16000);
  });

  it('should say "not tested" when no evidence of that kind exists, and count a doubly decisive test as both', async () => {
    const straw = await run([{ test: 'straw_in_the_wind', passed: true }]);
    expect(straw.tests).toEqual({ necessity: { status: 'not tested', tests: 0, missing: [] }, sufficiency: { status: 'not tested', tests: 0, by: [] } });
    const failedGun = await run([{ id: 'memo', test: 'smoking_gun', passed: false }]);
    expect(failedGun.tests.sufficiency).toEqual({ status: 'not shown', tests: 1, by: [] });
    expect(failedGun.tests.necessity.status).toBe('not tested');
    const decisive = await run([{ id: 'audit', test: 'doubly_decisive', passed: true }]);
    expect(decisive.tests).toEqual({ necessity: { status: 'passed', tests: 1, missing: [] }, sufficiency: { status: 'passed', tests: 1, by: ['audit'] } });
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
