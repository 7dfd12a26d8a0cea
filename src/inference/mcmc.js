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

/**
 * Split-R̂ (Gelman et al., BDA3 §11.4): each chain cut in halves; near 1 when the
 * chains agree with each other and with themselves.
 * @param {ArrayLike<number>[]} chains equal lengths
 */
export function splitRhat(chains) {
  const halves = [];
  for (const chain of chains) {
    const half = Math.floor(chain.length / 2);
    halves.push(Array.prototype.slice.call(chain, 0, half), Array.prototype.slice.call(chain, chain.length - half));
  }
  const n = halves[0]?.length ?? 0;
  if (n < 2) return Number.NaN;
  const means = halves.map(mean);
  const grand = mean(means);
  const between = (n / (halves.length - 1)) * means.reduce((s, m) => s + (m - grand) ** 2, 0);
  const within = mean(halves.map((h, j) => variance(h, /** @type {number} */ (means[j]))));
  const varPlus = ((n - 1) / n) * within + between / n;
  return Math.sqrt(varPlus / within);
}

/**
 * Effective sample size across chains, from autocorrelations truncated by Geyer's
 * initial positive sequence (BDA3 §11.5; what Stan reports as ess without ranks).
 * @param {ArrayLike<number>[]} chains equal lengths
 */
export function effectiveSampleSize(chains) {
  const m = chains.length;
  const n = chains[0]?.length ?? 0;
  if (n < 4) return Number.NaN;
  const means = chains.map(mean);
  const autocovariance = (/** @type {number} */ lag) =>
    mean(
      chains.map((chain, j) => {
        const mu = /** @type {number} */ (means[j]);
        let s = 0;
        for (let i = 0; i + lag < n; i += 1) s += (/** @type {number} */ (chain[i]) - mu) * (/** @type {number} */ (chain[i + lag]) - mu);
        return s / n;
      }),
    );
  const acov0 = autocovariance(0);
  const meanVar = (acov0 * n) / (n - 1);
  const grand = mean(means);
  const between = m > 1 ? (n / (m - 1)) * means.reduce((s, mu) => s + (mu - grand) ** 2, 0) : 0;
  const varPlus = ((n - 1) / n) * meanVar + between / n;
  if (!(varPlus > 0)) return Number.NaN;
  const rho = (/** @type {number} */ lag) => 1 - (meanVar - autocovariance(lag)) / varPlus;
  let tau = -1;
  let previousPair = Number.POSITIVE_INFINITY;
  for (let lag = 0; lag + 1 < n; lag += 2) {
    let pair = rho(lag) + rho(lag + 1);
    if (pair <= 0) break;
    pair = Math.min(pair, previousPair); // the initial monotone sequence
    tau += 2 * pair;
    previousPair = pair;
  }
  return (m * n) / Math.max(tau, 1 / Math.log10(m * n));
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
