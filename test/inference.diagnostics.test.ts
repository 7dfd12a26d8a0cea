import { describe, expect, it } from 'vitest';
import { convergence, normalQuantile } from '../src/inference/mcmc.js';

const rankNormalizedRhat = (chains: number[][]) => convergence(chains).rhat;
const effectiveSampleSizes = (chains: number[][]) => convergence(chains).ess;

// R̂ and ESS as Vehtari, Gelman, Simpson, Carpenter and Bürkner (2021) define them, checked
// against a plain reference written here from the paper (and Stan's reference code): ranks by
// counting, normal scores by bisection on Φ, R̂ by BDA3's formula, autocovariances at every lag.

/** A seeded stream of standard normals (an LCG and Box–Muller: fixed draws, the same on every machine). */
function normals(seed: number): () => number {
  let state = seed >>> 0;
  const uniform = () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return (state + 0.5) / 4294967296;
  };
  return () => Math.sqrt(-2 * Math.log(uniform())) * Math.cos(2 * Math.PI * uniform());
}

/** `m` chains of `n` draws of an AR(1) process x' = ρx + √(1−ρ²)·ε, shifted and scaled per chain. */
function ar1(m: number, n: number, rho: number, seed: number, shape: (chain: number) => { shift: number; scale: number } = () => ({ shift: 0, scale: 1 })): number[][] {
  const next = normals(seed);
  return Array.from({ length: m }, (_, c) => {
    const { shift, scale } = shape(c);
    let x = next();
    return Array.from({ length: n }, () => {
      x = rho * x + Math.sqrt(1 - rho * rho) * next();
      return shift + scale * x;
    });
  });
}

// ── the reference ────────────────────────────────────────────────────────────────────────

/** Φ by Simpson's rule on [0, |x|] (4,000 intervals: error far under 1e-12 here). */
function normalCdf(x: number): number {
  const steps = 4000;
  const h = Math.abs(x) / steps;
  const f = (t: number) => Math.exp((-t * t) / 2);
  let sum = f(0) + f(Math.abs(x));
  for (let i = 1; i < steps; i += 1) sum += (i % 2 === 1 ? 4 : 2) * f(i * h);
  const half = (sum * h) / 3 / Math.sqrt(2 * Math.PI);
  return x >= 0 ? 0.5 + half : 0.5 - half;
}

const inverseCache = new Map<number, number>();
function referenceNormalQuantile(p: number): number {
  const cached = inverseCache.get(p);
  if (cached !== undefined) return cached;
  let lo = -10;
  let hi = 10;
  for (let i = 0; i < 80; i += 1) {
    const mid = (lo + hi) / 2;
    if (normalCdf(mid) < p) lo = mid;
    else hi = mid;
  }
  inverseCache.set(p, (lo + hi) / 2);
  return (lo + hi) / 2;
}

const split = (chains: number[][]) =>
  chains.flatMap((chain) => {
    const half = Math.floor(chain.length / 2);
    return [chain.slice(0, half), chain.slice(chain.length - half)];
  });

/** Average ranks among all draws, by counting; z = Φ⁻¹((r − 3/8) / (S + 1/4)). */
function referenceRankNormalize(chains: number[][]): number[][] {
  const all = chains.flat();
  const size = all.length;
  return chains.map((chain) =>
    chain.map((x) => {
      const less = all.filter((y) => y < x).length;
      const equal = all.filter((y) => y === x).length;
      const rank = less + (equal + 1) / 2;
      return referenceNormalQuantile((rank - 0.375) / (size + 0.25));
    }),
  );
}

const average = (xs: number[]) => xs.reduce((s, x) => s + x, 0) / xs.length;
const sampleVariance = (xs: number[]) => {
  const mu = average(xs);
  return xs.reduce((s, x) => s + (x - mu) ** 2, 0) / (xs.length - 1);
};

/** BDA3 §11.4: var⁺ = (n−1)/n·W + B/n, R̂ = √(var⁺/W). */
function referenceRhat(chains: number[][]): number {
  const n = chains[0]!.length;
  const means = chains.map(average);
  const between = n * sampleVariance(means);
  const within = average(chains.map(sampleVariance));
  return Math.sqrt((((n - 1) / n) * within + between / n) / within);
}

function median(xs: number[]): number {
  const sorted = [...xs].sort((a, b) => a - b);
  const h = (sorted.length - 1) / 2;
  return sorted[Math.floor(h)]! + (h - Math.floor(h)) * (sorted[Math.ceil(h)]! - sorted[Math.floor(h)]!);
}

function referenceRankRhat(chains: number[][]): number {
  const med = median(chains.flat());
  const bulk = referenceRhat(referenceRankNormalize(split(chains)));
  const tail = referenceRhat(referenceRankNormalize(split(chains.map((chain) => chain.map((x) => Math.abs(x - med))))));
  return Math.max(bulk, tail);
}

