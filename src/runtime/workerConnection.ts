import { fromCallback } from 'xstate';
import type { TaskAssignment } from '../../machines/taskTypes.js';
import type {
  TaskResult,
  WorkerConnectionCommand,
  WorkerConnectionEvent,
  WorkerConnectionInput,
} from '../../machines/workerActors.js';
import type { TaskAbortReason } from '../../machines/taskTypes.js';
import type { FromWorker, ToWorker } from './protocol.js';

export type ResultMessage = Extract<FromWorker, { type: 'result' }>;
export type ProgressMessage = Extract<FromWorker, { type: 'progress' }>;

/** How a worker's end is reported to its machine: the `process.exited` event, less its type. */
export type ExitReport = Omit<Extract<WorkerConnectionEvent, { type: 'process.exited' }>, 'type'>;

export interface WorkerListener {
  result(message: ResultMessage): void;
  progress(message: ProgressMessage): void;
  exit(report: ExitReport): void;
}

/** What both backends' workers offer their connection. */
export interface ConnectedWorker {
  listen(listener: WorkerListener | undefined): void;
  /** Hands the worker tasks to run in order. */
  run(tasks: readonly TaskAssignment[]): void;
  /** Asks the running task `taskId` to stop (its `ctx.signal` aborts). */
  abort(taskId: string, reason: TaskAbortReason): void;
}

/**
 * Sends tasks to a worker as one `run` message. A payload that cannot be cloned fails
 * its own task only, as that task's error: the tasks are then sent one by one.
 */
export function sendTasks(
  tasks: readonly TaskAssignment[],
  post: (message: ToWorker) => void,
  report: (message: ResultMessage) => void,
): void {
  try {
    post({ type: 'run', tasks: tasks.map(({ id, name, payload }) => ({ id, name, payload })) });
  } catch (error) {
    if (tasks.length > 1) {
      for (const task of tasks) sendTasks([task], post, report);
      return;
    }
    const e = error as Error;
    const id = (tasks[0] as TaskAssignment).id;
    // It never reached the worker: nothing ran.
    report({ type: 'result', id, ok: false, error: { name: e.name, message: e.message, stack: e.stack }, durationMs: 0 });
  }
}

/**
 * The worker machine's `workerConnection` actor, for either backend: sends tasks to
 * the worker, and turns its results and its end into machine events.
 *
 * Results of a batch of tasks are delivered together: those that arrived in one turn
 * of the event loop become one `process.results` event (the last one of a batch goes
 * at once, so a single task's result is never held back).
 */
export const workerConnection = fromCallback<WorkerConnectionCommand, WorkerConnectionInput, WorkerConnectionEvent>(
  ({ input, sendBack, receive }) => {
    const worker = input.worker.handle as ConnectedWorker;
    let outstanding = 0;
    let buffered: TaskResult[] = [];
    let pendingFlush: NodeJS.Immediate | undefined;
    const flush = () => {
      if (pendingFlush !== undefined) clearImmediate(pendingFlush);
      pendingFlush = undefined;
      if (buffered.length === 0) return;
      const results = buffered;
      buffered = [];
      sendBack({ type: 'process.results', results });
    };
    worker.listen({
      result: (message) => {
        buffered.push({
          taskId: message.id,
          outcome: message.ok ? { ok: true, value: message.value } : { ok: false, error: message.error, notSerializable: message.notSerializable },
          durationMs: message.durationMs,
        });
        outstanding -= 1;
        if (outstanding <= 0) flush();
        else pendingFlush ??= setImmediate(flush);
      },
      progress: (message) => {
        // Results that came before it are delivered first, so a task's progress never
        // arrives ahead of its own start (the result of the task run before it).
        flush();
        sendBack({ type: 'process.progress', taskId: message.id, fraction: message.fraction, detail: message.detail });
      },
      exit: (report) => {
        // What the worker finished before it ended is reported first.
        flush();
        sendBack({ type: 'process.exited', ...report });
      },
    });
    receive((command) => {
      if (command.type === 'connection.abort') return worker.abort(command.taskId, command.reason);
      outstanding += command.tasks.length;
      worker.run(command.tasks);
    });
    return () => {
      if (pendingFlush !== undefined) clearImmediate(pendingFlush);
      worker.listen(undefined);
    };
  },
);
