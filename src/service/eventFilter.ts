import { ConfigError } from '../errors.js';
import type { StreamEvent } from './eventLog.js';

/** Which events one `/v1/events` stream wants, from its `?types=`. */
export interface EventFilter {
  /** Whether the stream gets the periodic view (the pool's `status`, a cluster's `cluster`) every 0.5 s. */
  readonly status: boolean;
  matches(event: StreamEvent): boolean;
}

const everything: EventFilter = { status: true, matches: () => true };

// An audit type is dotted lowercase words (`task.succeeded`, `worker.restart-scheduled`);
// a pattern may end in `.*`, and `*` alone is every audit event.
const auditPattern = /^(?:\*|[a-z][a-z0-9-]*(?:\.[a-z][a-z0-9-]*)*\.(?:\*|[a-z][a-z0-9-]*))$/;

/**
 * Parses `?types=task.*,worker.killed,state`: audit types, exact or with a trailing `*` that
 * matches the rest (`task.*` is every `task.…` event), and the stream kinds `state` and the
 * periodic view (`statusKind`: `status`, or a cluster's `cluster`) by name. No `types` is everything. Anything else is a {@link ConfigError} naming `types`, so a
 * typo is a 400 instead of a stream that stays silent.
 */
export function parseEventFilter(value: string | readonly string[] | undefined, statusKind = 'status'): EventFilter {
  if (value === undefined) return everything;
  const text = typeof value === 'string' ? value : value.join(',');
  const names = text.split(',').map((name) => name.trim());
  const invalid = names.filter((name) => name !== 'state' && name !== statusKind && !auditPattern.test(name));
  if (names.every((name) => name === '') || invalid.length > 0) {
    throw new ConfigError([
      {
        field: 'types',
        message: `expected a comma-separated list of state, ${statusKind} and audit event types such as task.succeeded or worker.* (a trailing * matches the rest), got ${JSON.stringify(invalid[0] ?? text)}`,
        received: text,
      },
    ]);
  }
  const exact = new Set(names.filter((name) => !name.endsWith('*')));
  const prefixes = names.filter((name) => name.endsWith('*')).map((name) => name.slice(0, -1));
  const state = exact.has('state');
  return {
    status: exact.has(statusKind),
    matches(event) {
      if (event.type === 'state') return state;
      const type = (event.data as { type: string }).type;
      return exact.has(type) || prefixes.some((prefix) => type.startsWith(prefix));
    },
  };
}

