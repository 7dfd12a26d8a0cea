import type { FastifyInstance } from 'fastify';
import { HttpError } from './httpErrors.js';

export interface AccessOptions {
  /** When set, every route but the open ones needs `Authorization: Bearer <token>`. */
  readonly token?: string | undefined;
  /** Allow browsers from these origins (CORS is off by default). */
  readonly corsOrigins?: readonly string[] | undefined;
}

/** CORS and the bearer token, checked before any route runs. */
export function installAccessControl(app: FastifyInstance, options: AccessOptions): void {
  app.addHook('onRequest', async (request, reply) => {
    const origin = request.headers.origin;
    if (origin && options.corsOrigins?.includes(origin)) {
      reply.header('access-control-allow-origin', origin).header('vary', 'origin');
      reply.header('access-control-allow-headers', 'authorization, content-type, last-event-id');
      reply.header('access-control-allow-methods', 'GET, POST, DELETE');
      if (request.method === 'OPTIONS') return reply.code(204).send();
    }
    if (options.token === undefined || request.url === '/healthz' || request.url === '/' || request.url.startsWith('/dashboard/')) return;
    if (request.headers.authorization !== `Bearer ${options.token}`) {
      reply.header('www-authenticate', 'Bearer');
      throw new HttpError(401, 'ERR_UNAUTHORIZED', 'this route needs Authorization: Bearer <token>');
    }
  });
}

/** Whether a host name binds only to this machine. */
export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || host === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(host);
}
