import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createPool, PoolDegradedError, type Pool } from '../src/index.js';
import { eventually, fixture, isAlive, liveWorkerChildren } from './support/processes.js';

const pools: Pool[] = [];
const dirs: string[] = [];

afterEach(async () => {
  await Promise.all(pools.splice(0).map((pool) => pool.close({ drainTimeoutMs: 0 })));
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  expect(liveWorkerChildren()).toEqual([]);
});

describe('startTimeoutMs', () => {
  it.each(['process', 'thread'] as const)('ends a worker that never says ready and counts it as a failed start (%s)', async (backend) => {
    const dir = mkdtempSync(join(tmpdir(), 'poolvisor-start-timeout-'));
    dirs.push(dir);
    const pidFile = join(dir, 'pids');
    const started = Date.now();
    const pool = await createPool({
      backend,
      task: fixture('slowToLoad.mjs'),
      maxWorkers: 1,
      spareWorkers: 0,
      startTimeoutMs: 300,
      // Two failed starts and the pool gives up: each is counted, none retried for ever.
      restart: { backoffMs: 1, maxBackoffMs: 2, maxRestarts: 1, windowMs: 60_000 },
      ...(backend === 'process' ? { env: { POOLVISOR_TEST_PID_FILE: pidFile } } : {}),
    });
    pools.push(pool);
    // Two starts of 300 ms each, not the 30 s default.
    expect(Date.now() - started).toBeLessThan(15_000);
    const status = pool.status();
    expect(status.state).toBe('degraded');
    expect(status.degraded).toMatchObject({
      workerId: 'worker-0',
      reason: expect.stringMatching(/worker-0 failed to start 2 times/),
      lastError: { code: 'ERR_WORKER_START_TIMEOUT', message: expect.stringContaining('did not become ready within 300 ms') },
    });
    const error = await pool.run('echo', 1).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PoolDegradedError);
    expect((error as Error).message).toContain('did not become ready within 300 ms');
    if (backend === 'process') {
      // Each hung worker was ended, not left behind.
      const pids = readFileSync(pidFile, 'utf8').trim().split('\n').map(Number);
      expect(pids.length).toBeGreaterThanOrEqual(2);
      expect(await eventually(() => pids.every((pid) => !isAlive(pid)), 5000)).toBe(true);
    }
  });

  it('lets a worker slow to load start when it is ready within startTimeoutMs', async () => {
    const pool = await createPool({
      task: fixture('slowToLoad.mjs'),
      maxWorkers: 1,
      spareWorkers: 0,
      startTimeoutMs: 20_000,
      env: { POOLVISOR_TEST_LOAD_MS: '500' },
    });
    pools.push(pool);
    expect(pool.status()).toMatchObject({ state: 'running', degraded: undefined });
    expect(await pool.run('echo', 1)).toBe(1);
  });
});
