import type { FastifyInstance } from 'fastify';
import { ConfigError, NoMatchingDeviceError, PoolClosedError, PoolDegradedError, QueueFullError, TaskQuarantinedError } from '../errors.js';

/** An answer other than 2xx, as the API sends it: `{ error: { code, message, …extra } }`. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly extra: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

/** The refusals the pool gives at once, as HTTP answers. */
export function refusal(error: unknown): HttpError | undefined {
  if (error instanceof QueueFullError) return new HttpError(429, error.code, error.message, { retryAfterSeconds: 1 });
  if (error instanceof PoolDegradedError || error instanceof PoolClosedError) return new HttpError(503, error.code, error.message);
  if (error instanceof NoMatchingDeviceError) return new HttpError(400, error.code, error.message, { devices: error.devices });
  if (error instanceof ConfigError) return new HttpError(400, error.code, error.message, { issues: error.issues });
  if (error instanceof TaskQuarantinedError) {
    // The input, not the service, is the problem: the same request will be refused until the quarantine ends.
    const retryAfterSeconds = Math.max(1, Math.ceil((error.untilMs - Date.now()) / 1000));
    return new HttpError(422, error.code, error.message, { retryAfterSeconds, fingerprint: error.fingerprint, failures: error.failures });
  }
  return undefined;
}

/** Every error the app throws, or Fastify raises for it, becomes the API's envelope. */
export function installErrorEnvelope(app: FastifyInstance, bodyLimitBytes: number): void {
  app.setErrorHandler((error: Error & { statusCode?: number; code?: string }, _request, reply) => {
    if (error instanceof HttpError) {
      if (error.status === 429 || error.status === 422 || error.extra.retryAfterSeconds !== undefined) reply.header('retry-after', String(error.extra.retryAfterSeconds ?? 1));
      return reply.code(error.status).send({ error: { code: error.code, message: error.message, ...error.extra } });
    }
    if (error instanceof ConfigError) return reply.code(400).send({ error: { code: error.code, message: error.message, issues: error.issues } });
    if (error.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
      return reply.code(413).send({ error: { code: 'ERR_BODY_TOO_LARGE', message: `the request body is over the ${bodyLimitBytes}-byte limit` } });
    }
    if (error.statusCode !== undefined && error.statusCode >= 400 && error.statusCode < 500) {
      return reply.code(error.statusCode).send({ error: { code: 'ERR_BAD_REQUEST', message: error.message } });
    }
    reply.log.error(error);
    return reply.code(500).send({ error: { code: 'ERR_INTERNAL', message: 'internal error; see the server log' } });
  });
}
