/**
 * When a worker slot has failed, how long to wait before its next start, or whether
 * to give up. Exponential backoff with jitter, bounded by an OTP-style intensity limit:
 * more than `maxRestarts` counted failures within `windowMs` means the failure is not
 * transient (a module that cannot load, a broken host), and restarting again would only
 * make a storm.
 */
export interface BackoffPolicy {
  /** Delay before the first restart after a counted failure. */
  readonly backoffMs: number;
  /** The delay doubles per failure in the window up to this cap. */
  readonly maxBackoffMs: number;
  /** Counted failures allowed within `windowMs`; one more gives up. */
  readonly maxRestarts: number;
  readonly windowMs: number;
  /** Fraction of the delay taken off at random, so slots do not restart in lockstep. */
  readonly jitterRatio: number;
}

/** The backoff, and how a pool that gave up (degraded) tries again. */
export interface RestartPolicy extends BackoffPolicy {
  /** How long a degraded pool waits before its first probe; doubled after each failed probe. */
  readonly recoverAfterMs: number;
  /** The longest wait between two probes. */
  readonly maxRecoverAfterMs: number;
}

export type RestartPlan =
  | { readonly kind: 'restart'; readonly delayMs: number; readonly recentFailures: number[] }
  | { readonly kind: 'give-up'; readonly recentFailures: number[] };

/**
 * Plans the restart after a counted failure at `now`. `failures` holds the times of
 * earlier counted failures of this slot; the returned `recentFailures` (this one
 * included, older ones outside the window dropped) replaces it.
 *
 * Jitter only shortens the delay, so the nominal value is also the cap and the
 * doubling is visible in tests with `random = () => 0`.
 */
export function planRestart(
  failures: readonly number[],
  now: number,
  policy: BackoffPolicy,
  random: () => number,
): RestartPlan {
  const recentFailures = failures.filter((at) => now - at < policy.windowMs);
  recentFailures.push(now);
  if (recentFailures.length > policy.maxRestarts) return { kind: 'give-up', recentFailures };
  const nominal = Math.min(policy.maxBackoffMs, policy.backoffMs * 2 ** (recentFailures.length - 1));
  const delayMs = Math.round(nominal * (1 - policy.jitterRatio * random()));
  return { kind: 'restart', delayMs, recentFailures };
}
