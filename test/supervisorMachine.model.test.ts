import { describe, expect, it } from 'vitest';
import { PROBE_STABLE_MS, type PoolEvent, type TaskRequest } from '../machines/index.js';
import { FakeRuntime, settle, startSupervisor } from './support/fakeRuntime.js';

/**
 * Model-based tests of the supervisor: a small model of the pool (its top-level state,
 * the task its one worker runs, the tasks queued, how each task must end) says what
 * every step should do; every path of steps the model allows, up to a depth, is replayed
 * on a real supervisor over the fake runtime with a SimulatedClock, and after each step
 * the supervisor is held to the model and to the invariants of the state it is in.
 *
 * The supervisor's context holds a mutable ledger, so xstate/graph cannot explore it
 * from its definition: the paths come from the model instead.
 */

type Top = 'running' | 'draining' | 'degraded' | 'closed';
type Outcome = 'succeeded' | 'CRASHED' | 'CLOSED' | 'DEGRADED';

interface Model {
  readonly top: Top;
  /** The task the one worker runs. */
  readonly running: string | undefined;
  readonly queue: readonly string[];
  /** How each settled task ended; a submitted task not here is still running or queued. */
  readonly outcomes: ReadonlyMap<string, Outcome>;
  readonly submitted: number;
  readonly degradedTimes: number;
}

interface Sut {
  readonly runtime: FakeRuntime;
  readonly actor: ReturnType<typeof startSupervisor>['actor'];
  readonly events: PoolEvent[];
}

interface Step {
  readonly name: string;
  enabled(m: Model): boolean;
  act(sut: Sut, m: Model): Promise<void>;
  next(m: Model): Model;
}

const DRAIN_MS = 10_000;

function request(id: string): TaskRequest {
  return { id, name: 'work', payload: id, priority: 0, retries: 0, retryOn: ['crash', 'memory'] };
}

const settledAs = (m: Model, ids: readonly string[], outcome: Outcome) => new Map([...m.outcomes, ...ids.map((id) => [id, outcome] as const)]);

/** The worker is done with its task: the next queued one starts; a drained pool closes. */
function afterTask(m: Model, id: string, outcome: Outcome): Model {
  const [next, ...rest] = m.queue;
  const outcomes = settledAs(m, [id], outcome);
  if (m.top === 'draining' && next === undefined) return { ...m, top: 'closed', running: undefined, queue: [], outcomes };
  return { ...m, running: next, queue: rest, outcomes };
}

/** Everything still running or queued fails as the pool closes. */
const closeNow = (m: Model): Model => ({
  ...m,
  top: 'closed',
  running: undefined,
  queue: [],
  outcomes: settledAs(m, [...(m.running === undefined ? [] : [m.running]), ...m.queue], 'CLOSED'),
});

const steps: readonly Step[] = [
  {
    name: 'submit',
    enabled: (m) => m.top !== 'closed',
    async act({ actor }, m) {
      actor.send({ type: 'task.submit', task: request(`t${m.submitted + 1}`) });
      await settle();
    },
    next(m) {
      const id = `t${m.submitted + 1}`;
      const counted = { ...m, submitted: m.submitted + 1 };
      if (m.top === 'draining') return { ...counted, outcomes: settledAs(m, [id], 'CLOSED') };
      if (m.top === 'degraded') return { ...counted, outcomes: settledAs(m, [id], 'DEGRADED') };
      return m.running === undefined ? { ...counted, running: id } : { ...counted, queue: [...m.queue, id] };
    },
  },
  {
    name: 'finish',
    enabled: (m) => m.running !== undefined,
    async act({ runtime }, m) {
      runtime.result('worker-0', m.running as string, 'done');
      await settle();
    },
    next: (m) => afterTask(m, m.running as string, 'succeeded'),
  },
  {
    name: 'crash',
    enabled: (m) => m.running !== undefined,
    async act({ runtime }) {
      runtime.exit('worker-0', 1);
      await settle();
      await settle();
    },
    // Charged to the task: the worker is replaced at once, and takes the next one.
    next: (m) => afterTask(m, m.running as string, 'CRASHED'),
  },
  {
    name: 'crash loop',
    // The idle worker dies, and no start succeeds: the restart-intensity limit is passed.
    enabled: (m) => m.top === 'running' && m.running === undefined && m.queue.length === 0,
    async act({ runtime }) {
      runtime.failStarts.set('*', 1000);
      runtime.exit('worker-0', 1);
      for (let i = 0; i < 10; i += 1) {
        await settle();
        runtime.clock.increment(2_000);
      }
      await settle();
    },
    next: (m) => ({ ...m, top: 'degraded', degradedTimes: m.degradedTimes + 1 }),
  },
  {
    name: 'recover',
    // The cause is gone; the next probe starts a worker that stays up.
    enabled: (m) => m.top === 'degraded',
    async act({ runtime }) {
      runtime.failStarts.clear();
      for (let i = 0; i < 4; i += 1) {
        runtime.clock.increment(20_000);
        await settle();
      }
      runtime.clock.increment(PROBE_STABLE_MS);
      await settle();
    },
    next: (m) => ({ ...m, top: 'running' }),
  },
  {
    name: 'close',
    enabled: (m) => m.top === 'running' || m.top === 'degraded',
    async act({ actor }) {
      actor.send({ type: 'pool.close', drainTimeoutMs: DRAIN_MS });
      await settle();
    },
    // Running and queued tasks may finish; with none, it closes at once.
    next: (m) => (m.top === 'running' && (m.running !== undefined || m.queue.length > 0) ? { ...m, top: 'draining' } : closeNow(m)),
  },
  {
    name: 'close now',
    enabled: (m) => m.top !== 'closed',
    async act({ actor }) {
      actor.send({ type: 'pool.close', drainTimeoutMs: 0 });
      await settle();
    },
    next: closeNow,
  },
  {
    name: 'drain time runs out',
    enabled: (m) => m.top === 'draining',
    async act({ runtime }) {
      runtime.clock.increment(DRAIN_MS);
      await settle();
    },
    next: closeNow,
  },
];

