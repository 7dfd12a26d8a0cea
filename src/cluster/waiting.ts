/**
 * Bounded waits for the cluster's shutdowns: a host or client told to close while Redis is
 * down must still close, so nothing there waits on Redis without a limit.
 */

/** How long a closing host or client waits for Redis to take its goodbye before dropping the connections. */
export const REDIS_GOODBYE_MS = 2000;

/** Whether `promise` settled within `ms` (a rejection counts as settled: the caller moves on either way). */
export async function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => (timer = setTimeout(resolve, ms, false)));
  try {
    return await Promise.race([promise.then(() => true, () => true), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Whether `condition` holds within `ms`, checked every 20 ms (no loop outlives the call). */
export async function holdsWithin(condition: () => boolean, ms: number): Promise<boolean> {
  for (const deadline = Date.now() + ms; !condition(); await new Promise((resolve) => setTimeout(resolve, 20))) {
    if (Date.now() >= deadline) return false;
  }
  return true;
}
