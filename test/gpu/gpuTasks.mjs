// The task module of realGpuCheck.mjs. Each GPU task runs a CUDA program
// (gpu-grow.cu, gpu-fixed.cu, built by real-gpu.sh) as a child of the worker, so the GPU
// memory belongs to a process in the worker's tree: the case the pool's poller must
// attribute through nvidia-smi's pids. The programs are found through GPU_GROW_BIN and
// GPU_FIXED_BIN, which workers inherit from the pool's process.
import { spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';

/** @param {'GPU_GROW_BIN' | 'GPU_FIXED_BIN'} variable */
function program(variable) {
  const path = process.env[variable];
  if (!path) throw new Error(`${variable} is not set: real-gpu.sh sets it to the program it built`);
  return path;
}

export async function noop() {}

/** CUDA_VISIBLE_DEVICES as this worker sees it (the pool sets it per device). */
export async function env() {
  return process.env.CUDA_VISIBLE_DEVICES ?? null;
}

/**
 * Runs gpu-fixed: allocates `mib`, holds it `holdMs`, frees it. Resolves with what the
 * program printed; rejects, with that output, when it exits otherwise than 0 (no device).
 * @param {{ mib: number, holdMs: number }} payload
 */
export function gpuFixed({ mib, holdMs }) {
  const child = spawn(program('GPU_FIXED_BIN'), [String(mib), String(holdMs)], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (chunk) => (output += chunk));
  child.stderr.on('data', (chunk) => (output += chunk));
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code, signal) => {
      if (code === 0) resolve({ output, workerPid: process.pid, childPid: child.pid });
      else reject(new Error(`gpu-fixed exited with code ${code}, signal ${signal}; it printed: ${output.trim()}`));
    });
  });
}

/**
 * Runs gpu-grow, a runaway: it allocates `rateMiBps` in `chunkMiB` steps up to `maxMiB`
 * and holds it. Never resolves: the pool must kill it. Its output goes to `logFile`, which
 * outlives the kill. Rejects if the program exits by itself (no device, a bad argument).
 * @param {{ rateMiBps: number, chunkMiB: number, maxMiB: number, logFile: string }} payload
 */
export function gpuGrow({ rateMiBps, chunkMiB, maxMiB, logFile }) {
  const log = openSync(logFile, 'w');
  const child = spawn(program('GPU_GROW_BIN'), [String(rateMiBps), String(chunkMiB), String(maxMiB)], { stdio: ['ignore', log, log] });
  closeSync(log);
  return new Promise((_resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code, signal) => {
      const printed = readFileSync(logFile, 'utf8').trim().split('\n').slice(-5).join(' | ');
      reject(new Error(`gpu-grow exited by itself with code ${code}, signal ${signal}; it printed: ${printed}`));
    });
  });
}
