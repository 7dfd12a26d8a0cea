/**
 * Bounded waits on Redis: a host or client told to close while Redis is down must still close,
 * and the service in front of a cluster answers 503 rather than hang.
 */

/** How long a closing host or client waits for Redis to take its goodbye before dropping the connections. */
export const REDIS_GOODBYE_MS = 2000;

/**
 * The promise's value, or undefined when it did not settle within `ms`; its rejection comes
 * through. It may still settle later; nobody listens then (its rejection included).
 */
export async function within<T>(promise: Promise<T>, ms: number): Promise<{ readonly value: T } | undefined> {
  promise.catch(() => {});
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([promise.then((value) => ({ value })), new Promise<undefined>((resolve) => (timer = setTimeout(resolve, ms, undefined)))]);
  } finally {
    clearTimeout(timer);
  }
}

/** Whether `promise` settled within `ms` (a rejection counts as settled: the caller moves on either way). */
export async function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  const settled = promise.then(
    () => true,
    () => true,
  );
  return (await within(settled, ms)) !== undefined;
}

/** Whether `condition` holds within `ms`, checked every 20 ms (no loop outlives the call). */
export async function holdsWithin(condition: () => boolean, ms: number): Promise<boolean> {
  for (const deadline = Date.now() + ms; !condition(); await new Promise((resolve) => setTimeout(resolve, 20))) {
    if (Date.now() >= deadline) return false;
  }
  return true;
}
