// @ts-check
/**
 * What a worker does with its task module, the same in a process and in a thread:
 * load it, then run one named export per request and answer with a result message.
 * Only the transport (`send`, `receive`) and the way a failed load ends differ between
 * the two entries.
 */

/** @typedef {import('../protocol.js').FromWorker} FromWorker */
/** @typedef {import('../protocol.js').ToWorker} ToWorker */
/** @typedef {import('../protocol.js').WireTask} WireTask */
/** @typedef {import('../../../machines/taskTypes.js').SerializedError} SerializedError */
/** @typedef {import('../protocol.js').ResultFormat} ResultFormat */
/** @typedef {import('../../../machines/taskTypes.js').TaskAbortReason} TaskAbortReason */

import { createTaskControl } from './taskControl.js';

/** How many `cause`s deep an error is kept. */
const MAX_CAUSE_DEPTH = 3;

/**
 * Any thrown value as plain data that survives a process boundary, its `cause` a few
 * levels deep. (The machines have the same function; this side cannot import
 * TypeScript from there.)
 * @param {unknown} error
 * @param {number} [depth]
 * @returns {SerializedError}
 */
export function serializeError(error, depth = 0) {
  if (typeof error === 'object' && error !== null) {
    const e = /** @type {{ name?: unknown, message?: unknown, stack?: unknown, code?: unknown, cause?: unknown }} */ (error);
    /** @type {SerializedError} */
    const serialized = {
      name: typeof e.name === 'string' ? e.name : 'Error',
      message: typeof e.message === 'string' ? e.message : String(error),
      stack: typeof e.stack === 'string' ? e.stack : undefined,
      code: typeof e.code === 'string' ? e.code : undefined,
    };
    return e.cause === undefined || depth >= MAX_CAUSE_DEPTH ? serialized : { ...serialized, cause: serializeError(e.cause, depth + 1) };
  }
  return { name: 'Error', message: String(error) };
}

/**
 * Why `value` cannot be returned as JSON, or undefined when it can. JSON.stringify is
 * the test: it is what the HTTP API will do with the value, and it throws for a BigInt,
 * a cycle, or nesting deeper than the stack.
 * @param {unknown} value
 * @returns {SerializedError | undefined}
 */
function notJson(value) {
  try {
    JSON.stringify(value);
    return undefined;
  } catch (error) {
    const e = /** @type {Error} */ (error);
    // The first line: a cycle's message goes on to draw the path round it.
    return { name: e.name, message: e.message.split('\n')[0] ?? '' };
  }
}

/**
 * @param {{
 *   tasks: Record<string, unknown>,
 *   send: (message: FromWorker) => void,
 *   identity: () => { workerId: string, device: string },
 *   resultFormat?: ResultFormat,
 * }} options
 * @returns {{ run: (tasks: readonly WireTask[]) => void, abort: (taskId: string, reason: TaskAbortReason) => void }}
 *   `run` takes tasks to run in order, one at a time; `abort` aborts the running task's signal
 */
