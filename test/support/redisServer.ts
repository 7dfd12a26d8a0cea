/**
 * Private redis-servers for a test file: `openRedisServers()` at the top of the file registers an
 * afterAll that stops every server the file opened, so none outlives its tests. (Should the test
 * process die before that, `setpriv --pdeathsig` has the kernel kill them, where setpriv exists.)
 * The process handling lives in ./redisServer.mjs, which the plain-node benchmarks import too.
 */
import { afterAll } from 'vitest';
import { startRedisServer, type RedisServer, type RedisServerOptions } from './redisServer.mjs';

export { startRedisServer };
export type { RedisServer, RedisServerOptions };

/**
 * @example
 * const openRedis = openRedisServers();
 * it('should keep a key through a crash', async () => {
 *   const redis = await openRedis({ appendonly: true, appendfsync: 'always' });
 *   await redis.kill();
 *   await redis.restart();
 * });
 */
export function openRedisServers(defaults: RedisServerOptions = {}) {
  const servers: RedisServer[] = [];
  afterAll(async () => {
    await Promise.all(servers.splice(0).map((server) => server.stop()));
  });
  return async function open(options: RedisServerOptions = {}): Promise<RedisServer> {
    const server = await startRedisServer({ ...defaults, ...options });
    servers.push(server);
    return server;
  };
}
