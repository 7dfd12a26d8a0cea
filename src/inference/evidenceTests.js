// @ts-check
/**
 * Van Evera's four tests of process-tracing evidence, as likelihoods. `sensitivity`
 * is P(the test passes | the mechanism is present); `falsePositive` is
 * P(it passes | the mechanism is absent). The values follow the tests' definitions
 * (Van Evera 1997; Collier 2011; Bennett 2015; Beach & Pedersen 2019): they are
 * conventional calibrations of "certain" and "unique", not empirical estimates.
 * docs/inference.md explains them.
 */

/** @typedef {'hoop' | 'smoking_gun' | 'doubly_decisive' | 'straw_in_the_wind'} EvidenceTest */

/** @type {Readonly<Record<EvidenceTest, { sensitivity: number, falsePositive: number }>>} */
export const EVIDENCE_TESTS = Object.freeze({
  // Certain, not unique: failing it nearly rules the mechanism out; passing proves little.
  hoop: { sensitivity: 0.95, falsePositive: 0.6 },
  // Unique, not certain: passing it nearly confirms; failing it proves little.
  smoking_gun: { sensitivity: 0.35, falsePositive: 0.05 },
  // Certain and unique: decides either way.
  doubly_decisive: { sensitivity: 0.95, falsePositive: 0.05 },
  // Neither: nudges the belief a little.
  straw_in_the_wind: { sensitivity: 0.6, falsePositive: 0.4 },
});

export const TEST_NAMES = /** @type {EvidenceTest[]} */ (Object.keys(EVIDENCE_TESTS));

export const MECHANISM_TYPES = /** @type {const} */ (['administrativo', 'tecnico', 'financiero', 'politico', 'mixto']);
