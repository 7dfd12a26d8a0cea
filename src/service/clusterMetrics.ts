import { Counter, Gauge, Registry } from 'prom-client';
import type { ClusterStatus, ClusterTaskEvent } from '../cluster/index.js';
import { addEventStreamMetrics } from './metrics.js';
import type { EventStreamStats } from './eventStream.js';

export interface ClusterMetrics {
  readonly registry: Registry;
  /** Counts a task this service enqueued. */
  submitted(deviceClass: string): void;
  /** Counts settlements from the queue events (of every producer's tasks, not only this service's). */
  record(event: ClusterTaskEvent): void;
  /** Sets the gauges from a fresh status, or marks Redis down when none could be read. */
  observe(status: ClusterStatus | undefined): void;
}

/**
 * Prometheus metrics of a service in front of a cluster, in a registry of its own. The
 * queue and host gauges are set from one `client.status()` before each scrape; the
 * counters follow the queue events this service hears.
 */
export function createClusterMetrics(sources: { streams: () => EventStreamStats; waitingRequests: () => number }): ClusterMetrics {
  const registry = new Registry();
  const jobs = new Gauge({ name: 'poolvisor_cluster_jobs', help: 'Jobs in the cluster queues, by device class and BullMQ state.', labelNames: ['class', 'state'], registers: [registry] });
  const hosts = new Gauge({ name: 'poolvisor_cluster_hosts', help: 'Live hosts (a heartbeat within its TTL).', registers: [registry] });
  const redisUp = new Gauge({ name: 'poolvisor_cluster_redis_up', help: '1 when Redis answered the last status read in time, 0 when it did not.', registers: [registry] });
  const submitted = new Counter({ name: 'poolvisor_tasks_submitted_total', help: 'Tasks this service enqueued, by device class.', labelNames: ['class'], registers: [registry] });
  const settled = new Counter({
    name: 'poolvisor_tasks_total',
    help: 'Tasks settled in the cluster, by outcome (succeeded, cancelled, or the failure code).',
    labelNames: ['outcome'],
    registers: [registry],
  });
  new Gauge({
    name: 'poolvisor_waiting_requests',
    help: '?wait=true requests whose task has not settled (bounded by maxWaitingRequests).',
    registers: [registry],
    collect() {
      this.set(sources.waitingRequests());
    },
  });
  addEventStreamMetrics(registry, sources.streams);
  return {
    registry,
    submitted: (deviceClass) => submitted.inc({ class: deviceClass }),
    record(event) {
      if (event.type === 'task.succeeded') settled.inc({ outcome: 'succeeded' });
      else if (event.type === 'task.cancelled') settled.inc({ outcome: 'cancelled' });
      else if (event.type === 'task.failed') settled.inc({ outcome: event.error.code.toLowerCase() });
    },
    observe(status) {
      redisUp.set(status === undefined ? 0 : 1);
      if (status === undefined) return;
      hosts.set(status.hosts.length);
      jobs.reset();
      for (const [deviceClass, counts] of Object.entries(status.queues)) {
        for (const [state, count] of Object.entries(counts)) jobs.set({ class: deviceClass, state }, count);
      }
    },
  };
}
