// @ts-check
/**
 * The inference task module: loaded inside pool workers (`createPool({ task:
 * inferenceTaskModule })`), it exports `inferMechanism`. Plain JavaScript, so the very
 * same file runs from the sources and from dist.
 */
import { EVIDENCE_TESTS, MECHANISM_TYPES } from './evidenceTests.js';
import { parseLink } from './link.js';
import { convergence, createRandom, quantile, sampleChain, softplus, sortedDraws } from './mcmc.js';

// The link's schema and its error, for whoever loads this module as a library (a class and a
// schema are not offered as tasks; `parseLink`, a function, would be, so it stays in link.js).
export { causalLinkSchema, InvalidLinkError } from './link.js';

/** Above this many draws per chain, statistics use every k-th draw (means use all). */
const MAX_KEPT_PER_CHAIN = 100_000;

/** σ(x) = 1 / (1 + e^−x), without overflow. @param {number} x */
const sigmoid = (x) => (x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x)));

/** log(e^x + e^y) without overflow. @param {number} x @param {number} y */
const logSumExp = (x, y) => (x > y ? x + Math.log1p(Math.exp(y - x)) : y + Math.log1p(Math.exp(x - y)));

/**
 * Whether the mechanism of a causal link (cause → effect) is present — H — given
 * process-tracing evidence and observations. θ is the prior probability of H: Beta(α, β)
 * updated by the observations (successes of trials). The evidence updates H as a whole:
 * with L₁ = ∏ P(eᵢ | H) and L₀ = ∏ P(eᵢ | ¬H),
 *   P(H | E, θ) = θ·L₁ / (θ·L₁ + (1 − θ)·L₀),   p(θ | E) ∝ Beta(θ; a, b)·(θ·L₁ + (1 − θ)·L₀),
 * and P(H | E) = m·L₁ / (m·L₁ + (1 − m)·L₀) with m = a / (a + b), exactly. θ is sampled by
 * random-walk Metropolis on logit θ; the interval of P(H | E, θ) over those draws says how
 * much the answer rests on the uncertain θ. See docs/inference.md.
 *
 * @param {unknown} input a causal link (validated here)
 * @param {{ taskId?: string, workerId?: string, device?: string }} [context]
 */
