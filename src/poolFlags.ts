import { ConfigError } from './errors.js';
import type { PoolOptions } from './config.js';

/**
 * The flags that shape a pool, as `parseArgs` options. `infer`, `serve` and `worker` take
 * them alike and read them with {@link poolOptionsFromFlags}, so a flag means the same and
 * fails with the same message in each.
 */
export const POOL_FLAGS = {
  workers: { type: 'string' },
  timeout: { type: 'string' },
  memory: { type: 'string' },
  devices: { type: 'string' },
  backend: { type: 'string' },
} as const;

/** What the long-running commands (`serve`, `worker`) add: any task module, and a drain on SIGTERM. */
export const SERVICE_FLAGS = {
  task: { type: 'string' },
  'drain-timeout': { type: 'string' },
} as const;

export type PoolFlagValues = Partial<Record<keyof typeof POOL_FLAGS | keyof typeof SERVICE_FLAGS, string | undefined>>;

/**
 * A whole number (at least `min`), or a ConfigError naming where the value came from
 * (`--workers`, `POOLVISOR_WORKERS`) and what it was.
 */
export function wholeNumber(source: string, value: string | undefined, min = 0): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min) {
    const expected = min === 0 ? 'a whole number' : min === 1 ? 'a positive integer' : `an integer of at least ${min}`;
    throw new ConfigError([{ field: source, message: `expected ${expected}, got ${JSON.stringify(value)}`, received: value }]);
  }
  return n;
}

/** A flag's value, else its POOLVISOR_<NAME> variable's, and the name of the one it came from. */
export function flagOrEnv(flag: string, values: Readonly<Record<string, string | undefined>>, env: NodeJS.ProcessEnv): { value: string | undefined; source: string } {
  const value = values[flag];
  if (value !== undefined) return { value, source: `--${flag}` };
  const variable = `POOLVISOR_${flag.toUpperCase().replaceAll('-', '_')}`;
  return { value: env[variable], source: variable };
}

/**
 * The pool options the flags set, over `base`. A flag wins over its POOLVISOR_<NAME>
 * environment variable (`POOLVISOR_WORKERS`, …), which wins over `base`; pass an empty
 * `env` for flags only.
 */
export function poolOptionsFromFlags(values: PoolFlagValues, env: NodeJS.ProcessEnv, base: Partial<PoolOptions> = {}): Partial<PoolOptions> {
  const read = (flag: keyof PoolFlagValues) => flagOrEnv(flag, values, env);
  // None of these can be 0: a pool needs a worker, a deadline and some memory.
  const positive = (flag: keyof PoolFlagValues) => {
    const { value, source } = read(flag);
    return wholeNumber(source, value, 1);
  };
  const pool: Partial<PoolOptions> = { ...base };
  const task = read('task').value;
  if (task) pool.task = task;
  const workers = positive('workers');
  if (workers !== undefined) pool.maxWorkers = workers;
  const timeout = positive('timeout');
  if (timeout !== undefined) pool.taskTimeoutMs = timeout;
  const memory = positive('memory');
  if (memory !== undefined) pool.memoryLimitMb = memory;
  const devices = read('devices').value;
  if (devices) pool.devices = devices.split(',').map((d) => d.trim());
  const backend = read('backend');
  if (backend.value) {
    if (backend.value !== 'process' && backend.value !== 'thread') {
      throw new ConfigError([{ field: backend.source, message: `expected process or thread, got ${JSON.stringify(backend.value)}`, received: backend.value }]);
    }
    pool.backend = backend.value;
  }
  return pool;
}
