import { fromCallback, fromPromise } from 'xstate';
import type { TaskAbortReason, TaskAssignment, TaskOutcome } from './taskTypes.js';

/**
 * The I/O a worker machine needs, as named actors. The machine only knows their
 * shapes; `src/runtime` supplies real implementations with `machine.provide()`,
 * and tests supply fakes driven by a `SimulatedClock`.
 */

export interface StartWorkerInput {
  readonly workerId: string;
  readonly slot: number;
  readonly device: string;
  /** 1 for the slot's first OS worker, then one more per restart. */
  readonly generation: number;
  readonly startTimeoutMs: number;
}

/** A started OS worker. `handle` is the runtime's own object, opaque to the machines. */
export interface StartedWorker {
  readonly pid: number | undefined;
  readonly handle: unknown;
  /** The task names the worker's module exports. */
  readonly tasks?: readonly string[] | undefined;
}

export interface WorkerConnectionInput {
  readonly worker: StartedWorker;
}

/**
 * Commands the machine sends to its connection actor: tasks for the worker to run one
 * after another, in order (more than one only when the supervisor hands out fast tasks
 * ahead of time).
 */
export type WorkerConnectionCommand =
  | { readonly type: 'connection.run'; readonly tasks: readonly TaskAssignment[] }
  /** Asks the running task to stop by itself: its `ctx.signal` aborts with `reason` (the kill may follow). */
  | { readonly type: 'connection.abort'; readonly taskId: string; readonly reason: TaskAbortReason };

/** One finished task, as the worker reported it. */
export interface TaskResult {
  readonly taskId: string;
  readonly outcome: TaskOutcome;
  /** How long it ran, measured in the worker around the task function (0 when nothing ran): the task's one duration. */
  readonly durationMs: number;
}

/** Events the connection actor sends back. */
export type WorkerConnectionEvent =
  /** Results in the order the worker finished them, which is the order it was given them. */
  | { readonly type: 'process.results'; readonly results: readonly TaskResult[] }
  /** A running task reported how far it got (`ctx.progress`); the worker rate-limits these. */
  | { readonly type: 'process.progress'; readonly taskId: string; readonly fraction: number; readonly detail: unknown }
  | {
      readonly type: 'process.exited';
      readonly exitCode: number | null;
      readonly signal: string | null;
      readonly stderrTail?: string | undefined;
      /** The runtime itself ended the worker for memory (a thread over its V8 heap limit). */
      readonly outOfMemory?: { readonly resource: 'heap'; readonly limitBytes: number } | undefined;
    };

export interface MemoryPollerInput {
  readonly worker: StartedWorker;
  readonly device: string;
  readonly intervalMs: number;
  readonly fastIntervalMs: number;
}

export type MemoryPollerCommand = { readonly type: 'poll.fast' } | { readonly type: 'poll.normal' };

export type MemoryPollerEvent = {
  readonly type: 'memory.sample';
  readonly rssBytes: number;
  /** Present when the runtime samples GPUs and the worker runs on one. */
  readonly gpuBytes?: number | undefined;
  readonly atMs: number;
};

export interface TerminateWorkerInput {
  /** Undefined when the start failed and the runtime already cleaned up. */
  readonly worker: StartedWorker | undefined;
  readonly graceMs: number;
  /** Skip the polite signal (a memory runaway must not get a grace period to grow in). */
  readonly immediate: boolean;
}

export interface WorkerExit {
  readonly exitCode: number | null;
  readonly signal: string | null;
}

function runtimeMissing(name: string): never {
  throw new Error(`poolvisor: the worker machine's "${name}" actor comes from a runtime; use machine.provide({ actors })`);
}

/** Placeholders that fail loudly if a machine runs without a runtime. */
export const workerActorPlaceholders = {
  startWorker: fromPromise<StartedWorker, StartWorkerInput>(async () => runtimeMissing('startWorker')),
  workerConnection: fromCallback<WorkerConnectionCommand, WorkerConnectionInput, WorkerConnectionEvent>(() =>
    runtimeMissing('workerConnection'),
  ),
  memoryPoller: fromCallback<MemoryPollerCommand, MemoryPollerInput, MemoryPollerEvent>(() =>
    runtimeMissing('memoryPoller'),
  ),
  terminateWorker: fromPromise<WorkerExit, TerminateWorkerInput>(async () => runtimeMissing('terminateWorker')),
};
