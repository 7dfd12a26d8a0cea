import { deviceMatches } from './devices.js';

/**
 * The idle, unleased workers, by device: finding one for a task is a lookup per
 * device the pool has (a handful), never a scan of the workers.
 */
export class IdleWorkers {
  readonly #byDevice = new Map<string, number[]>();
  #count = 0;

  get count(): number {
    return this.#count;
  }

  add(device: string, slot: number): void {
    let list = this.#byDevice.get(device);
    if (list === undefined) {
      list = [];
      this.#byDevice.set(device, list);
    }
    list.push(slot);
    this.#count += 1;
  }

  remove(device: string, slot: number): void {
    const list = this.#byDevice.get(device);
    const at = list?.indexOf(slot) ?? -1;
    if (list === undefined || at < 0) return;
    list.splice(at, 1);
    this.#count -= 1;
  }

  /** Takes an idle worker whose device matches `selector`, if there is one. */
  take(selector: string): number | undefined {
    for (const [device, list] of this.#byDevice) {
      if (list.length > 0 && deviceMatches(selector, device)) {
        this.#count -= 1;
        return list.pop();
      }
    }
    return undefined;
  }

  clear(): void {
    this.#byDevice.clear();
    this.#count = 0;
  }
}
