import type { ServerResponse } from 'node:http';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ConfigError } from '../errors.js';
import { parseEventFilter, type EventFilter } from './eventFilter.js';
import { sseFrame, type EventLog } from './eventLog.js';
import { HttpError } from './httpErrors.js';

export interface EventStreamSources {
  readonly events: EventLog;
  /** The pool's view, sent on connect and every 0.5 s while anyone listens. */
  readonly poolView: () => Record<string, unknown>;
  /** The SSE event name of that view, and its name in `?types=` (default `status`; a cluster's is `cluster`). */
  readonly statusEvent?: string;
}

export interface EventStreamLimits {
  /** Bytes a stream may have waiting in its socket; past them it is not written to (default 1 MiB). */
  readonly maxStreamBufferBytes?: number;
  /** Streams open at once; one more gets 503 `ERR_TOO_MANY_STREAMS` (default 64). */
  readonly maxEventStreams?: number;
}

export interface EventStreamStats {
  readonly open: number;
  /** Streams closed with a `lagging` event since the service started. */
  readonly lagged: number;
  /** The most bytes any stream has had waiting in its socket (the final `lagging` event aside). */
  readonly peakBufferedBytes: number;
}

export interface EventStreams {
  /** Ends every open stream (the service is closing). */
  endAll(): void;
  stop(): void;
  stats(): EventStreamStats;
}

/** One open `/v1/events` response: a cursor over the event log, so a stream that falls behind holds no copy of what it has not been sent. */
interface Stream {
  readonly raw: ServerResponse;
  readonly filter: EventFilter;
  /** The id of the last logged event this stream has been sent or has skipped as filtered out. */
  cursor: number;
  /** The id of the last event written to it: where it resumes, with `Last-Event-ID`, after a `lagging`. */
  sentId: number;
  /** The newest `status` not yet written; a newer one replaces it, so a slow stream skips stale ones. */
  status: Buffer | undefined;
  /** Full: waiting for the socket's `drain`. */
  waiting: boolean;
  /** Keep-alive ticks it has spent waiting without a drain. */
  stalledTicks: number;
}

const KEEP_ALIVE_MS = 15_000;
// A stream is ended with its last event queued; a peer that never reads never lets that flush,
// so once a grace period passes without progress its socket is destroyed and nothing stays held for it.
const END_GRACE_MS = 1_000;
const keepAliveFrame = Buffer.from(': keep-alive\n\n');
// What HTTP/1.1's chunked encoding adds to each write (the length in hex and two CRLFs), counted
// against the limit so that the bytes waiting in the socket stay under it.
const CHUNK_OVERHEAD = 16;

/**
 * `GET /v1/events`: the audit trail, state changes and the pool's status as Server-Sent Events,
 * filtered by `?types=`. Each stream is written at most once per turn of the event loop (one
 * write of every frame since the last), each event is serialized once for all streams, and a
 * stream whose socket holds `maxStreamBufferBytes` is not written to until it drains. One that
 * stays behind until the ring no longer holds what it has not been sent, or does not drain for
 * two keep-alive periods, gets a final `lagging` event and is closed.
 */
