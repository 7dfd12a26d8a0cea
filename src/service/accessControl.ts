import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { z } from 'zod';
import { ConfigError, type ConfigIssue } from '../errors.js';
import { parseOptions } from '../config.js';
import { AuthFailureLimiter, authFailuresSchema, type AuthFailureOptions } from './authFailures.js';
import { HttpError } from './httpErrors.js';

/** Shorter tokens can be guessed; the same floor holds for every source (flag, environment, file, code). */
export const MIN_TOKEN_LENGTH = 16;

export interface AccessOptions {
  /** When set, every route but the open ones needs `Authorization: Bearer <token>`. */
  readonly token?: string | undefined;
  /** Allow browsers from these origins (CORS is off by default). */
  readonly corsOrigins?: readonly string[] | undefined;
  /**
   * Host names (without port) a request's `Host` may name besides the loopback ones.
   * When unset: without a token only loopback names are answered, so a web page cannot
   * reach a tokenless local server by DNS rebinding; with a token any host is.
   */
  readonly allowedHosts?: readonly string[] | undefined;
  /** The lockout after repeated wrong tokens from one address. */
  readonly authFailures?: AuthFailureOptions | undefined;
}

/**
 * Routes anyone may call. Probes (load balancers, Kubernetes) carry no token and learn only
 * liveness or readiness; the dashboard page and its script are static and fetch all data
 * with the token the user gives the page. Matched on the route's pattern, never on the raw
 * URL, so a query string or `..` cannot turn a protected route into an open one.
 */
export const OPEN_ROUTES: ReadonlySet<string> = new Set(['/healthz', '/readyz', '/', '/dashboard/client.js', '/dashboard/uplot.js', '/dashboard/uplot.css', '/favicon.svg', '/favicon.ico']);

/** Probes answer whatever `Host` they are sent to: a pod's IP is not in anyone's list. */
const HOST_EXEMPT_ROUTES: ReadonlySet<string> = new Set(['/healthz', '/readyz']);

/**
 * What is wrong with a token, if anything, said without the token itself: an error message
 * ends up in logs and terminals, and even a refused token may be a real one mistyped.
 */
export function tokenIssue(value: unknown, field = 'token'): ConfigIssue | undefined {
  const hidden = (what: string): ConfigIssue => ({ field, message: `expected at least ${MIN_TOKEN_LENGTH} characters, got ${what}`, received: `(hidden: ${what})` });
  if (value === undefined) return undefined;
  if (typeof value !== 'string') return hidden(value === null ? 'null' : `a ${typeof value}`);
  if (value.length < MIN_TOKEN_LENGTH) return hidden(String(value.length));
  // A client must be able to send it in a header: visible ASCII, no spaces.
  if (!/^[\x21-\x7e]+$/.test(value)) {
    return { field, message: 'expected visible ASCII characters only (no spaces or control characters), as an HTTP header carries', received: '(hidden)' };
  }
  return undefined;
}

/** The token, checked: a ConfigError naming `field` (never echoing the value) when it is too weak. */
export function checkToken(value: unknown, field = 'token'): string | undefined {
  const issue = tokenIssue(value, field);
  if (issue) throw new ConfigError([issue]);
  return value as string | undefined;
}

/** The access options, checked once before the service builds anything (a weak token must not start workers). */
export interface ResolvedAccess {
  readonly token: string | undefined;
  readonly corsOrigins: readonly string[];
  /** Bare lowercase host names; undefined when none were configured. */
  readonly allowedHosts: readonly string[] | undefined;
  readonly authFailures: z.output<typeof authFailuresSchema>;
}

