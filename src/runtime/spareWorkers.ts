import type { WorkerExit } from '../../machines/workerActors.js';

/** What either backend's worker offers to be kept as a spare. */
export interface SpareWorker {
  readonly exit: WorkerExit | undefined;
  /** Takes on the identity of the slot it replaces. */
  adopt(workerId: string): void;
  terminate(options: { graceMs: number; immediate: boolean }): Promise<WorkerExit>;
}

/**
 * Workers started before they are needed, one set per device. Booting Node and
 * importing the task module takes 71–124 ms for a process and 27–54 ms for a thread
 * here (`npm run bench:backends`); handing over a spare that has already done so
 * makes a killed worker's replacement ready in a few milliseconds.
 *
 * A spare that fails to start turns spares off for the pool: the supervisor's own
 * starts will then meet the same failure and report it, with backoff, rather than
 * this class retrying in the background.
 */
export class SpareWorkers<W extends SpareWorker> {
  readonly #ready = new Map<string, W[]>();
  readonly #starting = new Map<string, number>();
  readonly #inFlight = new Set<Promise<unknown>>();
  #disabled = false;
  #closed = false;

  constructor(
    private readonly perDevice: number,
    private readonly start: (device: string) => Promise<W>,
  ) {}

  /** A started spare for `device`, if one is ready; starts the next one either way, just after. */
  #take(device: string): W | undefined {
    const list = this.#ready.get(device);
    let spare: W | undefined;
    while (list && list.length > 0 && spare === undefined) {
      const candidate = list.shift() as W;
      if (candidate.exit === undefined) spare = candidate;
    }
    // Starting a worker costs the main thread milliseconds (fork, or a new V8 isolate): the
    // replacement is handed over first, its successor is started right after.
    setImmediate(() => this.fill(device));
    return spare;
  }

  /**
   * A worker for slot `workerId`: a ready spare, given the slot's identity, or else one
   * started now with `start`.
   */
  async adoptOrStart(device: string, workerId: string, start: () => Promise<W>): Promise<W> {
    const spare = this.#take(device);
    if (spare === undefined) return start();
    spare.adopt(workerId);
    return spare;
  }

  /** Spares again after a failure turned them off (the pool recovered: the cause is gone). */
  resume(): void {
    this.#disabled = false;
  }

  /** Starts spares for `device` up to the configured number. */
  fill(device: string): void {
    if (this.#disabled || this.#closed || this.perDevice <= 0) return;
    const have = (this.#ready.get(device)?.length ?? 0) + (this.#starting.get(device) ?? 0);
    for (let i = have; i < this.perDevice; i += 1) {
      this.#starting.set(device, (this.#starting.get(device) ?? 0) + 1);
      const starting = this.start(device).then(
        (worker) => {
          if (this.#closed) return worker.terminate({ graceMs: 0, immediate: true });
          const list = this.#ready.get(device) ?? [];
          list.push(worker);
          this.#ready.set(device, list);
          return undefined;
        },
        () => {
          this.#disabled = true;
        },
      );
      const tracked = starting.finally(() => {
        this.#starting.set(device, (this.#starting.get(device) ?? 1) - 1);
        this.#inFlight.delete(tracked);
      });
      this.#inFlight.add(tracked);
    }
  }

  /** Ends every spare, including those still starting; resolves when all have exited. */
  async dispose(): Promise<void> {
    this.#closed = true;
    const ready = [...this.#ready.values()].flat();
    this.#ready.clear();
    await Promise.all([...ready.map((worker) => worker.terminate({ graceMs: 0, immediate: true })), ...this.#inFlight]);
  }
}
