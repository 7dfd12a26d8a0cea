import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('..', import.meta.url));

/** Why this machine cannot run the real-GPU check (test/gpu/real-gpu.sh); undefined when it can. */
function whyNoRealGpu(): string | undefined {
  let gpus: string;
  try {
    gpus = execFileSync('nvidia-smi', ['-L'], { encoding: 'utf8', timeout: 10_000, stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (error) {
    return `no NVIDIA GPU on this machine (nvidia-smi -L failed: ${(error as Error).message.split('\n')[0]})`;
  }
  if (!/^GPU \d+:/m.test(gpus)) return `no NVIDIA GPU on this machine (nvidia-smi -L listed none: ${JSON.stringify(gpus.trim())})`;
  const nvcc = spawnSync('bash', ['-c', 'command -v nvcc || ls /usr/local/cuda/bin/nvcc /usr/local/cuda-*/bin/nvcc'], { encoding: 'utf8' });
  if (nvcc.status !== 0 && !existsSync(join(root, '.gpu-carry/prebuilt/gpu-grow'))) {
    return 'a GPU but no nvcc to build the CUDA programs (nor .gpu-carry/prebuilt from test/gpu/pack.sh)';
  }
  return undefined;
}

const skipped = whyNoRealGpu();
if (skipped !== undefined) console.log(`test/gpu.real.test.ts skipped: ${skipped}`);

interface CheckRecord {
  readonly id: string;
  readonly status: string;
  readonly summary: string;
  readonly reason?: string;
}

describe('GPU memory limits on a real GPU', () => {
  it.skipIf(skipped !== undefined)(
    `should pass every check of test/gpu/realGpuCheck.mjs${skipped === undefined ? '' : ` (skipped: ${skipped})`}`,
    () => {
      const out = mkdtempSync(join(tmpdir(), 'poolvisor-real-gpu-'));
      const run = spawnSync('bash', ['test/gpu/real-gpu.sh'], { cwd: root, env: { ...process.env, OUT: out }, encoding: 'utf8', timeout: 290_000 });
      const log = `${run.stdout}${run.stderr}`.slice(-4000);
      expect(existsSync(join(out, 'real-gpu.json')), `real-gpu.sh wrote no report:\n${log}`).toBe(true);
      const report = JSON.parse(readFileSync(join(out, 'real-gpu.json'), 'utf8')) as { checks: CheckRecord[] };
      const failed = report.checks.filter((check) => check.status !== 'pass').map((check) => `${check.id} ${check.status}: ${check.reason ?? check.summary}`);
      expect(failed, `see ${out}/real-gpu.txt`).toEqual([]);
      expect(run.status, log).toBe(0);
    },
    300_000,
  );
});
