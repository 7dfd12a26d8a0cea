/**
 * One timer per period for every poller of the process. A timer wake-up is not free
 * (`node test/bench/syscallCost.mjs`: an empty 80 Hz interval costs 1.0–1.4 % of a core here), so eight workers
 * sampled at 10 Hz share ten wake-ups a second instead of eighty.
 */
const tickers = new Map<number, { timer: NodeJS.Timeout; callbacks: Set<() => void> }>();

/** Calls `callback` every `periodMs` until the returned function is called. */
export function everyTick(periodMs: number, callback: () => void): () => void {
  let ticker = tickers.get(periodMs);
  if (ticker === undefined) {
    const callbacks = new Set<() => void>();
    const timer = setInterval(() => {
      for (const fn of callbacks) fn();
    }, periodMs);
    timer.unref();
    ticker = { timer, callbacks };
    tickers.set(periodMs, ticker);
  }
  const entry = ticker;
  const registered = () => callback();
  entry.callbacks.add(registered);
  return () => {
    entry.callbacks.delete(registered);
    if (entry.callbacks.size === 0) {
      clearInterval(entry.timer);
      tickers.delete(periodMs);
    }
  };
}
