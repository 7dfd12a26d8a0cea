/** Small causal links for the engine and CLI tests. */
export function validLink(i: number) {
  return {
    id: `L${i}`,
    causeId: 'programa:vias',
    effectId: 'resultado:tiempo',
    evidence: [
      { id: 'E1', test: 'hoop', passed: true, mechanism: 'financiero' },
      { id: 'E2', test: 'smoking_gun', passed: i % 2 === 0, mechanism: 'tecnico' },
    ],
    observations: { successes: 6, trials: 10 },
    sampling: { chains: 2, draws: 500, warmup: 200, seed: i },
  };
}

/** Samples for far longer than any test deadline. */
export const slowLink = { id: 'slow', causeId: 'a', effectId: 'b', evidence: [{ test: 'hoop', passed: true }], sampling: { chains: 4, draws: 50_000_000, warmup: 10, seed: 1 } };

/** Keeps every draw: memory grows until the limit stops it. */
export const hungryLink = { id: 'hungry', causeId: 'a', effectId: 'b', evidence: [], sampling: { chains: 4, draws: 50_000_000, warmup: 10, seed: 1, keepDraws: true } };

/** Fails validation: a test type that does not exist. */
export const invalidLink = { id: 'bad', causeId: 'a', effectId: 'b', evidence: [{ test: 'smoking-gun', passed: true }] };
