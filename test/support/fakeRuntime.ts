import { createActor, fromCallback, fromPromise, SimulatedClock, type AnyActorRef, type InspectionEvent } from 'xstate';
import {
  supervisorMachine,
  workerMachine,
  type MemoryPollerCommand,
  type MemoryPollerEvent,
  type MemoryPollerInput,
  type PoolEvent,
  type StartedWorker,
  type StartWorkerInput,
  type SupervisorInput,
  type TaskAbortReason,
  type TaskAssignment,
  type TaskResult,
  type TerminateWorkerInput,
  type WorkerConnectionCommand,
  type WorkerConnectionEvent,
  type WorkerConnectionInput,
  type WorkerExit,
  type WorkerInput,
  type WorkerNotification,
  type WorkerSettings,
} from '../../machines/index.js';

/**
 * A runtime of fakes for the machines: no processes, every OS-level happening is a
 * method call the test makes, and time is a SimulatedClock.
 */
export class FakeRuntime {
  readonly clock = new SimulatedClock();
  /** Per worker id: what the fake OS worker was asked to run, oldest first. */
  readonly runs = new Map<string, TaskAssignment[]>();
  /** The ids of each `connection.run`, per worker: one entry per message the worker would get. */
  readonly batches = new Map<string, string[][]>();
  readonly terminations: Array<{ workerId: string; immediate: boolean }> = [];
  /** Per worker id: the aborts its running tasks were sent, oldest first. */
  readonly aborts = new Map<string, Array<{ taskId: string; reason: TaskAbortReason }>>();
  readonly starts: StartWorkerInput[] = [];
  /** Start failures still to hand out, by worker id (or '*'). */
  readonly failStarts = new Map<string, number>();
  /** When false, starts wait until `completeStart`. */
  autoStart = true;
  readonly #connections = new Map<string, (event: WorkerConnectionEvent) => void>();
  readonly #pollers = new Map<string, { sendBack: (event: MemoryPollerEvent) => void; fast: boolean }>();
  readonly #pendingStarts = new Map<string, (worker: StartedWorker) => void>();
  /** Per worker id: when its current task started, as a real worker measures it (handed over to an idle worker, or the task before it returned). */
  readonly #taskStartedAt = new Map<string, number>();
  /** Per worker id: tasks handed over and not yet answered. */
  readonly #outstanding = new Map<string, number>();

  readonly actors = {
    startWorker: fromPromise<StartedWorker, StartWorkerInput>(({ input }) => {
      this.starts.push(input);
      const left = this.failStarts.get(input.workerId) ?? this.failStarts.get('*') ?? 0;
      if (left > 0) {
        this.failStarts.set(this.failStarts.has(input.workerId) ? input.workerId : '*', left - 1);
        return Promise.reject(Object.assign(new SyntaxError('Unexpected token in task module'), { code: 'ERR_LOAD' }));
      }
      const worker: StartedWorker = { pid: 1000 * (input.slot + 1) + input.generation, handle: input.workerId, tasks: ['work'] };
      if (this.autoStart) return Promise.resolve(worker);
      return new Promise<StartedWorker>((resolve) => this.#pendingStarts.set(input.workerId, resolve));
    }),
    workerConnection: fromCallback<WorkerConnectionCommand, WorkerConnectionInput, WorkerConnectionEvent>(
      ({ input, sendBack, receive }) => {
        const workerId = input.worker.handle as string;
        this.#connections.set(workerId, sendBack);
        this.#outstanding.set(workerId, 0); // a new OS worker has run nothing yet
        receive((command) => {
          if (command.type === 'connection.abort') {
            this.aborts.set(workerId, [...(this.aborts.get(workerId) ?? []), { taskId: command.taskId, reason: command.reason }]);
            return;
          }
          const outstanding = this.#outstanding.get(workerId) ?? 0;
          if (outstanding === 0) this.#taskStartedAt.set(workerId, this.clock.now());
          this.#outstanding.set(workerId, outstanding + command.tasks.length);
          const list = this.runs.get(workerId) ?? [];
          list.push(...command.tasks);
          this.runs.set(workerId, list);
          const batches = this.batches.get(workerId) ?? [];
          batches.push(command.tasks.map((t) => t.id));
          this.batches.set(workerId, batches);
        });
        return () => this.#connections.delete(workerId);
      },
    ),
    memoryPoller: fromCallback<MemoryPollerCommand, MemoryPollerInput, MemoryPollerEvent>(({ input, sendBack, receive }) => {
      const workerId = input.worker.handle as string;
      const entry = { sendBack, fast: false };
      this.#pollers.set(workerId, entry);
      receive((command) => {
        entry.fast = command.type === 'poll.fast';
      });
      return () => this.#pollers.delete(workerId);
    }),
    terminateWorker: fromPromise<WorkerExit, TerminateWorkerInput>(({ input }) => {
      this.terminations.push({ workerId: (input.worker?.handle as string) ?? '(none)', immediate: input.immediate });
      return Promise.resolve({ exitCode: null, signal: input.immediate ? 'SIGKILL' : 'SIGTERM' });
    }),
  };

  completeStart(workerId: string, pid = 4242): void {
    const resolve = this.#pendingStarts.get(workerId);
    if (!resolve) throw new Error(`no start pending for ${workerId}`);
    this.#pendingStarts.delete(workerId);
    resolve({ pid, handle: workerId });
  }

  /** `durationMs`: the run time the worker measured; by default, the simulated time since the task started in the fake worker. */
  result(workerId: string, taskId: string, value: unknown = 'ok', durationMs?: number): void {
    this.#deliver(workerId, [{ taskId, outcome: { ok: true, value }, durationMs }]);
  }

  /** Results that arrive in one delivery, as a worker's run-ahead batch does; each task's value is its id. */
  resultsTogether(workerId: string, taskIds: readonly string[]): void {
    this.#deliver(workerId, taskIds.map((taskId) => ({ taskId, outcome: { ok: true, value: taskId } })));
  }

  throwInTask(workerId: string, taskId: string, message = 'boom'): void {
    this.#deliver(workerId, [{ taskId, outcome: { ok: false, error: { name: 'RangeError', message, stack: `RangeError: ${message}\n    at task` } } }]);
  }

  #deliver(workerId: string, results: Array<Omit<TaskResult, 'durationMs'> & { durationMs?: number | undefined }>): void {
    // As a real worker measures: each task from when it started to its result; the next one starts then.
    const now = this.clock.now();
    const measured = results.map((result): TaskResult => {
      const startedAt = this.#taskStartedAt.get(workerId) ?? now;
      this.#taskStartedAt.set(workerId, now);
      this.#outstanding.set(workerId, Math.max(0, (this.#outstanding.get(workerId) ?? 0) - 1));
      return { ...result, durationMs: result.durationMs ?? now - startedAt };
    });
    this.#connection(workerId)({ type: 'process.results', results: measured });
  }

