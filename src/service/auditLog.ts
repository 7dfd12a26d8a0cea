import type { FastifyBaseLogger } from 'fastify';
import type { PoolAuditEvent } from '../pool.js';

/**
 * The audit events an operator must see in the log, at the level they deserve, with
 * their evidence: every kill and why, poison inputs, and the pool giving up on (and
 * coming back to) its workers. The rest is in the audit trail (`/v1/events`), not the log.
 */
export function logAuditEvent(log: FastifyBaseLogger, event: PoolAuditEvent): void {
  switch (event.type) {
    case 'worker.killed': {
      const t = event.termination;
      const why = t.reason === 'memory' ? `memory (${t.resource})` : t.reason;
      log.warn({ event }, `worker ${event.workerId} (pid ${event.pid ?? '?'}) killed: ${why}${event.taskId === undefined ? '' : `, task ${event.taskId}`}`);
      return;
    }
    case 'task.quarantined':
      log.warn({ event }, `input of task ${event.name} quarantined after ${event.failures.length} failures (task ${event.taskId})`);
      return;
    case 'pool.degraded':
      log.error({ event }, `pool degraded: ${event.reason}`);
      return;
    case 'pool.probe-failed':
      log.warn({ event }, `recovery probe on ${event.workerId} failed`);
      return;
    case 'pool.recovered':
      log.info({ event }, `pool recovered after ${Math.round(event.degradedForMs / 1000)} s degraded`);
      return;
    case 'host.memory-pressure':
      log.warn({ event }, 'host memory below the reserve');
      return;
  }
}
