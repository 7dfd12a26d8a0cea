import { describe, expect, it } from 'vitest';
import {
  createActor,
  fromCallback,
  fromPromise,
  getInitialMicrosteps,
  getNextTransitions,
  getStateNodes,
  SimulatedClock,
  type AnyEventObject,
  type AnyMachineSnapshot,
  type AnyStateNode,
  type AnyTransitionDefinition,
} from 'xstate';
import { getShortestPaths } from 'xstate/graph';
import {
  deadlineLeadMs,
  MEMORY_EVIDENCE_SAMPLES,
  workerMachine,
  type WorkerContext,
  type WorkerEvent,
  type WorkerInput,
  type WorkerNotification,
} from '../machines/index.js';
import { createRecorder, MiB, task, testWorkerSettings } from './support/fakeRuntime.js';

/**
 * Model-based tests generated from the real worker machine: xstate/graph finds the
 * shortest path to every state, each path is extended by every event that state
 * accepts, and each extended path is replayed on a live actor whose I/O actors never
 * act by themselves — every happening is an event of the path, and every timer is
 * moved by a SimulatedClock. The test then demands that every transition the machine
 * defines was taken: a new transition without coverage fails here. At every state a
 * replay reaches, the invariants of that state are asserted on the live actor's context
 * and on what the parent was told; every state must have been checked so.
 *
 * Only XState's public API is used (no `_nodes`, no `_transitions`): a state's nodes come
 * from `getStateNodes`, and the transition a microstep took is worked out from the state
 * before it with `getTransitionData` / `getNextTransitions`, as XState itself selects it.
 */

const RUNNING_TASK = task('t1', { timeoutMs: 1000, memoryLimitBytes: 100 * MiB });
const RUN_AHEAD_TASK = task('t2', { timeoutMs: 500, memoryLimitBytes: 100 * MiB });
// With a warning and a grace, so their timers are part of every path.
const settings = { ...testWorkerSettings, deadlineWarningMs: 100, cancelGraceMs: 50 };
const invokeId = (stateId: string) => (workerMachine.getStateNodeById(stateId).invoke[0] as { id: string }).id;

const START = invokeId('worker.restarting.starting');
const TERMINATE = invokeId('worker.killed.terminating');
const STOPPING = invokeId('worker.stopping');

/** Every event worth sending in each kind of state; the graph keeps those the state accepts. */
function candidateEvents(): WorkerEvent[] {
  const events: Array<Record<string, unknown> & { type: string }> = [
    { type: `xstate.done.actor.${START}`, output: { pid: 77, handle: 'os-worker' } },
    { type: `xstate.error.actor.${START}`, error: new Error('cannot load') },
    { type: `xstate.done.actor.${TERMINATE}`, output: { exitCode: null, signal: 'SIGTERM' } },
    { type: `xstate.error.actor.${TERMINATE}`, error: new Error('terminate failed') },
    { type: `xstate.done.actor.${STOPPING}`, output: { exitCode: 0, signal: null } },
    { type: `xstate.error.actor.${STOPPING}`, error: new Error('terminate failed') },
    { type: 'xstate.error.actor.*', error: new Error('poller failed') },
    { type: 'task.run', task: RUNNING_TASK },
    // A fast task handed over behind the first: it starts when t1 finishes, or finishes out of turn.
    { type: 'task.run', task: RUNNING_TASK, runAhead: [RUN_AHEAD_TASK] },
    { type: 'task.cancel', taskId: 't1' },
    // Raised by the machine itself, delayed (after the deadline warning, after a cancel's grace); sent here as they arrive.
    // `runSeq: 1`: the first task a fresh worker machine starts, as on the shortest paths.
    { type: 'deadline.reached', taskId: 't1', runSeq: 1 },
    // The same timer at the deadline itself (the replay moves the clock there first): the one that kills.
    { type: 'deadline.reached', taskId: 't1', runSeq: 1, atDeadline: true },
    { type: 'cancel.grace-over', taskId: 't1', runSeq: 1 },
    { type: 'process.progress', taskId: 't1', fraction: 0.5, detail: { step: 1 } },
    { type: 'task.evict', taskId: 't1', termination: { reason: 'memory', resource: 'host', usedBytes: 9, limitBytes: 8, rssBytes: 0, samples: [] } },
    { type: 'process.results', results: [{ taskId: 't1', outcome: { ok: true, value: 1 } }] },
    { type: 'process.results', results: [{ taskId: 't2', outcome: { ok: false, error: { name: 'DataCloneError', message: 'x' } } }] },
    { type: 'process.exited', exitCode: 1, signal: null },
    { type: 'process.exited', exitCode: 1, signal: null, outOfMemory: { resource: 'heap', limitBytes: 64 } },
    { type: 'memory.sample', rssBytes: 10 * MiB, atMs: 0 },
    { type: 'memory.sample', rssBytes: 90 * MiB, atMs: 0 },
    { type: 'memory.sample', rssBytes: 300 * MiB, atMs: 0 },
    { type: 'worker.restart', delayMs: 0 },
    { type: 'worker.restart', delayMs: 250 },
    { type: 'worker.stop' },
    { type: 'worker.recycle', termination: { reason: 'lease-expired', leaseId: 'L', elapsedMs: 5, timeoutMs: 5 } },
  ];
  return events as unknown as WorkerEvent[];
}

