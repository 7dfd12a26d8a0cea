import type { WorkerExit } from '../../machines/workerActors.js';

/** What either backend's worker offers to be kept as a spare. */
export interface SpareWorker {
  readonly exit: WorkerExit | undefined;
  /** Takes on the identity of the slot it replaces. */
  adopt(workerId: string): void;
  terminate(options: { graceMs: number; immediate: boolean }): Promise<WorkerExit>;
}

/** A spare still starting; a slot that needs a worker before it is ready may claim it. */
interface StartingSpare<W> {
  claimed: boolean;
  /** The worker, or undefined if its start failed. */
  readonly worker: Promise<W | undefined>;
}

/**
 * Workers started before they are needed, one set per device. Booting Node and
 * importing the task module takes 71–124 ms for a process and 27–54 ms for a thread
 * here (`npm run bench:backends`); handing over a spare that has already done so
 * makes a killed worker's replacement ready in a few milliseconds.
 *
 * A spare that fails to start turns spares off for the pool: the supervisor's own
 * starts will then meet the same failure and report it, with backoff, rather than
 * this class retrying in the background. A pool that recovers turns them on again
 * (`resume`).
 */
export class SpareWorkers<W extends SpareWorker> {
  readonly #ready = new Map<string, W[]>();
  readonly #starting = new Map<string, Array<StartingSpare<W>>>();
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
   * A worker for slot `workerId`: a ready spare, given the slot's identity; else a spare
   * still starting, claimed and awaited (it started earlier, so it is ready sooner than
   * a worker started now); else one started now with `start`. `signal` aborts the wait
   * (the slot's start was cancelled): the claimed spare is then ended, never leaked.
   */
  async adoptOrStart(device: string, workerId: string, start: () => Promise<W>, signal?: AbortSignal): Promise<W> {
    const spare = this.#take(device);
    if (spare !== undefined) {
      spare.adopt(workerId);
      return spare;
    }
    const starting = this.#starting.get(device)?.find((entry) => !entry.claimed);
    if (starting !== undefined) {
      starting.claimed = true;
      const worker = await starting.worker;
      if (worker !== undefined && signal?.aborted) {
        await worker.terminate({ graceMs: 0, immediate: true });
        throw new Error('worker start aborted');
      }
      if (worker !== undefined && worker.exit === undefined) {
        worker.adopt(workerId);
        return worker;
      }
    }
    return start();
  }

  /** Spares again after a failure turned them off (the pool recovered: the cause is gone). */
  resume(): void {
    this.#disabled = false;
  }

  /** Starts spares for `device` up to the configured number. */
  fill(device: string): void {
    if (this.#disabled || this.#closed || this.perDevice <= 0) return;
    const starting = this.#starting.get(device) ?? [];
    this.#starting.set(device, starting);
    const have = (this.#ready.get(device)?.length ?? 0) + starting.filter((entry) => !entry.claimed).length;
    for (let i = have; i < this.perDevice; i += 1) {
      const entry: StartingSpare<W> = {
        claimed: false,
        worker: this.start(device).then(
          (worker) => {
            starting.splice(starting.indexOf(entry), 1);
            // Claimed while starting: its claimer adopts it (or ends it, if the pool closed meanwhile).
            if (entry.claimed) return worker;
            if (this.#closed) return worker.terminate({ graceMs: 0, immediate: true }).then(() => undefined);
            const list = this.#ready.get(device) ?? [];
            list.push(worker);
            this.#ready.set(device, list);
            return undefined;
          },
          () => {
            starting.splice(starting.indexOf(entry), 1);
            this.#disabled = true;
            return undefined;
          },
        ),
      };
      starting.push(entry);
      const tracked = entry.worker.finally(() => this.#inFlight.delete(tracked));
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
