import { z } from 'zod';
import { DEFAULT_MEMORY_LIMIT_MB, DEFAULT_TASK_TIMEOUT_MS, int, parseOptions, poolOptionsSchema } from '../config.js';

const redisUrl = z.string({ error: 'expected a redis:// URL' }).regex(/^redis:\/\/[^\s]+$/, { error: 'expected a redis:// URL' });
// BullMQ refuses `:` in a queue name; jobs go to `<queue>.cpu` and `<queue>.cuda`.
const queueName = z.string({ error: 'expected a queue name' }).regex(/^[A-Za-z0-9._-]{1,100}$/, { error: 'expected 1 to 100 letters, digits, dots, dashes or underscores' });

/** A cluster service's caps and bounds, each optional: as the config file has them, with no defaults filled in. */
const clusterBounds = {
  /** The most a task's `timeoutMs` may ask for (default 300000, the pool's default deadline). The hosts' own caps apply too. */
  maxTaskTimeoutMs: poolOptionsSchema.shape.maxTaskTimeoutMs,
  /** The most a task's `memoryLimitMb` may ask for (default 2048, the pool's default limit). */
  maxTaskMemoryLimitMb: poolOptionsSchema.shape.maxTaskMemoryLimitMb,
  /** `?wait=true` requests whose task has not settled, at once; one more gets 429 (default 1024). */
  maxWaitingRequests: int(1, 'an integer from 1 to 1000000', 1_000_000).optional(),
  /** How long a request waits for Redis before it answers 503 `ERR_REDIS_UNAVAILABLE` (default 5000). */
  redisTimeoutMs: int(1, 'an integer from 1 to 600000 (ms)', 600_000).optional(),
  /** How often the hosts and queue counts are read for the `cluster` event (default 1000). */
  statusIntervalMs: int(50, 'an integer from 50 to 600000 (ms)', 600_000).optional(),
};

/** The fields of `poolvisor serve`'s config file that put it in front of a cluster. */
export const clusterConfigFields = { redis: redisUrl.optional(), queue: queueName.optional(), ...clusterBounds };

/** The config file's fields that only a service in front of a cluster has. */
export const CLUSTER_ONLY_FIELDS = Object.keys(clusterBounds) as Array<keyof typeof clusterBounds>;

/**
 * What a service in front of a cluster needs besides its edge: where the cluster is, the
 * caps a client's task options may not pass, and the bounds on what it waits for.
 */
export const clusterServiceSchema = z.strictObject({
  /** `redis://[user:pass@]host:port[/db]`. */
  redis: redisUrl,
  queue: queueName,
  maxTaskTimeoutMs: clusterBounds.maxTaskTimeoutMs.default(DEFAULT_TASK_TIMEOUT_MS),
  maxTaskMemoryLimitMb: clusterBounds.maxTaskMemoryLimitMb.default(DEFAULT_MEMORY_LIMIT_MB),
  maxWaitingRequests: clusterBounds.maxWaitingRequests.default(1024),
  redisTimeoutMs: clusterBounds.redisTimeoutMs.default(5000),
  statusIntervalMs: clusterBounds.statusIntervalMs.default(1000),
});

export type ClusterServiceSettings = z.output<typeof clusterServiceSchema>;
export type ClusterServiceSettingsInput = z.input<typeof clusterServiceSchema>;

export function resolveClusterSettings(input: ClusterServiceSettingsInput): ClusterServiceSettings {
  return parseOptions(clusterServiceSchema, input);
}