function serialize(snapshot: { value: unknown; context: WorkerContext }): string {
  const c = snapshot.context;
  return JSON.stringify([snapshot.value, c.task?.id, c.runAhead.length, c.stopRequested, c.restartDelayMs > 0]);
}

function transitionKey(t: AnyTransitionDefinition): string {
  const guard = typeof t.guard === 'string' ? t.guard : ((t.guard as { type?: string } | undefined)?.type ?? '');
  const targets = (t.target ?? []).map((n: AnyStateNode) => n.id).join(',');
  return `${t.source.id} --${t.eventType}${guard ? ` [${guard}]` : ''}--> ${targets || '(self)'}`;
}

function allTransitions(node: AnyStateNode): string[] {
  const own = [...node.transitions.values()].flat().concat(node.always ?? []).map(transitionKey);
  return own.concat(Object.values(node.states).flatMap((child) => allTransitions(child as AnyStateNode)));
}

const idleActors = {
  startWorker: fromPromise(() => new Promise<never>(() => {})),
  terminateWorker: fromPromise(() => new Promise<never>(() => {})),
  workerConnection: fromCallback(() => {}),
  memoryPoller: fromCallback(() => {}),
};
const machine = workerMachine.provide({ actors: idleActors as never });

/** The ids of the state nodes a snapshot is in, ancestors included. */
const activeIds = (snapshot: { value: unknown }): Set<string> =>
  new Set(getStateNodes(machine.root, snapshot.value as never).map((node: AnyStateNode) => node.id));

/** The deepest state a snapshot is in: its atomic state's id. */
function atomicId(snapshot: { value: unknown }): string {
  const ids = [...activeIds(snapshot)];
  return ids.reduce((deepest, id) => (id.split('.').length > deepest.split('.').length ? id : deepest));
}

function guardHolds(t: AnyTransitionDefinition, snapshot: AnyMachineSnapshot, event: AnyEventObject): boolean {
  if (t.guard === undefined) return true;
  const name = typeof t.guard === 'string' ? t.guard : (t.guard as { type?: string }).type;
  const guard = name === undefined ? undefined : (machine.implementations.guards as Record<string, unknown>)[name];
  if (typeof guard !== 'function') throw new Error(`cannot evaluate the guard of ${transitionKey(t)}`);
  return Boolean(guard({ context: snapshot.context, event }, undefined));
}

/**
 * The transitions one microstep took, from the state before it: the event's own (the first
 * microstep of a delivered event), else an enabled eventless one, else those of a raised event.
 * This is the order XState's macrostep selects them in; the worker has no parallel states.
 */
function transitionsTaken(before: AnyMachineSnapshot, event: AnyEventObject, delivered: boolean): AnyTransitionDefinition[] {
  if (delivered && event.type !== 'xstate.init') return machine.getTransitionData(before as never, event as never);
  const eventless = getNextTransitions(before).find((t) => t.eventType === '' && guardHolds(t, before, event));
  if (eventless !== undefined) return [eventless];
  return machine.getTransitionData(before as never, event as never);
}

/** What the parent was told last of a type. */
const lastTold = <T extends WorkerNotification['type']>(told: WorkerNotification[], type: T) =>
  told.filter((n): n is Extract<WorkerNotification, { type: T }> => n.type === type).at(-1);

/**
 * What must hold in each state, whichever path led there. `told` is every notification
 * the parent had so far, oldest first.
 */
