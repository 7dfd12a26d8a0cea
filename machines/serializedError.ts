import type { SerializedError } from './taskTypes.js';

/** How many `cause`s deep an error is kept: enough for "start failed, because the thread threw". */
const MAX_CAUSE_DEPTH = 3;

/** Any thrown value as plain data that survives a process boundary and a log line. */
export function toSerializedError(error: unknown, depth = 0): SerializedError {
  if (typeof error === 'object' && error !== null) {
    const e = error as { name?: unknown; message?: unknown; stack?: unknown; code?: unknown; cause?: unknown };
    const serialized: SerializedError = {
      name: typeof e.name === 'string' ? e.name : 'Error',
      message: typeof e.message === 'string' ? e.message : String(error),
      stack: typeof e.stack === 'string' ? e.stack : undefined,
      code: typeof e.code === 'string' ? e.code : undefined,
    };
    return e.cause === undefined || depth >= MAX_CAUSE_DEPTH ? serialized : { ...serialized, cause: toSerializedError(e.cause, depth + 1) };
  }
  return { name: 'Error', message: String(error) };
}
