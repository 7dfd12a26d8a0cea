/**
 * `poolvisor/inference`: Bayesian mechanism inference, an application of the pool
 * (docs/inference.md). It uses the library only through its public entry (`poolvisor`),
 * as any user's engine would: `engine.ts` is the facade over a pool, `tasks.js` the task
 * module its workers load, `link.js` what a link is (its schema and its error), `mcmc.js` and
 * `evidenceTests.js` the model behind it.
 * `poolvisor infer` is its command line; the service runs its task module by default.
 */
export { InferenceEngine, inferenceTaskModule, classifyFailure } from './engine.js';
export { InvalidLinkError } from './link.js';
export type {
  InferenceFailure,
  InferenceFailureKind,
  InferenceOutcome,
  InferManyOptions,
  InferManyProgress,
  MechanismPosterior,
} from './engine.js';
