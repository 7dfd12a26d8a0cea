// @ts-check
/**
 * The harness's own account of every task it submits, kept against the pool's audit
 * trail: a task is open from submit until its promise settles, and must have exactly
 * one terminal audit event (`task.succeeded` or `task.failed`) that agrees with how
 * the promise settled. Then its outcome is judged against what its fault implies.
 * Only open tasks are kept (at most the jobs in flight); ids are numbered, so a
 * terminal event for a task that has already settled is recognised without a list.
 */
import { isDeepStrictEqual } from 'node:util';

/** @typedef {import('./invariants.mjs').ChaosLedger} ChaosLedger */
/** @typedef {Error & { code?: string, pid?: number, resource?: string }} PoolFailure */
/** @typedef {({ ok: true, value: unknown } | { ok: false, error: PoolFailure }) & { taskId?: string }} Settlement */
/**
 * @typedef {object} Expectation what a fault may end as
 * @property {unknown} [value] the correct value, when a value is acceptable at all
 * @property {readonly string[]} [codes] acceptable error codes
 * @property {readonly string[]} [resources] for ERR_WORKER_MEMORY: acceptable `resource`s
 * @property {string} [causeMessage] for ERR_TASK_FAILED: the message the task threw
 * @property {boolean} [healthy] judged under the `healthy` invariant, not `outcome`
 * @property {readonly (number | undefined)[]} [leasePids] the leased worker: killed from outside, its runs may be lost
 */
/** @typedef {{ kind: string, terminalEvents: number, succeeded: boolean | undefined, since: number }} OpenTask */
/** @typedef {{ result: Promise<unknown>, refusal?: unknown, onLease?: boolean }} Started */

const ID = /^c(\d+)$/;

export class TaskBook {
  /** @type {Map<string, OpenTask>} */
  #open = new Map();
  #lastId = 0;
  #ledger;
  /** Worker pids the harness killed from outside: a crash on one of them is the harness's doing. */
  killedPids = new Set();

  /** @param {ChaosLedger} ledger */
  constructor(ledger) {
    this.#ledger = ledger;
  }

  get submitted() {
    return this.#lastId;
  }

  /**
   * Opens a task under a fresh id, starts it, and settles it in the books.
   * @param {string} kind
   * @param {(taskId: string) => Started} start
   * @returns {Promise<Settlement>}
   */
  track(kind, start) {
    const id = `c${++this.#lastId}`;
    /** @type {OpenTask} */
    const task = { kind, terminalEvents: 0, succeeded: undefined, since: Date.now() };
    // Open before submitting: a refusal's audit event comes during the submit call.
    this.#open.set(id, task);
    const started = start(id);
    return started.result.then(
      (value) => this.#settled(id, task, { ok: true, value, taskId: id }, started),
      (error) => this.#settled(id, task, { ok: false, error, taskId: id }, started),
    );
  }

  /**
   * @param {string} id
   * @param {OpenTask} task
   * @param {Settlement} settlement
   * @param {Started} started
   * @returns {Settlement}
   */
  #settled(id, task, settlement, started) {
    if (!this.#open.delete(id)) return settlement; // reported as pending already
    // A refusal, or a run refused by its lease itself, may settle without an audit event.
    const mayBeSilent = !settlement.ok && (started.refusal !== undefined || started.onLease === true);
    const holds = settlement.ok
      ? task.terminalEvents === 1 && task.succeeded === true
      : task.terminalEvents === 1
        ? task.succeeded === false
        : task.terminalEvents === 0 && mayBeSilent;
    this.#ledger.check('settledOnce', holds, () => ({
      kind: task.kind,
      taskId: id,
      promise: settlement.ok ? 'resolved' : `rejected with ${settlement.error?.name}`,
      terminalAuditEvents: task.terminalEvents,
      auditSaid: task.succeeded === undefined ? 'nothing' : task.succeeded ? 'task.succeeded' : 'task.failed',
    }));
    return settlement;
  }

  /** @param {{ type: string, taskId?: string }} event an audit event */
  onAudit(event) {
    if (event.type !== 'task.succeeded' && event.type !== 'task.failed') return;
    const id = /** @type {string} */ (event.taskId);
    const task = this.#open.get(id);
    if (task !== undefined) {
      task.terminalEvents += 1;
      task.succeeded = event.type === 'task.succeeded';
      return;
    }
    const number = ID.exec(id)?.[1];
    if (number !== undefined && Number(number) <= this.#lastId) {
      this.#ledger.check('settledOnce', false, () => ({ taskId: id, problem: `${event.type} after the task had settled` }));
    }
  }

  /**
   * Every task still open, failed as pending, and closed in the books.
   * @param {string} when
   */
  reportPending(when) {
    const now = Date.now();
    for (const [id, task] of this.#open) {
      this.#ledger.check('settledOnce', false, () => ({ kind: task.kind, taskId: id, problem: `still pending ${when}`, ageMs: now - task.since }));
    }
    this.#open.clear();
  }

  /**
   * Judges a settled task against what its fault implies, and tallies the outcome.
   * @param {string} kind
   * @param {Settlement} settlement
   * @param {Expectation} expectation
   */
  judge(kind, settlement, expectation) {
    const ledger = this.#ledger;
    const invariant = expectation.healthy ? 'healthy' : 'outcome';
    if (settlement.ok) {
      ledger.outcome(kind, 'value');
      const right = 'value' in expectation && isDeepStrictEqual(settlement.value, expectation.value);
      ledger.check(invariant, right, () => ({ kind, taskId: settlement.taskId, got: settlement.value, expected: describe(expectation) }));
      return;
    }
    const error = settlement.error;
    const code = error?.code;
    if (!ledger.check('notDegraded', code !== 'ERR_POOL_DEGRADED', () => ({ kind, taskId: settlement.taskId, message: error.message }))) {
      ledger.outcome(kind, 'PoolDegradedError');
      return;
    }
    const onKilledLease = expectation.leasePids?.some((pid) => this.killedPids.has(pid)) ?? false;
    if (
      (code === 'ERR_WORKER_CRASHED' && (this.killedPids.has(error.pid) || onKilledLease)) ||
      (code === 'ERR_LEASE_LOST' && onKilledLease)
    ) {
      ledger.outcome(kind, `${error.name} (external kill -9)`);
      // A healthy task gets `retries: 1`: failing still means both attempts were killed.
      if (expectation.healthy) ledger.count('healthy tasks killed from outside, retries used up');
      return;
    }
    const label = `${error?.name ?? typeof error}${error?.resource ? ` (${error.resource})` : ''}`;
    ledger.outcome(kind, label);
    const right =
      code !== undefined &&
      (expectation.codes ?? []).includes(code) &&
      (expectation.resources === undefined || expectation.resources.includes(/** @type {string} */ (error.resource))) &&
      (expectation.causeMessage === undefined || /** @type {{ message?: string } | undefined} */ (error.cause)?.message === expectation.causeMessage);
    ledger.check(invariant, right, () => ({ kind, taskId: settlement.taskId, expected: describe(expectation), got: label, message: String(error?.message).slice(0, 300) }));
  }
}

/** @param {Expectation} expectation */
function describe(expectation) {
  const parts = [...(expectation.codes ?? [])];
  if (expectation.resources) parts.push(`resource ${expectation.resources.join('/')}`);
  if ('value' in expectation) parts.push(`value ${JSON.stringify(expectation.value)}`);
  return parts.join(' or ');
}
