// What this machine charges for the poller's two kinds of work: a timer wake-up, and a
// /proc read (readFileSync against pread on a kept-open descriptor). Run: node test/bench/syscallCost.mjs
import { openSync, readFileSync, readSync } from 'node:fs';

const buffer = Buffer.alloc(4096);
const fd = openSync('/proc/self/statm', 'r');
const perCall = (fn, n = 5000) => {
  const t0 = performance.now();
  for (let i = 0; i < n; i += 1) fn();
  return ((performance.now() - t0) * 1000) / n;
};
console.log(`readFileSync /proc/self/statm: ${perCall(() => readFileSync('/proc/self/statm')).toFixed(1)} µs`);
console.log(`pread on an open fd:          ${perCall(() => readSync(fd, buffer, 0, buffer.length, 0)).toFixed(1)} µs`);

const cpu0 = process.cpuUsage();
const t0 = performance.now();
const timer = setInterval(() => {}, 12.5);
setTimeout(() => {
  clearInterval(timer);
  const cpu = process.cpuUsage(cpu0);
  console.log(`an empty 80 Hz interval:      ${(((cpu.user + cpu.system) / 1000 / (performance.now() - t0)) * 100).toFixed(2)} % of a core`);
}, 3000);
