// The transport alone: a bare child_process round trip of a one-task `run` message, with no pool.
// The floor under the process backend's one-at-a-time round trip. Run: node test/bench/ipcRoundTrip.mjs
import { fork } from 'node:child_process';
import { writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const dir = mkdtempSync(join(tmpdir(), 'poolvisor-ipc-'));
const echo = join(dir, 'echo.mjs');
writeFileSync(echo, "process.on('message', (m) => process.send({ type: 'result', id: m.tasks[0].id, ok: true })); process.send('ready');\n");
const median = (values) => values.sort((a, b) => a - b)[values.length >> 1];

for (const serialization of ['json', 'advanced']) {
  const child = fork(echo, [], { serialization });
  await new Promise((resolve) => child.once('message', resolve));
  const send = [];
  const roundTrip = [];
  for (let i = 0; i < 3000; i += 1) {
    const t0 = performance.now();
    child.send({ type: 'run', tasks: [{ id: String(i), name: 'noop', payload: null }] });
    const t1 = performance.now();
    await new Promise((resolve) => child.once('message', resolve));
    if (i < 500) continue; // warm-up
    send.push((t1 - t0) * 1000);
    roundTrip.push((performance.now() - t0) * 1000);
  }
  child.kill();
  console.log(`${serialization}: child.send ${median(send).toFixed(1)} µs, round trip p50 ${median(roundTrip).toFixed(1)} µs`);
}
