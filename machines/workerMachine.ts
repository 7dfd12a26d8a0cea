import { assign, enqueueActions, sendTo, setup, type AnyActorRef } from 'xstate';
import {
  workerActorPlaceholders,
  type StartedWorker,
  type TaskResult,
  type WorkerConnectionEvent,
  type MemoryPollerEvent,
  type WorkerExit,
} from './workerActors.js';
import { toSerializedError } from './serializedError.js';
import type { MemoryResource, MemorySample, TaskAbortReason, TaskAssignment, Termination } from './taskTypes.js';

/** Per-slot settings, fixed for the life of the pool. */
export interface WorkerSettings {
  /** Limit while idle, and the default for tasks that do not set their own. */
  readonly memoryLimitBytes: number;
  /** GPU memory limit, likewise (Infinity: none). */
  readonly gpuMemoryLimitBytes: number;
  /** Above `limit × softMemoryRatio` a running task is `monitoring`: sampled faster, warned about. */
  readonly softMemoryRatio: number;
  readonly memoryPollMs: number;
  readonly fastMemoryPollMs: number;
  readonly killGraceMs: number;
  readonly startTimeoutMs: number;
  /**
   * How long before its deadline a running task's `ctx.signal` aborts, at most: the lead
   * is the smaller of this and a tenth of the task's timeout (0: no warning).
   */
  readonly deadlineWarningMs: number;
  /** How long a cancelled task has to return by itself before its worker is killed (0: killed at once). */
  readonly cancelGraceMs: number;
}

export interface WorkerInput {
  readonly workerId: string;
  readonly slot: number;
  readonly device: string;
  readonly settings: WorkerSettings;
  /** Receives every {@link WorkerNotification}. */
  readonly parent: AnyActorRef;
  /** The pool's clock in ms; injected so simulated time is the only time in tests. */
  readonly now: () => number;
  /** Backoff before the first start (a slot replaced after its actor failed). */
  readonly restartDelayMs?: number | undefined;
}

export interface RunningTask extends TaskAssignment {
  readonly startedAt: number;
}

export interface WorkerContext extends WorkerInput {
  /** How many OS workers this slot has started. */
  readonly generation: number;
  readonly worker: StartedWorker | undefined;
  readonly task: RunningTask | undefined;
  /** How many tasks this machine has started: the timers it raises for a task carry it, so a stale one matches no later task. */
  readonly runSeq: number;
  /** Tasks handed to the OS worker behind `task`, not started yet as far as this machine knows. */
  readonly runAhead: readonly TaskAssignment[];
  readonly rssBytes: number;
  readonly gpuBytes: number | undefined;
  /** The most recent samples, oldest first: the evidence a memory kill carries. */
  readonly samples: readonly MemorySample[];
  readonly restartDelayMs: number;
  readonly termination: Termination | undefined;
  readonly lastExit: WorkerExit | undefined;
  /** Set when the supervisor asks to stop while a start is under way. */
  readonly stopRequested: boolean;
}

/** Events the supervisor sends to a worker. */
export type WorkerCommand =
  /** `runAhead`: more tasks for the worker to run after `task`, in order (fast tasks only; see PoolLedger). */
  | { readonly type: 'task.run'; readonly task: TaskAssignment; readonly runAhead?: readonly TaskAssignment[] | undefined }
  | { readonly type: 'task.cancel'; readonly taskId: string }
  /** The supervisor ends this task for a reason of its own (the host-memory guard). */
  | { readonly type: 'task.evict'; readonly taskId: string; readonly termination: Termination }
  /** The supervisor ends this worker, idle or not (a lease held past its deadline); a task it runs fails. */
  | { readonly type: 'worker.recycle'; readonly termination: Termination }
  | { readonly type: 'worker.restart'; readonly delayMs: number }
  | { readonly type: 'worker.stop' };

/**
 * Raised by the machine itself, delayed: the deadline of the task after its warning,
 * and the end of a cancelled task's grace. Each names its task and run, so a stale one
 * (its task returned first) is ignored: cheaper than cancelling both timers on every
 * task's exit from `running`, which cost 3–4 µs a task.
 */
export type WorkerTimerEvent =
  | { readonly type: 'deadline.reached'; readonly taskId: string; readonly runSeq: number }
  | { readonly type: 'cancel.grace-over'; readonly taskId: string; readonly runSeq: number };

