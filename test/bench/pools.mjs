// One adapter per pool under test: create(options) → { run(name, payload, { timeoutMs }), close(), childPids() }.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import Piscina from 'piscina';
import Tinypool from 'tinypool';
import workerpool from 'workerpool';
import { createPool } from 'poolvisor';

const TASKS = new URL('./peers/tasks.mjs', import.meta.url);
const WORKERPOOL_WORKER = fileURLToPath(new URL('./peers/workerpoolWorker.cjs', import.meta.url));
const FOREVER = 2_147_483_647;

/** Pids of this process's children (process pools' workers). */
export function childPids() {
  try {
    return readFileSync(`/proc/${process.pid}/task/${process.pid}/children`, 'utf8').trim().split(' ').filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

const withTimeout = (timeoutMs) => (timeoutMs ? { signal: AbortSignal.timeout(timeoutMs) } : {});

export const POOLS = {
  'poolvisor-thread': { kind: 'thread', peer: false },
  'poolvisor-process': { kind: 'process', peer: false },
  piscina: { kind: 'thread', peer: true },
  'tinypool-thread': { kind: 'thread', peer: true },
  'tinypool-process': { kind: 'process', peer: true },
  'workerpool-thread': { kind: 'thread', peer: true },
  'workerpool-process': { kind: 'process', peer: true },
};

export async function createBenchPool(name, { workers = 2, memoryLimitMb, task = TASKS, maxQueue = 1_000_000 } = {}) {
  switch (name) {
    case 'poolvisor-thread':
    case 'poolvisor-process': {
      const pool = await createPool({
        task,
        maxWorkers: workers,
        maxQueue,
        backend: name === 'poolvisor-thread' ? 'thread' : 'process',
        taskTimeoutMs: FOREVER,
        ...(memoryLimitMb ? { memoryLimitMb } : {}),
      });
      return { run: (fn, payload, { timeoutMs } = {}) => pool.run(fn, payload, timeoutMs ? { timeoutMs } : undefined), close: () => pool.close({ drainTimeoutMs: 0 }), pool };
    }
    case 'piscina': {
      const pool = new Piscina({
        filename: task.href,
        minThreads: workers,
        maxThreads: workers,
        idleTimeout: FOREVER,
        ...(memoryLimitMb ? { resourceLimits: { maxOldGenerationSizeMb: memoryLimitMb } } : {}),
      });
      return { run: (fn, payload, { timeoutMs } = {}) => pool.run(payload, { name: fn, ...withTimeout(timeoutMs) }), close: () => pool.destroy() };
    }
    case 'tinypool-thread':
    case 'tinypool-process': {
      const pool = new Tinypool({
        filename: task.href,
        minThreads: workers,
        maxThreads: workers,
        runtime: name === 'tinypool-thread' ? 'worker_threads' : 'child_process',
        ...(memoryLimitMb && name === 'tinypool-thread' ? { resourceLimits: { maxOldGenerationSizeMb: memoryLimitMb } } : {}),
      });
      return { run: (fn, payload, { timeoutMs } = {}) => pool.run(payload, { name: fn, ...withTimeout(timeoutMs) }), close: () => pool.destroy() };
    }
    case 'workerpool-thread':
    case 'workerpool-process': {
      const pool = workerpool.pool(task === TASKS ? WORKERPOOL_WORKER : fileURLToPath(task), {
        minWorkers: workers,
        maxWorkers: workers,
        workerType: name === 'workerpool-thread' ? 'thread' : 'process',
        ...(memoryLimitMb && name === 'workerpool-thread' ? { workerThreadOpts: { resourceLimits: { maxOldGenerationSizeMb: memoryLimitMb } } } : {}),
        ...(memoryLimitMb && name === 'workerpool-process' ? { forkOpts: { execArgv: [`--max-old-space-size=${memoryLimitMb}`] } } : {}),
      });
      return {
        run: (fn, payload, { timeoutMs } = {}) => {
          const promise = pool.exec(fn, payload === undefined ? [] : [payload]);
          return Promise.resolve(timeoutMs ? promise.timeout(timeoutMs) : promise);
        },
        close: () => pool.terminate(true),
      };
    }
    default:
      throw new Error(`unknown pool ${name}; known: ${Object.keys(POOLS).join(', ')}`);
  }
}
