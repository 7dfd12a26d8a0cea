/** Runs of a task name measured before its tasks may be handed out ahead of time. */
export const RUNS_BEFORE_RUN_AHEAD = 3;
/** Weight of the newest run in a task name's mean run time. */
export const RUN_TIME_WEIGHT = 0.2;
/** Task names whose run times are kept; a caller that makes up names cannot grow the pool's memory past it. */
export const RUN_TIME_NAMES = 1024;

/** One task name's measurements, updated in place so that recording a run allocates nothing. */
export interface RunTimes {
  meanMs: number;
  runs: number;
}

/**
 * Recent run times by task name: which tasks are fast enough to hand out ahead of
 * time. The mean is exponentially weighted, so a name that turns slow (or has one
 * of its tasks ended) stops being run ahead within a few runs.
 */
export class RunTimeStats {
  readonly #byName = new Map<string, RunTimes>();

  /** Names measured right now (at most {@link RUN_TIME_NAMES}). */
  get size(): number {
    return this.#byName.size;
  }

  /** A name's expected run time; Infinity until it has run often enough to be trusted. */
  expectedMs(name: string): number {
    const times = this.#byName.get(name);
    return times === undefined || times.runs < RUNS_BEFORE_RUN_AHEAD ? Infinity : times.meanMs;
  }

  record(name: string, ms: number): void {
    const times = this.#byName.get(name);
    if (times === undefined) {
      // The name first measured longest ago makes room (a Map iterates in insertion order).
      if (this.#byName.size >= RUN_TIME_NAMES) this.#byName.delete(this.#byName.keys().next().value as string);
      this.#byName.set(name, { meanMs: ms, runs: 1 });
    } else {
      times.meanMs += RUN_TIME_WEIGHT * (ms - times.meanMs);
      times.runs += 1;
    }
  }
}
