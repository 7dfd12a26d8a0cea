// @ts-check
/**
 * The inference task module: loaded inside pool workers (`createPool({ task:
 * inferenceTaskModule })`), it exports `inferMechanism`. Plain JavaScript, so the very
 * same file runs from the sources and from dist.
 */
import { z } from 'zod';
import { EVIDENCE_TESTS, MECHANISM_TYPES, TEST_NAMES } from './evidenceTests.js';
import { createRandom, effectiveSampleSize, quantile, sampleChain, softplus, splitRhat } from './mcmc.js';

/** Above this many draws per chain, statistics use every k-th draw (means use all). */
const MAX_KEPT_PER_CHAIN = 100_000;

const count = (/** @type {string} */ what, max = Number.MAX_SAFE_INTEGER) =>
  z.number({ error: `expected ${what}` }).int({ error: `expected ${what}` }).min(0, { error: `expected ${what}` }).max(max, { error: `expected ${what}` });
const positive = z.number({ error: 'expected a number > 0' }).positive({ error: 'expected a number > 0' }).finite({ error: 'expected a number > 0' });
const name = z.string({ error: 'expected a non-empty string' }).min(1, { error: 'expected a non-empty string' });

const evidenceSchema = z.strictObject({
  id: name.optional(),
  description: z.string({ error: 'expected a string' }).optional(),
  test: z.enum(TEST_NAMES, { error: `expected one of ${TEST_NAMES.join(', ')}` }),
  passed: z.boolean({ error: 'expected true or false' }),
  mechanism: z.enum(MECHANISM_TYPES, { error: `expected one of ${MECHANISM_TYPES.join(', ')}` }).optional(),
});

export const causalLinkSchema = z.strictObject({
  id: name,
  causeId: name,
  effectId: name,
  description: z.string({ error: 'expected a string' }).optional(),
  evidence: z.array(evidenceSchema, { error: 'expected an array of evidence' }).max(100_000, { error: 'expected at most 100000 items' }),
  observations: z
    .strictObject({ successes: count('an integer >= 0'), trials: count('an integer >= 0') })
    .refine((o) => o.successes <= o.trials, { error: 'expected successes <= trials', path: ['successes'] })
    .optional(),
  prior: z.strictObject({ alpha: positive, beta: positive }).optional(),
  sampling: z
    .strictObject({
      chains: count('an integer from 1 to 64', 64).min(1, { error: 'expected an integer from 1 to 64' }).default(4),
      draws: count('an integer from 10 to 1000000000', 1e9).min(10, { error: 'expected an integer from 10 to 1000000000' }).default(2000),
      warmup: count('an integer from 0 to 1000000000', 1e9).default(1000),
      seed: count('an integer >= 0', 2 ** 32 - 1).default(1),
      /** Keep and return every draw: memory grows with chains × draws. */
      keepDraws: z.boolean({ error: 'expected true or false' }).default(false),
    })
    .optional(),
});

/** @typedef {z.input<typeof causalLinkSchema>} CausalLink */

/** A link that does not validate: the message names each bad field and what it got. */
export class InvalidLinkError extends Error {
  /** @param {z.ZodError} error @param {unknown} input */
  constructor(error, input) {
    const issues = error.issues.map((issue) => {
      let value = /** @type {unknown} */ (input);
      for (const key of issue.path) value = typeof value === 'object' && value !== null ? /** @type {Record<PropertyKey, unknown>} */ (value)[key] : undefined;
      const field = issue.path.reduce((/** @type {string} */ s, key) => (typeof key === 'number' ? `${s}[${key}]` : s ? `${s}.${String(key)}` : String(key)), '');
      if (issue.code === 'unrecognized_keys') return `${field || '(link)'}: unknown field(s) ${issue.keys.join(', ')}`;
      return `${field || '(link)'}: ${issue.message}, got ${value === undefined ? 'nothing' : JSON.stringify(value)}`;
    });
    super(issues.join('; '));
    this.name = 'InvalidLinkError';
    this.code = 'ERR_INVALID_LINK';
  }
}

