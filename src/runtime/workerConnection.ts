import { fromCallback } from 'xstate';
import type { TaskAssignment } from '../../machines/taskTypes.js';
import type { WorkerConnectionCommand, WorkerConnectionEvent, WorkerConnectionInput } from '../../machines/workerActors.js';
import type { FromWorker } from './protocol.js';

export type ResultMessage = Extract<FromWorker, { type: 'result' }>;

/** How a worker's end is reported to its machine: the `process.exited` event, less its type. */
export type ExitReport = Omit<Extract<WorkerConnectionEvent, { type: 'process.exited' }>, 'type'>;

export interface WorkerListener {
  result(message: ResultMessage): void;
  exit(report: ExitReport): void;
}

/** What both backends' workers offer their connection. */
export interface ConnectedWorker {
  listen(listener: WorkerListener | undefined): void;
  run(task: TaskAssignment): void;
}

/**
 * The worker machine's `workerConnection` actor, for either backend: sends each task
 * to the worker, and turns its results and its end into machine events.
 */
export const workerConnection = fromCallback<WorkerConnectionCommand, WorkerConnectionInput, WorkerConnectionEvent>(
  ({ input, sendBack, receive }) => {
    const worker = input.worker.handle as ConnectedWorker;
    worker.listen({
      result: (message) =>
        sendBack({
          type: 'process.result',
          taskId: message.id,
          outcome: message.ok ? { ok: true, value: message.value } : { ok: false, error: message.error },
        }),
      exit: (report) => sendBack({ type: 'process.exited', ...report }),
    });
    receive((command) => worker.run(command.task));
    return () => worker.listen(undefined);
  },
);
