// How long the convergence diagnostics take on the most draws a run keeps (4 chains of 100,000,
// an AR(1) process), three times: R̂ (bulk and folded), bulk, tail and mean ESS.
// Run: node test/bench/diagnostics.mjs
import { convergence, createRandom, sortedDraws } from '../../src/inference/mcmc.js';

const random = createRandom(7);
const chains = Array.from({ length: 4 }, () => {
  let x = 0;
  return Float64Array.from({ length: 100_000 }, () => (x = 0.9 * x + random() - 0.5));
});
for (let round = 0; round < 3; round += 1) {
  const started = performance.now();
  const { rhat, ess } = convergence(chains, sortedDraws(chains));
  console.log(`4 × 100,000 draws: ${(performance.now() - started).toFixed(0)} ms (R̂ ${rhat.toFixed(4)}, bulk ESS ${ess.bulk.toFixed(0)})`);
}