export function registerEventStream(app: FastifyInstance, sources: EventStreamSources, limits: EventStreamLimits = {}): EventStreams {
  const { events, poolView } = sources;
  const statusEvent = sources.statusEvent ?? 'status';
  const limitBytes = limits.maxStreamBufferBytes ?? 1024 * 1024;
  const maxStreams = limits.maxEventStreams ?? 64;
  const streams = new Set<Stream>();
  let lagged = 0;
  let peakBufferedBytes = 0;

  let flushScheduled = false;
  const flushSoon = () => {
    if (flushScheduled) return;
    flushScheduled = true;
    setImmediate(() => {
      flushScheduled = false;
      for (const stream of streams) pump(stream);
    });
  };

  const close = (stream: Stream, finalFrame?: Buffer) => {
    if (!streams.delete(stream)) return;
    const { raw } = stream;
    if (raw.destroyed || raw.writableEnded) return;
    raw.end(finalFrame);
    if (raw.writableFinished) return;
    let waiting = raw.writableLength;
    const grace = setInterval(() => {
      // A peer that still reads gets the rest; one that read nothing in a grace period never will.
      if (raw.writableLength < waiting) waiting = raw.writableLength;
      else raw.destroy();
    }, END_GRACE_MS);
    grace.unref();
    raw.once('finish', () => clearInterval(grace));
    raw.once('close', () => clearInterval(grace));
  };

  const lag = (stream: Stream) => {
    lagged += 1;
    const bufferedBytes = stream.raw.writableLength;
    const message = `this stream fell behind: ${bufferedBytes} bytes were waiting in its socket (the limit is ${limitBytes}) and the events after id ${stream.sentId} it was not sent are gone; read faster, filter with ?types=, or reconnect with Last-Event-ID`;
    close(stream, sseFrame('lagging', { code: 'ERR_STREAM_LAGGING', message, bufferedBytes, limitBytes, lastEventId: stream.sentId }));
  };

  /** Writes what the stream has not been sent, as far as its socket has room. */
  const pump = (stream: Stream) => {
    const { raw } = stream;
    if (raw.destroyed || raw.writableEnded) return;
    // Events it has not been sent have left the ring: it can no longer get them in order.
    if (stream.cursor < events.oldestId - 1) return lag(stream);
    if (stream.waiting) return;
    const chunks: Buffer[] = [];
    let bytes = 0;
    // A frame goes out if it fits under the limit, or if the socket is below its high-water
    // mark (so one frame bigger than the limit still goes out, and a full socket always ends
    // in a write that returns false, which brings a `drain`).
    const fits = (frame: Buffer) => raw.writableLength + CHUNK_OVERHEAD + bytes + frame.length <= limitBytes || raw.writableLength + bytes < raw.writableHighWaterMark;
    if (stream.status && fits(stream.status)) {
      chunks.push(stream.status);
      bytes += stream.status.length;
      stream.status = undefined;
    }
    const newest = events.newestId;
    while (stream.cursor < newest) {
      const event = events.get(stream.cursor + 1);
      if (event && stream.filter.matches(event)) {
        if (!fits(event.frame)) break;
        chunks.push(event.frame);
        bytes += event.frame.length;
        stream.sentId = event.id;
      }
      stream.cursor += 1;
    }
    if (chunks.length > 0) {
      raw.write(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, bytes));
      peakBufferedBytes = Math.max(peakBufferedBytes, raw.writableLength);
    }
    if ((stream.cursor < newest || stream.status) && raw.writableNeedDrain) {
      stream.waiting = true;
      raw.once('drain', () => {
        stream.waiting = false;
        stream.stalledTicks = 0;
        pump(stream);
      });
    }
  };

  const unsubscribe = events.subscribe(() => {
    if (streams.size > 0) flushSoon();
  });

  // One status for every stream per tick, serialized once.
  const statusTimer = setInterval(() => {
    let frame: Buffer | undefined;
    for (const stream of streams) {
      if (!stream.filter.status) continue;
      frame ??= sseFrame(statusEvent, { ...poolView(), at: Date.now() });
      stream.status = frame;
    }
    if (frame) flushSoon();
  }, 500);
  statusTimer.unref();

  const keepAliveTimer = setInterval(() => {
    for (const stream of streams) {
      if (!stream.waiting) {
        if (stream.raw.writableLength + CHUNK_OVERHEAD + keepAliveFrame.length <= limitBytes) stream.raw.write(keepAliveFrame);
      }
      else if (++stream.stalledTicks >= 2) lag(stream);
    }
  }, KEEP_ALIVE_MS);
  keepAliveTimer.unref();

  app.get('/v1/events', (request: FastifyRequest<{ Querystring: { since?: string; types?: string | string[] } }>, reply: FastifyReply) => {
    const filter = parseEventFilter(request.query.types, statusEvent);
    const resumeAfter = parseResumeId(request.headers['last-event-id'], request.query.since);
    if (streams.size >= maxStreams) {
      throw new HttpError(503, 'ERR_TOO_MANY_STREAMS', `${maxStreams} event streams are open, the most this service serves at once; try again later`, {
        retryAfterSeconds: 5,
        limit: maxStreams,
      });
    }
    reply.hijack();
    const raw = reply.raw;
    raw.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', connection: 'keep-alive', ...(reply.getHeaders() as Record<string, string>) });
    // A resume point older than the ring starts at the oldest event still held, as before; one
    // newer than the newest (ids from before a restart) starts with what comes next.
    const cursor = Math.min(Math.max(resumeAfter, events.oldestId - 1), events.newestId);
    const stream: Stream = {
      raw,
      filter,
      cursor,
      sentId: cursor,
      status: filter.status ? sseFrame(statusEvent, { ...poolView(), at: Date.now() }) : undefined,
      waiting: false,
      stalledTicks: 0,
    };
    streams.add(stream);
    raw.on('close', () => streams.delete(stream));
    pump(stream);
  });

  return {
    endAll() {
      for (const stream of streams) close(stream);
    },
    stop() {
      clearInterval(statusTimer);
      clearInterval(keepAliveTimer);
      unsubscribe();
    },
    stats() {
      return { open: streams.size, lagged, peakBufferedBytes };
    },
  };
}

/**
 * The id a stream resumes after: `Last-Event-ID` (what `EventSource` sends on a reconnect), else
 * `?since=`, else 0 (everything the ring holds). Not a whole number: a {@link ConfigError}
 * naming the field, rather than a silent replay from the start.
 */
function parseResumeId(header: string | string[] | undefined, since: string | undefined): number {
  const [field, value] = header !== undefined ? ['Last-Event-ID', String(header)] : ['since', since];
  if (value === undefined) return 0;
  if (!/^\d{1,15}$/.test(value.trim())) {
    throw new ConfigError([{ field, message: `expected the id of an event (a whole number), got ${JSON.stringify(value)}`, received: value }]);
  }
  return Number(value.trim());
}
