// What one XState macrostep costs on this machine before any work of ours: tiny machines shaped
// like the parts of the worker machine a task goes through (a nested state entered and left, an
// assign, an `after` timer armed and cancelled, an eventless guard, an enqueueActions). A lone
// task takes four macrosteps (docs/benchmarks.md, "Latency"); this is the floor under them.
// Run: node test/bench/xstateFloor.mjs
import { assign, createActor, enqueueActions, setup } from 'xstate';

const EVENTS = 200_000;

function measure(label, machine, events) {
  const actor = createActor(machine).start();
  for (let i = 0; i < 20_000; i += 1) for (const event of events) actor.send(event);
  const before = process.cpuUsage();
  for (let i = 0; i < EVENTS; i += 1) for (const event of events) actor.send(event);
  const used = process.cpuUsage(before);
  actor.stop();
  console.log(`${label.padEnd(58)} ${((used.user + used.system) / EVENTS / events.length).toFixed(2)} µs of CPU per event`);
}

const toggle = [{ type: 'go' }, { type: 'back' }];
const nested = (running = {}, idle = {}) => ({
  initial: 'alive',
  states: {
    restarting: {},
    killed: {},
    alive: {
      initial: 'idle',
      states: {
        idle: { ...idle, on: { go: { target: 'running', ...(idle.onGo ?? {}) } } },
        running: { ...running, initial: 'busy', states: { busy: {}, monitoring: {} }, on: { back: 'idle' } },
      },
    },
  },
});

measure('two flat states, toggled', setup({}).createMachine({ initial: 'a', states: { a: { on: { go: 'b' } }, b: { on: { back: 'a' } } } }), toggle);
measure('alive.idle ⇄ alive.running.busy', setup({}).createMachine(nested()), toggle);
measure('the same, with an assign each way', setup({}).createMachine({
  context: { task: undefined, runs: 0 },
  ...nested({}, { entry: assign({ task: undefined }), onGo: { actions: assign({ task: ({ event }) => event, runs: ({ context }) => context.runs + 1 }) } }),
}), toggle);
measure('the same, with an `after` on running', setup({ delays: { deadline: () => 1e9 } }).createMachine(nested({ after: { deadline: { actions: () => {} } } })), toggle);
measure('two flat states, one with an eventless guard', setup({ guards: { never: () => false } }).createMachine({
  initial: 'a',
  states: { a: { always: { guard: 'never', target: 'c' }, on: { go: 'b' } }, b: { on: { back: 'a' } }, c: {} },
}), toggle);
measure('a self-transition with one enqueueActions emitting', setup({ actions: { emitOne: enqueueActions(({ enqueue }) => enqueue.emit({ type: 'done' })) } }).createMachine({
  initial: 'a',
  on: { go: { actions: 'emitOne' } },
  states: { a: {} },
}), [{ type: 'go' }]);
