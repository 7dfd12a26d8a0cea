import { readFileSync } from 'node:fs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, createPool, NoMatchingDeviceError, WorkerMemoryError, type Pool, type PoolOptions } from '../src/index.js';
import { FakeNvidiaSmi } from './support/fakeNvidiaSmi.js';
import { eventually, fixture, isAlive, liveWorkerChildren } from './support/processes.js';

const MiB = 1024 * 1024;
let smi: FakeNvidiaSmi;
const pools: Pool[] = [];

beforeAll(() => {
  smi = new FakeNvidiaSmi();
});
afterAll(() => smi.restore());
afterEach(async () => {
  smi.fail(undefined);
  smi.gpus(2);
  smi.apps({});
  await Promise.all(pools.splice(0).map((pool) => pool.close({ drainTimeoutMs: 0 })));
  expect(liveWorkerChildren()).toEqual([]);
});

async function open(options: Partial<PoolOptions>): Promise<Pool> {
  const pool = await createPool({ task: fixture('tasks.mjs'), killGraceMs: 200, spareWorkers: 0, ...options });
  pools.push(pool);
  return pool;
}

describe('devices', () => {
  it('binds worker i to devices[i % n] and gives each its CUDA_VISIBLE_DEVICES', async () => {
    smi.gpus(2);
    const pool = await open({ maxWorkers: 4, devices: ['cpu', 'cuda:0', 'cuda:1'] });
    expect(pool.status().workers.map((w) => w.device)).toEqual(['cpu', 'cuda:0', 'cuda:1', 'cpu']);
    expect(await pool.run('cudaVisibleDevices', null, { device: 'cpu' })).toMatchObject({ visible: '', device: 'cpu' });
    expect(await pool.run('cudaVisibleDevices', null, { device: 'cuda:1' })).toMatchObject({ visible: '1', device: 'cuda:1', workerId: 'worker-2' });
    const anyGpu = await pool.run<{ visible: string; device: string }>('cudaVisibleDevices', null, { device: 'cuda' });
    expect(['0', '1']).toContain(anyGpu.visible);
    expect(anyGpu.device).toBe(`cuda:${anyGpu.visible}`);
    const lease = await pool.acquire({ device: 'cuda:0' });
    expect(await lease.run('cudaVisibleDevices')).toMatchObject({ visible: '0' });
    lease.release();
  });

  it('takes an explicit device per worker', async () => {
    smi.gpus(1);
    const pool = await open({ workerDevices: ['cuda:0', 'cuda:0', 'cpu'] });
    expect(pool.status().workers.map((w) => [w.id, w.device])).toEqual([
      ['worker-0', 'cuda:0'],
      ['worker-1', 'cuda:0'],
      ['worker-2', 'cpu'],
    ]);
  });

  it('fails a request no worker can serve at once, naming the devices the pool has', async () => {
    const pool = await open({ maxWorkers: 1, devices: ['cpu'] });
    const error = await pool.run('echo', 1, { device: 'cuda' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NoMatchingDeviceError);
    expect(error).toMatchObject({ code: 'ERR_NO_MATCHING_DEVICE', requested: 'cuda', devices: ['cpu'] });
    await expect(pool.acquire({ device: 'cuda:0' })).rejects.toBeInstanceOf(NoMatchingDeviceError);
    await expect(pool.run('echo', 1, { device: 'gpu' })).rejects.toThrow("device: expected 'cpu', 'cuda' or 'cuda:N', got \"gpu\"");
  });

  it('rejects a GPU the host does not have, listing the ones it has', async () => {
    smi.gpus(2);
    const error = await createPool({ task: fixture('tasks.mjs'), devices: ['cpu', 'cuda:3'] }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).message).toBe(
      'devices: expected devices this host has (cuda:0 (NVIDIA H200), cuda:1 (NVIDIA H200)), got cuda:3',
    );
  });

  it('refuses GPU devices when nvidia-smi fails, unless discovery is turned off; then says limits are unenforced', async () => {
    smi.fail('NVIDIA-SMI has failed because it could not communicate with the NVIDIA driver.');
    const refused = await createPool({ task: fixture('tasks.mjs'), devices: ['cuda:0'] }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(ConfigError);
    expect((refused as ConfigError).message).toContain('could not communicate with the NVIDIA driver');
    expect((refused as ConfigError).message).toContain('gpuDiscovery: false');

    const warnings: Error[] = [];
    const onWarning = (warning: Error) => warnings.push(warning);
    process.on('warning', onWarning);
    const pool = await open({ maxWorkers: 1, devices: ['cuda:0'], gpuDiscovery: false, gpuMemoryLimitMb: 1000 });
    await new Promise((resolve) => setImmediate(resolve));
    process.off('warning', onWarning);
    expect(pool.status().gpu).toMatchObject({ sampling: false, reason: expect.stringContaining('could not communicate') });
    expect(warnings.map((w) => (w as Error & { code?: string }).code)).toContain('POOLVISOR_GPU_UNENFORCED');
    expect(await pool.run('echo', 'still runs')).toBe('still runs');
  });

  it('rejects a GPU memory limit for a pool without GPU workers', async () => {
    const error = await createPool({ task: fixture('tasks.mjs'), gpuMemoryLimitMb: 100 }).catch((e: unknown) => e);
    expect((error as ConfigError).issues[0]?.field).toBe('gpuMemoryLimitMb');
  });
});

describe('GPU memory limits', () => {
  it("kills a task whose process tree holds more GPU memory than allowed, attributed through nvidia-smi's pids", async () => {
    smi.gpus(1);
    const pool = await open({ workerDevices: ['cuda:0'], gpuMemoryLimitMb: 1000, memoryPollMs: 20 });
    const lease = await pool.acquire({ device: 'cuda:0' });
    const grandchild = await lease.run<number>('startGrandchild');
    const worker = pool.status().workers[0]?.pid as number;
    smi.apps({ [worker]: 300, [grandchild]: 400, 999_999: 50_000 }); // an unrelated process is not ours
    expect(await eventually(() => pool.status().workers[0]?.gpuBytes === 700 * MiB)).toBe(true);
    const running = lease.run('sleep', 20_000).catch((e: unknown) => e);
    smi.apps({ [worker]: 300, [grandchild]: 800 });
    const error = await running;
    expect(error).toBeInstanceOf(WorkerMemoryError);
    expect(error).toMatchObject({ resource: 'gpu', device: 'cuda:0', usedBytes: 1100 * MiB, limitBytes: 1000 * MiB, pid: worker });
    expect((error as WorkerMemoryError).samples.at(-1)?.gpuBytes).toBe(1100 * MiB);
    expect(await eventually(() => !isAlive(grandchild))).toBe(true);
    lease.release();
  });
});

describe('the host-memory guard, for real', () => {
  it('kills the newest task when a real allocation takes the host under its reserve', async () => {
    const availableMb = () => Number(/^MemAvailable:\s+(\d+) kB/m.exec(readFileSync('/proc/meminfo', 'utf8'))?.[1]) / 1024;
    const reserveMb = Math.round(availableMb() - 300);
    const pool = await open({ maxWorkers: 1, memoryLimitMb: 8192, memoryPollMs: 20, hostMemoryReserveMb: reserveMb });
    const error = await pool.run('growOffHeap', { everyMs: 5, chunkMiB: 2 }, { timeoutMs: 30_000 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(WorkerMemoryError);
    expect(error).toMatchObject({ resource: 'host', workerId: 'worker-0' });
    expect((error as WorkerMemoryError).rssBytes).toBeGreaterThan(50 * MiB);
    // Other test files share this host: wait until it is back over the reserve before asking for more.
    expect(await eventually(() => availableMb() > reserveMb + 50, 15_000)).toBe(true);
    expect(await pool.run('echo', 'recovered')).toBe('recovered');
  });
});
