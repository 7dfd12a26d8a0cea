/**
 * Vitest global setup: the cluster tests start private redis-servers (test/support/redisServer.ts),
 * and `npm test` has to pass on a fresh machine. When a selected test file uses that helper and
 * `redis-server` is not on PATH, it installs Debian's `redis-server` as root, or stops the run with
 * one line that says what to install. With redis-server present it costs one PATH lookup.
 */
import { readFileSync } from 'node:fs';
import type { TestProject } from 'vitest/node';
import { aptInstall, onPath, runToEnd } from './aptInstall.js';

/** What the setup needs to know of, and do to, the machine; a test passes its own. */
export interface RedisHost {
  onPath(command: string): boolean;
  isRoot(): boolean;
  /** Runs one command to the end; `stderr` is kept for a failure's message. */
  run(command: string, args: readonly string[]): { status: number | null; stderr: string };
  say(line: string): void;
}

/** redis-server is missing and the setup cannot, or could not, install it. */
export class RedisMissingError extends Error {
  readonly code = 'ERR_TEST_REDIS_MISSING';

  constructor(message: string) {
    super(message);
    this.name = 'RedisMissingError';
  }
}

const NEED = 'poolvisor tests: the Redis tests need redis-server on PATH';

export type RedisDecision = { readonly kind: 'ready' } | { readonly kind: 'install' } | { readonly kind: 'refuse'; readonly message: string };

export function decideRedis(facts: { redisPresent: boolean; isRoot: boolean; hasAptGet: boolean }): RedisDecision {
  if (facts.redisPresent) return { kind: 'ready' };
  if (facts.isRoot && facts.hasAptGet) return { kind: 'install' };
  const how = facts.hasAptGet ? "run 'sudo apt-get install redis-server' (Debian)" : 'install Redis 7 so that redis-server is on PATH';
  return { kind: 'refuse', message: `${NEED}: ${how}` };
}

/** Makes redis-server available, or throws a {@link RedisMissingError} that says what to do. */
export function ensureRedis(host: RedisHost): void {
  const decision = decideRedis({ redisPresent: host.onPath('redis-server'), isRoot: host.isRoot(), hasAptGet: host.onPath('apt-get') });
  if (decision.kind === 'ready') return;
  if (decision.kind === 'refuse') throw new RedisMissingError(decision.message);
  host.say(`${NEED}; installing Debian's redis-server (apt-get, as root)`);
  aptInstall(host, 'redis-server', ['--no-install-recommends'], (what) => new RedisMissingError(`poolvisor tests: ${what}; ${NEED.slice('poolvisor tests: '.length)}`));
  if (!host.onPath('redis-server')) throw new RedisMissingError(`poolvisor tests: apt-get installed redis-server, but it is not on PATH; the Redis tests need it there`);
}

export const systemHost: RedisHost = {
  onPath,
  isRoot: () => process.getuid?.() === 0,
  run: runToEnd,
  say: (line) => process.stdout.write(`${line}\n`),
};

/**
 * A test file needs Redis when it imports the private-server helper (an import line, not a string
 * in a test) or runs the cluster benchmark, which starts its own server.
 */
const USES_REDIS = /^import [^;]*from '(\.\.?\/)+support\/redisServer\.(js|mjs)';|'test\/bench\/cluster\.mjs'/m;

/**
 * Whether this run includes a test file that starts a redis-server. As in ./browser.ts, the
 * selected files come from vitest's experimental state API; without it, assume yes.
 */
export function runsRedisTests(project: Pick<TestProject, 'vitest'>, read: (path: string) => string = (path) => readFileSync(path, 'utf8')): boolean {
  const paths = (project.vitest.state as { getPaths?: () => string[] } | undefined)?.getPaths?.();
  if (!Array.isArray(paths)) return true;
  return paths.some((path) => {
    try {
      return USES_REDIS.test(read(path));
    } catch {
      return false;
    }
  });
}

export function setup(project: TestProject): void {
  // Present: one PATH lookup, no file read.
  if (systemHost.onPath('redis-server') || !runsRedisTests(project)) return;
  try {
    ensureRedis(systemHost);
  } catch (error) {
    if (!(error instanceof RedisMissingError)) throw error;
    // As in ./browser.ts: one line, before vitest's own reading of a failed setup.
    process.stderr.write(`${error.message}\n`);
    process.exit(1);
  }
}
