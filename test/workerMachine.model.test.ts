import { describe, expect, it } from 'vitest';
import { createActor, fromCallback, fromPromise, SimulatedClock, type AnyStateNode, type AnyTransitionDefinition } from 'xstate';
import { getShortestPaths } from 'xstate/graph';
import { deadlineLeadMs, workerMachine, type WorkerContext, type WorkerEvent, type WorkerInput } from '../machines/index.js';
import { createRecorder, MiB, task, testWorkerSettings } from './support/fakeRuntime.js';

/**
 * Model-based tests generated from the real worker machine: xstate/graph finds the
 * shortest path to every state, each path is extended by every event that state
 * accepts, and each extended path is replayed on a live actor whose I/O actors never
 * act by themselves — every happening is an event of the path, and every timer is
 * moved by a SimulatedClock. The test then demands that every transition the machine
 * defines was taken: a new transition without coverage fails here.
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

function replay(events: readonly WorkerEvent[], covered: Set<string>): { value: unknown } {
  const clock = new SimulatedClock();
  const recorder = createRecorder();
  const input: WorkerInput = { workerId: 'worker-0', slot: 0, device: 'cpu', settings, parent: recorder.ref, now: () => clock.now() };
  const actor = createActor(workerMachine.provide({ actors: idleActors as never }), {
    input,
    clock,
    inspect: (event) => {
      if (event.type === '@xstate.microstep' && event.actorRef.sessionId === event.rootId) {
        for (const t of (event as { _transitions: AnyTransitionDefinition[] })._transitions) covered.add(transitionKey(t));
      }
    },
  });
  actor.start();
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
    } else if ((event.type as string) === 'xstate.error.actor.*') {
      // The graph names the wildcard; a live actor gets a real child's error.
      actor.send({ ...(event as object), type: 'xstate.error.actor.memoryPoller' } as never);
    } else {
      actor.send(event);
    }
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
    const reached = new Set(paths.flatMap((p) => (p.state as { _nodes: AnyStateNode[] })._nodes.map((n) => n.id)));
    const all = new Set<string>();
    const walk = (node: AnyStateNode) => {
      all.add(node.id);
      Object.values(node.states).forEach((child) => walk(child as AnyStateNode));
    };
    walk(workerMachine.root);
    expect([...all].filter((id) => !reached.has(id))).toEqual([]);
  });

  it('should take every transition the machine defines, on a live actor under a simulated clock', () => {
    const covered = new Set<string>();
    let replayed = 0;
    for (const path of paths) {
      const prefix = path.steps.map((step) => step.event);
      const end = replay(prefix, covered);
      expect(serialize(end as never)).toBe(serialize(path.state as never));
      // Extend by each event the end state accepts: that covers the transitions out of it.
      if ((path.state as { status: string }).status === 'done') continue;
      for (const event of candidateEvents()) {
        if (!(path.state as { can(e: WorkerEvent): boolean }).can(event)) continue;
        replay([...prefix, event], covered);
        replayed += 1;
      }
      for (const type of (path.state as unknown as { _nodes: AnyStateNode[] })._nodes.flatMap((n) =>
        [...n.transitions.keys()].filter((k) => k.startsWith('xstate.after.')),
      )) {
        replay([...prefix, { type } as unknown as WorkerEvent], covered);
        replayed += 1;
      }
    }
    const defined = new Set(allTransitions(workerMachine.root));
    expect(replayed).toBeGreaterThan(paths.length);
    expect([...defined].filter((key) => !covered.has(key))).toEqual([]);
    expect(covered.size).toBe(defined.size);
  });
});
