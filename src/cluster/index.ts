/**
 * `poolvisor/cluster`: many hosts, each a local pool, fed by BullMQ queues on Redis.
 * A host is `clusterWorker.ts` (`poolvisor worker` is `workerCommand.ts`); callers submit
 * and await with `clusterClient.ts`; `hostRegistry.ts` keeps the hosts' heartbeats, and
 * the job data, views and events are what both sides read and write in Redis. Runs on
 * the pool's public API and its option schemas; `poolvisor serve --redis` stands in
 * front of it (`src/service/clusterApp.ts`).
 */
export { createClusterWorker } from './clusterWorker.js';
export type { ClusterWorker, ClusterWorkerOptions } from './clusterWorker.js';
export { createClusterClient } from './clusterClient.js';
export type { ClusterClient, ClusterClientOptions, ClusterRunOptions, ClusterStatus } from './clusterClient.js';
export type { HostStatus } from './hostRegistry.js';
export type { ClusterJobView, ClusterTaskState } from './jobView.js';
export type { ClusterTaskEvent } from './taskEvents.js';
export type { ClusterJobOptions } from './jobData.js';