/** How each task was settled by the supervisor, every time it was. */
function settlements(events: readonly PoolEvent[]): Map<string, string[]> {
  const seen = new Map<string, string[]>();
  const note = (id: string, how: string) => seen.set(id, [...(seen.get(id) ?? []), how]);
  for (const event of events) {
    if (event.type === 'task.succeeded') note(event.taskId, 'succeeded');
    if (event.type === 'task.failed') note(event.taskId, event.failure.code);
    if (event.type === 'tasks.failed') for (const { taskId } of event.tasks) note(taskId, event.failure.code);
  }
  return seen;
}

function topState(sut: Sut): Top | 'stopping' {
  const snapshot = sut.actor.getSnapshot();
  if (snapshot.status === 'done') return 'closed';
  const value = snapshot.value;
  return (typeof value === 'string' ? value : Object.keys(value)[0]) as Top | 'stopping';
}

/** What must hold after every step: the supervisor agrees with the model, and with the invariants of its state. */
function check(sut: Sut, m: Model, path: readonly string[]): void {
  const where = path.join(' → ');
  expect(topState(sut), where).toBe(m.top);
  const settled = settlements(sut.events);
  for (let n = 1; n <= m.submitted; n += 1) {
    const id = `t${n}`;
    // Each task settles once, as the model says; one the model has running or queued not yet.
    const expected = m.outcomes.get(id);
    expect(settled.get(id) ?? [], `${where}: ${id}`).toEqual(expected === undefined ? [] : [expected]);
  }
  expect(sut.events.filter((e) => e.type === 'pool.degraded'), where).toHaveLength(m.degradedTimes);
  const snapshot = sut.actor.getSnapshot();
  switch (m.top) {
    case 'running':
    case 'draining': {
      // The worker runs the task the model says; a task queued behind it has not been handed over.
      const handed = sut.runtime.runs.get('worker-0')?.map((t) => t.id) ?? [];
      if (m.running !== undefined) expect(handed.at(-1), where).toBe(m.running);
      for (const queued of m.queue) expect(handed, where).not.toContain(queued);
      expect(sut.events.some((e) => e.type === 'pool.closed'), where).toBe(false);
      break;
    }
    case 'degraded':
      // At rest between probes; nothing waits, and nothing has closed.
      expect(snapshot.matches({ degraded: 'waiting' }), where).toBe(true);
      expect([m.running, m.queue.length]).toEqual([undefined, 0]);
      break;
    case 'closed':
      // Done for good: every task settled, every worker stopped, and `pool.closed` said once, last.
      expect(snapshot.status, where).toBe('done');
      expect(sut.events.filter((e) => e.type === 'pool.closed'), where).toHaveLength(1);
      expect(sut.events.at(-1), where).toEqual({ type: 'pool.closed' });
      expect(settled.size, where).toBe(m.submitted);
      break;
  }
}

const initial: Model = { top: 'running', running: undefined, queue: [], outcomes: new Map(), submitted: 0, degradedTimes: 0 };

/**
 * Every sequence of enabled steps, by the model, that is `depth` long or cannot go on (closed):
 * each shorter one is the start of one of these, and is checked step by step on the way.
 */
function paths(depth: number): Step[][] {
  const all: Step[][] = [];
  const extend = (path: Step[], m: Model) => {
    const enabled = steps.filter((step) => step.enabled(m));
    if (path.length === depth || enabled.length === 0) return void all.push(path);
    for (const step of enabled) extend([...path, step], step.next(m));
  };
  extend([], initial);
  return all;
}

describe('supervisorMachine, model-based', () => {
  const DEPTH = 5;
  const all = paths(DEPTH);

  it('should agree with the model, and keep each state’s invariants, after every step of every path', async () => {
    const reached = new Set<string>();
    const taken = new Set<string>();
    for (const path of all) {
      const runtime = new FakeRuntime();
      // One worker; deadlines far past any clock move here, so only the steps end tasks.
      const { actor, events } = startSupervisor(runtime, { devices: ['cpu'], taskTimeoutMs: 10_000_000 });
      const sut = { runtime, actor, events };
      await settle();
      let m = initial;
      check(sut, m, ['start']);
      const names: string[] = [];
      for (const step of path) {
        names.push(step.name);
        taken.add(`${m.top}: ${step.name}`);
        await step.act(sut, m);
        m = step.next(m);
        check(sut, m, names);
        reached.add(m.top);
      }
      actor.stop();
    }
    expect(all.length).toBeGreaterThan(150);
    expect([...reached].sort()).toEqual(['closed', 'degraded', 'draining', 'running']);
    // Every step was taken from every state it can be taken in.
    const expected = [
      ...['submit', 'finish', 'crash', 'crash loop', 'close', 'close now'].map((step) => `running: ${step}`),
      ...['submit', 'finish', 'crash', 'close now', 'drain time runs out'].map((step) => `draining: ${step}`),
      ...['submit', 'recover', 'close', 'close now'].map((step) => `degraded: ${step}`),
    ];
    expect([...taken].sort()).toEqual(expected.sort());
  });
});
