import type { Redis } from 'ioredis';
import { clusterKeys, DEVICE_CLASSES, type DeviceClass } from './names.js';

/** What a host says of itself in its heartbeat (and `GET /v1/cluster`, `client.status()` show). */
export interface HostStatus {
  readonly id: string;
  readonly pid: number;
  readonly hostname: string;
  readonly devices: readonly string[];
  /** Workers per device class: how many jobs of that class it runs at once. */
  readonly slots: Partial<Record<DeviceClass, number>>;
  readonly running: number;
  /** The local pool's state, or `draining` once the host was told to stop (SIGTERM) and finishes what it runs. */
  readonly poolState: string;
  readonly workers: ReadonlyArray<{ readonly id: string; readonly state: string; readonly device: string }>;
  /** The tasks its module offers, as its workers reported them (none before the first is ready). */
  readonly tasks: readonly string[];
  readonly at: number;
}

export interface HostRegistryOptions {
  readonly redis: Redis;
  readonly queue: string;
  readonly hostId: string;
  /** The BullMQ worker of each device class this host serves, by id. */
  readonly workerIds: Readonly<Partial<Record<DeviceClass, string>>>;
  /** How often the heartbeat is written, and other hosts' heartbeats are checked. */
  readonly heartbeatMs: number;
  /** How long a heartbeat lives: a host silent this long is dead. */
  readonly heartbeatTtlMs: number;
  readonly status: () => HostStatus;
  /** Moves the running jobs of a dead host's worker of one class back to wait. */
  readonly requeue: (deviceClass: DeviceClass, deadWorkerId: string) => Promise<void>;
  /** This host's heartbeat was found gone: others may have taken its jobs, so it must stop running them. */
  readonly presumedDead: () => void;
  readonly onError: (error: Error) => void;
}

/**
 * The hosts of one cluster queue, kept in Redis with heartbeats. Each host writes a
 * heartbeat key with a short TTL and checks the others' as often. When one is gone, one
 * live host per device class (whoever takes the reaping key first) moves the dead host's
 * running jobs back to wait at once, instead of after BullMQ's lock expiry and stalled
 * check (30 s + 30 s by default), which stay as the backstop.
 */
export class HostRegistry {
  readonly #options: HostRegistryOptions;
  readonly #keys: ReturnType<typeof clusterKeys>;
  #timer: NodeJS.Timeout | undefined;
  #busy = false;

  constructor(options: HostRegistryOptions) {
    this.#options = options;
    this.#keys = clusterKeys(options.queue);
  }

  async start(): Promise<void> {
    await this.#announce();
    this.#timer = setInterval(() => void this.#tick(), this.#options.heartbeatMs);
  }

  /** Leaves the cluster (after a drain): no heartbeat, no entry. */
  async stop(): Promise<void> {
    clearInterval(this.#timer);
    const { redis, hostId } = this.#options;
    await redis
      .multi()
      .del(this.#keys.heartbeat(hostId))
      .srem(this.#keys.hosts, hostId)
      .del(this.#keys.workers(hostId))
      .exec();
  }

  /** The live hosts, as their heartbeats say. */
  static async list(redis: Redis, queue: string): Promise<HostStatus[]> {
    const keys = clusterKeys(queue);
    const ids = await redis.smembers(keys.hosts);
    if (ids.length === 0) return [];
    const beats = await redis.mget(ids.map((id) => keys.heartbeat(id)));
    return beats.filter((beat): beat is string => beat !== null).map((beat) => JSON.parse(beat) as HostStatus);
  }

  async #announce(): Promise<void> {
    const { redis, hostId, workerIds, heartbeatTtlMs } = this.#options;
    await redis
      .multi()
      .set(this.#keys.heartbeat(hostId), JSON.stringify(this.#options.status()), 'PX', heartbeatTtlMs)
      .hset(this.#keys.workers(hostId), workerIds as Record<string, string>)
      .sadd(this.#keys.hosts, hostId)
      .exec();
  }

  async #tick(): Promise<void> {
    if (this.#busy) return;
    this.#busy = true;
    try {
      await this.#beat();
      await this.#reapDeadHosts();
    } catch (error) {
      this.#options.onError(error as Error);
    } finally {
      this.#busy = false;
    }
  }

  async #beat(): Promise<void> {
    const { redis, hostId, workerIds, heartbeatTtlMs } = this.#options;
    // XX: only while the key still exists. Gone means this host was silent past the TTL and
    // its jobs may already run elsewhere: stop them, then come back as a new member.
    // The membership is written with every beat: a reaper that read this host's heartbeat as
    // gone just before the host came back can still remove it after, and the host would stay
    // out of the list (unseen, and never reaped should it die) for good.
    const replies = await redis
      .multi()
      .set(this.#keys.heartbeat(hostId), JSON.stringify(this.#options.status()), 'PX', heartbeatTtlMs, 'XX')
      .sadd(this.#keys.hosts, hostId)
      .hset(this.#keys.workers(hostId), workerIds as Record<string, string>)
      .exec();
    const kept = replies?.[0]?.[1];
    if (kept === null || kept === undefined) {
      this.#options.presumedDead();
      await this.#announce();
    }
  }

  async #reapDeadHosts(): Promise<void> {
    const { redis, hostId } = this.#options;
    const others = (await redis.smembers(this.#keys.hosts)).filter((id) => id !== hostId);
    if (others.length === 0) return;
    const beats = await redis.mget(others.map((id) => this.#keys.heartbeat(id)));
    const dead = others.filter((_, i) => beats[i] === null);
    for (const deadId of dead) await this.#reap(deadId);
  }

  async #reap(deadId: string): Promise<void> {
    const { redis, hostId, workerIds, heartbeatTtlMs } = this.#options;
    const theirs = await redis.hgetall(this.#keys.workers(deadId));
    for (const [deviceClass, deadWorkerId] of Object.entries(theirs) as Array<[DeviceClass, string]>) {
      // Only a host that serves the class can hand its jobs to a worker at once; one host does it.
      if (!(DEVICE_CLASSES as readonly string[]).includes(deviceClass) || workerIds[deviceClass] === undefined) continue;
      const taken = await redis.set(this.#keys.reaping(deadId, deviceClass), hostId, 'PX', heartbeatTtlMs * 5, 'NX');
      if (taken === null) continue;
      await this.#options.requeue(deviceClass, deadWorkerId);
      await redis.hdel(this.#keys.workers(deadId), deviceClass);
    }
    // Every class handed back (by this host or others): the dead host is no longer a member.
    if ((await redis.hlen(this.#keys.workers(deadId))) === 0) await redis.srem(this.#keys.hosts, deadId);
  }
}
