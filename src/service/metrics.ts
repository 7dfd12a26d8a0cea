import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Pool, PoolAuditEvent } from '../pool.js';

const WORKER_STATES = ['restarting', 'idle', 'busy', 'monitoring', 'killed', 'stopping', 'stopped'] as const;

/**
 * Prometheus metrics of one pool, in a registry of its own (several pools, several
 * servers in one process do not collide). Counters follow the audit trail; gauges
 * are set from one `pool.status()` per scrape (`refresh`), so they cost nothing in between.
 */
export function createPoolMetrics(pool: Pool): { registry: Registry; record: (event: PoolAuditEvent) => void; refresh: () => void } {
  const registry = new Registry();
  const tasks = new Counter({ name: 'poolvisor_tasks_total', help: 'Tasks settled, by outcome (succeeded, or the failure code).', labelNames: ['outcome'], registers: [registry] });
  const duration = new Histogram({
    name: 'poolvisor_task_duration_seconds',
    help: 'Time from dispatch to a worker to settlement.',
    labelNames: ['outcome'],
    buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300],
    registers: [registry],
  });
  const kills = new Counter({ name: 'poolvisor_worker_kills_total', help: 'Workers killed, by reason.', labelNames: ['reason'], registers: [registry] });
  const restarts = new Counter({ name: 'poolvisor_worker_restarts_total', help: 'Worker restarts scheduled.', labelNames: ['counted'], registers: [registry] });
  const queueDepth = new Gauge({ name: 'poolvisor_queue_depth', help: 'Tasks waiting for a worker.', registers: [registry] });
  const rss = new Gauge({
    name: 'poolvisor_worker_rss_bytes',
    help: "Last sampled resident memory of each worker's process tree.",
    labelNames: ['worker', 'device'],
    registers: [registry],
  });
  const gpu = new Gauge({
    name: 'poolvisor_worker_gpu_bytes',
    help: "Last sampled GPU memory of each GPU worker's process tree.",
    labelNames: ['worker', 'device'],
    registers: [registry],
  });
  const state = new Gauge({
    name: 'poolvisor_worker_state',
    help: 'Each worker state: 1 for the state it is in, 0 for the others.',
    labelNames: ['worker', 'state'],
    registers: [registry],
  });
  const degraded = new Gauge({
    name: 'poolvisor_degraded',
    help: '1 while the pool is degraded: it stopped restarting workers after a crash loop, failing fast and probing now and then.',
    registers: [registry],
  });
  const quarantined = new Gauge({ name: 'poolvisor_quarantined_inputs', help: 'Inputs refused as poison right now.', registers: [registry] });
  const quarantines = new Counter({
    name: 'poolvisor_quarantines_total',
    help: 'Inputs put in quarantine: they crashed or outgrew their memory limit on several workers.',
    registers: [registry],
  });
  const probes = new Counter({ name: 'poolvisor_recovery_probes_total', help: 'Probes of a degraded pool, by result.', labelNames: ['result'], registers: [registry] });

  /** Reads `pool.status()` once and sets every gauge from it; call before each scrape. */
  const refresh = () => {
    const status = pool.status();
    queueDepth.set(status.queued);
    degraded.set(status.degraded === undefined ? 0 : 1);
    quarantined.set(status.quarantined);
    rss.reset();
    gpu.reset();
    state.reset();
    for (const w of status.workers) {
      rss.set({ worker: w.id, device: w.device }, w.rssBytes);
      if (w.gpuBytes !== undefined) gpu.set({ worker: w.id, device: w.device }, w.gpuBytes);
      for (const name of WORKER_STATES) state.set({ worker: w.id, state: name }, w.state === name ? 1 : 0);
    }
  };

  const started = new Map<string, number>();
  const record = (event: PoolAuditEvent) => {
    switch (event.type) {
      case 'task.started':
        started.set(event.taskId, event.at);
        break;
      case 'task.succeeded':
      case 'task.failed': {
        const outcome = event.type === 'task.succeeded' ? 'succeeded' : event.failure.code.toLowerCase();
        tasks.inc({ outcome });
        const at = started.get(event.taskId);
        if (at !== undefined) duration.observe({ outcome }, (event.at - at) / 1000);
        started.delete(event.taskId);
        break;
      }
      case 'worker.killed':
        kills.inc({ reason: event.termination.reason === 'memory' ? `memory_${event.termination.resource}` : event.termination.reason.replaceAll('-', '_') });
        break;
      case 'worker.restart-scheduled':
        restarts.inc({ counted: String(event.counted) });
        break;
      case 'task.quarantined':
        quarantines.inc();
        break;
      case 'pool.probe-failed':
        probes.inc({ result: 'failed' });
        break;
      case 'pool.recovered':
        probes.inc({ result: 'recovered' });
        break;
    }
  };
  return { registry, record, refresh };
}

/** What the service itself holds, read at each scrape: the bounds an operator sets, and how close it is to them. */
export interface ServiceGaugeSources {
  readonly streams: () => { readonly open: number; readonly lagged: number };
  readonly records: () => { readonly records: number; readonly settledBytes: number };
  readonly pendingPayloadBytes: () => number;
}

export function addServiceMetrics(registry: Registry, sources: ServiceGaugeSources): void {
  addEventStreamMetrics(registry, sources.streams);
  new Gauge({
    name: 'poolvisor_task_records',
    help: 'Task records the service holds (queued, running and settled).',
    registers: [registry],
    collect() {
      this.set(sources.records().records);
    },
  });
  new Gauge({
    name: 'poolvisor_task_records_bytes',
    help: 'Characters of JSON held in settled task records (bounded by taskRecords.maxBytes).',
    registers: [registry],
    collect() {
      this.set(sources.records().settledBytes);
    },
  });
  new Gauge({
    name: 'poolvisor_pending_payload_bytes',
    help: 'Bytes of request bodies held for tasks not yet settled (bounded by maxPendingPayloadBytes).',
    registers: [registry],
    collect() {
      this.set(sources.pendingPayloadBytes());
    },
  });
}

/** The event streams' gauges, which every service has: how many are open, how many were closed for lagging. */
export function addEventStreamMetrics(registry: Registry, streams: ServiceGaugeSources['streams']): void {
  new Gauge({
    name: 'poolvisor_event_streams',
    help: 'Open /v1/events streams.',
    registers: [registry],
    collect() {
      this.set(streams().open);
    },
  });
  new Counter({
    name: 'poolvisor_event_streams_lagged_total',
    help: 'Event streams closed because their client fell behind (a final lagging event).',
    registers: [registry],
    collect() {
      this.reset();
      this.inc(streams().lagged);
    },
  });
}
