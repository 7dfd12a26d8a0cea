import { afterEach, expect } from 'vitest';
import { createPool, type Pool, type PoolAuditEvent, type PoolOptions } from '../../src/index.js';
import { fixture, isAlive, liveWorkerChildren } from './processes.js';

/** The pids of a pool's workers now. */
export const workerPids = (pool: Pool) => pool.status().workers.map((w) => w.pid).filter((pid): pid is number => pid !== undefined);

/**
 * Pools over the fixture task module for a test file, each recording its audit trail.
 * After every test they are closed, and whatever they started is checked to be gone:
 * their workers, and every other worker process of this test file (spares included).
 */
export function openPools(defaults: Partial<PoolOptions> = {}) {
  const pools: Pool[] = [];
  afterEach(async () => {
    const all = pools.splice(0);
    const seen = all.flatMap(workerPids);
    await Promise.all(all.map((pool) => pool.close({ drainTimeoutMs: 0 })));
    for (const pid of seen) expect(isAlive(pid), `worker pid ${pid} still alive after close`).toBe(false);
    expect(liveWorkerChildren()).toEqual([]);
  });
  return async function open(options: Partial<PoolOptions> = {}): Promise<{ pool: Pool; events: PoolAuditEvent[] }> {
    const pool = await createPool({ task: fixture('tasks.mjs'), maxWorkers: 2, killGraceMs: 200, ...defaults, ...options });
    pools.push(pool);
    const events: PoolAuditEvent[] = [];
    pool.on('event', (event) => events.push(event));
    return { pool, events };
  };
}
