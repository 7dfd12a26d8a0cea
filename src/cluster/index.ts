/**
 * poolvisor's cluster mode: many hosts, each a local pool, fed by BullMQ queues on Redis.
 * Depends on the pool's public API only.
 */
export { createClusterWorker } from './clusterWorker.js';
export type { ClusterWorker, ClusterWorkerOptions } from './clusterWorker.js';
export { createClusterClient } from './clusterClient.js';
export type { ClusterClient, ClusterClientOptions, ClusterRunOptions, ClusterStatus } from './clusterClient.js';
export type { HostStatus } from './hostRegistry.js';
export type { ClusterJobView, ClusterTaskState } from './jobView.js';
export type { ClusterTaskEvent } from './taskEvents.js';
export type { ClusterJobOptions } from './jobData.js';
