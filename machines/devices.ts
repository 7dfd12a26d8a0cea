/**
 * Devices and the selectors tasks use to ask for one. A worker runs on one device:
 * `cpu` or `cuda:N`. A task may ask for `cpu`, `cuda` (any GPU), `cuda:N` (that GPU),
 * or nothing (any worker).
 */

/** The queue of tasks that asked for no device in particular. */
export const ANY_DEVICE = 'any';

/** Whether a worker on `device` may run a task that asked for `selector`. */
export function deviceMatches(selector: string | undefined, device: string): boolean {
  if (selector === undefined || selector === ANY_DEVICE) return true;
  if (selector === 'cuda') return device.startsWith('cuda:');
  return selector === device;
}

/**
 * The queues a worker on `device` takes tasks from: tasks for any worker, for its
 * exact device and, on a GPU, for any GPU. Three peeks per dispatch, whatever the
 * number of queued tasks.
 */
export function queueKeysFor(device: string): readonly string[] {
  return device.startsWith('cuda:') ? [ANY_DEVICE, device, 'cuda'] : [ANY_DEVICE, device];
}
