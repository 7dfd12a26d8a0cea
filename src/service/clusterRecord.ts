import type { ClusterJobView } from '../cluster/index.js';

/**
 * The service's id of a cluster task: the client's `cpu/<job id>` with a dot for the slash
 * (`cpu.ab12cd34-7`, `cuda.k-<hash>`), so it is one URL path segment as it is. Job ids
 * poolvisor makes have no dot, so the first dot splits it back.
 */
export function serviceTaskId(clientTaskId: string): string {
  return clientTaskId.replace('/', '.');
}

/**
 * The client's id of a service id, or undefined when it is not one. The slash form is taken
 * too (`cpu%2Fab12cd34-7` in a URL, decoded), for a caller that kept the client's id.
 */
export function clientTaskId(serviceId: string): string | undefined {
  const match = /^(cpu|cuda)[./]([A-Za-z0-9_-][A-Za-z0-9_.-]{0,99})$/.exec(serviceId);
  return match ? `${match[1]}/${match[2]}` : undefined;
}

const iso = (ms: number | undefined) => (ms === undefined ? null : new Date(ms).toISOString());

/**
 * A cluster task as `GET /v1/tasks/:id` answers it: the single-host record's fields
 * (`id`, `task`, `state`, `submittedAt`, `settledAt`, `result`, `error`) where they mean the
 * same, and what a cluster adds: `startedAt`, `attempts`, `progress` and `host`.
 */
export function clusterRecord(view: ClusterJobView, host: string | undefined): Record<string, unknown> {
  return {
    id: serviceTaskId(view.taskId),
    task: view.task,
    state: view.state,
    submittedAt: iso(view.submittedAt),
    startedAt: iso(view.startedAt),
    settledAt: iso(view.settledAt),
    attempts: view.attempts,
    host: host ?? null,
    ...(view.progress === undefined ? {} : { progress: view.progress }),
    ...(view.state === 'succeeded' ? { result: view.result } : {}),
    ...(view.error === undefined ? {} : { error: view.error }),
  };
}
