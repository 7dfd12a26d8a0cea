/** One entry of the service's event stream. */
export interface StreamEvent {
  /** Increasing from 1: the SSE `id`, used by `Last-Event-ID` to resume. */
  readonly id: number;
  /** The SSE `event` name: `audit`, `state` or `status`. */
  readonly type: string;
  readonly data: unknown;
}

/**
 * The last `capacity` events in a ring, with subscribers. A client that reconnects
 * with `Last-Event-ID` gets what it missed, as long as that is still in the ring.
 */
export class EventLog {
  readonly #ring: Array<StreamEvent | undefined>;
  #next = 1;
  readonly #subscribers = new Set<(event: StreamEvent) => void>();

  constructor(readonly capacity: number) {
    this.#ring = new Array<StreamEvent | undefined>(capacity);
  }

  append(type: string, data: unknown): void {
    const event: StreamEvent = { id: this.#next, type, data };
    this.#ring[this.#next % this.capacity] = event;
    this.#next += 1;
    for (const subscriber of this.#subscribers) subscriber(event);
  }

  /** Events after `lastId` still in the ring, oldest first. */
  since(lastId: number): StreamEvent[] {
    const first = Math.max(lastId + 1, this.#next - this.capacity);
    const out: StreamEvent[] = [];
    for (let id = first; id < this.#next; id += 1) {
      const event = this.#ring[id % this.capacity];
      if (event?.id === id) out.push(event);
    }
    return out;
  }

  subscribe(subscriber: (event: StreamEvent) => void): () => void {
    this.#subscribers.add(subscriber);
    return () => this.#subscribers.delete(subscriber);
  }
}