export function resolveAccess(options: AccessOptions): ResolvedAccess {
  const token = checkToken(options.token);
  const authFailures = parseOptions(authFailuresSchema, options.authFailures ?? {}, 'authFailures');
  // A bare IPv6 address is written [::1] in a Host header.
  const asHost = (name: string) => (name.split(':').length > 2 && !name.startsWith('[') ? `[${name}]` : name);
  const allowedHosts = options.allowedHosts?.map((host) => hostName(asHost(host.trim()))).filter(Boolean);
  return { token, corsOrigins: options.corsOrigins ?? [], allowedHosts, authFailures };
}

/** `example.com:7070`, `[::1]:80`, `LOCALHOST.` → the bare lowercase host name. */
export function hostName(host: string): string {
  let name = host.trim().toLowerCase();
  const bracketed = /^(\[[^\]]*\])(:\d*)?$/.exec(name);
  if (bracketed) name = bracketed[1] as string;
  else if (name.split(':').length === 2) name = name.slice(0, name.indexOf(':'));
  return name.endsWith('.') ? name.slice(0, -1) : name;
}

/** Whether a host name binds only to this machine. */
export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || host === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

const bearer = (header: string | undefined): string | undefined => /^Bearer +(\S+) *$/i.exec(header ?? '')?.[1];
const digest = (value: string): Buffer => createHash('sha256').update(value).digest();

/**
 * The service's door, checked before any route runs: the `Host` (DNS rebinding), CORS,
 * then the bearer token with its lockout.
 */
export function installAccessControl(app: FastifyInstance, options: ResolvedAccess): void {
  const { token, allowedHosts } = options;
  // Without a token, only a list (or loopback) stands between a rebinding page and the API.
  const checkHost = allowedHosts !== undefined || token === undefined;
  const hostAllowed = (host: string | undefined) => {
    if (!checkHost) return true;
    const name = hostName(host ?? '');
    return isLoopback(name) || (allowedHosts?.includes(name) ?? false);
  };
  // Both sides hashed: equal lengths for timingSafeEqual, and the time taken says nothing of the token's length.
  const expected = token === undefined ? undefined : digest(token);
  const failures = new AuthFailureLimiter(options.authFailures);
  const route = (request: FastifyRequest) => request.routeOptions.url;

  app.addHook('onRequest', async (request, reply) => {
    const path = route(request);
    if (!(path !== undefined && HOST_EXEMPT_ROUTES.has(path)) && !hostAllowed(request.headers.host)) {
      throw new HttpError(
        421,
        'ERR_HOST_NOT_ALLOWED',
        'this server does not answer for that Host; call it by a loopback name or one in --allowed-hosts (POOLVISOR_ALLOWED_HOSTS)',
      );
    }
    const origin = request.headers.origin;
    if (origin && options.corsOrigins.includes(origin)) {
      reply.header('access-control-allow-origin', origin).header('vary', 'origin');
      reply.header('access-control-allow-headers', 'authorization, content-type, last-event-id');
      reply.header('access-control-allow-methods', 'GET, POST, DELETE');
      if (request.method === 'OPTIONS') return reply.code(204).send();
    }
    if (expected === undefined || (path !== undefined && OPEN_ROUTES.has(path))) return;
    const lockedFor = failures.lockedFor(request.ip);
    if (lockedFor > 0) throw tooManyFailures(lockedFor);
    const presented = bearer(request.headers.authorization);
    if (presented !== undefined && timingSafeEqual(digest(presented), expected)) return;
    // Only wrong tokens count: a client that sends none is misconfigured, not guessing.
    if (presented !== undefined) {
      const locked = failures.fail(request.ip);
      if (locked > 0) throw tooManyFailures(locked);
    }
    reply.header('www-authenticate', 'Bearer');
    throw new HttpError(401, 'ERR_UNAUTHORIZED', 'this route needs Authorization: Bearer <token>');
  });
}

function tooManyFailures(retryAfterSeconds: number): HttpError {
  return new HttpError(429, 'ERR_TOO_MANY_AUTH_FAILURES', `too many wrong tokens from this address; try again in ${retryAfterSeconds} s`, {
    retryAfterSeconds,
  });
}
