// Where a lone task's time goes, step by step, and where a deadline's rejection comes late.
// Run: node test/bench/loneTask.mjs [--backend thread|process] [--tasks N] (after `npm run build`)
//
// Round trip: each of N no-op tasks is run alone (after 500 to warm up), with timestamps taken
// where the pool hands the task to the transport (Worker#postMessage, ChildProcess#send), where
// the result message comes back (the 'message' event), and where `await pool.run()` returns.
// The three spans: the pool's way down (run() → supervisor → worker machine → connection), the
// transport and the task (both ways, and the worker's side), and the pool's way back (connection
// → worker machine → supervisor → the promise).
//
// Deadline: ten `for(;;){}` tasks with a 200 ms deadline, one at a time, each split by the pool's
// own audit events into: the dispatch (run() → task.started), the timer (task.started →
// worker.killed, less the 200 ms), and the settlement (worker.killed → the rejection observed).
import childProcess, { ChildProcess } from 'node:child_process';
import { syncBuiltinESMExports } from 'node:module';
import { PerformanceObserver } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { Worker } from 'node:worker_threads';
import { createPool } from '../../dist/src/index.js';

const { values } = parseArgs({ options: { backend: { type: 'string', default: 'thread' }, tasks: { type: 'string', default: '5000' } } });
const backend = values.backend;
const TASKS = new URL('./peers/tasks.mjs', import.meta.url);

let handedOver = 0;
let resultArrived = 0;
const isResult = (message) => message !== null && typeof message === 'object' && message.type === 'result';
const postMessage = Worker.prototype.postMessage;
Worker.prototype.postMessage = function (...args) {
  handedOver = performance.now();
  return postMessage.apply(this, args);
};
// A child's `send` is its own property, set up with its IPC channel: wrapped on each child forked.
const fork = childProcess.fork;
childProcess.fork = (...forkArgs) => {
  const child = fork(...forkArgs);
  const send = child.send;
  child.send = function (...args) {
    handedOver = performance.now();
    return send.apply(this, args);
  };
  return child;
};
syncBuiltinESMExports();
for (const Class of [Worker, ChildProcess]) {
  const emit = Class.prototype.emit;
  Class.prototype.emit = function (type, ...args) {
    if (type === 'message' && isResult(args[0])) resultArrived = performance.now();
    return emit.call(this, type, ...args);
  };
}

const quantile = (xs, q) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(q * xs.length))];
const show = (label, xs, unit, digits) => console.log(`  ${label.padEnd(48)} p50 ${quantile(xs, 0.5).toFixed(digits).padStart(7)} ${unit}   p99 ${quantile(xs, 0.99).toFixed(digits).padStart(7)} ${unit}`);

const pool = await createPool({ task: TASKS, maxWorkers: 2, backend, taskTimeoutMs: 2_147_483_647 });
for (let i = 0; i < 500; i += 1) await pool.run('noop');
const down = [];
const across = [];
const back = [];
const total = [];
const count = Number(values.tasks);
// The main thread's garbage collections during the loop: what the tail is made of.
const pauses = [];
const gcObserver = new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) pauses.push(entry.duration * 1000);
});
gcObserver.observe({ entryTypes: ['gc'] });
for (let i = 0; i < count; i += 1) {
  const t0 = performance.now();
  await pool.run('noop');
  const t3 = performance.now();
  down.push((handedOver - t0) * 1000);
  across.push((resultArrived - handedOver) * 1000);
  back.push((t3 - resultArrived) * 1000);
  total.push((t3 - t0) * 1000);
}
await new Promise((resolve) => setImmediate(resolve));
gcObserver.disconnect();
console.log(`${backend} backend, ${count} no-op tasks one at a time:`);
show('run() → handed to the transport', down, 'µs', 1);
show('transport, task and worker, both ways', across, 'µs', 1);
show('result message → await pool.run() returns', back, 'µs', 1);
show('round trip', total, 'µs', 1);
const longest = pauses.length > 0 ? Math.max(...pauses) : 0;
console.log(
  `  main-thread GC: ${pauses.length} pauses (${((pauses.length / count) * 100).toFixed(1)} per 100 tasks), p50 ${pauses.length > 0 ? quantile(pauses, 0.5).toFixed(0) : 0} µs, longest ${longest.toFixed(0)} µs; rounds over 500 µs: ${total.filter((t) => t > 500).length}`,
);

const marks = new Map();
pool.on('event', (event) => {
  if (!marks.has(event.type)) marks.set(event.type, performance.now());
});
const dispatch = [];
const timer = [];
const settle = [];
const late = [];
for (let i = 0; i < 10; i += 1) {
  marks.clear();
  const t0 = performance.now();
  await pool.run('spin', undefined, { timeoutMs: 200 }).catch(() => {});
  const rejectedAt = performance.now();
  dispatch.push(marks.get('task.started') - t0);
  timer.push(marks.get('worker.killed') - marks.get('task.started') - 200);
  settle.push(rejectedAt - marks.get('worker.killed'));
  late.push(rejectedAt - t0 - 200);
}
await pool.close();
console.log(`${backend} backend, 10 spinning tasks with a 200 ms deadline, one at a time:`);
show('run() → task.started (dispatch)', dispatch, 'ms', 2);
show('task.started → worker.killed, past 200 ms (timers)', timer, 'ms', 2);
show('worker.killed → rejection observed (settlement)', settle, 'ms', 2);
show('rejection, past 200 ms from run()', late, 'ms', 2);
