import { describe, expect, it } from 'vitest';
import { decideRedis, ensureRedis, RedisMissingError, runsRedisTests, type RedisHost } from './setup/redis.js';

/** A machine as the setup sees it, recording what the setup ran and printed. */
function fakeHost(machine: { present: boolean; root: boolean; apt: boolean; installs?: 'ok' | 'fails' }) {
  const ran: string[] = [];
  const said: string[] = [];
  let present = machine.present;
  const host: RedisHost = {
    onPath: (command) => (command === 'apt-get' ? machine.apt : present),
    isRoot: () => machine.root,
    run(command, args) {
      ran.push(`${command} ${args.join(' ')}`);
      if (args[0] !== 'install') return { status: 0, stderr: '' };
      if (machine.installs === 'fails') return { status: 100, stderr: 'E: Unable to locate package redis-server\n' };
      present = true;
      return { status: 0, stderr: '' };
    },
    say: (line) => said.push(line),
  };
  return { host, ran, said };
}

const refusal = (run: () => void): RedisMissingError => {
  try {
    run();
  } catch (error) {
    return error as RedisMissingError;
  }
  throw new Error('expected the setup to refuse');
};

describe('the redis-server setup', () => {
  it('should leave a machine that has redis-server alone', () => {
    const { host, ran, said } = fakeHost({ present: true, root: true, apt: true });
    ensureRedis(host);
    expect([...ran, ...said]).toEqual([]);
  });

  it("should install Debian's redis-server as root, non-interactively, saying so in one line", () => {
    const { host, ran, said } = fakeHost({ present: false, root: true, apt: true, installs: 'ok' });
    ensureRedis(host);
    expect(ran).toEqual(['apt-get update -qq', 'apt-get install -y -qq --no-install-recommends -o DPkg::Lock::Timeout=300 redis-server']);
    expect(said).toHaveLength(1);
  });

  it('should refuse without root in one line that says what to install, and install nothing', () => {
    const { host, ran } = fakeHost({ present: false, root: false, apt: true });
    const error = refusal(() => ensureRedis(host));
    expect(error.code).toBe('ERR_TEST_REDIS_MISSING');
    expect(error.message).toBe("poolvisor tests: the Redis tests need redis-server on PATH: run 'sudo apt-get install redis-server' (Debian)");
    expect(ran).toEqual([]);
  });

  it('should say in one line why an install failed', () => {
    const { host } = fakeHost({ present: false, root: true, apt: true, installs: 'fails' });
    const error = refusal(() => ensureRedis(host));
    expect(error.message).toContain('failed (exit 100: E: Unable to locate package redis-server)');
    expect(error.message).not.toContain('\n');
  });

  it('should refuse on a system without apt-get, even as root', () => {
    expect(decideRedis({ redisPresent: false, isRoot: true, hasAptGet: false }).kind).toBe('refuse');
  });

  it('should act only when a selected test file uses the private-server helper or runs the cluster benchmark', () => {
    const project = (paths: string[] | undefined) => ({ vitest: { state: paths === undefined ? {} : { getPaths: () => paths } } }) as unknown as Parameters<typeof runsRedisTests>[0];
    const sources: Record<string, string> = {
      '/repo/test/taskQueue.test.ts': "import { createTaskQueue } from '../src/taskQueue.js';",
      '/repo/test/cluster.test.ts': "import { describe } from 'vitest';\nimport { openRedisServers } from './support/redisServer.js';\n",
    };
    const read = (path: string) => sources[path] ?? '';
    expect(runsRedisTests(project(['/repo/test/taskQueue.test.ts']), read)).toBe(false);
    expect(runsRedisTests(project(['/repo/test/taskQueue.test.ts', '/repo/test/cluster.test.ts']), read)).toBe(true);
    expect(runsRedisTests(project(['/repo/test/bench.smoke.test.ts']), () => "spawnSync(node, ['test/bench/cluster.mjs', '--tasks', '100'])")).toBe(true);
    expect(runsRedisTests(project(undefined), read)).toBe(true);
  });
});