  /** The running task reports progress, as `ctx.progress` in a real worker would. */
  progress(workerId: string, taskId: string, fraction: number, detail?: unknown): void {
    this.#connection(workerId)({ type: 'process.progress', taskId, fraction, detail });
  }

  exit(workerId: string, exitCode: number | null, signal: string | null = null): void {
    this.#connection(workerId)({ type: 'process.exited', exitCode, signal, stderrTail: 'fatal' });
  }

  sample(workerId: string, rssBytes: number, gpuBytes?: number): void {
    const poller = this.#pollers.get(workerId);
    if (!poller) throw new Error(`no poller for ${workerId}`);
    poller.sendBack({ type: 'memory.sample', rssBytes, gpuBytes, atMs: this.clock.now() });
  }

  isPollingFast(workerId: string): boolean {
    return this.#pollers.get(workerId)?.fast ?? false;
  }

  hasConnection(workerId: string): boolean {
    return this.#connections.has(workerId);
  }

  #connection(workerId: string): (event: WorkerConnectionEvent) => void {
    const send = this.#connections.get(workerId);
    if (!send) throw new Error(`no live connection for ${workerId}`);
    return send;
  }
}

/** Lets promise-based fake actors (start, terminate) settle. */
export async function settle(): Promise<void> {
  for (let i = 0; i < 5; i += 1) await Promise.resolve();
  await new Promise((resolve) => setImmediate(resolve));
}

export const MiB = 1024 * 1024;

export const testWorkerSettings: WorkerSettings = {
  memoryLimitBytes: 256 * MiB,
  gpuMemoryLimitBytes: 1024 * MiB,
  softMemoryRatio: 0.8,
  memoryPollMs: 100,
  fastMemoryPollMs: 25,
  killGraceMs: 1000,
  startTimeoutMs: 10_000,
  // Off by default, so a deadline or a cancel kills at once as it always did; tests of the warning and the grace set them.
  deadlineWarningMs: 0,
  cancelGraceMs: 0,
};

/** A parent that records what a lone worker machine tells it. */
export function createRecorder(): { ref: AnyActorRef; events: WorkerNotification[] } {
  const events: WorkerNotification[] = [];
  const ref = createActor(
    fromCallback<WorkerNotification>(({ receive }) => {
      receive((event) => {
        events.push(event);
      });
    }),
  ).start();
  return { ref, events };
}

export function startLoneWorker(runtime: FakeRuntime, overrides: Partial<WorkerInput> = {}) {
  const recorder = createRecorder();
  const input: WorkerInput = {
    workerId: 'worker-0',
    slot: 0,
    device: 'cpu',
    settings: testWorkerSettings,
    parent: recorder.ref,
    now: () => runtime.clock.now(),
    ...overrides,
  };
  const actor = createActor(workerMachine.provide({ actors: runtime.actors }), { input, clock: runtime.clock }).start();
  return { actor, events: recorder.events };
}

export function task(id: string, overrides: Partial<TaskAssignment> = {}): TaskAssignment {
  return { id, name: 'work', payload: null, timeoutMs: 1000, memoryLimitBytes: 256 * MiB, gpuMemoryLimitBytes: 1024 * MiB, attempt: 1, ...overrides };
}

export function startSupervisor(
  runtime: FakeRuntime,
  overrides: Partial<SupervisorInput> = {},
  workerGuards: Parameters<typeof workerMachine.provide>[0]['guards'] = {},
  inspect?: (event: InspectionEvent) => void,
) {
  const input: SupervisorInput = {
    devices: ['cpu', 'cpu'],
    worker: testWorkerSettings,
    maxQueue: 100,
    taskTimeoutMs: 1000,
    restart: { backoffMs: 100, maxBackoffMs: 30_000, maxRestarts: 5, windowMs: 30_000, jitterRatio: 0.2, recoverAfterMs: 30_000, maxRecoverAfterMs: 600_000 },
    now: () => runtime.clock.now(),
    random: () => 0,
    ...overrides,
  };
  const worker = workerMachine.provide({ actors: runtime.actors, guards: workerGuards });
  const machine = supervisorMachine.provide({ actors: { worker } });
  const events: PoolEvent[] = [];
  const actor = createActor(machine, { input, clock: runtime.clock, ...(inspect ? { inspect } : {}) });
  actor.on('*', (event) => {
    events.push(event as PoolEvent);
  });
  actor.start();
  return { actor, events };
}
