import type { PoisonFailure, Quarantine } from './taskTypes.js';

/**
 * When an input counts as poison: `failures` crashes or memory kills on different
 * workers within `windowMs`; it is then refused until `windowMs` after the last of them.
 */
export interface QuarantinePolicy {
  readonly failures: number;
  readonly windowMs: number;
}

/** Fingerprints remembered at most; a caller that sends endless distinct bad inputs cannot grow the table past it. */
export const QUARANTINE_ENTRIES = 10_000;

interface Entry {
  readonly name: string;
  readonly fingerprint: string;
  failures: PoisonFailure[];
  /** Set while quarantined. */
  untilMs: number | undefined;
}

/**
 * Remembers the inputs that took a worker down, so that one bad input repeated cannot
 * keep killing workers: the fault is charged to the input, never to the pool.
 *
 * It is indexed by task name first, so a pool whose tasks never fail pays one map
 * lookup per task, and only tasks whose name has a recent failure need a fingerprint
 * (a hash of their payload, which the caller computes lazily).
 */
export class PoisonQuarantine {
  readonly #byName = new Map<string, Map<string, Entry>>();
  #size = 0;
  #active = 0;
  #nextSweepMs = 0;
  /** When the first active quarantine ends: a count asked for after that must not include it. */
  #nextExpiryMs = Number.POSITIVE_INFINITY;

  /** `now`: the pool's clock, read only while something is on record (an empty table costs a task nothing). */
  constructor(
    private readonly policy: QuarantinePolicy | undefined,
    private readonly now: () => number,
  ) {}

  /** Whether any task of this name has a recent failure on record. */
  watches(name: string): boolean {
    if (this.#size === 0) return false;
    this.#sweepIfDue(this.now());
    return this.#byName.has(name);
  }

  /** Fingerprints refused right now. */
  get activeCount(): number {
    if (this.#active > 0) this.#sweepIfDue(this.now());
    return this.#active;
  }

  /** The quarantine `fingerprint` of `name` is in now, if any. */
  check(name: string, fingerprint: string): Quarantine | undefined {
    const entry = this.#current(name, fingerprint, this.now());
    return entry?.untilMs === undefined ? undefined : toQuarantine(entry, entry.untilMs);
  }

  /**
   * Records a failure; returns the quarantine when this failure starts one. A second
   * failure on the same OS worker is not new evidence (the worker, not the input, may be bad).
   */
  record(name: string, fingerprint: string, failure: PoisonFailure): Quarantine | undefined {
    const policy = this.policy;
    if (policy === undefined) return undefined;
    const entry = this.#current(name, fingerprint, failure.atMs) ?? this.#add(name, fingerprint);
    const sameWorker = entry.failures.some((f) => f.workerId === failure.workerId && f.generation === failure.generation);
    if (!sameWorker) entry.failures.push(failure);
    if (entry.failures.length < policy.failures) return undefined;
    const started = entry.untilMs === undefined;
    if (started) this.#active += 1;
    entry.untilMs = failure.atMs + policy.windowMs;
    this.#nextExpiryMs = Math.min(this.#nextExpiryMs, entry.untilMs);
    return started ? toQuarantine(entry, entry.untilMs) : undefined;
  }

  /** The entry as of `nowMs`: old failures dropped, an ended quarantine lifted; undefined once nothing is left of it. */
  #current(name: string, fingerprint: string, nowMs: number): Entry | undefined {
    const entry = this.#byName.get(name)?.get(fingerprint);
    if (entry === undefined) return undefined;
    this.#expire(entry, nowMs);
    return entry.failures.length === 0 && entry.untilMs === undefined ? undefined : entry;
  }

  #add(name: string, fingerprint: string): Entry {
    if (this.#size >= QUARANTINE_ENTRIES) this.#forgetOldest();
    const entry: Entry = { name, fingerprint, failures: [], untilMs: undefined };
    let entries = this.#byName.get(name);
    if (entries === undefined) {
      entries = new Map();
      this.#byName.set(name, entries);
    }
    entries.set(fingerprint, entry);
    this.#size += 1;
    return entry;
  }

  /** Drops failures older than the window, ends a quarantine whose time is up, forgets an empty entry. */
  #expire(entry: Entry, nowMs: number): void {
    const windowMs = this.policy?.windowMs ?? 0;
    if (entry.untilMs !== undefined && nowMs >= entry.untilMs) {
      entry.untilMs = undefined;
      this.#active -= 1;
      entry.failures = [];
    }
    if (entry.untilMs === undefined) entry.failures = entry.failures.filter((f) => nowMs - f.atMs < windowMs);
    if (entry.failures.length === 0 && entry.untilMs === undefined) this.#forget(entry);
  }

  /**
   * Forgets what has expired, now and then (at most ten times per window, and when a
   * quarantine ends), so a name whose only failure was long ago stops costing its tasks
   * a fingerprint, and the count of active quarantines is never stale.
   */
  #sweepIfDue(nowMs: number): void {
    if (nowMs < this.#nextSweepMs && nowMs < this.#nextExpiryMs) return;
    this.#nextSweepMs = nowMs + Math.max(1000, (this.policy?.windowMs ?? 0) / 10);
    this.#nextExpiryMs = Number.POSITIVE_INFINITY;
    for (const entries of [...this.#byName.values()]) {
      for (const entry of [...entries.values()]) {
        this.#expire(entry, nowMs);
        if (entry.untilMs !== undefined) this.#nextExpiryMs = Math.min(this.#nextExpiryMs, entry.untilMs);
      }
    }
  }

  #forget(entry: Entry): void {
    const entries = this.#byName.get(entry.name);
    if (entries?.get(entry.fingerprint) !== entry) return;
    entries.delete(entry.fingerprint);
    this.#size -= 1;
    if (entry.untilMs !== undefined) this.#active -= 1;
    if (entries.size === 0) this.#byName.delete(entry.name);
  }

  /** Makes room: the first entry of the name recorded longest ago (maps iterate in insertion order). */
  #forgetOldest(): void {
    const first = this.#byName.values().next().value;
    const entry = first?.values().next().value;
    if (entry !== undefined) this.#forget(entry);
  }
}

function toQuarantine(entry: Entry, untilMs: number): Quarantine {
  return { name: entry.name, fingerprint: entry.fingerprint, failures: entry.failures.slice(), untilMs };
}
