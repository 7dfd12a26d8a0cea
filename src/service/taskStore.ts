import type { PoolErrorData } from '../errors.js';

export type TaskState = 'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled';

export interface TaskRecord {
  readonly id: string;
  readonly task: string;
  state: TaskState;
  readonly submittedAt: number;
  settledAt: number | undefined;
  /**
   * The settled record as the API answers it, serialized once when the task settled:
   * a GET sends it as it is, and its length is what the record costs.
   */
  body: string | undefined;
  readonly cancel: AbortController;
}

/** How much the service remembers of settled tasks; past a bound, the oldest settled records go first. */
export interface TaskRecordLimits {
  /** Records kept, settled or not (default 10,000). Queued and running ones are never dropped. */
  readonly maxCount: number;
  /** Characters of JSON kept over all settled records (default 256 MiB). */
  readonly maxBytes: number;
  /** A result whose JSON is longer is not kept: the record says `resultTooLarge` with its size (default 8 MiB). */
  readonly maxResultBytes: number;
}

/** How a task ended, as the store takes it: the value (not yet serialized) or the error. */
export type Settlement = { readonly ok: true; readonly value: unknown } | { readonly ok: false; readonly state: 'failed' | 'cancelled'; readonly error: PoolErrorData };

/**
 * The tasks submitted over HTTP, by id. Settled records are kept within a count and a
 * size, oldest settled dropped first, so a long-running service holds a bounded amount
 * however large the results are. A record is serialized once, when it settles: reads
 * cost a lookup, and its size is known exactly.
 */
export class TaskStore {
  readonly #records = new Map<string, TaskRecord>();
  /** Settled records, oldest first, with their size: the eviction order. */
  readonly #settled = new Map<string, number>();
  #settledBytes = 0;
  #next = 0;

  constructor(readonly limits: TaskRecordLimits) {}

  create(task: string): TaskRecord {
    const record: TaskRecord = {
      id: `t${++this.#next}`,
      task,
      state: 'queued',
      submittedAt: Date.now(),
      settledAt: undefined,
      body: undefined,
      cancel: new AbortController(),
    };
    this.#records.set(record.id, record);
    this.#evict();
    return record;
  }

  get(id: string): TaskRecord | undefined {
    return this.#records.get(id);
  }

  delete(id: string): void {
    this.#records.delete(id);
    const bytes = this.#settled.get(id);
    if (bytes !== undefined) {
      this.#settled.delete(id);
      this.#settledBytes -= bytes;
    }
  }

  /**
   * Records how the task ended. Returns the result's JSON when the record could not
   * keep it (over `maxResultBytes`), so a caller still waiting can have it once.
   */
  settle(record: TaskRecord, settlement: Settlement): { readonly resultJson: string | undefined } {
    record.settledAt = Date.now();
    let resultJson: string | undefined;
    let extra: Record<string, unknown>;
    if (settlement.ok) {
      try {
        // The pool checked the value in the worker (resultFormat: 'json'); this cannot throw for a result from there.
        resultJson = JSON.stringify(settlement.value);
        record.state = 'succeeded';
        extra = {};
      } catch (error) {
        record.state = 'failed';
        extra = { error: { code: 'ERR_RESULT_NOT_SERIALIZABLE', name: 'ResultNotSerializableError', message: `the result cannot be represented as JSON: ${(error as Error).message.split('\n')[0]}`, evidence: {} } };
      }
    } else {
      record.state = settlement.state;
      extra = { error: settlement.error };
    }
    const tooLarge = resultJson !== undefined && resultJson.length > this.limits.maxResultBytes;
    if (tooLarge) extra = { resultTooLarge: { bytes: resultJson?.length, limitBytes: this.limits.maxResultBytes } };
    const head = JSON.stringify({ ...this.#header(record), ...extra });
    record.body = resultJson === undefined || tooLarge ? head : `${head.slice(0, -1)},"result":${resultJson}}`;
    if (this.#records.get(record.id) === record) {
      this.#settled.set(record.id, record.body.length);
      this.#settledBytes += record.body.length;
      this.#evict();
    }
    return { resultJson: tooLarge ? resultJson : undefined };
  }

  /** The record as the API answers it. */
  json(record: TaskRecord): string {
    return record.body ?? JSON.stringify(this.#header(record));
  }

  /** What the store holds now: for `/v1/pool` and the tests of its bounds. */
  stats(): { readonly records: number; readonly settled: number; readonly settledBytes: number } {
    return { records: this.#records.size, settled: this.#settled.size, settledBytes: this.#settledBytes };
  }

  #header(record: TaskRecord) {
    return {
      id: record.id,
      task: record.task,
      state: record.state,
      submittedAt: new Date(record.submittedAt).toISOString(),
      settledAt: record.settledAt === undefined ? null : new Date(record.settledAt).toISOString(),
    };
  }

  #evict(): void {
    const { maxCount, maxBytes } = this.limits;
    while ((this.#records.size > maxCount || this.#settledBytes > maxBytes) && this.#settled.size > 0) {
      const [oldest] = this.#settled.keys();
      this.delete(oldest as string);
    }
  }
}
