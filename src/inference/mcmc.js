// @ts-check
/**
 * Random-walk Metropolis on logit θ, several chains, a seeded PRNG: the sampler
 * behind `inferMechanism`. Pure arithmetic, no I/O; runs inside a worker.
 */

/**
 * mulberry32: a small, fast, well-distributed 32-bit PRNG; the same seed gives the
 * same stream on every platform.
 * @param {number} seed
 * @returns {() => number} uniform in [0, 1)
 */
export function createRandom(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** @param {() => number} random */
function standardNormal(random) {
  // Box–Muller; 1 - u keeps the logarithm finite.
  const u = 1 - random();
  const v = random();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
}

/** log(1 + e^x) without overflow. @param {number} x */
export function softplus(x) {
  return x > 0 ? x + Math.log1p(Math.exp(-x)) : Math.log1p(Math.exp(x));
}

/**
 * @typedef {object} ChainResult
 * @property {Float64Array | number[]} draws  θ draws kept (every `thin`-th, or all when keepAll)
 * @property {number} sum  sum of all θ draws (not thinned)
 * @property {number} count  number of θ draws
 * @property {number} accepted  accepted proposals after warmup
 * @property {number} stepSize  the proposal scale after warmup
 */

/**
 * Samples one chain of θ ∈ (0, 1) whose log density in φ = logit θ is `logDensity(φ)`.
 * The step size adapts during warmup towards a 0.44 acceptance rate (optimal for a
 * one-dimensional random walk), then stays fixed.
 *
 * @param {object} options
 * @param {(phi: number) => number} options.logDensity  log p(φ), the Jacobian included
 * @param {number} options.initial  starting φ
 * @param {number} options.warmup
 * @param {number} options.draws
 * @param {number} options.thin  keep every thin-th draw (1: all)
 * @param {boolean} options.keepAll  keep every draw in a growing array (memory grows with draws)
 * @param {() => number} options.random
 * @returns {ChainResult}
 */
export function sampleChain({ logDensity, initial, warmup, draws, thin, keepAll, random }) {
  let phi = initial;
  let current = logDensity(phi);
  let step = 1;
  let windowAccepted = 0;
  for (let i = 1; i <= warmup; i += 1) {
    const proposal = phi + step * standardNormal(random);
    const next = logDensity(proposal);
    if (Math.log(random()) < next - current) {
      phi = proposal;
      current = next;
      windowAccepted += 1;
    }
    if (i % 50 === 0) {
      step *= Math.exp((windowAccepted / 50 - 0.44) * 2);
      windowAccepted = 0;
    }
  }
  /** @type {Float64Array | number[]} */
  const kept = keepAll ? [] : new Float64Array(Math.floor(draws / thin));
  let keptCount = 0;
  let sum = 0;
  let accepted = 0;
  for (let i = 0; i < draws; i += 1) {
    const proposal = phi + step * standardNormal(random);
    const next = logDensity(proposal);
    if (Math.log(random()) < next - current) {
      phi = proposal;
      current = next;
      accepted += 1;
    }
    const theta = 1 / (1 + Math.exp(-phi));
    sum += theta;
    if (keepAll) /** @type {number[]} */ (kept).push(theta);
    else if ((i + 1) % thin === 0 && keptCount < kept.length) kept[keptCount++] = theta;
  }
  return { draws: kept, sum, count: draws, accepted, stepSize: step };
}

/** @param {ArrayLike<number>} xs */
function mean(xs) {
  let s = 0;
  for (let i = 0; i < xs.length; i += 1) s += /** @type {number} */ (xs[i]);
  return s / xs.length;
}

/** @param {ArrayLike<number>} xs @param {number} m */
function variance(xs, m) {
  let s = 0;
  for (let i = 0; i < xs.length; i += 1) s += (/** @type {number} */ (xs[i]) - m) ** 2;
  return s / (xs.length - 1);
}

// ── Diagnostics as Stan and ArviZ report them: Vehtari, Gelman, Simpson, Carpenter and
// Bürkner (2021), "Rank-normalization, folding, and localization: an improved R̂ for
// assessing convergence of MCMC", Bayesian Analysis 16(2). ───────────────────────────

/**
 * Each chain cut in two halves (the middle draw of an odd chain dropped): a chain that
 * drifts disagrees with itself.
 * @param {ArrayLike<number>[]} chains equal lengths
 * @returns {number[][]}
 */
function splitChains(chains) {
  const halves = [];
  for (const chain of chains) {
    const half = Math.floor(chain.length / 2);
    halves.push(Array.prototype.slice.call(chain, 0, half), Array.prototype.slice.call(chain, chain.length - half));
  }
  return halves;
}

/**
 * The inverse of the standard normal CDF: Acklam's rational approximation (relative error
 * under 1.2e-9), enough for normal scores of ranks.
 * @param {number} p in (0, 1)
 * @returns {number}
 */
export function normalQuantile(p) {
  const a = /** @type {const} */ ([-39.69683028665376, 220.9460984245205, -275.9285104469687, 138.357751867269, -30.66479806614716, 2.506628277459239]);
  const b = /** @type {const} */ ([-54.47609879822406, 161.5858368580409, -155.6989798598866, 66.80131188771972, -13.28068155288572]);
  const c = /** @type {const} */ ([-0.007784894002430293, -0.3223964580411365, -2.400758277161838, -2.549732539343734, 4.374664141464968, 2.938163982698783]);
  const d = /** @type {const} */ ([0.007784695709041462, 0.3224671290700398, 2.445134137142996, 3.754408661907416]);
  const low = 0.02425;
  if (p < low) {
    const q = Math.sqrt(-2 * Math.log(p));
    return (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) / ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
  }
  if (p > 1 - low) return -normalQuantile(1 - p);
  const q = p - 0.5;
  const r = q * q;
  return ((((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q) / (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1);
}

/**
 * Rank normalization: every draw of every chain replaced by the normal score of its rank
 * among all of them (ties share their average rank), Φ⁻¹((r − 3/8) / (S + 1/4)).
 * @param {ArrayLike<number>[]} chains
 * @returns {number[][]}
 */
function rankNormalize(chains) {
  /** @type {{ value: number, c: number, i: number }[]} */
  const all = [];
  chains.forEach((chain, c) => {
    for (let i = 0; i < chain.length; i += 1) all.push({ value: /** @type {number} */ (chain[i]), c, i });
  });
  all.sort((x, y) => x.value - y.value);
  const size = all.length;
  /** @type {number[][]} */
  const out = chains.map((chain) => new Array(chain.length));
  for (let start = 0; start < size; ) {
    let end = start;
    while (end + 1 < size && /** @type {{ value: number }} */ (all[end + 1]).value === /** @type {{ value: number }} */ (all[start]).value) end += 1;
    const rank = (start + end) / 2 + 1; // average of the 1-based ranks start+1 … end+1
    const z = normalQuantile((rank - 0.375) / (size + 0.25));
    for (let k = start; k <= end; k += 1) {
      const { c, i } = /** @type {{ c: number, i: number }} */ (all[k]);
      /** @type {number[]} */ (out[c])[i] = z;
    }
    start = end + 1;
  }
  return out;
}

/**
 * Classic R̂ of chains as they are given: between- and within-chain variances (BDA3 §11.4).
 * @param {ArrayLike<number>[]} chains equal lengths, at least 2 draws each
 */
function rhatOf(chains) {
  const n = chains[0]?.length ?? 0;
  if (n < 2 || chains.length < 2) return Number.NaN;
  const means = chains.map(mean);
  const between = n * variance(means, mean(means));
  const within = mean(chains.map((chain, j) => variance(chain, /** @type {number} */ (means[j]))));
  return Math.sqrt((between / within + n - 1) / n);
}


/**
 * Effective sample size of chains as given, from their autocorrelations summed over
 * Geyer's initial positive and then monotone sequence (Stan's and ArviZ's `_ess`). The
 * autocovariances are computed lag by lag, only as far as the sum goes.
 * @param {ArrayLike<number>[]} chains equal lengths
 */
function effectiveSampleSize(chains) {
  const m = chains.length;
  const n = chains[0]?.length ?? 0;
  if (n < 4) return Number.NaN;
  let min = Number.POSITIVE_INFINITY;
  let max = Number.NEGATIVE_INFINITY;
  for (const chain of chains) {
    for (let i = 0; i < n; i += 1) {
      const x = /** @type {number} */ (chain[i]);
      if (x < min) min = x;
      if (x > max) max = x;
    }
  }
  // A constant quantity (an indicator never true): as many independent draws as there are.
  if (max - min < 1e-15) return m * n;
  const means = chains.map(mean);
  /** @param {number} lag the mean over chains of (1/n) Σ (x_i − x̄)(x_{i+lag} − x̄) */
  const acov = (lag) => {
    let total = 0;
    chains.forEach((chain, j) => {
      const mu = /** @type {number} */ (means[j]);
      let s = 0;
      for (let i = 0; i + lag < n; i += 1) s += (/** @type {number} */ (chain[i]) - mu) * (/** @type {number} */ (chain[i + lag]) - mu);
      total += s / n;
    });
    return total / m;
  };
  const meanVar = (acov(0) * n) / (n - 1);
  let varPlus = (meanVar * (n - 1)) / n;
  if (m > 1) varPlus += variance(means, mean(means));
  const rho = new Float64Array(n);
  let even = 1;
  rho[0] = even;
  let odd = 1 - (meanVar - acov(1)) / varPlus;
  rho[1] = odd;
  let t = 1;
  while (t < n - 3 && even + odd > 0) {
    even = 1 - (meanVar - acov(t + 1)) / varPlus;
    odd = 1 - (meanVar - acov(t + 2)) / varPlus;
    if (even + odd >= 0) {
      rho[t + 1] = even;
      rho[t + 2] = odd;
    }
    t += 2;
  }
  const maxT = t - 2;
  if (even > 0) rho[maxT + 1] = even;
  for (let k = 1; k <= maxT - 2; k += 2) {
    if (/** @type {number} */ (rho[k + 1]) + /** @type {number} */ (rho[k + 2]) > /** @type {number} */ (rho[k - 1]) + /** @type {number} */ (rho[k])) {
      rho[k + 1] = (/** @type {number} */ (rho[k - 1]) + /** @type {number} */ (rho[k])) / 2;
      rho[k + 2] = /** @type {number} */ (rho[k + 1]);
    }
  }
  let tau = -1;
  for (let k = 0; k <= maxT; k += 1) tau += 2 * /** @type {number} */ (rho[k]);
  tau += /** @type {number} */ (rho[maxT + 1] ?? 0);
  const size = m * n;
  return size / Math.max(tau, 1 / Math.log10(size));
}

/** Every draw of every chain, sorted: what the quantiles are read from. @param {ArrayLike<number>[]} chains */
export function sortedDraws(chains) {
  return Float64Array.from(chains.flatMap((chain) => Array.from(chain))).sort();
}

/**
 * The convergence diagnostics as Stan and ArviZ report them, each piece computed once:
 * - `rhat`: the larger of the rank-normalized split-R̂ of the draws (bulk) and of their
 *   distances from the median (folded: the tails); under 1.01 is the paper's threshold;
 * - `ess.bulk`: ESS of the rank-normalized split chains (how well the centre is known);
 * - `ess.tail`: the smaller ESS of the indicators of the 5 % and 95 % quantiles (how well
 *   the 90 % interval's ends are known);
 * - `ess.mean`: ESS of the split chains as they are, behind the mean's Monte Carlo error.
 * @param {ArrayLike<number>[]} chains equal lengths
 * @param {Float64Array} [sorted] the pooled draws sorted, when the caller has them already
 */
export function convergence(chains, sorted = sortedDraws(chains)) {
  const split = splitChains(chains);
  const ranked = rankNormalize(split);
  const median = quantile(sorted, 0.5);
  const folded = rankNormalize(split.map((half) => half.map((x) => Math.abs(x - median))));
  const below = (/** @type {number} */ q) => split.map((half) => half.map((x) => (x <= q ? 1 : 0)));
  return {
    rhat: Math.max(rhatOf(ranked), rhatOf(folded)),
    ess: {
      bulk: effectiveSampleSize(ranked),
      tail: Math.min(effectiveSampleSize(below(quantile(sorted, 0.05))), effectiveSampleSize(below(quantile(sorted, 0.95)))),
      mean: effectiveSampleSize(split),
    },
  };
}

/**
 * The q-quantile of sorted values, interpolated (type 7, R's default).
 * @param {Float64Array} sorted @param {number} q
 */
export function quantile(sorted, q) {
  const h = (sorted.length - 1) * q;
  const lo = Math.floor(h);
  const hi = Math.min(sorted.length - 1, lo + 1);
  return /** @type {number} */ (sorted[lo]) + (h - lo) * (/** @type {number} */ (sorted[hi]) - /** @type {number} */ (sorted[lo]));
}
