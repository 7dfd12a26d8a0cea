import type { InspectionEvent } from 'xstate';
import { describe, expect, it } from 'vitest';
import { readPoolView, readStateChange, readTaskNames, statePath, type StateChange, type TaskRequest } from '../machines/index.js';
import { FakeRuntime, settle, startSupervisor } from './support/fakeRuntime.js';

// The read model (machines/poolStatus.ts): what Pool.status(), the service and the dashboard
// know of a pool, read from the supervisor's snapshot and from inspection events only.

function request(id: string): TaskRequest {
  return { id, name: 'work', payload: id, priority: 0, retries: 0, retryOn: ['crash', 'memory'] };
}

describe('the pool read model', () => {
  it('reads the pool, each worker with its state and full state path, and the counts from the snapshot', async () => {
    const runtime = new FakeRuntime();
    const { actor } = startSupervisor(runtime);
    await settle();
    expect(readPoolView(actor.getSnapshot())).toMatchObject({
      state: 'running',
      degraded: undefined,
      queued: 0,
      running: 0,
      workers: [
        { id: 'worker-0', state: 'idle', path: 'alive.idle', device: 'cpu', restarts: 0, generation: 1, taskId: undefined },
        { id: 'worker-1', state: 'idle', path: 'alive.idle', device: 'cpu', restarts: 0, generation: 1, taskId: undefined },
      ],
      counts: { submitted: 0, succeeded: 0 },
      quarantined: 0,
    });

    for (const id of ['a', 'b', 'c']) actor.send({ type: 'task.submit', task: request(id) });
    const busy = readPoolView(actor.getSnapshot());
    expect(busy).toMatchObject({ queued: 1, running: 2, counts: { submitted: 3 } });
    for (const worker of busy.workers) expect(worker).toMatchObject({ state: 'busy', path: 'alive.running.busy' });
    expect(busy.workers.map((w) => w.taskId).sort()).toEqual(['a', 'b']);
    const ranA = busy.workers.find((w) => w.taskId === 'a')?.id as string;
    const ranB = busy.workers.find((w) => w.taskId === 'b')?.id as string;

    runtime.result(ranA, 'a');
    runtime.exit(ranB, 1);
    await settle();
    const after = readPoolView(actor.getSnapshot());
    expect(after.counts).toMatchObject({ succeeded: 1, failed: 1 });
    expect(after.workers.find((w) => w.id === ranA)).toMatchObject({ state: 'busy', taskId: 'c' });
    // The crashed worker's slot has a new worker (the first restart has no delay): counted, and idle.
    expect(after.workers.find((w) => w.id === ranB)).toMatchObject({ state: 'idle', path: 'alive.idle', taskId: undefined, restarts: 1, generation: 2 });
  });

  it("reads the task names the workers reported, and none before any has", async () => {
    const runtime = new FakeRuntime();
    const { actor } = startSupervisor(runtime);
    expect(readTaskNames(actor.getSnapshot())).toBeUndefined();
    await settle();
    expect(readTaskNames(actor.getSnapshot())).toEqual(expect.arrayContaining(['work']));
  });

  it('reads state changes of the supervisor and of each worker from inspection events, and nothing from the others', async () => {
    const runtime = new FakeRuntime();
    const changes: StateChange[] = [];
    const seen: InspectionEvent['type'][] = [];
    const { actor } = startSupervisor(runtime, {}, {}, (event) => {
      seen.push(event.type);
      const change = readStateChange(event);
      if (change) changes.push(change);
    });
    await settle();
    actor.send({ type: 'task.submit', task: request('a') });
    const ranA = readPoolView(actor.getSnapshot()).workers.find((w) => w.taskId === 'a')?.id as string;
    runtime.result(ranA, 'a');
    await settle();
    // Events and microsteps were inspected too, and read as no change.
    expect(seen).toEqual(expect.arrayContaining(['@xstate.event', '@xstate.snapshot']));
    expect(changes).toContainEqual({ actor: 'supervisor', path: 'running', state: 'running' });
    const ofA = changes.filter((c) => c.actor === ranA).map((c) => `${c.state} ${c.path}`);
    expect(ofA).toEqual(expect.arrayContaining(['idle alive.idle', 'busy alive.running.busy']));
    expect(ofA.lastIndexOf('idle alive.idle')).toBeGreaterThan(ofA.indexOf('busy alive.running.busy'));
    expect(changes.every((c) => c.actor === 'supervisor' || /^worker-\d$/.test(c.actor))).toBe(true);
  });

  it('writes a state path with every level, as the dashboard and the event stream show it', () => {
    expect(statePath('idle')).toBe('idle');
    expect(statePath({ alive: { running: 'monitoring' } })).toBe('alive.running.monitoring');
    expect(statePath({ degraded: 'waiting' })).toBe('degraded.waiting');
  });
});
