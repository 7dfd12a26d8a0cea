import { isIPv6 } from 'node:net';
import { z } from 'zod';
import { int } from '../config.js';


/** The lockout after repeated wrong tokens, as `createService({ authFailures })` and the config file take it. */
export const authFailuresSchema = z.strictObject({
  /** Wrong tokens from one address within `windowMs` that lock it out. */
  limit: int(1, 'an integer from 1 to 1000000', 1_000_000).default(10),
  /** How far back failures count. */
  windowMs: int(1, 'an integer from 1 to 2147483647 (ms)', 2_147_483_647).default(60_000),
  /** How long a locked-out address is refused, right token or not. */
  lockoutMs: int(1, 'an integer from 1 to 2147483647 (ms)', 2_147_483_647).default(60_000),
  /** Addresses remembered at most; the least recently seen is forgotten first. */
  maxAddresses: int(1, 'an integer from 1 to 10000000', 10_000_000).default(10_000),
});

/** Defaults: 10 wrong tokens within 60 s lock an address out for 60 s; 10,000 addresses remembered. */
export type AuthFailureOptions = z.input<typeof authFailuresSchema>;

interface Entry {
  windowStart: number;
  failures: number;
  lockedUntil: number;
}

/**
 * Counts wrong tokens per client address and locks an address out after too many, so a
 * token cannot be guessed at the speed of the network. The table is bounded: an attacker
 * with many addresses evicts old entries instead of growing the server.
 */
export class AuthFailureLimiter {
  readonly limit: number;
  readonly windowMs: number;
  readonly lockoutMs: number;
  readonly maxAddresses: number;
  readonly #entries = new Map<string, Entry>();
  readonly #now: () => number;

  constructor(options: z.output<typeof authFailuresSchema>, now: () => number = Date.now) {
    ({ limit: this.limit, windowMs: this.windowMs, lockoutMs: this.lockoutMs, maxAddresses: this.maxAddresses } = options);
    this.#now = now;
  }

  /** Addresses remembered now (for tests and metrics). */
  get size(): number {
    return this.#entries.size;
  }

  /** Seconds until `address` may try again; 0 when it is not locked out. */
  lockedFor(address: string): number {
    const entry = this.#entries.get(clientKey(address));
    if (!entry) return 0;
    const left = entry.lockedUntil - this.#now();
    return left > 0 ? Math.ceil(left / 1000) : 0;
  }

  /** Records a wrong token; answers the seconds of lockout it caused (0 while under the limit). */
  fail(address: string): number {
    const key = clientKey(address);
    const now = this.#now();
    let entry = this.#entries.get(key);
    if (entry) this.#entries.delete(key); // re-inserted below: the Map's order is least recently seen first
    if (!entry || now - entry.windowStart >= this.windowMs) entry = { windowStart: now, failures: 0, lockedUntil: entry?.lockedUntil ?? 0 };
    entry.failures += 1;
    if (entry.failures >= this.limit) {
      entry.lockedUntil = now + this.lockoutMs;
      // A fresh window after the lockout: the next burst of guesses is limited again.
      entry.windowStart = entry.lockedUntil;
      entry.failures = 0;
    }
    this.#entries.set(key, entry);
    while (this.#entries.size > this.maxAddresses) {
      const oldest = this.#entries.keys().next().value as string;
      this.#entries.delete(oldest);
    }
    return this.lockedFor(address);
  }
}

/**
 * The unit an attacker pays for: an IPv4 address, or an IPv6 /64 (one host is commonly
 * given a whole /64, so counting single IPv6 addresses would give it 2^64 tries).
 */
export function clientKey(address: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return mapped[1] as string;
  if (!isIPv6(address)) return address;
  const [head = '', tail = ''] = address.toLowerCase().split('::');
  const headGroups = head ? head.split(':') : [];
  const tailGroups = tail ? tail.split(':') : [];
  const zeros: string[] = Array.from({ length: Math.max(0, 8 - headGroups.length - tailGroups.length) }, () => '0');
  const groups = address.includes('::') ? [...headGroups, ...zeros, ...tailGroups] : headGroups;
  return `${groups.slice(0, 4).map((g) => g.replace(/^0+(?=.)/, '')).join(':')}::/64`;
}
