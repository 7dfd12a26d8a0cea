import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { ConfigError, createPool, PoolDegradedError, type Pool, type PoolOptions } from '../src/index.js';
import { threadExecArgv } from '../src/runtime/threadExecArgv.js';
import { fixture } from './support/processes.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const pools: Pool[] = [];

/** A pool that gives up after two failed starts, so a test of a start failure is quick. */
async function open(options: Partial<PoolOptions>): Promise<Pool> {
  const pool = await createPool({
    task: fixture('tasks.mjs'),
    maxWorkers: 1,
    spareWorkers: 0,
    restart: { backoffMs: 1, maxBackoffMs: 2, maxRestarts: 1, windowMs: 30_000 },
    ...options,
  });
  pools.push(pool);
  return pool;
}

afterEach(async () => {
  await Promise.all(pools.splice(0).map((pool) => pool.close({ drainTimeoutMs: 0 })));
});

describe('a worker that cannot start says why', () => {
  it.each(['thread', 'process'] as const)("names the task module's own load error, as the cause (%s)", async (backend) => {
    const pool = await open({ backend, task: fixture('brokenOnLoad.mjs') });
    const lastError = pool.status().degraded?.lastError;
    expect(lastError).toMatchObject({ code: 'ERR_TASK_MODULE_LOAD', message: expect.stringContaining('this module is broken on purpose') });
    expect(lastError?.cause).toMatchObject({ name: 'SyntaxError', message: 'this module is broken on purpose', stack: expect.stringContaining('brokenOnLoad.mjs') });
    const error = await pool.run('echo', 1).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PoolDegradedError);
    expect((error as PoolDegradedError).message).toContain('this module is broken on purpose');
  });

  it('refuses a thread heap limit too small to start in, naming the field', async () => {
    // A heap too small for Node to boot in: the thread fails before our entry can report anything.
    const error = await open({ backend: 'thread', memoryLimitMb: 2 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).issues).toMatchObject([{ field: 'memoryLimitMb', received: 2, message: expect.stringContaining('its heap ran out while it loaded the task module') }]);
  });

  it.each([
    [['--no-such-flag'], 'node: bad option: --no-such-flag'],
    [['--import', 'data:text/javascript,throw new TypeError("preload broke")'], 'TypeError: preload broke'],
  ])('names what a process printed when it died before its task module was loaded (%j)', async (execArgv, printed) => {
    const pool = await open({ backend: 'process', execArgv });
    expect(pool.status().degraded?.lastError?.message).toContain(printed);
    expect((await pool.run('echo', 1).catch((e: unknown) => e) as Error).message).toContain(printed);
  });
});

describe('workers under the host’s own Node options', () => {
  it('start in a host run as `node --no-deprecation --input-type=module -e`, and a thread gets the options that apply to it', () => {
    const script = `
      import { createPool } from 'poolvisor';
      const task = new URL('./test/fixtures/tasks.mjs', 'file://${root}');
      const seen = {};
      for (const backend of ['thread', 'process']) {
        const pool = await createPool({ backend, task, maxWorkers: 1, spareWorkers: 0, restart: { backoffMs: 1, maxBackoffMs: 2, maxRestarts: 1 } });
        seen[backend] = await pool.run('execArgv').catch((error) => error.message);
        await pool.close();
      }
      console.log(JSON.stringify(seen));
    `;
    const result = spawnSync(process.execPath, ['--no-deprecation', '--input-type=module', '-e', script], { cwd: root, encoding: 'utf8', timeout: 60_000 });
    expect(result.stderr).toBe('');
    // A process worker gets the pool's execArgv option (none here), never the host's.
    expect(JSON.parse(result.stdout)).toEqual({ thread: ['--no-deprecation'], process: [] });
  });

  it('keeps module loading, language switches and error reporting; drops what the host runs, its tools and process-wide settings', () => {
    const host = [
      '--import', 'tsx', '-r', 'dotenv/config', '--conditions=development', '--enable-source-maps',
      '--experimental-vm-modules', '--unhandled-rejections=strict',
      '--input-type=module', '-e', '-1', '-p', 'x', '--inspect=0', '--inspect-brk', '--prof', '--cpu-prof',
      '--max-old-space-size=4096', '--title', 'host', '--stack-trace-limit=50', '--experimental-sea-config=sea.json',
    ];
    expect(threadExecArgv(host)).toEqual([
      '--import', 'tsx', '-r', 'dotenv/config', '--conditions=development', '--enable-source-maps',
      '--experimental-vm-modules', '--unhandled-rejections=strict',
    ]);
  });
});
