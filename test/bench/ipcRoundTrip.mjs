// The transports alone, with no pool: round trips of a one-task `run` message to a child process
// (child_process IPC, both serializations) and to a worker thread (postMessage). The thread case
// runs twice: with the main thread asleep between messages, as a pool's is, and with its event loop
// kept busy by a setImmediate loop, which shows what waking a sleeping thread costs on this machine.
// The floor under the one-at-a-time round trip. Run: node test/bench/ipcRoundTrip.mjs
import { fork } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';

const ROUNDS = 3000;
const WARM_UP = 500;
const dir = mkdtempSync(join(tmpdir(), 'poolvisor-ipc-'));
const childEcho = join(dir, 'echo.mjs');
writeFileSync(childEcho, "process.on('message', (m) => process.send({ type: 'result', id: m.tasks[0].id, ok: true })); process.send('ready');\n");
const threadEcho =
  "const { parentPort } = require('node:worker_threads'); parentPort.on('message', (m) => parentPort.postMessage({ type: 'result', id: m.tasks[0].id, ok: true }));";
const median = (values) => values.sort((a, b) => a - b)[values.length >> 1];

/** `post` sends one message; the returned promise resolves at the reply. */
async function roundTrips(post, reply) {
  const times = [];
  for (let i = 0; i < ROUNDS; i += 1) {
    const t0 = performance.now();
    const answered = reply();
    post({ type: 'run', tasks: [{ id: String(i), name: 'noop', payload: null }] });
    await answered;
    if (i >= WARM_UP) times.push((performance.now() - t0) * 1000);
  }
  return median(times).toFixed(1);
}

for (const serialization of ['json', 'advanced']) {
  const child = fork(childEcho, [], { serialization });
  await new Promise((resolve) => child.once('message', resolve));
  const p50 = await roundTrips((m) => child.send(m), () => new Promise((resolve) => child.once('message', resolve)));
  child.kill();
  console.log(`child process (${serialization}): round trip p50 ${p50} µs`);
}

for (const busy of [false, true]) {
  const thread = new Worker(threadEcho, { eval: true });
  let keepBusy = busy;
  if (busy) (function spin() { if (keepBusy) setImmediate(spin); })();
  const p50 = await roundTrips((m) => thread.postMessage(m), () => new Promise((resolve) => thread.once('message', resolve)));
  keepBusy = false;
  await thread.terminate();
  console.log(`worker thread, main thread ${busy ? 'kept busy' : 'asleep between messages'}: round trip p50 ${p50} µs`);
}