/**
 * Infers the strength θ of a causal link (cause → effect) from process-tracing
 * evidence and observations: Beta prior, Binomial observations, and per evidence
 * item θ·P(outcome | present) + (1 − θ)·P(outcome | absent); sampled by random-walk
 * Metropolis on logit θ. See docs/inference.md.
 *
 * @param {unknown} input a causal link (validated here)
 * @param {{ taskId?: string, workerId?: string, device?: string }} [context]
 */
export async function inferMechanism(input, context = {}) {
  const parsed = causalLinkSchema.safeParse(input);
  if (!parsed.success) throw new InvalidLinkError(parsed.error, input);
  const link = parsed.data;
  const sampling = link.sampling ?? { chains: 4, draws: 2000, warmup: 1000, seed: 1, keepDraws: false };
  const alpha = link.prior?.alpha ?? 1;
  const beta = link.prior?.beta ?? 1;
  const successes = link.observations?.successes ?? 0;
  const failures = (link.observations?.trials ?? 0) - successes;

  // Per evidence item: P(outcome | present) and P(outcome | absent), for the outcome seen.
  const present = new Float64Array(link.evidence.length);
  const absent = new Float64Array(link.evidence.length);
  link.evidence.forEach((item, i) => {
    const { sensitivity, falsePositive } = EVIDENCE_TESTS[item.test];
    present[i] = item.passed ? sensitivity : 1 - sensitivity;
    absent[i] = item.passed ? falsePositive : 1 - falsePositive;
  });

  // log p(φ) for φ = logit θ: prior × Binomial × evidence, with the Jacobian θ(1 − θ).
  const a = alpha + successes;
  const b = beta + failures;
  const logDensity = (/** @type {number} */ phi) => {
    const logTheta = -softplus(-phi);
    const logOneMinus = -softplus(phi);
    const theta = Math.exp(logTheta);
    let density = a * logTheta + b * logOneMinus;
    for (let i = 0; i < present.length; i += 1) {
      density += Math.log(theta * /** @type {number} */ (present[i]) + (1 - theta) * /** @type {number} */ (absent[i]));
    }
    return density;
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
  const sorted = Float64Array.from(kept.flatMap((draws) => Array.from(draws))).sort();
  let sumSq = 0;
  for (const x of sorted) sumSq += (x - meanTheta) ** 2;
  const sd = Math.sqrt(sumSq / Math.max(1, sorted.length - 1));
  const ess = effectiveSampleSize(kept);
  const rhat = splitRhat(kept);

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
  const hoops = link.evidence.map((item, i) => ({ item, i })).filter(({ item }) => item.test === 'hoop');
  const missing = hoops.filter(({ item }) => !item.passed).map(({ item, i }) => label(item, i));
  const decisive = link.evidence
    .map((item, i) => ({ item, i }))
    .filter(({ item }) => item.passed && (item.test === 'smoking_gun' || item.test === 'doubly_decisive'))
    .map(({ item, i }) => label(item, i));

  return {
    linkId: link.id,
    causeId: link.causeId,
    effectId: link.effectId,
    posterior: {
      mean: meanTheta,
      sd,
      ci90: [quantile(sorted, 0.05), quantile(sorted, 0.95)],
      rhat,
      ess,
      mcse: sd / Math.sqrt(ess),
    },
    mechanism: { probabilities, mostLikely, taggedEvidence: tagged },
    tests: {
      // Necessary: every hoop passed (a failed hoop is close to ruling the mechanism out).
      necessity: { passed: missing.length === 0, hoops: hoops.length, missing },
      // Sufficient: a smoking gun or a doubly decisive test passed.
      sufficiency: { passed: decisive.length > 0, by: decisive },
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
