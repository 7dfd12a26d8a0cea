import { z } from 'zod';
import { parseOptions, runOptionsSchema } from '../config.js';

/**
 * What a cluster job carries: the task's name, its payload, and the run options that can cross
 * hosts — the pool's own `runOptionsSchema`, so a job's options are checked by the same rules
 * (and say the same things) as a local `run`'s. `device` picks the queue (the device class).
 */
export const jobOptionsSchema = runOptionsSchema.pick({ timeoutMs: true, memoryLimitMb: true, device: true, priority: true, retries: true, retryOn: true, key: true });

export const jobDataSchema = z.strictObject({
  name: z.string().min(1),
  // JSON drops an undefined payload: no `payload` key is the task called with none.
  payload: z.unknown().optional(),
  options: jobOptionsSchema.default({}),
});

export type ClusterJobOptions = z.input<typeof jobOptionsSchema>;
export type ClusterJobData = z.output<typeof jobDataSchema>;

/** A job's data as the host will run it, or a ConfigError naming the field (a job from another producer may be anything). */
export function parseJobData(data: unknown): ClusterJobData {
  return parseOptions(jobDataSchema, data, 'job.data');
}
