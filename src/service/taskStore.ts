import type { PoolError } from '../errors.js';

export type TaskState = 'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled';

export interface TaskRecord {
  readonly id: string;
  readonly task: string;
  state: TaskState;
  readonly submittedAt: number;
  settledAt: number | undefined;
  result: unknown;
  error: SerializedPoolError | undefined;
  readonly cancel: AbortController;
}

/** A pool error as the API shows it: the stable code, the message and the evidence fields. */
export interface SerializedPoolError {
  readonly code: string;
  readonly name: string;
  readonly message: string;
  readonly evidence: Record<string, unknown>;
}

export function serializePoolError(error: unknown): SerializedPoolError {
  const e = error as PoolError;
  const evidence = Object.fromEntries(Object.entries(e).filter(([key]) => !['code', 'name', 'message', 'stack'].includes(key)));
  if (e.cause !== undefined) evidence.cause = e.cause;
  return { code: e.code ?? 'ERR_UNKNOWN', name: e.name ?? 'Error', message: e.message ?? String(error), evidence };
}

/**
 * The tasks submitted over HTTP, by id. Settled records are kept up to `capacity`,
 * oldest dropped first, so a long-running service does not grow without bound.
 */
export class TaskStore {
  readonly #records = new Map<string, TaskRecord>();
  #next = 0;

  constructor(readonly capacity: number) {}

  create(task: string): TaskRecord {
    const record: TaskRecord = {
      id: `t${++this.#next}`,
      task,
      state: 'queued',
      submittedAt: Date.now(),
      settledAt: undefined,
      result: undefined,
      error: undefined,
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
  }

  #evict(): void {
    if (this.#records.size <= this.capacity) return;
    for (const [id, record] of this.#records) {
      if (this.#records.size <= this.capacity) return;
      if (record.state !== 'queued' && record.state !== 'running') this.#records.delete(id);
    }
  }
}

export function publicRecord(record: TaskRecord) {
  return {
    id: record.id,
    task: record.task,
    state: record.state,
    submittedAt: new Date(record.submittedAt).toISOString(),
    settledAt: record.settledAt === undefined ? null : new Date(record.settledAt).toISOString(),
    ...(record.state === 'succeeded' ? { result: record.result } : {}),
    ...(record.error !== undefined ? { error: record.error } : {}),
  };
}