export type WorkerEvent = WorkerCommand | WorkerConnectionEvent | MemoryPollerEvent | WorkerTimerEvent;

/** Events a worker sends to its parent (the supervisor). */
export type WorkerNotification =
  | { readonly type: 'worker.ready'; readonly workerId: string; readonly pid: number | undefined; readonly generation: number }
  | { readonly type: 'worker.tasks-done'; readonly workerId: string; readonly results: readonly FinishedTask[] }
  | { readonly type: 'worker.task-rejected'; readonly workerId: string; readonly task: TaskAssignment }
  | { readonly type: 'worker.task-progress'; readonly workerId: string; readonly taskId: string; readonly fraction: number; readonly detail: unknown }
  | {
      readonly type: 'worker.memory-warning';
      readonly workerId: string;
      readonly taskId: string;
      readonly resource: MemoryResource;
      readonly usedBytes: number;
      readonly limitBytes: number;
    }
  | {
      readonly type: 'worker.killed';
      readonly workerId: string;
      readonly pid: number | undefined;
      readonly taskId: string | undefined;
      readonly termination: Termination;
    }
  | {
      readonly type: 'worker.exited';
      readonly workerId: string;
      readonly pid: number | undefined;
      readonly termination: Termination;
      readonly exit: WorkerExit | undefined;
    };

/** A task the worker finished, with how long it ran as the worker measured it: its result, passed on as is. */
export type FinishedTask = TaskResult;

/**
 * How long before the deadline a task is warned (its `ctx.signal` aborts): `warningMs`,
 * but never more than a tenth of the timeout, so a short task is not told to stop
 * when it has barely begun. 0 when there is no warning.
 */
export function deadlineLeadMs(timeoutMs: number, warningMs: number): number {
  return Math.max(0, Math.min(warningMs, Math.floor(timeoutMs / 10)));
}

/** Whether a timer's event is for the task running now, not for one since ended or re-run. */
function isCurrentRun(context: WorkerContext, event: WorkerEvent): boolean {
  return (event.type === 'deadline.reached' || event.type === 'cancel.grace-over') && event.taskId === context.task?.id && event.runSeq === context.runSeq;
}

/** How long until the task's deadline, on the pool's clock, counted from its start (≤ 0: due). */
const msUntilDeadline = (context: WorkerContext, task: RunningTask): number => task.startedAt + task.timeoutMs - context.now();

/**
 * Arms the kill for the running task's deadline, counted from its start: a timer that fired
 * late (the warning's) must not push the kill later by as much, so the delay is what is left,
 * and a deadline already due is raised at once.
 */
function armKill(context: WorkerContext, task: RunningTask, enqueue: { raise: (event: WorkerTimerEvent, options?: { id: string; delay: number }) => void; cancel: (id: string) => void }): void {
  const due: WorkerTimerEvent = { type: 'deadline.reached', taskId: task.id, runSeq: context.runSeq };
  const leftMs = msUntilDeadline(context, task);
  if (leftMs <= 0) return enqueue.raise(due);
  enqueue.cancel(DEADLINE_TIMER);
  enqueue.raise(due, { id: DEADLINE_TIMER, delay: leftMs });
}

/** Ids of the delayed events the machine raises itself: fixed strings, as XState needs. */
const DEADLINE_TIMER = 'deadline';
const CANCEL_GRACE_TIMER = 'cancelGrace';

/** How many samples a worker keeps as evidence. */
export const MEMORY_EVIDENCE_SAMPLES = 20;

type SampleEvent = MemoryPollerEvent;

interface Usage {
  readonly resource: MemoryResource;
  readonly usedBytes: number;
  readonly limitBytes: number;
}

/** The resource closest to its limit, as a fraction of it: what the thresholds are checked against. */
function worstUsage(context: WorkerContext, event: SampleEvent): Usage {
  const rss: Usage = { resource: 'rss', usedBytes: event.rssBytes, limitBytes: context.task?.memoryLimitBytes ?? context.settings.memoryLimitBytes };
  if (event.gpuBytes === undefined) return rss;
  const gpu: Usage = {
    resource: 'gpu',
    usedBytes: event.gpuBytes,
    limitBytes: context.task?.gpuMemoryLimitBytes ?? context.settings.gpuMemoryLimitBytes,
  };
  return gpu.usedBytes / gpu.limitBytes > rss.usedBytes / rss.limitBytes ? gpu : rss;
}