const invariants: Record<string, (c: WorkerContext, told: WorkerNotification[], now: number) => void> = {
  'worker.restarting.backoff': (c) => {
    // At rest in backoff only while a delay is due: with none, it goes straight on to starting.
    expect(c.restartDelayMs).toBeGreaterThan(0);
  },
  'worker.restarting.starting': (c) => {
    expect(c.generation).toBeGreaterThanOrEqual(1);
    expect([c.worker, c.task, c.termination, c.lastExit]).toEqual([undefined, undefined, undefined, undefined]);
    expect([c.runAhead, c.samples, c.rssBytes]).toEqual([[], [], 0]);
  },
  'worker.alive.idle': (c, told) => {
    expect(c.worker).toBeDefined();
    expect([c.task, c.termination, c.stopRequested]).toEqual([undefined, undefined, false]);
    expect(c.runAhead).toEqual([]);
    // The supervisor was told this worker is ready, for this generation.
    expect(lastTold(told, 'worker.ready')).toMatchObject({ workerId: c.workerId, pid: c.worker?.pid, generation: c.generation });
  },
  'worker.alive.running.busy': (c, _told, now) => {
    running(c, now);
    // A sample over the soft limit would have moved it to monitoring.
    const last = c.samples.at(-1);
    if (last !== undefined) expect(last.rssBytes).toBeLessThanOrEqual((c.task?.memoryLimitBytes ?? 0) * c.settings.softMemoryRatio);
  },
  'worker.alive.running.monitoring': (c, told, now) => {
    running(c, now);
    const last = c.samples.at(-1);
    expect(last?.rssBytes).toBeGreaterThan((c.task?.memoryLimitBytes ?? 0) * c.settings.softMemoryRatio);
    expect(last?.rssBytes).toBeLessThanOrEqual(c.task?.memoryLimitBytes ?? 0);
    // The supervisor was warned about this task.
    expect(lastTold(told, 'worker.memory-warning')).toMatchObject({ workerId: c.workerId, taskId: c.task?.id });
  },
  'worker.killed.terminating': (c, told) => {
    killed(c, told);
  },
  'worker.killed.awaitingVerdict': (c, told) => {
    killed(c, told);
    // Told of the exit after the kill, with the same reason: it now waits for the supervisor.
    const types = told.map((n) => n.type);
    expect(types.lastIndexOf('worker.exited')).toBeGreaterThan(types.lastIndexOf('worker.killed'));
    expect(lastTold(told, 'worker.exited')).toMatchObject({ workerId: c.workerId, termination: c.termination });
  },
  'worker.stopping': (c) => {
    expect(c.worker).toBeDefined();
    expect([c.task, c.runAhead.length]).toEqual([undefined, 0]);
  },
  'worker.stopped': () => {},
};

function running(c: WorkerContext, now: number): void {
  expect(c.worker).toBeDefined();
  expect(c.task).toBeDefined();
  expect(c.termination).toBeUndefined();
  expect(c.runSeq).toBeGreaterThanOrEqual(1);
  // Its deadline is armed from when it started, and not yet passed.
  expect(c.task?.startedAt).toBeLessThanOrEqual(now);
  expect(now - (c.task?.startedAt ?? 0)).toBeLessThan(c.task?.timeoutMs ?? 0);
  expect(c.runAhead.every((t) => t.id !== c.task?.id)).toBe(true);
}

function killed(c: WorkerContext, told: WorkerNotification[]): void {
  // Why it was ended is known, and the supervisor was told so, naming the task it ran if any.
  expect(c.termination).toBeDefined();
  expect(told.some((n) => n.type === 'worker.killed' && n.workerId === c.workerId && n.termination === c.termination)).toBe(true);
  if (c.termination?.reason === 'memory') expect(c.termination.samples.length).toBeLessThanOrEqual(MEMORY_EVIDENCE_SAMPLES);
}

/** Checked at every state a replay reaches; also counts, per state, how often. */
function checkState(snapshot: { value: unknown; context: WorkerContext; status: string }, told: WorkerNotification[], now: number, checked: Map<string, number>): void {
  const state = atomicId(snapshot);
  const check = invariants[state];
  if (check === undefined) throw new Error(`no invariants for ${state}: add them`);
  // Whatever the state: the evidence stays bounded.
  expect(snapshot.context.samples.length).toBeLessThanOrEqual(MEMORY_EVIDENCE_SAMPLES);
  // Tasks run ahead are only ever behind a current one.
  if (snapshot.context.runAhead.length > 0) expect(snapshot.context.task).toBeDefined();
  if (snapshot.status === 'done') expect(state).toBe('worker.stopped');
  check(snapshot.context, told, now);
  checked.set(state, (checked.get(state) ?? 0) + 1);
}

