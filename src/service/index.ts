/**
 * The HTTP service, `poolvisor serve`: tasks, results, live events, the dashboard
 * (`dashboard/`) and the metrics, over one pool (`app.ts`) or, with `--redis`, in front
 * of a cluster (`clusterApp.ts`). The other files each hold one concern of the edge:
 * who may call, what a request may hold, what is remembered, how events are streamed
 * and measured, and the error envelope (every code it answers is in docs/http.md).
 * The builders never listen, so tests inject requests; `serveCommand.ts` reads the
 * flags, builds and listens.
 */
export { serve, SERVE_USAGE } from './serveCommand.js';
export { createService } from './app.js';
export type { Service, ServiceOptions } from './app.js';
export { createClusterService } from './clusterApp.js';
export type { ClusterService, ClusterServiceOptions } from './clusterApp.js';
