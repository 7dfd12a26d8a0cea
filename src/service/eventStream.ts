import type { ServerResponse } from 'node:http';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { EventLog } from './eventLog.js';

export interface EventStreamSources {
  readonly events: EventLog;
  /** The pool's view, sent on connect and every 0.5 s while anyone listens. */
  readonly poolView: () => Record<string, unknown>;
}

export interface EventStreams {
  /** Ends every open stream (the service is closing). */
  endAll(): void;
  stop(): void;
}

/** `GET /v1/events`: the audit trail, state changes and the pool's status as Server-Sent Events. */
export function registerEventStream(app: FastifyInstance, sources: EventStreamSources): EventStreams {
  const { events, poolView } = sources;
  const statusListeners = new Set<(status: unknown) => void>();
  const streams = new Set<ServerResponse>();
  const statusTimer = setInterval(() => {
    if (statusListeners.size === 0) return;
    const view = { ...poolView(), at: Date.now() };
    for (const listener of statusListeners) listener(view);
  }, 500);
  statusTimer.unref();

  app.get('/v1/events', (request: FastifyRequest<{ Querystring: { since?: string } }>, reply: FastifyReply) => {
    const lastId = Number(request.headers['last-event-id'] ?? request.query.since ?? 0) || 0;
    reply.hijack();
    const raw = reply.raw;
    raw.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', connection: 'keep-alive', ...(reply.getHeaders() as Record<string, string>) });
    const write = (id: number | undefined, type: string, data: unknown) => {
      if (raw.writableEnded || raw.destroyed) return;
      raw.write(`${id === undefined ? '' : `id: ${id}\n`}event: ${type}\ndata: ${JSON.stringify(data)}\n\n`);
    };
    for (const event of events.since(lastId)) write(event.id, event.type, event.data);
    const unsubscribe = events.subscribe((event) => write(event.id, event.type, event.data));
    const onStatus = (status: unknown) => write(undefined, 'status', status);
    statusListeners.add(onStatus);
    write(undefined, 'status', { ...poolView(), at: Date.now() });
    const keepAlive = setInterval(() => !raw.writableEnded && raw.write(': keep-alive\n\n'), 15_000);
    streams.add(raw);
    raw.on('close', () => {
      streams.delete(raw);
      clearInterval(keepAlive);
      unsubscribe();
      statusListeners.delete(onStatus);
    });
  });

  return {
    endAll() {
      for (const stream of streams) stream.end();
    },
    stop() {
      clearInterval(statusTimer);
    },
  };
}
