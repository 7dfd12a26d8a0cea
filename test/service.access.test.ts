import { mkdtempSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { InjectOptions, LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../src/errors.js';
import { createService, type Service } from '../src/service/app.js';
import { AuthFailureLimiter, authFailuresSchema, clientKey } from '../src/service/authFailures.js';
import { serveSettings } from '../src/service/serveCommand.js';
import { fixture } from './support/processes.js';

const TOKEN = 'a-long-enough-secret-token';
const pool = { task: fixture('tasks.mjs'), maxWorkers: 1, spareWorkers: 0 };

/** Tokenless, default Host rule (loopback names only). */
let open: Service;
/** A token and a low lockout limit. */
let locked: Service;
/** No token, a list of allowed hosts. */
let listed: Service;
/** A token and a list: the list is applied too. */
let lockedListed: Service;
let base: URL;

beforeAll(async () => {
  [open, locked, listed, lockedListed] = await Promise.all([
    createService({ pool }),
    createService({ pool, token: TOKEN, authFailures: { limit: 3, lockoutMs: 60_000 } }),
    createService({ pool, allowedHosts: ['pool.internal', 'Example.COM:8080', '::2'] }),
    createService({ pool, token: TOKEN, allowedHosts: ['pool.internal'] }),
  ]);
  base = new URL(await open.app.listen({ host: '127.0.0.1', port: 0 }));
});
afterAll(async () => {
  await Promise.all([open, locked, listed, lockedListed].map((service) => service?.close(0)));
});

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

/** An error answer in the API's envelope, with the status and code. */
function expectEnvelope(response: LightMyRequestResponse, status: number, code: string): { code: string; message: string } {
  expect(response.statusCode).toBe(status);
  expect(response.headers['content-type']).toContain('application/json');
  const body = response.json();
  expect(Object.keys(body)).toEqual(['error']);
  expect(body.error).toMatchObject({ code, message: expect.any(String) });
  return body.error;
}

/** One raw HTTP/1.1 exchange, so that the request goes out exactly as written (no URL normalisation). */
function raw(text: string): Promise<{ status: number; headers: string; body: string }> {
  return new Promise((resolve, reject) => {
    const socket = connect(Number(base.port), base.hostname);
    let received = '';
    socket.on('data', (chunk) => (received += chunk.toString('utf8')));
    socket.on('error', reject);
    socket.on('close', () => {
      const [head = '', body = ''] = received.split('\r\n\r\n');
      resolve({ status: Number(head.split(' ')[1]), headers: head, body });
    });
    socket.end(text);
  });
}

/** A GET with a Host header of our choosing (fetch would not let us set it). */
function getWithHost(path: string, host: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: base.hostname, port: base.port, path, headers: { host } }, (response) => {
      let body = '';
      response.on('data', (chunk) => (body += chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('a weak token', () => {
  const SHORT = 'Zq9#short'; // 9 characters, distinctive enough to search for

  it('is refused by createService with a ConfigError naming the field and the length, never the value', async () => {
    for (const [token, got] of [
      ['', '0'],
      [SHORT, '9'],
    ] as const) {
      const error = await createService({ pool, token }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as ConfigError).message).toBe(`token: expected at least 16 characters, got ${got}`);
      expect((error as ConfigError).issues[0]?.field).toBe('token');
      if (token) expect(JSON.stringify({ message: (error as Error).message, issues: (error as ConfigError).issues })).not.toContain(token);
    }
    const spaced = await createService({ pool, token: 'sixteen chars or more' }).catch((e: unknown) => e);
    expect((spaced as ConfigError).message).toContain('token: expected visible ASCII characters only');
    expect(JSON.stringify((spaced as ConfigError).issues)).not.toContain('sixteen chars');
  });

  it('is refused from the flag, the environment and the config file, each named, never echoed', () => {
    const refused = (run: () => unknown) => {
      try {
        run();
      } catch (error) {
        expect(error).toBeInstanceOf(ConfigError);
        expect(JSON.stringify({ message: (error as Error).message, issues: (error as ConfigError).issues })).not.toContain(SHORT);
        return (error as Error).message;
      }
      throw new Error('expected a ConfigError');
    };
    expect(refused(() => serveSettings(['--token', SHORT], {}))).toBe('--token: expected at least 16 characters, got 9');
    expect(refused(() => serveSettings(['--token', ''], {}))).toBe('--token: expected at least 16 characters, got 0');
    expect(refused(() => serveSettings([], { POOLVISOR_TOKEN: '' }))).toBe('POOLVISOR_TOKEN: expected at least 16 characters, got 0');
    expect(refused(() => serveSettings([], { POOLVISOR_TOKEN: SHORT }))).toBe('POOLVISOR_TOKEN: expected at least 16 characters, got 9');
    const dir = mkdtempSync(join(tmpdir(), 'poolvisor-access-'));
    const config = (content: unknown) => {
      const path = join(dir, `${Math.random().toString(36).slice(2)}.json`);
      writeFileSync(path, JSON.stringify(content));
      return path;
    };
    expect(refused(() => serveSettings(['--config', config({ token: SHORT })], {}))).toBe('config.token: expected at least 16 characters, got 9');
    expect(refused(() => serveSettings(['--config', config({ token: 123456789 })], {}))).toBe('config.token: expected at least 16 characters, got a number');
    // The flag wins over the environment, the environment over the file: an overridden weak value does no harm.
    expect(serveSettings(['--token', TOKEN], { POOLVISOR_TOKEN: '' }).token).toBe(TOKEN);
    expect(serveSettings([], { POOLVISOR_TOKEN: TOKEN }).token).toBe(TOKEN);
    expect(serveSettings(['--config', config({ token: TOKEN })], {}).token).toBe(TOKEN);
  });
});

describe('serve settings for access', () => {
  it('read allowed hosts from the flag, the environment or the config file, and the lockout from the file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'poolvisor-access-'));
    const path = join(dir, 'access.json');
    writeFileSync(path, JSON.stringify({ allowedHosts: ['file.example'], authFailures: { limit: 5, lockoutMs: 1000 } }));
    expect(serveSettings(['--allowed-hosts', 'a.example, b.example'], {}).allowedHosts).toEqual(['a.example', 'b.example']);
    expect(serveSettings([], { POOLVISOR_ALLOWED_HOSTS: 'env.example' }).allowedHosts).toEqual(['env.example']);
    // An empty list is a list: loopback names only, even with a token.
    expect(serveSettings(['--allowed-hosts', ''], {}).allowedHosts).toEqual([]);
    expect(serveSettings(['--config', path], {})).toMatchObject({ allowedHosts: ['file.example'], authFailures: { limit: 5, lockoutMs: 1000 } });
    expect(serveSettings([], {}).allowedHosts).toBeUndefined();
    writeFileSync(path, JSON.stringify({ authFailures: { limit: 0 } }));
    expect(() => serveSettings(['--config', path], {})).toThrow('config.authFailures.limit: expected an integer from 1 to 1000000, got 0');
  });
});

describe('the bearer token', () => {
  it('lets the right token through, and answers 401 to a wrong one of the same or another length', async () => {
    const from = { remoteAddress: '10.1.0.1' };
    expect((await locked.app.inject({ url: '/v1/pool', headers: bearer(TOKEN), ...from })).statusCode).toBe(200);
    expect((await locked.app.inject({ url: '/v1/pool', headers: { authorization: `bearer ${TOKEN}` }, ...from })).statusCode).toBe(200);
    const sameLength = TOKEN.replace(/.$/, 'X');
    expectEnvelope(await locked.app.inject({ url: '/v1/pool', headers: bearer(sameLength), remoteAddress: '10.1.0.2' }), 401, 'ERR_UNAUTHORIZED');
    expectEnvelope(await locked.app.inject({ url: '/v1/pool', headers: bearer('x'), remoteAddress: '10.1.0.3' }), 401, 'ERR_UNAUTHORIZED');
    expectEnvelope(await locked.app.inject({ url: '/v1/pool', headers: bearer(`${TOKEN}${TOKEN}`), remoteAddress: '10.1.0.4' }), 401, 'ERR_UNAUTHORIZED');
    const none = await locked.app.inject({ url: '/v1/pool', ...from });
    expectEnvelope(none, 401, 'ERR_UNAUTHORIZED');
    expect(none.headers['www-authenticate']).toBe('Bearer');
    expectEnvelope(await locked.app.inject({ url: '/v1/pool', headers: { authorization: `Basic ${TOKEN}` }, ...from }), 401, 'ERR_UNAUTHORIZED');
  });

  it('locks an address out after the limit of wrong tokens: 429 with Retry-After, even for the right token', async () => {
    const attacker = { remoteAddress: '10.2.0.1' };
    expectEnvelope(await locked.app.inject({ url: '/v1/pool', headers: bearer('wrong-token-number-1'), ...attacker }), 401, 'ERR_UNAUTHORIZED');
    expectEnvelope(await locked.app.inject({ url: '/v1/pool', headers: bearer('wrong-token-number-2'), ...attacker }), 401, 'ERR_UNAUTHORIZED');
    const third = await locked.app.inject({ url: '/v1/pool', headers: bearer('wrong-token-number-3'), ...attacker });
    expect(expectEnvelope(third, 429, 'ERR_TOO_MANY_AUTH_FAILURES').message).toContain('try again in 60 s');
    expect(third.headers['retry-after']).toBe('60');
    const right = await locked.app.inject({ url: '/v1/pool', headers: bearer(TOKEN), ...attacker });
    expectEnvelope(right, 429, 'ERR_TOO_MANY_AUTH_FAILURES');
    expect(Number(right.headers['retry-after'])).toBeGreaterThan(0);
    // Open routes stay open to it; other addresses are not affected.
    expect((await locked.app.inject({ url: '/healthz', ...attacker })).statusCode).toBe(200);
    expect((await locked.app.inject({ url: '/v1/pool', headers: bearer(TOKEN), remoteAddress: '10.2.0.2' })).statusCode).toBe(200);
  });

  it('counts an IPv6 /64 as one address, and requests without any token not at all', async () => {
    for (const n of [1, 2, 3]) await locked.app.inject({ url: '/v1/pool', headers: bearer(`wrong-${n}`), remoteAddress: `2001:db8:aa:bb::${n}` });
    expectEnvelope(await locked.app.inject({ url: '/v1/pool', headers: bearer(TOKEN), remoteAddress: '2001:db8:aa:bb:ffff::9' }), 429, 'ERR_TOO_MANY_AUTH_FAILURES');
    expect((await locked.app.inject({ url: '/v1/pool', headers: bearer(TOKEN), remoteAddress: '2001:db8:aa:bc::1' })).statusCode).toBe(200);
    const client = { remoteAddress: '10.3.0.1' };
    for (let i = 0; i < 5; i += 1) expect((await locked.app.inject({ url: '/v1/pool', ...client })).statusCode).toBe(401);
    expect((await locked.app.inject({ url: '/v1/pool', headers: bearer(TOKEN), ...client })).statusCode).toBe(200);
  });
});

describe('the failure table', () => {
  const options = (extra: object = {}) => authFailuresSchema.parse({ limit: 3, windowMs: 1000, lockoutMs: 5000, ...extra });

  it('should count failures within the window only, and end the lockout after lockoutMs', () => {
    let now = 0;
    const table = new AuthFailureLimiter(options(), () => now);
    expect(table.fail('10.0.0.1')).toBe(0);
    expect(table.fail('10.0.0.1')).toBe(0);
    now = 1000; // the window has passed: counting starts again
    expect(table.fail('10.0.0.1')).toBe(0);
    expect(table.fail('10.0.0.1')).toBe(0);
    expect(table.fail('10.0.0.1')).toBe(5);
    now = 3000;
    expect(table.lockedFor('10.0.0.1')).toBe(3);
    now = 6000;
    expect(table.lockedFor('10.0.0.1')).toBe(0);
  });

  it('should stay bounded, forgetting the least recently seen address first', () => {
    const table = new AuthFailureLimiter(options({ limit: 1, maxAddresses: 3 }), () => 0);
    for (const n of [1, 2, 3]) table.fail(`10.0.0.${n}`);
    expect(table.lockedFor('10.0.0.1')).toBe(5);
    for (let n = 4; n < 1000; n += 1) table.fail(`10.0.${Math.floor(n / 250)}.${n % 250}`);
    expect(table.size).toBe(3);
    expect(table.lockedFor('10.0.0.1')).toBe(0);
  });

  it('should key IPv4-mapped addresses as IPv4 and IPv6 ones by their /64', () => {
    expect(clientKey('::ffff:192.0.2.7')).toBe('192.0.2.7');
    expect(clientKey('192.0.2.7')).toBe('192.0.2.7');
    expect(clientKey('2001:db8::1')).toBe('2001:db8:0:0::/64');
    expect(clientKey('2001:0db8:0000:0000:1:2:3:4')).toBe('2001:db8:0:0::/64');
    expect(clientKey('::1')).toBe('0:0:0:0::/64');
  });
});

describe('the Host header (DNS rebinding)', () => {
  it('without a token, answers loopback names only: 421 ERR_HOST_NOT_ALLOWED for any other', async () => {
    for (const host of ['evil.example', 'evil.example:7070', '127.0.0.1.nip.io', '0.0.0.0:7070', 'localhost.evil.example']) {
      const response = await open.app.inject({ url: '/v1/pool', headers: { host } });
      expect([host, response.statusCode]).toEqual([host, 421]);
      expectEnvelope(response, 421, 'ERR_HOST_NOT_ALLOWED');
    }
    expectEnvelope(await open.app.inject({ url: '/', headers: { host: 'evil.example' } }), 421, 'ERR_HOST_NOT_ALLOWED');
    expectEnvelope(await open.app.inject({ url: '/metrics', headers: { host: 'evil.example' } }), 421, 'ERR_HOST_NOT_ALLOWED');
    for (const host of ['localhost', 'localhost:7070', 'LOCALHOST.', '127.0.0.1', '127.0.0.1:7070', '127.4.5.6:80', '[::1]', '[::1]:7070']) {
      expect((await open.app.inject({ url: '/v1/pool', headers: { host } })).statusCode).toBe(200);
    }
  });

  it('answers the probes whatever the Host', async () => {
    expect((await open.app.inject({ url: '/healthz', headers: { host: 'evil.example' } })).statusCode).toBe(200);
    expect((await open.app.inject({ url: '/readyz?x=1', headers: { host: '10.0.0.7:7070' } })).statusCode).not.toBe(421);
  });

  it('adds the configured hosts (any port, any case) to the loopback names', async () => {
    for (const host of ['pool.internal', 'pool.internal:7070', 'example.com', 'EXAMPLE.com:9', '[::2]:7070', 'localhost:7070']) {
      expect((await listed.app.inject({ url: '/v1/pool', headers: { host } })).statusCode).toBe(200);
    }
    expectEnvelope(await listed.app.inject({ url: '/v1/pool', headers: { host: 'evil.example' } }), 421, 'ERR_HOST_NOT_ALLOWED');
  });

  it('with a token, checks the Host only against a configured list', async () => {
    expect((await locked.app.inject({ url: '/v1/pool', headers: { host: 'any.example', ...bearer(TOKEN) }, remoteAddress: '10.4.0.1' })).statusCode).toBe(200);
    expect((await lockedListed.app.inject({ url: '/v1/pool', headers: { host: 'pool.internal', ...bearer(TOKEN) } })).statusCode).toBe(200);
    expectEnvelope(await lockedListed.app.inject({ url: '/v1/pool', headers: { host: 'any.example', ...bearer(TOKEN) } }), 421, 'ERR_HOST_NOT_ALLOWED');
  });

  it('is checked on a listening server as a browser would reach it', async () => {
    const evil = await getWithHost('/v1/pool', 'evil.example');
    expect(evil.status).toBe(421);
    expect(JSON.parse(evil.body).error.code).toBe('ERR_HOST_NOT_ALLOWED');
    expect((await getWithHost('/v1/pool', `127.0.0.1:${base.port}`)).status).toBe(200);
    expect((await getWithHost('/v1/pool', `localhost:${base.port}`)).status).toBe(200);
    // HTTP/1.0 may leave the Host out: not a loopback name either.
    const hostless = await raw('GET /v1/pool HTTP/1.0\r\n\r\n');
    expect([hostless.status, JSON.parse(hostless.body).error.code]).toEqual([421, 'ERR_HOST_NOT_ALLOWED']);
  });
});

describe('the open routes', () => {
  const from = { remoteAddress: '10.5.0.1' }; // wrong-token tests elsewhere must not lock this one out

  it('are /healthz, /readyz, / and the static files of the dashboard (script, chart library, icon), with or without a query string', async () => {
    for (const url of ['/healthz', '/healthz?x=1', '/', '/?x', '/dashboard/client.js', '/dashboard/client.js?v=2', '/dashboard/uplot.js', '/dashboard/uplot.css', '/favicon.svg', '/favicon.ico']) {
      expect([url, (await locked.app.inject({ url, ...from })).statusCode]).toEqual([url, 200]);
    }
    // 200 or 503 by the pool's state, never 401.
    for (const url of ['/readyz', '/readyz?probe']) expect((await locked.app.inject({ url, ...from })).json()).toHaveProperty('ready');
    // The dashboard script sends the token it reads from the page's #token= on every call.
    const script = (await locked.app.inject({ url: '/dashboard/client.js', ...from })).body;
    expect(script).toContain('authorization: `Bearer ${token}`');
  });

  it('are the only ones: the API, /metrics, unknown paths and look-alikes need the token', async () => {
    for (const url of ['/v1/pool', '/v1/machines', '/v1/tasks/t1', '/v1/events', '/metrics', '/nope', '/v1/pool?/healthz', '/healthz/', '/readyz/x', '/dashboard/other.js', '/favicon.png']) {
      expectEnvelope(await locked.app.inject({ url, ...from }), 401, 'ERR_UNAUTHORIZED');
    }
    expectEnvelope(await locked.app.inject({ method: 'POST', url: '/healthz', ...from }), 401, 'ERR_UNAUTHORIZED');
  });

  it('cannot be reached around by dot segments sent as they are', async () => {
    const server = new URL(await locked.app.listen({ host: '127.0.0.1', port: 0 }));
    const get = (path: string) =>
      new Promise<number>((resolve, reject) => {
        const req = httpRequest({ host: server.hostname, port: server.port, path }, (response) => {
          response.resume();
          resolve(response.statusCode ?? 0);
        });
        req.on('error', reject);
        req.end();
      });
    expect(await get('/healthz/../v1/pool')).toBe(401);
    expect(await get('/healthz%2F..%2Fv1%2Fpool')).toBe(401);
    expect(await get('/%68ealthz')).not.toBe(500);
    expect(await get('/healthz')).toBe(200);
  });
});

describe('every error in the envelope', () => {
  const postJson = (payload: string, contentType = 'application/json') =>
    open.app.inject({ method: 'POST', url: '/v1/tasks', headers: { 'content-type': contentType }, payload });

  it('404 ERR_ROUTE_NOT_FOUND for an unknown path; 405 ERR_METHOD_NOT_ALLOWED with Allow for a known one', async () => {
    expect(expectEnvelope(await open.app.inject({ url: '/nope' }), 404, 'ERR_ROUTE_NOT_FOUND').message).toContain('/nope');
    const wrongMethod = await open.app.inject({ method: 'DELETE', url: '/healthz' });
    expectEnvelope(wrongMethod, 405, 'ERR_METHOD_NOT_ALLOWED');
    expect(wrongMethod.headers.allow).toBe('GET, HEAD');
    const put = await open.app.inject({ method: 'PUT', url: '/v1/tasks/t1' });
    expectEnvelope(put, 405, 'ERR_METHOD_NOT_ALLOWED');
    expect(put.headers.allow).toBe('DELETE, GET, HEAD');
  });

  it('415 ERR_UNSUPPORTED_MEDIA_TYPE for a body that is not JSON, text/plain and forms included', async () => {
    for (const type of ['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/xml', ';;;']) {
      expectEnvelope(await postJson('{"task":"echo"}', type), 415, 'ERR_UNSUPPORTED_MEDIA_TYPE');
    }
    expectEnvelope(await open.app.inject({ method: 'POST', url: '/v1/tasks', payload: 'task=echo' }), 415, 'ERR_UNSUPPORTED_MEDIA_TYPE');
  });

  it('400 ERR_BAD_URL for bad percent-encoding and for path segments over 100 characters', async () => {
    expectEnvelope(await open.app.inject({ url: '/v1/tasks/%zz' }), 400, 'ERR_BAD_URL');
    expectEnvelope(await open.app.inject({ url: '/v1/tasks/%E0%A4%A' }), 400, 'ERR_BAD_URL');
    expect(expectEnvelope(await open.app.inject({ url: `/v1/tasks/${'x'.repeat(101)}` }), 400, 'ERR_BAD_URL').message).toContain('100 characters');
    expectEnvelope(await open.app.inject({ url: `/v1/tasks/${'x'.repeat(100)}` }), 404, 'ERR_TASK_NOT_FOUND');
  });

  it('400 ERR_BAD_JSON with the reason: malformed, empty, too deep, or with prototype keys', async () => {
    expect(expectEnvelope(await postJson('{'), 400, 'ERR_BAD_JSON').message).toMatch(/^the body is not valid JSON: ./);
    expect(expectEnvelope(await postJson(''), 400, 'ERR_BAD_JSON').message).toContain('empty');
    const deep = `{"task":"echo","payload":${'['.repeat(600)}${']'.repeat(600)}}`;
    expect(expectEnvelope(await postJson(deep), 400, 'ERR_BAD_JSON').message).toContain('512 levels');
    expect(expectEnvelope(await postJson('{"task":"echo","payload":{"__proto__":{"admin":true}}}'), 400, 'ERR_BAD_JSON').message).toContain('__proto__ key');
    const constructor = expectEnvelope(await postJson('{"task":"echo","payload":{"constructor":{"prototype":{"admin":true}}}}'), 400, 'ERR_BAD_JSON');
    expect(constructor.message).toContain('constructor.prototype key');
    expect(constructor.message).toContain('refused');
    // Brackets inside strings are not nesting, and look-alike keys are fine.
    const fine = await open.app.inject({
      method: 'POST',
      url: '/v1/tasks?wait=true',
      headers: { 'content-type': 'application/json; charset=utf-8' },
      payload: JSON.stringify({ task: 'echo', payload: { text: '['.repeat(600), constructor: 'x', __proto__x: 1 } }),
    });
    expect(fine.json()).toMatchObject({ state: 'succeeded', result: { text: '['.repeat(600), constructor: 'x', __proto__x: 1 } });
  });

  it('431 ERR_HEADERS_TOO_LARGE from Node\'s parser, and 400 ERR_BAD_REQUEST for what is not HTTP', async () => {
    const big = await raw(`GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`);
    expect(big.status).toBe(431);
    expect(big.headers).toContain('Content-Type: application/json');
    expect(JSON.parse(big.body)).toEqual({ error: { code: 'ERR_HEADERS_TOO_LARGE', message: expect.any(String) } });
    const garbage = await raw('NOT HTTP AT ALL\r\n\r\n');
    expect(garbage.status).toBe(400);
    expect(JSON.parse(garbage.body).error.code).toBe('ERR_BAD_REQUEST');
  });

  it('never a 500 for what a client sends', async () => {
    const odd: InjectOptions[] = [
      { method: 'POST', url: '/v1/tasks', headers: { 'content-type': 'application/json' }, payload: 'null' },
      { method: 'POST', url: '/v1/tasks', headers: { 'content-type': 'application/json' }, payload: '[]' },
      { method: 'POST', url: '/v1/tasks', headers: { 'content-type': 'application/json' }, payload: '1e999' },
      { method: 'POST', url: '/v1/tasks', headers: { 'content-type': 'application/json' }, payload: '"\\ud800"' },
      { method: 'POST', url: '/v1/tasks?wait=maybe&wait=true', headers: { 'content-type': 'application/json' }, payload: '{"task":"echo"}' },
      { method: 'GET', url: '/v1/tasks/%00' },
      { method: 'OPTIONS', url: '/v1/tasks', headers: { origin: 'https://evil.example' } },
      { method: 'GET', url: '/%' },
      { method: 'GET', url: '/v1//pool' },
      { method: 'DELETE', url: '/v1/tasks/' },
    ];
    for (const request of odd) {
      const response = await open.app.inject(request);
      expect([request.method, request.url, response.statusCode < 500]).toEqual([request.method, request.url, true]);
      if (response.statusCode >= 400) expect(response.json().error.code).toMatch(/^ERR_[A-Z_]+$/);
    }
  });
});
