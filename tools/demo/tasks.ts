/**
 * The demo's task module: one well-behaved task and the misbehaviours a pool must
 * survive. Loaded inside worker processes by `npm run demo:pool`.
 */

/** Estimates π by Monte Carlo with a small seeded PRNG: honest CPU work. */
export async function estimatePi({ samples, seed }: { samples: number; seed: number }): Promise<number> {
  let state = seed >>> 0 || 1;
  const next = () => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) / 4294967296;
  };
  let inside = 0;
  for (let i = 0; i < samples; i += 1) {
    const x = next();
    const y = next();
    if (x * x + y * y <= 1) inside += 1;
  }
  return (4 * inside) / samples;
}

/** Never returns: a sampler stuck in a loop. */
export function runaway(): never {
  for (;;) {
    // spins until killed
  }
}

const kept: Buffer[] = [];

/** Grows off-heap memory at about 200 MiB/s: what V8's heap limit never sees. */
export function leak(): Promise<never> {
  return new Promise(() => {
    setInterval(() => kept.push(Buffer.alloc(2 * 1024 * 1024, 1)), 10);
  });
}

/** Dies as a native crash would. */
export function crash(): never {
  process.kill(process.pid, 'SIGKILL');
  throw new Error('unreachable');
}

/** Rejects with a domain error: the worker itself is fine. */
export async function invalidInput(payload: unknown): Promise<never> {
  throw new TypeError(`expected { samples, seed }, got ${JSON.stringify(payload)}`);
}