type ResultsEvent = Extract<WorkerEvent, { type: 'process.results' }>;

/** What a `process.results` event means for this worker: which of its tasks finished, which are left. */
interface ResultsSplit {
  /** Results for this worker's own tasks (a stray id is dropped). */
  readonly finished: readonly TaskResult[];
  readonly currentFinished: boolean;
  /** Unfinished tasks, in the order they were handed over; the current one first if it is among them. */
  readonly left: readonly TaskAssignment[];
}

const NOTHING_FINISHED: ResultsSplit = { finished: [], currentFinished: false, left: [] };
// The guards and actions of one event ask the same question of the same context: the answer is
// kept with the event (weakly, so nothing outlives the event).
const splits = new WeakMap<ResultsEvent, { context: WorkerContext; split: ResultsSplit }>();

function splitResults(context: WorkerContext, event: ResultsEvent): ResultsSplit {
  const known = splits.get(event);
  if (known?.context === context) return known.split;
  const split = computeSplit(context, event.results);
  splits.set(event, { context, split });
  return split;
}

function computeSplit(context: WorkerContext, results: readonly TaskResult[]): ResultsSplit {
  const task = context.task;
  if (task === undefined) return NOTHING_FINISHED;
  const runAhead = context.runAhead;
  // The usual case: one task, one result.
  if (runAhead.length === 0) {
    const own = results.find((r) => r.taskId === task.id);
    return own === undefined ? NOTHING_FINISHED : { finished: [own], currentFinished: true, left: [] };
  }
  const byId = new Map<string, TaskResult>();
  for (const result of results) byId.set(result.taskId, result);
  const finished: TaskResult[] = [];
  const left: TaskAssignment[] = [];
  for (const assigned of [task, ...runAhead]) {
    const result = byId.get(assigned.id);
    if (result === undefined) left.push(assigned);
    else finished.push(result);
  }
  return { finished, currentFinished: byId.has(task.id), left };
}

function withSample(context: WorkerContext, event: SampleEvent): Pick<WorkerContext, 'rssBytes' | 'gpuBytes' | 'samples'> {
  const samples = context.samples.length < MEMORY_EVIDENCE_SAMPLES ? context.samples.slice() : context.samples.slice(1);
  samples.push(event.gpuBytes === undefined ? { atMs: event.atMs, rssBytes: event.rssBytes } : { atMs: event.atMs, rssBytes: event.rssBytes, gpuBytes: event.gpuBytes });
  return { rssBytes: event.rssBytes, gpuBytes: event.gpuBytes, samples };
}

/**
 * One worker slot: starts an OS worker, runs one task at a time on it, enforces the
 * task's deadline and memory limit, and ends the OS worker when either is breached.
 * After the exit is confirmed it waits for the supervisor's verdict: restart (after a
 * backoff the supervisor computed) or stop.
 *
 * The deadline is an `after` on `alive.running`, the parent of `busy` and `monitoring`,
 * so moving between those two never re-arms it; it is armed on dispatch, not on submit.
 */
