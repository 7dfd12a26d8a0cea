import type { EventEmitter } from 'node:events';
import type { TaskAbortReason, TaskAssignment } from '../../machines/taskTypes.js';
import type { WorkerExit } from '../../machines/workerActors.js';
import type { FromWorker, ToWorker } from './protocol.js';
import { awaitReady, type StartingWorker } from './startHandshake.js';
import { sendTasks, type ConnectedWorker, type ExitReport, type ResultMessage, type WorkerListener } from './workerConnection.js';
import type { SpareWorker } from './spareWorkers.js';

/** How a worker is to be ended: SIGTERM, then SIGKILL after `graceMs`; or at once. */
export interface TerminateOptions {
  readonly graceMs: number;
  readonly immediate: boolean;
}

/**
 * One OS worker of either backend, as the runtime sees it: its channel (tasks out, results,
 * progress and its exit back), its start handshake, its end. The two backends differ only
 * where the OS does: how a worker is started and ended, what else it reports (a process's
 * children, a thread's heap running out), what its end says (a process's stderr).
 */
export abstract class BackendWorker implements ConnectedWorker, SpareWorker, StartingWorker {
  /** The OS process id; undefined for a thread, which has none of its own. */
  abstract readonly pid: number | undefined;
  /** Resolves once the worker has exited (for a process, not necessarily its grandchildren). */
  readonly exited: Promise<WorkerExit>;
  exit: WorkerExit | undefined;
  /** The task module's exported functions, as the worker reported them when ready. */
  tasks: readonly string[] = [];
  #listener: WorkerListener | undefined;
  readonly #emitter: EventEmitter;
  readonly #post: (message: ToWorker) => void;
  // Made once: a dispatch allocates no closure.
  readonly #reportResult = (message: ResultMessage): void => this.#listener?.result(message);

  /**
   * @param emitter the ChildProcess or Worker: its `message` events are the worker's, its `exit` its end
   * @param post sends a message to the worker; throws when the message cannot be cloned
   */
  protected constructor(emitter: EventEmitter, post: (message: ToWorker) => void) {
    this.#emitter = emitter;
    this.#post = post;
    this.exited = new Promise((resolve) => {
      emitter.once('exit', (exitCode: number | null, signal?: string | null) => {
        const exit = { exitCode, signal: signal ?? null };
        this.exit = exit;
        resolve(exit);
        this.#listener?.exit(this.exitReport(exit));
      });
    });
    emitter.on('message', (message: FromWorker) => {
      if (message.type === 'result') this.#listener?.result(message);
      else if (message.type === 'progress') this.#listener?.progress(message);
      else this.received(message);
    });
  }

  /** How the worker's end is told to its machine. */
  protected abstract exitReport(exit: WorkerExit): ExitReport;

  /** Ends the worker; resolves with its exit, never rejects. */
  abstract terminate(options: TerminateOptions): Promise<WorkerExit>;

  /** A message other than a result or progress, once the worker is ready. */
  protected received(_message: FromWorker): void {}

  /** Waits for `ready` and keeps the task names; on a failed start the worker is ended and this rejects. */
  protected async handshake(what: string, options: { readonly taskModule: string; readonly startTimeoutMs: number; readonly signal?: AbortSignal | undefined }): Promise<void> {
    this.tasks = await awaitReady(this, { what, ...options });
  }

  subscribe(onMessage: (message: FromWorker) => void, onExit: (exitCode: number | null, signal: string | null) => void): () => void {
    const exited = (exitCode: number | null, signal?: string | null) => onExit(exitCode, signal ?? null);
    this.#emitter.on('message', onMessage);
    this.#emitter.once('exit', exited);
    return () => {
      this.#emitter.off('message', onMessage);
      this.#emitter.off('exit', exited);
    };
  }

  /** Never leaves a half-started worker behind. */
  kill(): Promise<WorkerExit> {
    return this.terminate({ graceMs: 0, immediate: true });
  }

  get stderrTail(): string {
    return '';
  }

  /** Listens for results and the exit; one listener at a time (the connection actor). */
  listen(listener: WorkerListener | undefined): void {
    this.#listener = listener;
    if (listener !== undefined && this.exit !== undefined) listener.exit(this.exitReport(this.exit));
  }

  /** Gives a spare worker its slot's identity. */
  adopt(workerId: string): void {
    this.#post({ type: 'adopt', workerId });
  }

  run(tasks: readonly TaskAssignment[]): void {
    sendTasks(tasks, this.#post, this.#reportResult);
  }

  abort(taskId: string, reason: TaskAbortReason): void {
    this.#post({ type: 'abort', id: taskId, reason });
  }
}
