import { z } from 'zod';
import { DEFAULT_MEMORY_LIMIT_MB, DEFAULT_TASK_TIMEOUT_MS, int, parseOptions, poolOptionsSchema } from '../config.js';

/**
 * What a service in front of a cluster needs besides its edge: where the cluster is, the
 * caps a client's task options may not pass, and the bounds on what it waits for. The same
 * schema checks `createClusterService`'s options and the config file of `poolvisor serve --redis`.
 */
export const clusterServiceSchema = z.strictObject({
  /** `redis://[user:pass@]host:port[/db]`. */
  redis: z.string({ error: 'expected a redis:// URL' }).regex(/^redis:\/\/[^\s]+$/, { error: 'expected a redis:// URL' }),
  /** The cluster queue: jobs go to `<queue>.cpu` and `<queue>.cuda` (BullMQ refuses `:` in a queue name). */
  queue: z.string({ error: 'expected a queue name' }).regex(/^[A-Za-z0-9._-]{1,100}$/, { error: 'expected 1 to 100 letters, digits, dots, dashes or underscores' }),
  /** The most a task's `timeoutMs` may ask for (default 300000, the pool's default deadline). The hosts' own caps apply too. */
  maxTaskTimeoutMs: poolOptionsSchema.shape.maxTaskTimeoutMs.default(DEFAULT_TASK_TIMEOUT_MS),
  /** The most a task's `memoryLimitMb` may ask for (default 2048, the pool's default limit). */
  maxTaskMemoryLimitMb: poolOptionsSchema.shape.maxTaskMemoryLimitMb.default(DEFAULT_MEMORY_LIMIT_MB),
  /** `?wait=true` requests whose task has not settled, at once; one more gets 429 (default 1024). */
  maxWaitingRequests: int(1, 'an integer from 1 to 1000000', 1_000_000).default(1024),
  /** How long a request waits for Redis before it answers 503 `ERR_REDIS_UNAVAILABLE` (default 5000). */
  redisTimeoutMs: int(1, 'an integer from 1 to 600000 (ms)', 600_000).default(5000),
  /** How often the hosts and queue counts are read for the `cluster` event (default 1000). */
  statusIntervalMs: int(50, 'an integer from 50 to 600000 (ms)', 600_000).default(1000),
});

export type ClusterServiceSettings = z.output<typeof clusterServiceSchema>;
export type ClusterServiceSettingsInput = z.input<typeof clusterServiceSchema>;

export function resolveClusterSettings(input: ClusterServiceSettingsInput): ClusterServiceSettings {
  return parseOptions(clusterServiceSchema, input);
}