export const workerMachine = setup({
  types: {
    context: {} as WorkerContext,
    events: {} as WorkerEvent,
    input: {} as WorkerInput,
  },
  actors: workerActorPlaceholders,
  delays: {
    restartDelay: ({ context }) => context.restartDelayMs,
    // The deadline is armed in two steps: the warning, then the rest; a task that ends
    // before its warning costs one timer, as it did before there was a warning.
    deadlineWarning: ({ context }) => {
      const timeoutMs = context.task?.timeoutMs ?? 0;
      return timeoutMs - deadlineLeadMs(timeoutMs, context.settings.deadlineWarningMs);
    },
  },
  guards: {
    hasNoRestartDelay: ({ context }) => context.restartDelayMs <= 0,
    isStopRequested: ({ context }) => context.stopRequested,
    isOutOfMemory: ({ event }) => event.type === 'process.exited' && event.outOfMemory !== undefined,
    isCurrentTask: ({ context, event }) =>
      (event.type === 'task.cancel' || event.type === 'task.evict') && event.taskId === context.task?.id,
    isCurrentRun: ({ context, event }) => isCurrentRun(context, event),
    // The deadline of the task running now, past on the pool's own clock (the one its evidence
    // uses). A timer can fire early: Node counts its delay from the event loop's cached time,
    // which is behind the clock by however long the loop's turn has run (a GC pause, other
    // callbacks); such a `deadline.reached` arms the timer again instead of killing.
    isDeadlineDue: ({ context, event }) =>
      event.type === 'deadline.reached' && isCurrentRun(context, event) && context.task !== undefined && msUntilDeadline(context, context.task) <= 0,
    finishesEverything: ({ context, event }) => {
      if (event.type !== 'process.results') return false;
      const split = splitResults(context, event);
      return split.finished.length > 0 && split.left.length === 0;
    },
    finishesCurrent: ({ context, event }) => event.type === 'process.results' && splitResults(context, event).currentFinished,
    finishesSome: ({ context, event }) => event.type === 'process.results' && splitResults(context, event).finished.length > 0,
    isOverHardLimit: ({ context, event }) => {
      if (event.type !== 'memory.sample') return false;
      const usage = worstUsage(context, event);
      return usage.usedBytes > usage.limitBytes;
    },
    isOverSoftLimit: ({ context, event }) => {
      if (event.type !== 'memory.sample') return false;
      const usage = worstUsage(context, event);
      return usage.usedBytes > usage.limitBytes * context.settings.softMemoryRatio;
    },
  },
  actions: {
    // The task is told (its signal aborts), then has the rest of its time: the kill at the deadline stays where it was.
    warnOfDeadline: enqueueActions(({ context, enqueue }) => {
      const task = context.task;
      if (task === undefined) return;
      if (deadlineLeadMs(task.timeoutMs, context.settings.deadlineWarningMs) > 0) {
        const reason: TaskAbortReason = { code: 'ERR_TASK_DEADLINE', timeoutMs: task.timeoutMs, remainingMs: Math.max(0, msUntilDeadline(context, task)) };
        enqueue.sendTo('connection', { type: 'connection.abort', taskId: task.id, reason });
      }
      armKill(context, task, enqueue);
    }),
    // The deadline timer fired before the deadline (see isDeadlineDue): armed again for what is left.
    armDeadline: enqueueActions(({ context, enqueue }) => {
      if (context.task !== undefined) armKill(context, context.task, enqueue);
    }),
    // A task that stops by itself within the grace keeps its worker; only one that does not is killed.
    cancelCooperatively: enqueueActions(({ context, enqueue }) => {
      const task = context.task;
      if (task === undefined) return;
      const over: WorkerTimerEvent = { type: 'cancel.grace-over', taskId: task.id, runSeq: context.runSeq };
      const graceMs = context.settings.cancelGraceMs;
      if (graceMs <= 0) return enqueue.raise(over);
      const reason: TaskAbortReason = { code: 'ERR_TASK_CANCELLED' };
      enqueue.sendTo('connection', { type: 'connection.abort', taskId: task.id, reason });
      enqueue.cancel(CANCEL_GRACE_TIMER);
      enqueue.raise(over, { id: CANCEL_GRACE_TIMER, delay: graceMs });
    }),
    notifyProgress: sendTo(
      ({ context }) => context.parent,
      ({ context, event }): WorkerNotification => {
        if (event.type !== 'process.progress') throw new Error(`notifyProgress handles process.progress, got ${event.type}`);
        return { type: 'worker.task-progress', workerId: context.workerId, taskId: event.taskId, fraction: event.fraction, detail: event.detail };
      },
    ),
    recordSample: assign(({ context, event }) => (event.type === 'memory.sample' ? withSample(context, event) : {})),
    terminateForMemory: assign(({ context, event }) => {
      if (event.type !== 'memory.sample') return {};
      const recorded = withSample(context, event);
      const usage = worstUsage(context, event);
      return {
        ...recorded,
        termination: { reason: 'memory', ...usage, rssBytes: event.rssBytes, samples: recorded.samples } satisfies Termination,
      };
    }),
    terminateForTimeout: assign({
      termination: ({ context }): Termination => ({
        reason: 'timeout',
        elapsedMs: context.now() - (context.task?.startedAt ?? context.now()),
        timeoutMs: context.task?.timeoutMs ?? 0,
      }),
    }),
    terminateForCrash: assign({
      termination: ({ event }): Termination =>
        event.type === 'process.exited'
          ? { reason: 'crashed', exitCode: event.exitCode, signal: event.signal, stderrTail: event.stderrTail }
          : { reason: 'crashed', exitCode: null, signal: null },
      lastExit: ({ event }) =>
        event.type === 'process.exited' ? { exitCode: event.exitCode, signal: event.signal } : undefined,
    }),
    notifyFinished: sendTo(
      ({ context }) => context.parent,
      ({ context, event }): WorkerNotification => {
        if (event.type !== 'process.results') throw new Error(`notifyFinished handles process.results, got ${event.type}`);
        // The worker's own measure of each task's duration: this machine's clock cannot see how
        // long a task run ahead took, so it does not measure one of its own.
        return { type: 'worker.tasks-done', workerId: context.workerId, results: splitResults(context, event).finished };
      },
    ),
    // The next task behind a finished one has started: its deadline counts from now, and the memory evidence is its own.
    startNextInLine: assign(({ context, event }) => {
      if (event.type !== 'process.results') return {};
      const [next, ...rest] = splitResults(context, event).left;
      return { task: next === undefined ? undefined : { ...next, startedAt: context.now() }, runSeq: context.runSeq + 1, runAhead: rest, samples: [] };
    }),
    dropFinishedRunAhead: assign(({ context, event }) => {
      if (event.type !== 'process.results') return {};
      return { runAhead: splitResults(context, event).left.slice(1) };
    }),
    notifyReady: sendTo(
      ({ context }) => context.parent,
      ({ context }): WorkerNotification => ({
        type: 'worker.ready',
        workerId: context.workerId,
        pid: context.worker?.pid,
        generation: context.generation,
      }),
    ),
    notifyKilled: sendTo(
      ({ context }) => context.parent,
      ({ context }): WorkerNotification => ({
        type: 'worker.killed',
        workerId: context.workerId,
        pid: context.worker?.pid,
        taskId: context.task?.id,
        termination: context.termination ?? { reason: 'stopped' },
      }),
    ),
    notifyExited: sendTo(
      ({ context }) => context.parent,
      ({ context }): WorkerNotification => ({
        type: 'worker.exited',
        workerId: context.workerId,
        pid: context.worker?.pid,
        termination: context.termination ?? { reason: 'stopped' },
        exit: context.lastExit,
      }),
    ),
    rejectTask: sendTo(
      ({ context }) => context.parent,
      ({ context, event }): WorkerNotification => {
        if (event.type !== 'task.run') throw new Error(`rejectTask handles task.run, got ${event.type}`);
        return { type: 'worker.task-rejected', workerId: context.workerId, task: event.task };
      },
    ),
  },
}).createMachine({
  id: 'worker',
  context: ({ input }) => ({
    ...input,
    generation: 0,
    worker: undefined,
    task: undefined,
    runSeq: 0,
    runAhead: [],
    rssBytes: 0,
    gpuBytes: undefined,
    samples: [],
    restartDelayMs: input.restartDelayMs ?? 0,
    termination: undefined,
    lastExit: undefined,
    stopRequested: false,
  }),
  initial: 'restarting',
  // A task can only run on an idle worker; anywhere else it goes back to the supervisor.
  on: { 'task.run': { actions: 'rejectTask' } },
  states: {
    restarting: {
      initial: 'backoff',
      states: {
        backoff: {
          always: { guard: 'hasNoRestartDelay', target: 'starting' },
          after: { restartDelay: 'starting' },
          on: { 'worker.stop': '#worker.stopped' },
        },
        starting: {
          entry: assign({
            generation: ({ context }) => context.generation + 1,
            worker: undefined,
            task: undefined,
            runAhead: [],
            termination: undefined,
            lastExit: undefined,
            rssBytes: 0,
            gpuBytes: undefined,
            samples: [],
          }),
          invoke: {
            src: 'startWorker',
            input: ({ context }) => ({
              workerId: context.workerId,
              slot: context.slot,
              device: context.device,
              generation: context.generation,
              startTimeoutMs: context.settings.startTimeoutMs,
            }),
            onDone: [
              { guard: 'isStopRequested', target: '#worker.stopping', actions: assign({ worker: ({ event }) => event.output }) },
              { target: '#worker.alive', actions: [assign({ worker: ({ event }) => event.output }), 'notifyReady'] },
            ],
            onError: {
              target: '#worker.killed',
              actions: assign({
                termination: ({ event }): Termination => ({ reason: 'start-failed', error: toSerializedError(event.error) }),
              }),
            },
          },
          on: { 'worker.stop': { actions: assign({ stopRequested: true }) } },
        },
      },
    },
    alive: {
      invoke: [
        {
          id: 'connection',
          src: 'workerConnection',
          input: ({ context }) => ({ worker: context.worker as StartedWorker }),
        },
        {
          id: 'memoryPoller',
          src: 'memoryPoller',
          input: ({ context }) => ({
            worker: context.worker as StartedWorker,
            device: context.device,
            intervalMs: context.settings.memoryPollMs,
            fastIntervalMs: context.settings.fastMemoryPollMs,
          }),
        },
      ],
      on: {
        'process.exited': [
          {
            guard: 'isOutOfMemory',
            target: 'killed',
            actions: assign({
              termination: ({ context, event }): Termination => ({
                reason: 'memory',
                resource: event.outOfMemory?.resource ?? 'heap',
                // The runtime stopped it at the limit; how far past it went is not known.
                usedBytes: event.outOfMemory?.limitBytes ?? 0,
                limitBytes: event.outOfMemory?.limitBytes ?? 0,
                rssBytes: context.rssBytes,
                samples: context.samples,
              }),
              lastExit: ({ event }) => ({ exitCode: event.exitCode, signal: event.signal }),
            }),
          },
          { target: 'killed', actions: 'terminateForCrash' },
        ],
        // Passed on as it comes: the worker rate-limits it, and the supervisor drops a task's that is no longer running.
        'process.progress': { actions: 'notifyProgress' },
        'worker.recycle': {
          target: 'killed',
          actions: assign({ termination: ({ event }) => event.termination }),
        },
        // The runtime actors catch their own I/O errors; one that still fails leaves the worker unsupervised.
        'xstate.error.actor.*': {
          target: 'killed',
          actions: assign({
            termination: ({ event }): Termination => ({ reason: 'runtime-error', error: toSerializedError(event.error) }),
          }),
        },
      },
      initial: 'idle',
      states: {
        idle: {
          entry: assign({ task: undefined, runAhead: [] }),
          on: {
            'task.run': {
              target: 'running',
              actions: [
                // The evidence of a memory kill is this task's samples only.
                assign({
                  task: ({ context, event }) => ({ ...event.task, startedAt: context.now() }),
                  runSeq: ({ context }) => context.runSeq + 1,
                  runAhead: ({ event }) => event.runAhead ?? [],
                  samples: [],
                }),
                sendTo('connection', ({ event }) => ({
                  type: 'connection.run',
                  tasks: event.runAhead?.length ? [event.task, ...event.runAhead] : [event.task],
                })),
              ],
            },
            'memory.sample': [
              // A worker that leaked past its limit between tasks is replaced before it takes another.
              { guard: 'isOverHardLimit', target: '#worker.killed', actions: 'terminateForMemory' },
              { actions: 'recordSample' },
            ],
            'worker.stop': '#worker.stopping',
          },
        },
        running: {
          // Re-entered for each task run ahead, so each gets its own deadline.
          after: { deadlineWarning: { actions: 'warnOfDeadline' } },
          on: {
            'deadline.reached': [
              { guard: 'isDeadlineDue', target: '#worker.killed', actions: 'terminateForTimeout' },
              { guard: 'isCurrentRun', actions: 'armDeadline' },
            ],
            'process.results': [
              { guard: 'finishesEverything', target: 'idle', actions: 'notifyFinished' },
              { guard: 'finishesCurrent', target: '#worker.alive.running', reenter: true, actions: ['notifyFinished', 'startNextInLine'] },
              { guard: 'finishesSome', actions: ['notifyFinished', 'dropFinishedRunAhead'] },
            ],
            'task.cancel': { guard: 'isCurrentTask', actions: 'cancelCooperatively' },
            'cancel.grace-over': {
              guard: 'isCurrentRun',
              target: '#worker.killed',
              actions: assign({ termination: { reason: 'cancelled' } }),
            },
            'task.evict': {
              guard: 'isCurrentTask',
              target: '#worker.killed',
              // The supervisor knows why; the worker adds what it measured.
              actions: assign({
                termination: ({ context, event }): Termination =>
                  event.termination.reason === 'memory'
                    ? { ...event.termination, rssBytes: context.rssBytes, samples: context.samples }
                    : event.termination,
              }),
            },
            'worker.stop': {
              target: '#worker.killed',
              actions: assign({ termination: { reason: 'stopped' }, stopRequested: true }),
            },
          },
          initial: 'busy',
          states: {
            busy: {
              on: {
                'memory.sample': [
                  { guard: 'isOverHardLimit', target: '#worker.killed', actions: 'terminateForMemory' },
                  { guard: 'isOverSoftLimit', target: 'monitoring', actions: 'recordSample' },
                  { actions: 'recordSample' },
                ],
              },
            },
            monitoring: {
              entry: [
                sendTo('memoryPoller', { type: 'poll.fast' }),
                sendTo(
                  ({ context }) => context.parent,
                  ({ context, event }): WorkerNotification => {
                    const usage =
                      event.type === 'memory.sample'
                        ? worstUsage(context, event)
                        : { resource: 'rss' as const, usedBytes: context.rssBytes, limitBytes: context.settings.memoryLimitBytes };
                    return { type: 'worker.memory-warning', workerId: context.workerId, taskId: context.task?.id ?? '', ...usage };
                  },
                ),
              ],
              on: {
                'memory.sample': [
                  { guard: 'isOverHardLimit', target: '#worker.killed', actions: 'terminateForMemory' },
                  { guard: 'isOverSoftLimit', actions: 'recordSample' },
                  { target: 'busy', actions: ['recordSample', sendTo('memoryPoller', { type: 'poll.normal' })] },
                ],
              },
            },
          },
        },
      },
    },
    killed: {
      // Told before the OS worker is gone: the task's promise settles at the deadline, not after the exit.
      entry: 'notifyKilled',
      initial: 'terminating',
      states: {
        terminating: {
          invoke: {
            src: 'terminateWorker',
            input: ({ context }) => ({
              worker: context.worker,
              graceMs: context.settings.killGraceMs,
              immediate: isRunaway(context.termination),
            }),
            onDone: [
              { guard: 'isStopRequested', target: '#worker.stopped' },
              {
                target: 'awaitingVerdict',
                actions: [assign({ lastExit: ({ context, event }) => context.lastExit ?? event.output }), 'notifyExited'],
              },
            ],
            // The runtime's terminate does not reject; if one ever does, the slot must still move on.
            onError: [
              { guard: 'isStopRequested', target: '#worker.stopped' },
              { target: 'awaitingVerdict', actions: 'notifyExited' },
            ],
          },
        },
        awaitingVerdict: {
          on: {
            'worker.restart': {
              target: '#worker.restarting',
              actions: assign({ restartDelayMs: ({ event }) => event.delayMs }),
            },
            'worker.stop': '#worker.stopped',
          },
        },
      },
    },
    stopping: {
      invoke: {
        src: 'terminateWorker',
        input: ({ context }) => ({ worker: context.worker, graceMs: context.settings.killGraceMs, immediate: false }),
        onDone: '#worker.stopped',
        onError: '#worker.stopped',
      },
    },
    // The supervisor learns of this from the actor's own `xstate.done.actor.*` event: the
    // last event a finished child sends, so nothing arrives after the pool has closed.
    stopped: { type: 'final' },
  },
});

/** A worker that is crashing or growing without bound gets no grace period to do more harm in. */
function isRunaway(termination: Termination | undefined): boolean {
  const reason = termination?.reason;
  return reason === 'memory' || reason === 'crashed' || reason === 'runtime-error' || reason === 'start-failed';
}

/** The worker's state as one word, the vocabulary of the design card and of `pool.status()`. */
export type WorkerStateName = 'restarting' | 'idle' | 'busy' | 'monitoring' | 'killed' | 'stopping' | 'stopped';

export function workerStateName(value: unknown): WorkerStateName {
  if (typeof value === 'string') return value as WorkerStateName;
  const v = value as Record<string, unknown>;
  if ('alive' in v) {
    const alive = v.alive;
    if (alive === 'idle') return 'idle';
    const running = (alive as Record<string, unknown>).running;
    return running === 'monitoring' ? 'monitoring' : 'busy';
  }
  return Object.keys(v)[0] as WorkerStateName;
}