export async function inferMechanism(input, context = {}) {
  const link = parseLink(input);
  const sampling = link.sampling ?? { chains: 4, draws: 2000, warmup: 1000, seed: 1, keepDraws: false };
  const alpha = link.prior?.alpha ?? 1;
  const beta = link.prior?.beta ?? 1;
  const successes = link.observations?.successes ?? 0;
  const failures = (link.observations?.trials ?? 0) - successes;

  // The evidence as a whole, in logs (a thousand items would underflow a product):
  // log L₁ = Σ log P(eᵢ | H), log L₀ = Σ log P(eᵢ | ¬H), for the outcome each test had.
  let logPresent = 0;
  let logAbsent = 0;
  for (const item of link.evidence) {
    const { sensitivity, falsePositive } = EVIDENCE_TESTS[item.test];
    logPresent += Math.log(item.passed ? sensitivity : 1 - sensitivity);
    logAbsent += Math.log(item.passed ? falsePositive : 1 - falsePositive);
  }
  const logBayesFactor = logPresent - logAbsent;

  // log p(φ | E) for φ = logit θ: Beta(a, b) with the Jacobian θ(1 − θ), times θ·L₁ + (1 − θ)·L₀.
  const a = alpha + successes;
  const b = beta + failures;
  const logDensity = (/** @type {number} */ phi) => {
    const logTheta = -softplus(-phi);
    const logOneMinus = -softplus(phi);
    return a * logTheta + b * logOneMinus + logSumExp(logTheta + logPresent, logOneMinus + logAbsent);
  };

  const thin = sampling.keepDraws ? 1 : Math.max(1, Math.ceil(sampling.draws / MAX_KEPT_PER_CHAIN));
  const priorMean = Math.log(alpha / beta);
  const chains = [];
  for (let c = 0; c < sampling.chains; c += 1) {
    const random = createRandom((sampling.seed * 1_000_003 + c * 7919) >>> 0);
    // Overdispersed starts around the prior, so R-hat can notice chains that disagree.
    const initial = priorMean + 2 * (random() - 0.5) * 2;
    chains.push(sampleChain({ logDensity, initial, warmup: sampling.warmup, draws: sampling.draws, thin, keepAll: sampling.keepDraws, random }));
  }

  const kept = chains.map((chain) => chain.draws);
  const total = chains.reduce((s, chain) => s + chain.count, 0);
  const meanTheta = chains.reduce((s, chain) => s + chain.sum, 0) / total;
  const sorted = sortedDraws(kept);
  let sumSq = 0;
  for (const x of sorted) sumSq += (x - meanTheta) ** 2;
  const sd = Math.sqrt(sumSq / Math.max(1, sorted.length - 1));
  const { rhat, ess } = convergence(kept, sorted);
  const [thetaLow, thetaHigh] = [quantile(sorted, 0.05), quantile(sorted, 0.95)];
  const logit = (/** @type {number} */ t) => Math.log(t) - Math.log1p(-t);
  const bayesFactor = Math.exp(logBayesFactor);

  // Mechanism type: Dirichlet(1, …, 1) prior, one count per passed evidence item tagged with a type.
  /** @type {Record<string, number>} */
  const typeCounts = Object.fromEntries(MECHANISM_TYPES.map((type) => [type, 0]));
  let tagged = 0;
  for (const item of link.evidence) {
    if (item.passed && item.mechanism) {
      typeCounts[item.mechanism] = (typeCounts[item.mechanism] ?? 0) + 1;
      tagged += 1;
    }
  }
  /** @type {Record<string, number>} */
  const probabilities = Object.fromEntries(MECHANISM_TYPES.map((type) => [type, (1 + (typeCounts[type] ?? 0)) / (MECHANISM_TYPES.length + tagged)]));
  const mostLikely = MECHANISM_TYPES.reduce((best, type) => ((probabilities[type] ?? 0) > (probabilities[best] ?? 0) ? type : best), MECHANISM_TYPES[0]);

  const label = (/** @type {{ id?: string }} */ item, /** @type {number} */ i) => item.id ?? `evidence[${i}]`;
  const items = link.evidence.map((item, i) => ({ item, name: label(item, i) }));
  // Certain tests (hoop, doubly decisive) test necessity; unique ones (smoking gun, doubly decisive), sufficiency.
  const certain = items.filter(({ item }) => item.test === 'hoop' || item.test === 'doubly_decisive');
  const unique = items.filter(({ item }) => item.test === 'smoking_gun' || item.test === 'doubly_decisive');
  const missing = certain.filter(({ item }) => !item.passed).map(({ name }) => name);
  const decisive = unique.filter(({ item }) => item.passed).map(({ name }) => name);

  return {
    linkId: link.id,
    causeId: link.causeId,
    effectId: link.effectId,
    // H, the mechanism is present: its probability given the evidence and the observations.
    presence: {
      probability: sigmoid(Math.log(a) - Math.log(b) + logBayesFactor),
      // P(H | E, θ) at the ends of θ's 90 % interval (it rises with θ): how much the answer rests on θ.
      ci90: [sigmoid(logit(thetaLow) + logBayesFactor), sigmoid(logit(thetaHigh) + logBayesFactor)],
      // Before the evidence: the mean of θ from the prior and the observations.
      priorProbability: a / (a + b),
      // L₁ / L₀: how much more likely the evidence is if the mechanism is present.
      bayesFactor: Number.isFinite(bayesFactor) ? bayesFactor : null,
      log10BayesFactor: logBayesFactor / Math.LN10,
    },
    // θ, the prior probability of H, after the observations and the evidence.
    posterior: {
      mean: meanTheta,
      sd,
      ci90: [thetaLow, thetaHigh],
      rhat,
      ess: ess.bulk,
      essTail: ess.tail,
      mcse: sd / Math.sqrt(ess.mean),
    },
    mechanism: { probabilities, mostLikely, taggedEvidence: tagged },
    tests: {
      // Necessary: every certain test passed (failing one nearly rules the mechanism out); "not tested" without one.
      necessity: { status: certain.length === 0 ? 'not tested' : missing.length === 0 ? 'passed' : 'failed', tests: certain.length, missing },
      // Sufficient: a unique test passed; failing one proves little ("not shown"); "not tested" without one.
      sufficiency: { status: unique.length === 0 ? 'not tested' : decisive.length > 0 ? 'passed' : 'not shown', tests: unique.length, by: decisive },
    },
    sampling: {
      chains: sampling.chains,
      draws: sampling.draws,
      warmup: sampling.warmup,
      seed: sampling.seed,
      thin,
      acceptanceRate: chains.reduce((s, chain) => s + chain.accepted, 0) / total,
    },
    drawsCount: total,
    device: context.device ?? 'cpu',
    workerId: context.workerId ?? null,
    ...(sampling.keepDraws ? { draws: kept } : {}),
  };
}
