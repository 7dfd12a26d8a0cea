import { z } from 'zod';
import { int, parseOptions } from '../config.js';

/** A count of at least 1. */
const count = (what: string, max = Number.MAX_SAFE_INTEGER) => int(1, what, max);

/**
 * The service's own bounds: what one client's requests may make the server hold. The
 * same schema checks `createService`'s options and the config file of `poolvisor serve`,
 * so a bad value is refused, naming the field, before any worker starts.
 */
export const serviceLimitsSchema = z.strictObject({
  /** How many settled tasks, and how many characters of them, the service remembers. */
  taskRecords: z
    .strictObject({
      maxCount: count('an integer >= 1').default(10_000),
      maxBytes: count('an integer >= 1 (characters)').default(256 * 1024 * 1024),
      maxResultBytes: count('an integer >= 1 (characters)').default(8 * 1024 * 1024),
    })
    .default({ maxCount: 10_000, maxBytes: 256 * 1024 * 1024, maxResultBytes: 8 * 1024 * 1024 }),
  /** A payload nested deeper than this is refused with 400. */
  maxPayloadDepth: count('an integer from 1 to 512', 512).default(64),
  /** Bytes of request bodies held for tasks not yet settled: past it, 429. */
  maxPendingPayloadBytes: count('an integer >= 1 (bytes)').default(256 * 1024 * 1024),
  /** Bytes one `/v1/events` stream may have waiting in its socket before it is written to no more. */
  maxStreamBufferBytes: count('an integer >= 1 (bytes)').default(1024 * 1024),
  /** Open `/v1/events` streams at once: past it, 503. */
  maxEventStreams: count('an integer from 1 to 10000', 10_000).default(64),
});

export type ServiceLimitOptions = z.input<typeof serviceLimitsSchema>;
export type ServiceLimits = z.output<typeof serviceLimitsSchema>;

export function resolveServiceLimits(options: ServiceLimitOptions): ServiceLimits {
  return parseOptions(serviceLimitsSchema, options);
}