export function createTaskRunner({ tasks, send, identity, resultFormat = 'structured-clone' }) {
  const names = taskNames(tasks);
  // The names offered in `ready` are the only ones that run, so the list and the runner cannot disagree.
  const offered = new Set(names);

  /** @param {WireTask} message */
  async function runOne(message) {
    const task = tasks[message.name];
    if (!offered.has(message.name) || typeof task !== 'function') {
      const what = isClass(task) ? ` ("${message.name}" is a class, not a task)` : '';
      const error = {
        name: 'TaskNotFoundError',
        code: 'ERR_TASK_NOT_FOUND',
        message: `no task "${message.name}" in the task module${what}; its tasks: ${names.join(', ') || '(it exports no functions)'}`,
      };
      return send({ type: 'result', id: message.id, ok: false, error, durationMs: 0 });
    }
    /** @type {FromWorker} */
    let reply;
    const { workerId, device } = identity();
    const control = createTaskControl({ taskId: message.id, workerId, device, send });
    current = { id: message.id, control };
    const start = performance.now();
    try {
      const value = await task(message.payload, control.context);
      const durationMs = performance.now() - start;
      const unrepresentable = resultFormat === 'json' ? notJson(value) : undefined;
      reply = unrepresentable
        ? { type: 'result', id: message.id, ok: false, error: unrepresentable, durationMs, notSerializable: 'json' }
        : { type: 'result', id: message.id, ok: true, value, durationMs };
    } catch (error) {
      reply = { type: 'result', id: message.id, ok: false, error: serializeError(error), durationMs: performance.now() - start };
    }
    current = undefined;
    control.end();
    try {
      send(reply);
    } catch (error) {
      // The value cannot be cloned (a function, a socket): the task still settles, as a failure that says so.
      send({ type: 'result', id: message.id, ok: false, error: serializeError(error), durationMs: reply.durationMs, notSerializable: 'structured-clone' });
    }
  }

  /** The task running now: the only one an abort can reach (one not started yet, or ended, has no signal to abort). */
  /** @type {{ id: string, control: ReturnType<typeof createTaskControl> } | undefined} */
  let current;
  /** @type {WireTask[]} */
  let queue = [];
  let running = false;
  // Each result is sent before the next task starts: if that one never returns, the pool
  // knows which task it is.
  async function drain() {
    running = true;
    while (queue.length > 0) {
      const batch = queue;
      queue = [];
      for (const message of batch) await runOne(message);
    }
    running = false;
  }

  return {
    run(wireTasks) {
      for (const task of wireTasks) queue.push(task);
      if (!running) void drain();
    },
    abort(taskId, reason) {
      if (current?.id === taskId) current.control.abort(reason);
    },
  };
}

/**
 * The exports a worker offers as tasks: its functions, less its classes. A module often
 * exports its error classes beside its tasks, and a class called without `new` only throws.
 * @param {Record<string, unknown>} tasks
 * @returns {string[]}
 */
export function taskNames(tasks) {
  return Object.keys(tasks).filter((name) => typeof tasks[name] === 'function' && !isClass(tasks[name]));
}

// Taken once, from the intrinsic: a class may define a static toString() of its own.
const sourceText = Function.prototype.toString;

/**
 * Whether `value` is a class, told by its source text, which for a class starts with the
 * `class` keyword. A bound or native function shows no source (`function () { [native
 * code] }`): it counts as a function, since binding is an ordinary way to make a task; a
 * bound class is therefore offered, and fails as a TaskError when run.
 * @param {unknown} value
 */
function isClass(value) {
  return typeof value === 'function' && /^class[\s{]/.test(sourceText.call(value));
}

/**
 * What both worker entries do once their transport is set up: import the task module,
 * answer the pool's messages (`run`, `abort`, `adopt`) and say `ready`. A module that
 * fails to load is handed to `loadFailed`, whose result is returned: each entry ends in
 * its own way (a process exits once its message is out, a thread throws).
 * @param {{
 *   taskModule: string,
 *   workerId: string,
 *   device: string,
 *   resultFormat: ResultFormat,
 *   send: (message: FromWorker) => void,
 *   receive: (handler: (message: ToWorker) => void) => void,
 *   loadFailed: (error: unknown) => Promise<never>,
 * }} options
 * @returns {Promise<void>}
 */
export async function serveTaskModule({ taskModule, workerId, device, resultFormat, send, receive, loadFailed }) {
  /** @type {Record<string, unknown>} */
  let tasks;
  try {
    tasks = await import(taskModule);
  } catch (error) {
    return loadFailed(error);
  }
  let id = workerId;
  const runner = createTaskRunner({ tasks, send, identity: () => ({ workerId: id, device }), resultFormat });
  receive((message) => {
    if (message.type === 'run') runner.run(message.tasks);
    else if (message.type === 'abort') runner.abort(message.id, message.reason);
    else if (message.type === 'adopt') id = message.workerId;
  });
  send({ type: 'ready', tasks: taskNames(tasks) });
}
