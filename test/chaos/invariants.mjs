// @ts-check
/**
 * What a chaos run promises, and its books: per invariant how often it was checked and
 * violated (with the first few violations in detail), per fault kind how often it was
 * injected and how it ended. Counts only, and a few samples: a ten-minute run costs
 * the same memory as a ten-second one.
 */

/** The invariants, in the order they are printed. */
export const INVARIANTS = /** @type {const} */ ([
  { name: 'settledOnce', title: 'every task settled exactly once, none left pending' },
  { name: 'outcome', title: 'each fault ended as its kind implies' },
  { name: 'healthy', title: 'healthy tasks returned their correct value' },
  { name: 'quarantine', title: 'a poison input crashes ≤ failures + workers − 1 workers' },
  { name: 'notDegraded', title: 'never degraded, never a PoolDegradedError' },
  { name: 'fullSize', title: 'back to full size within 5 s of the last fault' },
  { name: 'descendants', title: 'grandchildren die with their worker (3 s)' },
  { name: 'closeLeavesNothing', title: 'no process or thread of the pool survives close()' },
  { name: 'memory', title: 'host RSS: end ≤ warm-up + max(64 MiB, 25 %)' },
]);

/** @typedef {typeof INVARIANTS[number]['name']} InvariantName */

const SAMPLES_KEPT = 5;

export class ChaosLedger {
  /** @type {Map<InvariantName, { checks: number, violations: number, samples: unknown[] }>} */
  #invariants = new Map(INVARIANTS.map(({ name }) => [name, { checks: 0, violations: 0, samples: [] }]));
  /** @type {Map<InvariantName, string>} why an invariant cannot be checked on this backend */
  #notApplicable = new Map();
  /** @type {Map<string, number>} */
  #injected = new Map();
  /** @type {Map<string, Map<string, number>>} */
  #outcomes = new Map();
  /** @type {Map<string, number>} whatever else is worth a count (audit events, retries, …) */
  #counters = new Map();

  /**
   * @param {InvariantName} name
   * @param {boolean} holds
   * @param {() => unknown} detail built only when the check fails
   * @returns {boolean} holds
   */
  check(name, holds, detail) {
    const entry = /** @type {{ checks: number, violations: number, samples: unknown[] }} */ (this.#invariants.get(name));
    entry.checks += 1;
    if (!holds) {
      entry.violations += 1;
      if (entry.samples.length < SAMPLES_KEPT) entry.samples.push(detail());
    }
    return holds;
  }

  /**
   * @param {InvariantName} name
   * @param {string} why
   */
  notApplicable(name, why) {
    this.#notApplicable.set(name, why);
  }

  /** @param {string} kind */
  injected(kind) {
    this.#injected.set(kind, (this.#injected.get(kind) ?? 0) + 1);
  }

  /**
   * @param {string} kind
   * @param {string} label
   */
  outcome(kind, label) {
    let labels = this.#outcomes.get(kind);
    if (labels === undefined) this.#outcomes.set(kind, (labels = new Map()));
    labels.set(label, (labels.get(label) ?? 0) + 1);
  }

  /**
   * @param {string} name
   * @param {number} [by]
   */
  count(name, by = 1) {
    this.#counters.set(name, (this.#counters.get(name) ?? 0) + by);
  }

  get violations() {
    let total = 0;
    for (const entry of this.#invariants.values()) total += entry.violations;
    return total;
  }

  toJSON() {
    return {
      invariants: INVARIANTS.map(({ name, title }) => {
        const entry = /** @type {{ checks: number, violations: number, samples: unknown[] }} */ (this.#invariants.get(name));
        return { name, title, notApplicable: this.#notApplicable.get(name), ...entry };
      }),
      injected: Object.fromEntries(this.#injected),
      outcomes: Object.fromEntries([...this.#outcomes].map(([kind, labels]) => [kind, Object.fromEntries(labels)])),
      counters: Object.fromEntries([...this.#counters].sort(([a], [b]) => a.localeCompare(b))),
    };
  }
}
