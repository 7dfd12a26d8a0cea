import { z } from 'zod';
import { ConfigError } from '../index.js';

/** What a cluster job carries: the task's name, its payload, and the run options that can cross hosts. */
export const jobOptionsSchema = z.strictObject({
  timeoutMs: z.number().int().min(1).max(2_147_483_647).optional(),
  memoryLimitMb: z.number().positive().finite().optional(),
  /** `cpu`, `cuda` or `cuda:N`; it picks the queue (the device class) the job goes to. */
  device: z
    .string()
    .regex(/^(cpu|cuda|cuda:\d+)$/)
    .optional(),
  priority: z.number().int().min(-1_000_000).max(1_000_000).optional(),
  retries: z.number().int().min(0).max(100).optional(),
  retryOn: z.array(z.enum(['crash', 'memory', 'timeout'])).optional(),
  key: z.string().min(1).max(256).optional(),
});

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
  const parsed = jobDataSchema.safeParse(data);
  if (parsed.success) return parsed.data;
  throw new ConfigError(
    parsed.error.issues.map((issue) => ({ field: `job.data.${issue.path.join('.')}`, message: issue.message, received: undefined })),
  );
}
