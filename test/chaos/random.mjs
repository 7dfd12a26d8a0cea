// @ts-check
/**
 * The chaos suite's randomness: seeded, so a run that found a violation can be
 * replayed with the same `--seed` (the same sequence of faults and parameters; the
 * timing between them is the machine's).
 */

/**
 * mulberry32: 32 bits of state, one add and a few multiply-xorshifts per draw. Plenty
 * for choosing faults; not for anything that needs to be unpredictable.
 * @param {number} seed
 * @returns {() => number} uniform in [0, 1)
 */
export function mulberry32(seed) {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let mixed = Math.imul(state ^ (state >>> 15), state | 1);
    mixed ^= mixed + Math.imul(mixed ^ (mixed >>> 7), mixed | 61);
    return ((mixed ^ (mixed >>> 14)) >>> 0) / 4_294_967_296;
  };
}

export class Random {
  #next;

  /** @param {number} seed */
  constructor(seed) {
    this.#next = mulberry32(seed);
  }

  /** @returns {number} uniform in [0, 1) */
  float() {
    return this.#next();
  }

  /**
   * @param {number} min
   * @param {number} max inclusive
   */
  int(min, max) {
    return min + Math.floor(this.#next() * (max - min + 1));
  }

  /** @param {number} probability */
  chance(probability) {
    return this.#next() < probability;
  }

  /**
   * @template T
   * @param {readonly T[]} items
   * @returns {T}
   */
  pick(items) {
    if (items.length === 0) throw new RangeError('pick from an empty list');
    return /** @type {T} */ (items[Math.floor(this.#next() * items.length)]);
  }

  /**
   * @template {{ weight: number }} T
   * @param {readonly T[]} items
   * @returns {T}
   */
  weighted(items) {
    const total = items.reduce((sum, item) => sum + item.weight, 0);
    let point = this.#next() * total;
    for (const item of items) {
      point -= item.weight;
      if (point < 0) return item;
    }
    return /** @type {T} */ (items.at(-1));
  }

  /** A new, independent stream: one per consumer, so that timing cannot reorder their draws. */
  fork() {
    return new Random(Math.floor(this.#next() * 4_294_967_296));
  }
}
