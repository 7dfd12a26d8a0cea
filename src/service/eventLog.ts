/** One entry of the service's event stream. */
export class StreamEvent {
  #frame: Buffer | undefined;

  constructor(
    /** Increasing from 1: the SSE `id`, used by `Last-Event-ID` to resume. */
    readonly id: number,
    /** The SSE `event` name: `audit` or `state` (`status` is sent, never logged). */
    readonly type: string,
    readonly data: unknown,
  ) {}

  /**
   * The event as one SSE frame, serialized at first use and then shared by every stream:
   * fifty dashboards cost one `JSON.stringify` per event, not fifty, and none when nobody listens.
   */
  get frame(): Buffer {
    this.#frame ??= sseFrame(this.type, this.data, this.id);
    return this.#frame;
  }
}

/** `id: …\nevent: …\ndata: <JSON>\n\n`, as bytes, so that streams copy it instead of encoding it again. */
export function sseFrame(type: string, data: unknown, id?: number): Buffer {
  return Buffer.from(`${id === undefined ? '' : `id: ${id}\n`}event: ${type}\ndata: ${JSON.stringify(data)}\n\n`);
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
    const event = new StreamEvent(this.#next, type, data);
    this.#ring[this.#next % this.capacity] = event;
    this.#next += 1;
    for (const subscriber of this.#subscribers) subscriber(event);
  }

  /** The id of the newest event (0 before the first). */
  get newestId(): number {
    return this.#next - 1;
  }

  /** The id of the oldest event still in the ring (the next one to come, while empty). */
  get oldestId(): number {
    return Math.max(1, this.#next - this.capacity);
  }

  /** The event with this id, while the ring still holds it. */
  get(id: number): StreamEvent | undefined {
    const event = this.#ring[id % this.capacity];
    return event?.id === id ? event : undefined;
  }

  subscribe(subscriber: (event: StreamEvent) => void): () => void {
    this.#subscribers.add(subscriber);
    return () => this.#subscribers.delete(subscriber);
  }
}
