// Impersonates gpu-grow and gpu-fixed for dry runs without a GPU (the stand-in nvcc
// makes the "binaries" run this): the same arguments, the same output lines, and the
// "GPU memory" it holds written to $FAKE_GPU_DIR/apps/<pid>, where the stand-in
// nvidia-smi lists it while this process runs. A CUDA context is taken to cost 500 MiB.
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const CONTEXT_MIB = 500;
const INIT_MS = 300;
const [program, ...args] = process.argv.slice(2);
const dir = join(process.env.FAKE_GPU_DIR ?? '/tmp/fake-gpu', 'apps');
mkdirSync(dir, { recursive: true });
const file = join(dir, String(process.pid));
/** @param {number} mib */
const hold = (mib) => writeFileSync(file, String(mib));
/** @param {string} line */
const say = (line) => process.stdout.write(`${program} ${line}\n`);
/** @param {number} ms */
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

const visible = process.env.CUDA_VISIBLE_DEVICES;
say(`pid=${process.pid} t=${Date.now()} CUDA_VISIBLE_DEVICES=${visible ?? '(unset)'}`);
if (visible === '') {
  say(`no-device t=${Date.now()} error=cudaErrorNoDevice (no CUDA-capable device is detected, code 100) count=0`);
  process.exit(3);
}
await sleep(INIT_MS);
hold(CONTEXT_MIB);
say(`device t=${Date.now()} name="NVIDIA H200 (fake)" count=1`);

if (program === 'gpu-grow') {
  const [rate, chunk, max] = args.map(Number);
  if (!rate || !chunk || !max) throw new Error(`usage: gpu-grow <rate> <chunk> <max>, got ${args.join(' ')}`);
  const started = Date.now();
  let allocated = 0;
  while (allocated + chunk <= max) {
    allocated += chunk;
    hold(CONTEXT_MIB + allocated);
    say(`step t=${Date.now()} allocated_mib=${allocated}`);
    await sleep(started + ((allocated / chunk) * 1000 * chunk) / rate - Date.now());
  }
  say(`holding t=${Date.now()} allocated_mib=${allocated}`);
  setInterval(() => {}, 60_000);
} else if (program === 'gpu-fixed') {
  const [mib, holdMs] = args.map(Number);
  hold(CONTEXT_MIB + (mib ?? 0));
  say(`holding t=${Date.now()} allocated_mib=${mib} sync=cudaSuccess`);
  await sleep(holdMs ?? 0);
  hold(CONTEXT_MIB);
  say(`freed t=${Date.now()}`);
  rmSync(file, { force: true });
} else {
  throw new Error(`expected gpu-grow or gpu-fixed, got ${program}`);
}
