import type { FastifyRequest } from 'fastify';
import { z } from 'zod';
import { parseOptions, runOptionsSchema } from '../config.js';
import { HttpError } from './httpErrors.js';
import { bodyDepth } from './jsonBody.js';

/** The body of `POST /v1/tasks`: the task's name, its payload, and the run options a client may set. */
export const taskRequestSchema = runOptionsSchema
  .pick({ timeoutMs: true, memoryLimitMb: true, device: true, priority: true, key: true })
  .extend({
    task: z.string({ error: 'expected the name of an exported task' }).min(1, { error: 'expected the name of an exported task' }),
    payload: z.unknown().optional(),
  })
  .strict();

/**
 * The request's body checked against `schema` (a ConfigError naming the field), and its
 * payload's nesting against `maxPayloadDepth`: a payload nested thousands deep overflows the
 * stack wherever it is walked (cloning it to a worker, serializing it into a job). The body
 * parser measured the nesting as it scanned the text; every field but `payload` is a scalar
 * (the schema is strict), so the payload nests one level less than the body.
 */
export function readTaskRequest<TSchema extends z.ZodType>(request: FastifyRequest, schema: TSchema, maxPayloadDepth: number): z.output<TSchema> {
  const body = parseOptions(schema, request.body);
  const depth = bodyDepth(request) - 1;
  if (depth > maxPayloadDepth) {
    throw new HttpError(400, 'ERR_PAYLOAD_TOO_DEEP', `payload: expected at most ${maxPayloadDepth} levels of nesting, got ${depth}`, { field: 'payload', maxDepth: maxPayloadDepth });
  }
  return body;
}

/** `?wait=true` (or `1`): the caller wants the settled record, not a 202. */
export function wantsToWait(request: FastifyRequest<{ Querystring: { wait?: string } }>): boolean {
  return request.query.wait === 'true' || request.query.wait === '1';
}