/** Stan's ESS: every autocovariance, Geyer's initial positive sequence, then its monotone version. */
function referenceEss(chains: number[][]): number {
  const m = chains.length;
  const n = chains[0]!.length;
  const all = chains.flat();
  if (Math.max(...all) - Math.min(...all) < 1e-15) return m * n;
  const acov = chains.map((chain) => {
    const mu = average(chain);
    return Array.from({ length: n }, (_, lag) => {
      let s = 0;
      for (let i = 0; i + lag < n; i += 1) s += (chain[i]! - mu) * (chain[i + lag]! - mu);
      return s / n;
    });
  });
  const meanVar = average(acov.map((a) => (a[0]! * n) / (n - 1)));
  const varPlus = (meanVar * (n - 1)) / n + (m > 1 ? sampleVariance(chains.map(average)) : 0);
  const rhoAt = (lag: number) => 1 - (meanVar - average(acov.map((a) => a[lag]!))) / varPlus;
  const rho = new Array<number>(n).fill(0);
  rho[0] = 1;
  let even = 1;
  let odd = rhoAt(1);
  rho[1] = odd;
  let t = 1;
  while (t < n - 3 && even + odd > 0) {
    even = rhoAt(t + 1);
    odd = rhoAt(t + 2);
    if (even + odd >= 0) {
      rho[t + 1] = even;
      rho[t + 2] = odd;
    }
    t += 2;
  }
  const maxT = t - 2;
  if (even > 0) rho[maxT + 1] = even;
  for (let k = 1; k <= maxT - 2; k += 2) {
    if (rho[k + 1]! + rho[k + 2]! > rho[k - 1]! + rho[k]!) {
      rho[k + 1] = (rho[k - 1]! + rho[k]!) / 2;
      rho[k + 2] = rho[k + 1]!;
    }
  }
  const tau = -1 + 2 * rho.slice(0, maxT + 1).reduce((s, r) => s + r, 0) + (rho[maxT + 1] ?? 0);
  return (m * n) / Math.max(tau, 1 / Math.log10(m * n));
}

function quantileOf(xs: number[], q: number): number {
  const sorted = [...xs].sort((a, b) => a - b);
  const h = (sorted.length - 1) * q;
  return sorted[Math.floor(h)]! + (h - Math.floor(h)) * (sorted[Math.min(sorted.length - 1, Math.floor(h) + 1)]! - sorted[Math.floor(h)]!);
}

function referenceEssSizes(chains: number[][]) {
  const halves = split(chains);
  const below = (q: number) => halves.map((chain) => chain.map((x) => (x <= q ? 1 : 0)));
  const all = chains.flat();
  return {
    bulk: referenceEss(referenceRankNormalize(halves)),
    tail: Math.min(referenceEss(below(quantileOf(all, 0.05))), referenceEss(below(quantileOf(all, 0.95)))),
    mean: referenceEss(halves),
  };
}

// ── the checks ───────────────────────────────────────────────────────────────────────────

describe('normalQuantile', () => {
  it('should agree with bisection on Φ to 1e-8 across the range ranks use', () => {
    for (const p of [1e-6, 0.001, 0.02, 0.024, 0.025, 0.1, 0.3, 0.5, 0.7, 0.975, 0.976, 0.999, 1 - 1e-6]) {
      expect(Math.abs(normalQuantile(p) - referenceNormalQuantile(p))).toBeLessThan(1e-8);
    }
  });
});

describe.each([
  ['4 mixing chains (iid)', ar1(4, 201, 0, 1)],
  ['4 sticky chains (AR(1), ρ = 0.9)', ar1(4, 200, 0.9, 2)],
  ['chains with ties (values rounded to 0.1, as a sampler that rejects often repeats them)', ar1(4, 150, 0.6, 3).map((chain) => chain.map((x) => Math.round(x * 10) / 10))],
  ['chains whose means disagree', ar1(4, 200, 0.3, 4, (c) => ({ shift: c * 0.8, scale: 1 }))],
  ['chains whose spreads disagree', ar1(4, 200, 0.3, 5, (c) => ({ shift: 0, scale: 1 + c }))],
])('R̂ and ESS on %s', (_name, chains) => {
  it('should equal the reference from the published definitions', () => {
    expect(rankNormalizedRhat(chains)).toBeCloseTo(referenceRankRhat(chains), 8);
    const sizes = effectiveSampleSizes(chains);
    const reference = referenceEssSizes(chains);
    for (const key of ['bulk', 'tail', 'mean'] as const) expect(sizes[key] / reference[key]).toBeCloseTo(1, 8);
  });
});

describe('what the diagnostics say', () => {
  it('should be near 1 and near the draw count for independent draws', () => {
    const chains = ar1(4, 1000, 0, 6);
    expect(rankNormalizedRhat(chains)).toBeLessThan(1.01);
    const { bulk, tail, mean } = effectiveSampleSizes(chains);
    for (const ess of [bulk, tail, mean]) expect(ess / 4000).toBeGreaterThan(0.75);
    expect(bulk / 4000).toBeLessThan(1.25);
  });

  it('should count an AR(1) chain as (1 − ρ)/(1 + ρ) of its draws', () => {
    const chains = ar1(4, 5000, 0.8, 7);
    const expected = (20_000 * (1 - 0.8)) / (1 + 0.8);
    const { bulk, mean } = effectiveSampleSizes(chains);
    expect(mean / expected).toBeGreaterThan(0.7);
    expect(mean / expected).toBeLessThan(1.3);
    expect(bulk / expected).toBeGreaterThan(0.7);
    expect(bulk / expected).toBeLessThan(1.3);
  });

  it('should flag chains that disagree on the mean (bulk) and on the spread alone (folded)', () => {
    expect(rankNormalizedRhat(ar1(4, 1000, 0.3, 8, (c) => ({ shift: c * 0.8, scale: 1 })))).toBeGreaterThan(1.1);
    // Same centre, different widths: the classic split-R̂ of the draws barely moves; the folded one does.
    expect(rankNormalizedRhat(ar1(4, 1000, 0.3, 9, (c) => ({ shift: 0, scale: 1 + c })))).toBeGreaterThan(1.05);
  });
});
