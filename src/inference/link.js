// @ts-check
/**
 * What a causal link is: its schema, the error a link that does not fit it is refused with
 * (`ERR_INVALID_LINK`), and the check both sides make — the engine before a link reaches a
 * worker, the worker again. Apart from tasks.js because a function exported there would be
 * offered as a task.
 */
import { z } from 'zod';
import { MECHANISM_TYPES, TEST_NAMES } from './evidenceTests.js';

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

/** @typedef {{ field: string, message: string, received?: unknown }} LinkIssue */

/**
 * A link that does not validate (code `ERR_INVALID_LINK`, whatever is wrong with it): the
 * message names each bad field and what it got, once each; `issues` has them as data.
 */
export class InvalidLinkError extends Error {
  /** @param {LinkIssue[]} issues */
  constructor(issues) {
    super(issues.map((issue) => `${issue.field}: ${issue.message}${'received' in issue ? `, got ${issue.received === undefined ? 'nothing' : JSON.stringify(issue.received)}` : ''}`).join('; '));
    this.name = 'InvalidLinkError';
    this.code = 'ERR_INVALID_LINK';
    /** @type {LinkIssue[]} */
    this.issues = issues;
  }

  /**
   * From zod's issues: one per field and message (a value can break two rules that say the
   * same thing, as -5 for "an integer from 10 to …"), the value each field got.
   * @param {z.ZodError} error @param {unknown} input
   */
  static fromZod(error, input) {
    /** @type {LinkIssue[]} */
    const issues = [];
    const seen = new Set();
    for (const issue of error.issues) {
      let value = /** @type {unknown} */ (input);
      for (const key of issue.path) value = typeof value === 'object' && value !== null ? /** @type {Record<PropertyKey, unknown>} */ (value)[key] : undefined;
      const field = issue.path.reduce((/** @type {string} */ s, key) => (typeof key === 'number' ? `${s}[${key}]` : s ? `${s}.${String(key)}` : String(key)), '') || '(link)';
      const entry = issue.code === 'unrecognized_keys' ? { field, message: `unknown field(s) ${issue.keys.join(', ')}` } : { field, message: issue.message, received: value };
      const key = `${entry.field}\u0000${entry.message}`;
      if (seen.has(key)) continue;
      seen.add(key);
      issues.push(entry);
    }
    return new InvalidLinkError(issues);
  }
}

/**
 * The link, validated, with its defaults; throws {@link InvalidLinkError}. Called before a
 * link is sent to a worker (InferenceEngine), and again in the worker.
 * @param {unknown} input
 */
export function parseLink(input) {
  const parsed = causalLinkSchema.safeParse(input);
  if (!parsed.success) throw InvalidLinkError.fromZod(parsed.error, input);
  return parsed.data;
}
