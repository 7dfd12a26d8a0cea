import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { isAlive } from './support/processes.js';
import { openRedisServers } from './support/redisServer.js';

const openRedis = openRedisServers();

async function withClient<T>(url: string, use: (client: Redis) => Promise<T>): Promise<T> {
  const client = new Redis(url, { maxRetriesPerRequest: 1, lazyConnect: true });
  try {
    await client.connect();
    return await use(client);
  } finally {
    client.disconnect();
  }
}

describe('a private redis-server for a test', () => {
  it('should answer on its own loopback port, never the shared 6379', async () => {
    const redis = await openRedis();
    expect(redis.port).not.toBe(6379);
    expect(redis.url).toBe(`redis://127.0.0.1:${redis.port}`);
    expect(await withClient(redis.url, (client) => client.ping())).toBe('PONG');
  });

  it('should keep a key through a SIGKILL and a restart on the same port, with AOF on', async () => {
    const redis = await openRedis({ appendonly: true, appendfsync: 'always' });
    const { port, pid } = redis;
    await withClient(redis.url, (client) => client.set('survives', 'yes'));
    await redis.kill();
    expect(isAlive(pid)).toBe(false);
    await redis.restart();
    expect(redis.port).toBe(port);
    expect(redis.pid).not.toBe(pid);
    expect(await withClient(redis.url, (client) => client.get('survives'))).toBe('yes');
  });

  it('should leave no process behind once stopped', async () => {
    const redis = await openRedis();
    const { pid } = redis;
    await redis.stop();
    expect(isAlive(pid)).toBe(false);
  });
});
