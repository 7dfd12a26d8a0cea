// @ts-check
/**
 * The second argument of a task function, and the handle the runner keeps on it: the
 * task reports progress through it, and the pool's abort reaches the task through it.
 * It costs a task that uses neither almost nothing: the AbortController is made only
 * when the task reads `signal` or an abort arrives, and no timer runs unless progress
 * is held back.
 */

/** @typedef {import('../protocol.js').FromWorker} FromWorker */
/** @typedef {import('../protocol.js').TaskContext} TaskContext */
/** @typedef {import('../../../machines/taskTypes.js').TaskAbortReason} TaskAbortReason */

/**
 * Progress closer together than this is coalesced into the last value: a task that reports
 * in a tight loop must not flood the channel that also carries every result.
 */
export const PROGRESS_INTERVAL_MS = 50;
/** The most a progress `detail` may take as JSON: it is an event on every listener and SSE stream, not a result. */
export const MAX_PROGRESS_DETAIL_BYTES = 4096;

/**
 * @param {{ taskId: string, workerId: string, device: string, send: (message: FromWorker) => void }} options
 * @returns {{ context: TaskContext, abort: (reason: TaskAbortReason) => void, end: () => void }}
 */
export function createTaskControl({ taskId, workerId, device, send }) {
  /** @type {AbortController | undefined} */
  let controller;
  let ended = false;
  let lastSentAt = Number.NEGATIVE_INFINITY;
  /** @type {{ fraction: number, json: string | undefined } | undefined} */
  let pending;
  /** @type {ReturnType<typeof setTimeout> | undefined} */
  let timer;

  function sendPending() {
    if (timer !== undefined) clearTimeout(timer);
    timer = undefined;
    if (pending === undefined) return;
    const { fraction, json } = pending;
    pending = undefined;
    lastSentAt = performance.now();
    try {
      send({ type: 'progress', id: taskId, fraction, detail: json === undefined ? undefined : JSON.parse(json) });
    } catch {
      // Progress is best effort: a channel that is closing must not fail the task (its result reports that).
    }
  }

  /** @type {TaskContext} */
  const context = {
    taskId,
    workerId,
    device,
    get signal() {
      return (controller ??= new AbortController()).signal;
    },
    progress(fraction, detail) {
      if (typeof fraction !== 'number' || !Number.isFinite(fraction) || fraction < 0 || fraction > 1) {
        throw new TypeError(`ctx.progress: expected a fraction from 0 to 1, got ${describe(fraction)}`);
      }
      const json = detailJson(detail);
      if (ended) return;
      pending = { fraction, json };
      const sinceLast = performance.now() - lastSentAt;
      // Done goes out at once; so does the first report after a quiet spell.
      if (fraction === 1 || sinceLast >= PROGRESS_INTERVAL_MS) return sendPending();
      timer ??= setTimeout(sendPending, PROGRESS_INTERVAL_MS - sinceLast);
    },
  };

  return {
    context,
    abort(reason) {
      if (ended) return;
      const c = (controller ??= new AbortController());
      if (!c.signal.aborted) c.abort(abortError(reason));
    },
    // The last progress held back goes out before the result, so it is never lost and never late.
    end() {
      sendPending();
      ended = true;
    },
  };
}

/**
 * `detail` as JSON (undefined when there is none), or a TypeError / RangeError that says
 * why it cannot be sent. JSON is the test: it is what the service's stream will send.
 * @param {unknown} detail
 * @returns {string | undefined}
 */
function detailJson(detail) {
  if (detail === undefined) return undefined;
  let json;
  try {
    json = JSON.stringify(detail);
  } catch (error) {
    const message = /** @type {Error} */ (error).message.split('\n')[0];
    throw new TypeError(`ctx.progress: expected a detail JSON can represent, got one it cannot (${message})`);
  }
  if (json === undefined) throw new TypeError(`ctx.progress: expected a detail JSON can represent, got a ${typeof detail}`);
  const bytes = json.length * 3 <= MAX_PROGRESS_DETAIL_BYTES ? json.length : Buffer.byteLength(json);
  if (bytes > MAX_PROGRESS_DETAIL_BYTES) {
    throw new RangeError(`ctx.progress: expected a detail of at most ${MAX_PROGRESS_DETAIL_BYTES} bytes as JSON, got ${bytes}`);
  }
  return json;
}

/** @param {unknown} value */
function describe(value) {
  if (typeof value === 'number') return String(value);
  if (typeof value === 'string') return JSON.stringify(value.slice(0, 40));
  return value === null ? 'null' : typeof value;
}

/**
 * The reason a task's signal aborts with: an Error (so `signal.throwIfAborted()` throws
 * something with a stack) carrying the pool's reason, code first.
 * @param {TaskAbortReason} reason
 */
function abortError(reason) {
  const message =
    reason.code === 'ERR_TASK_DEADLINE'
      ? `the task's deadline (${reason.timeoutMs} ms) is ${reason.remainingMs} ms away; it is killed then unless it returns first`
      : 'the task was cancelled by its caller; its worker is killed soon unless the task returns first';
  return Object.assign(new Error(message), { name: 'AbortError' }, reason);
}
