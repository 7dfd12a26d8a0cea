import type { FastifyInstance } from 'fastify';
import { HttpError } from './httpErrors.js';

/** Keys that, merged into an object later, would change the prototype of every object. */
function poisonKey(key: string, value: unknown): string | undefined {
  if (key === '__proto__') return '__proto__';
  if (key === 'constructor' && typeof value === 'object' && value !== null && Object.hasOwn(value, 'prototype')) return 'constructor.prototype';
  return undefined;
}

/** Parses a request body as JSON: the parser's own reason on failure, and prototype keys refused. */
export function parseJsonBody(text: string): unknown {
  if (text.length === 0) throw new HttpError(400, 'ERR_BAD_JSON', 'the body is empty, but content-type says application/json');
  let poison: string | undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(text, (key, value: unknown) => {
      poison ??= poisonKey(key, value);
      return value;
    });
  } catch (error) {
    throw new HttpError(400, 'ERR_BAD_JSON', `the body is not valid JSON: ${(error as Error).message}`);
  }
  if (poison !== undefined) {
    throw new HttpError(400, 'ERR_BAD_JSON', `the body has a ${poison} key; keys that can poison prototypes (__proto__, constructor.prototype) are refused`);
  }
  return parsed;
}

/**
 * JSON is the only body the API takes. Other types answer 415: the `text/plain` parser
 * Fastify has by default goes too, since a web page can POST text/plain across origins
 * without a CORS preflight.
 */
export function installJsonBody(app: FastifyInstance): void {
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_request, body, done) => {
    try {
      done(null, parseJsonBody(body as string));
    } catch (error) {
      done(error as Error, undefined);
    }
  });
}
