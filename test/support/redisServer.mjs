// A private redis-server for one test file or one benchmark run: a free loopback port (never the
// shared 6379), its own temp dir, stopped by whoever started it. Plain JS with JSDoc types, so that
// test/bench (plain node) and the vitest tests (through ./redisServer.ts) share one implementation.
import { spawn, spawnSync } from 'node:child_process';
import { accessSync, constants, mkdtempSync, rmSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';

/**
 * redis.conf directives by their own names, e.g. `{ appendonly: true, appendfsync: 'always' }`;
 * `true`/`false` become `yes`/`no`. `port`, `bind` and `dir` belong to the helper.
 * @typedef {Record<string, string | number | boolean>} RedisServerOptions
 */

/**
 * @typedef {object} RedisServer
 * @property {string} url `redis://127.0.0.1:<port>`
 * @property {number} port
 * @property {number} pid the running server's pid (a new one after `restart()`)
 * @property {string} dir its working dir: the AOF and RDB files live here
 * @property {() => Promise<void>} stop SIGTERM (redis saves and exits), SIGKILL after 5 s; removes the dir
 * @property {() => Promise<void>} kill SIGKILL, as a host crash would; keeps the dir for `restart()`
 * @property {() => Promise<void>} restart a new server on the same port and dir (AOF data survives), answering PING
 */

const OWN = ['port', 'bind', 'dir'];
const READY_TIMEOUT_MS = 15_000;
const STOP_GRACE_MS = 5_000;

/** Servers this process started and has not stopped: killed on exit, whatever path it takes. */
/** @type {Set<{ child: import('node:child_process').ChildProcess }>} */
const live = new Set();
let exitHookInstalled = false;

/** @param {string} command */
function onPath(command) {
  return (process.env.PATH ?? '').split(delimiter).some((dir) => {
    if (dir === '') return false;
    try {
      accessSync(join(dir, command), constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

/** `setpriv --pdeathsig` makes the kernel kill the server if this process dies, even by SIGKILL. */
/** @type {boolean | undefined} */
let pdeathsig;
function deathSignalPrefix() {
  if (pdeathsig === undefined) pdeathsig = onPath('setpriv') && spawnSync('setpriv', ['--pdeathsig', 'KILL', 'true']).status === 0;
  return pdeathsig ? ['setpriv', '--pdeathsig', 'KILL'] : [];
}

/**
 * A port nothing listens on right now (the kernel's pick).
 * @returns {Promise<number>}
 */
function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

/**
 * One inline PING on a fresh socket: true on +PONG (not while it is still -LOADING the AOF).
 * @param {number} port
 * @returns {Promise<boolean>}
 */
function pings(port) {
  return new Promise((resolve) => {
    const socket = createConnection({ port, host: '127.0.0.1' });
    let reply = '';
    const done = (/** @type {boolean} */ ok) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1_000, () => done(false));
    socket.on('error', () => done(false));
    socket.on('connect', () => socket.write('PING\r\n'));
    socket.on('data', (chunk) => {
      reply += chunk.toString('latin1');
      if (reply.includes('\r\n')) done(reply.startsWith('+PONG'));
    });
  });
}

/**
 * @param {RedisServerOptions} options
 * @returns {string[]}
 */
function configArgs(options) {
  const args = [];
  for (const [key, value] of Object.entries(options)) {
    if (OWN.includes(key)) throw new TypeError(`redisServer: '${key}' is chosen by the helper`);
    args.push(`--${key}`, value === true ? 'yes' : value === false ? 'no' : String(value));
  }
  return args;
}

/**
 * Starts a private redis-server and resolves once it answers PING.
 * Snapshots are off unless `options.save` says otherwise; logs go to `<dir>/redis.log`.
 * @param {RedisServerOptions} [options]
 * @returns {Promise<RedisServer>}
 * @example
 * const redis = await startRedisServer({ appendonly: true, appendfsync: 'always' });
 * await redis.kill();
 * await redis.restart(); // same port, the AOF replayed
 * await redis.stop();
 */
export async function startRedisServer(options = {}) {
  const extra = configArgs({ save: '', logfile: 'redis.log', ...options });
  const dir = mkdtempSync(join(tmpdir(), 'poolvisor-redis-'));
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.on('exit', () => {
      for (const server of live) server.child.kill('SIGKILL');
    });
  }

  /** @type {{ child: import('node:child_process').ChildProcess, exited: Promise<void> }} */
  let current;
  /** @type {number} */
  let port;

  const launch = async () => {
    const [command, ...prefix] = [...deathSignalPrefix(), 'redis-server'];
    const child = spawn(command ?? 'redis-server', [...prefix, '--port', String(port), '--bind', '127.0.0.1', '--dir', dir, ...extra], {
      cwd: dir,
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr?.on('data', (chunk) => (stderr += chunk));
    /** @type {Promise<void>} */
    const exited = new Promise((resolve) => child.once('exit', () => resolve()));
    const spawned = new Promise((resolve, reject) => {
      child.once('spawn', resolve);
      child.once('error', reject);
    });
    await spawned;
    const entry = { child, exited };
    live.add(entry);
    exited.then(() => live.delete(entry));
    const deadline = Date.now() + READY_TIMEOUT_MS;
    let gone = false;
    exited.then(() => (gone = true));
    while (!(await pings(port))) {
      if (gone || Date.now() > deadline) {
        child.kill('SIGKILL');
        await exited;
        const log = (() => {
          try {
            return spawnSync('tail', ['-n', '3', join(dir, 'redis.log')], { encoding: 'utf8' }).stdout.trim().replaceAll('\n', ' | ');
          } catch {
            return '';
          }
        })();
        throw new Error(`redis-server on port ${port} ${gone ? `exited (${child.exitCode ?? child.signalCode})` : 'did not answer PING in time'}: ${stderr.trim() || log}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    current = entry;
  };

  // The port is free when picked, but another process may take it before redis binds: pick again.
  for (let attempt = 1; ; attempt += 1) {
    port = await freePort();
    try {
      await launch();
      break;
    } catch (error) {
      if (attempt >= 3 || !/Address already in use/.test(String(error))) {
        rmSync(dir, { recursive: true, force: true });
        throw error;
      }
    }
  }

  const signal = async (/** @type {NodeJS.Signals} */ name, /** @type {number | undefined} */ graceMs) => {
    const { child, exited } = current;
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill(name);
    if (graceMs === undefined) return exited;
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    await exited;
    clearTimeout(timer);
  };

  /** @type {RedisServer} */
  const server = {
    get url() {
      return `redis://127.0.0.1:${port}`;
    },
    get port() {
      return port;
    },
    get pid() {
      return current.child.pid ?? -1;
    },
    dir,
    async stop() {
      await signal('SIGTERM', STOP_GRACE_MS);
      rmSync(dir, { recursive: true, force: true });
    },
    kill: () => signal('SIGKILL', undefined),
    async restart() {
      await signal('SIGTERM', STOP_GRACE_MS);
      await launch();
    },
  };
  return server;
}
