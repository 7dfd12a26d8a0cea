import type { FastifyInstance, FastifyRequest } from 'fastify';
import { HttpError } from './httpErrors.js';

/** Keys that, merged into an object later, would change the prototype of every object. */
function poisonKey(key: string, value: unknown): string | undefined {
  if (key === '__proto__') return '__proto__';
  if (key === 'constructor' && typeof value === 'object' && value !== null && Object.hasOwn(value, 'prototype')) return 'constructor.prototype';
  return undefined;
}

/**
 * Deeper than this, a body is refused before parsing: the parser, the task's result
 * serialisation and the logger all recurse, and a stack overflow there would be a 500.
 */
export const MAX_JSON_DEPTH = 512;

/** How deeply the JSON text nests arrays and objects (brackets inside strings do not count). */
function nestingDepth(text: string): number {
  let depth = 0;
  let deepest = 0;
  let inString = false;
  for (let i = 0; i < text.length; i += 1) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i += 1; // a backslash escapes the next character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) deepest = Math.max(deepest, ++depth);
    else if (c === 0x5d || c === 0x7d) depth -= 1;
  }
  return deepest;
}

/** How deeply each parsed body nested, measured by the scan before parsing, for the routes to read. */
const bodyDepths = new WeakMap<FastifyRequest, number>();

/** How many levels of arrays and objects the request's JSON body nests (0 for a scalar or no body). */
export function bodyDepth(request: FastifyRequest): number {
  return bodyDepths.get(request) ?? 0;
}

/** Parses a request body as JSON: the parser's own reason on failure, and prototype keys refused. */
export function parseJsonBody(text: string, onDepth?: (depth: number) => void): unknown {
  if (text.length === 0) throw new HttpError(400, 'ERR_BAD_JSON', 'the body is empty, but content-type says application/json');
  const depth = nestingDepth(text);
  onDepth?.(depth);
  if (depth > MAX_JSON_DEPTH) throw new HttpError(400, 'ERR_BAD_JSON', `the body nests arrays and objects more than ${MAX_JSON_DEPTH} levels deep`);
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
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    try {
      done(null, parseJsonBody(body as string, (depth) => bodyDepths.set(request, depth)));
    } catch (error) {
      done(error as Error, undefined);
    }
  });
}
