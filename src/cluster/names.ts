/**
 * Where the cluster keeps things in Redis. BullMQ owns `bull:<queue>.<class>:*`; poolvisor's
 * own keys (host heartbeats, which jobs each host holds) live under `poolvisor:<queue>:*`.
 */

/** The device classes a job can be routed to: one BullMQ queue each. */
export const DEVICE_CLASSES = ['cpu', 'cuda'] as const;
export type DeviceClass = (typeof DEVICE_CLASSES)[number];

/** `cpu` → cpu; `cuda`, `cuda:N` → cuda. */
export function deviceClassOf(device: string | undefined): DeviceClass {
  return device !== undefined && device.startsWith('cuda') ? 'cuda' : 'cpu';
}

/** BullMQ refuses `:` in a queue name (it separates its keys), so the class is joined with a dot. */
export function classQueueName(queue: string, deviceClass: DeviceClass): string {
  return `${queue}.${deviceClass}`;
}

export function clusterKeys(queue: string) {
  const root = `poolvisor:${queue}`;
  return {
    /** Every host that has announced itself and not yet been reaped. */
    hosts: `${root}:hosts`,
    /** A host's heartbeat: its status as JSON, with a TTL. Gone means the host is dead. */
    heartbeat: (hostId: string) => `${root}:host:${hostId}`,
    /**
     * The BullMQ worker id a host runs per device class, kept without a TTL: after the
     * heartbeat is gone, the reaper knows the host's jobs by their locks, which hold
     * `<worker id>:<n>`.
     */
    workers: (hostId: string) => `${root}:host:${hostId}:workers`,
    /** Taken by the one live host that moves a dead host's jobs of a class back. */
    reaping: (hostId: string, deviceClass: DeviceClass) => `${root}:reap:${hostId}:${deviceClass}`,
    /** A waiting job removed by a cancel: how it ended, kept as long as finished jobs are. */
    cancelled: (deviceClass: DeviceClass, jobId: string) => `${root}:cancelled:${deviceClass}:${jobId}`,
    /** Pub/sub: job ids to cancel, on whichever host runs them. */
    cancel: `${root}:cancel`,
  };
}

/** `redis://user:pass@host:port/db` as the connection options BullMQ and ioredis take. */
export function redisOptions(url: string): { host: string; port: number; username?: string; password?: string; db?: number } {
  const parsed = new URL(url);
  if (parsed.protocol !== 'redis:') throw new TypeError(`expected a redis:// URL, got ${JSON.stringify(url)}`);
  const db = parsed.pathname.length > 1 ? Number(parsed.pathname.slice(1)) : undefined;
  return {
    host: parsed.hostname || '127.0.0.1',
    port: parsed.port ? Number(parsed.port) : 6379,
    ...(parsed.username ? { username: decodeURIComponent(parsed.username) } : {}),
    ...(parsed.password ? { password: decodeURIComponent(parsed.password) } : {}),
    ...(db !== undefined && Number.isInteger(db) ? { db } : {}),
  };
}
