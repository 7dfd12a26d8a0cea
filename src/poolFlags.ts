import { ConfigError } from './errors.js';
import type { PoolOptions } from './config.js';

/** The pool flags `serve` and `worker` share, as `parseArgs` options. */
export const POOL_FLAGS = {
  task: { type: 'string' },
  workers: { type: 'string' },
  timeout: { type: 'string' },
  memory: { type: 'string' },
  devices: { type: 'string' },
  backend: { type: 'string' },
  'drain-timeout': { type: 'string' },
} as const;

export type PoolFlagValues = Partial<Record<keyof typeof POOL_FLAGS, string | undefined>>;

/** A flag's value as a whole number, or a ConfigError naming the flag and what it got. */
export function wholeNumber(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new ConfigError([{ field: name, message: `expected a whole number, got ${JSON.stringify(value)}`, received: value }]);
  return n;
}

/**
 * The pool options the flags set, over `base`. A flag wins over its POOLVISOR_<NAME>
 * environment variable (`POOLVISOR_WORKERS`, …), which wins over `base`.
 */
export function poolOptionsFromFlags(values: PoolFlagValues, env: NodeJS.ProcessEnv, base: Partial<PoolOptions> = {}): Partial<PoolOptions> {
  const pick = (flag: string | undefined, name: string) => flag ?? env[`POOLVISOR_${name}`];
  const pool: Partial<PoolOptions> = { ...base };
  const task = pick(values.task, 'TASK');
  if (task) pool.task = task;
  const workers = wholeNumber('workers', pick(values.workers, 'WORKERS'));
  if (workers !== undefined) pool.maxWorkers = workers;
  const timeout = wholeNumber('timeout', pick(values.timeout, 'TIMEOUT'));
  if (timeout !== undefined) pool.taskTimeoutMs = timeout;
  const memory = wholeNumber('memory', pick(values.memory, 'MEMORY'));
  if (memory !== undefined) pool.memoryLimitMb = memory;
  const devices = pick(values.devices, 'DEVICES');
  if (devices) pool.devices = devices.split(',').map((d) => d.trim());
  const backend = pick(values.backend, 'BACKEND');
  if (backend) pool.backend = backend as PoolOptions['backend'];
  return pool;
}