function replay(events: readonly WorkerEvent[], covered: Set<string>, checked: Map<string, number>): { value: unknown } {
  const clock = new SimulatedClock();
  const recorder = createRecorder();
  const input: WorkerInput = { workerId: 'worker-0', slot: 0, device: 'cpu', settings, parent: recorder.ref, now: () => clock.now() };
  // The state before the next microstep, and whether that microstep is the one of a delivered event.
  let before = getInitialMicrosteps(machine, input)[0]?.[0] as AnyMachineSnapshot;
  let delivered = false;
  const actor = createActor(machine, {
    input,
    clock,
    inspect: (event) => {
      if (event.actorRef.sessionId !== event.rootId) return;
      if (event.type === '@xstate.event') delivered = true;
      if (event.type !== '@xstate.microstep' || event.event.type === 'xstate.stop') return;
      for (const t of transitionsTaken(before, event.event, delivered)) covered.add(transitionKey(t));
      before = event.snapshot as AnyMachineSnapshot;
      delivered = false;
    },
  });
  actor.start();
  checkState(actor.getSnapshot(), recorder.events, clock.now(), checked);
  for (const event of events) {
    if (event.type.startsWith('xstate.after.')) {
      // A delayed transition is taken by moving the clock: not 1 ms early, exactly on time.
      const context = actor.getSnapshot().context;
      const timeoutMs = context.task?.timeoutMs ?? 0;
      const delay = event.type.includes('deadlineWarning') ? timeoutMs - deadlineLeadMs(timeoutMs, settings.deadlineWarningMs) : context.restartDelayMs;
      const before = JSON.stringify(actor.getSnapshot().value);
      clock.increment(delay - 1);
      expect(JSON.stringify(actor.getSnapshot().value)).toBe(before);
      clock.increment(1);
    } else if (event.type === 'deadline.reached' && (event as { atDeadline?: boolean }).atDeadline) {
      const { task: running } = actor.getSnapshot().context;
      if (running !== undefined) clock.increment(Math.max(0, running.startedAt + running.timeoutMs - clock.now()));
      const { atDeadline: _atDeadline, ...due } = event as WorkerEvent & { atDeadline?: boolean };
      actor.send(due as WorkerEvent);
    } else if ((event.type as string) === 'xstate.error.actor.*') {
      // The graph names the wildcard; a live actor gets a real child's error.
      actor.send({ ...(event as object), type: 'xstate.error.actor.memoryPoller' } as never);
    } else {
      actor.send(event);
    }
    checkState(actor.getSnapshot(), recorder.events, clock.now(), checked);
  }
  const snapshot = actor.getSnapshot();
  actor.stop();
  return snapshot;
}

describe('workerMachine, model-based', () => {
  const input: WorkerInput = {
    workerId: 'worker-0',
    slot: 0,
    device: 'cpu',
    settings,
    parent: createRecorder().ref,
    now: () => 0,
  };
  const paths = getShortestPaths(workerMachine, {
    input,
    events: () => candidateEvents(),
    serializeState: (snapshot) => serialize(snapshot as never),
  });

  it('should reach every state of the machine', () => {
    const reached = new Set(paths.flatMap((p) => [...activeIds(p.state)]));
    const all = new Set<string>();
    const walk = (node: AnyStateNode) => {
      all.add(node.id);
      Object.values(node.states).forEach((child) => walk(child as AnyStateNode));
    };
    walk(workerMachine.root);
    expect([...all].filter((id) => !reached.has(id))).toEqual([]);
  });

  it('should take every transition the machine defines, on a live actor under a simulated clock, and keep each state’s invariants', () => {
    const covered = new Set<string>();
    const checked = new Map<string, number>();
    let replayed = 0;
    for (const path of paths) {
      const prefix = path.steps.map((step) => step.event);
      const end = replay(prefix, covered, checked);
      expect(serialize(end as never)).toBe(serialize(path.state as never));
      // Extend by each event the end state accepts: that covers the transitions out of it.
      if ((path.state as { status: string }).status === 'done') continue;
      for (const event of candidateEvents()) {
        if (!(path.state as { can(e: WorkerEvent): boolean }).can(event)) continue;
        replay([...prefix, event], covered, checked);
        replayed += 1;
      }
      const delayed = new Set(getNextTransitions(path.state as AnyMachineSnapshot).map((t) => t.eventType).filter((type) => type.startsWith('xstate.after.')));
      for (const type of delayed) {
        replay([...prefix, { type } as unknown as WorkerEvent], covered, checked);
        replayed += 1;
      }
    }
    const defined = new Set(allTransitions(workerMachine.root));
    expect(replayed).toBeGreaterThan(paths.length);
    expect([...defined].filter((key) => !covered.has(key))).toEqual([]);
    expect(covered.size).toBe(defined.size);
    // Every atomic state was reached by some replay, and its invariants held there.
    const atomic = atomicStates(machine.root);
    expect(atomic.filter((id) => !checked.has(id))).toEqual([]);
  });
});

function atomicStates(node: AnyStateNode): string[] {
  const children = Object.values(node.states) as AnyStateNode[];
  return children.length === 0 ? [node.id] : children.flatMap(atomicStates);
}
