import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
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

const envelope = (code: string, message: string, extra: Record<string, unknown> = {}) => ({ error: { code, message, ...extra } });

/** A client's path in a message, cut short: an error answer should not amplify what it was sent. */
const quoted = (path: string) => JSON.stringify(path.length > 200 ? `${path.slice(0, 200)}…` : path);

/**
 * Errors Fastify answers before any route or hook runs (a URL it cannot decode, a path
 * parameter over `maxParamLength`) and those Node's HTTP parser raises before Fastify sees
 * a request (headers too large, a malformed request): the envelope too. Passed to `Fastify()`.
 */
export const envelopeServerOptions = {
  frameworkErrors(error: Error & { code?: string }, _request: FastifyRequest, reply: FastifyReply) {
    if (error.code === 'FST_ERR_MAX_PARAM_LENGTH') {
      // Only ids are path parameters, and no id is this long.
      return reply.code(400).send(envelope('ERR_BAD_URL', 'a path segment is longer than 100 characters; no id is that long'));
    }
    if (error.code === 'FST_ERR_BAD_URL') {
      return reply.code(400).send(envelope('ERR_BAD_URL', 'the URL has a malformed percent-encoding (% must be followed by two hex digits)'));
    }
    return reply.code(400).send(envelope('ERR_BAD_REQUEST', error.message));
  },
  clientErrorHandler(error: Error & { code?: string }, socket: Socket) {
    if (error.code === 'ECONNRESET' || socket.destroyed) return;
    const [status, code, message] =
      error.code === 'HPE_HEADER_OVERFLOW'
        ? [431, 'ERR_HEADERS_TOO_LARGE', 'the request headers are over the server\'s limit (16 KiB by default)']
        : error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
          ? [408, 'ERR_REQUEST_TIMEOUT', 'the request did not arrive in time']
          : [400, 'ERR_BAD_REQUEST', 'the request is not valid HTTP/1.1'];
    const body = JSON.stringify(envelope(code, message));
    if (!socket.writable) return void socket.destroy(error);
    // end(), not write() then destroy(): the answer is flushed before the connection closes.
    socket.end(`HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nConnection: close\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
  },
};

/**
 * Every error the app throws, or Fastify raises for it, becomes the API's envelope; so do
 * unknown routes (404) and known paths asked with another method (405, with `Allow`).
 */
export function installErrorEnvelope(app: FastifyInstance, bodyLimitBytes: number): void {
  // Route patterns by method, to tell "no such path" (404) from "not with this method" (405).
  const routes: { pattern: RegExp; methods: string[] }[] = [];
  app.addHook('onRoute', (route) => {
    const source = route.url.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/:[^/]+/g, '[^/]+').replace(/\*/g, '.*');
    routes.push({ pattern: new RegExp(`^${source}$`), methods: [route.method].flat() });
  });
  app.setNotFoundHandler((request, reply) => {
    const path = request.url.split('?')[0] ?? '';
    const allowed = new Set(routes.filter((route) => route.pattern.test(path)).flatMap((route) => route.methods));
    if (allowed.size > 0) {
      reply.header('allow', [...allowed].sort().join(', '));
      return reply.code(405).send(envelope('ERR_METHOD_NOT_ALLOWED', `${quoted(path)} takes ${[...allowed].sort().join(', ')}, not ${request.method}`));
    }
    return reply.code(404).send(envelope('ERR_ROUTE_NOT_FOUND', `no route ${request.method} ${quoted(path)}; docs/http.md lists them`));
  });
  app.setErrorHandler((error: Error & { statusCode?: number; code?: string }, _request, reply) => {
    if (error instanceof HttpError) {
      if (error.status === 429 || error.status === 422 || error.extra.retryAfterSeconds !== undefined) reply.header('retry-after', String(error.extra.retryAfterSeconds ?? 1));
      return reply.code(error.status).send(envelope(error.code, error.message, error.extra));
    }
    if (error instanceof ConfigError) return reply.code(400).send(envelope(error.code, error.message, { issues: error.issues }));
    if (error.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
      return reply.code(413).send(envelope('ERR_BODY_TOO_LARGE', `the request body is over the ${bodyLimitBytes}-byte limit`));
    }
    if (error.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE' || error.statusCode === 415) {
      return reply.code(415).send(envelope('ERR_UNSUPPORTED_MEDIA_TYPE', 'the body must be JSON, sent with content-type: application/json'));
    }
    if (error.statusCode !== undefined && error.statusCode >= 400 && error.statusCode < 500) {
      return reply.code(error.statusCode).send(envelope('ERR_BAD_REQUEST', error.message));
    }
    reply.log.error(error);
    return reply.code(500).send(envelope('ERR_INTERNAL', 'internal error; see the server log'));
  });
}
