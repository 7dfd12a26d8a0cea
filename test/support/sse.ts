import { expect } from 'vitest';

export interface SseEvent {
  id?: string;
  event: string;
  data: any;
}

/** Reads the SSE stream until `until` says stop (or `timeoutMs` passes); returns what it saw. */
export async function readEvents(url: string, headers: Record<string, string>, until: (events: SseEvent[]) => boolean, timeoutMs = 15_000): Promise<SseEvent[]> {
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), timeoutMs);
  const events: SseEvent[] = [];
  try {
    const response = await fetch(url, { headers, signal: abort.signal });
    expect(response.headers.get('content-type')).toContain('text/event-stream');
    const decoder = new TextDecoder();
    let buffer = '';
    for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
      buffer += decoder.decode(chunk, { stream: true });
      let end;
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const event: SseEvent = { event: 'message', data: undefined };
        for (const line of block.split('\n')) {
          if (line.startsWith('id: ')) event.id = line.slice(4);
          if (line.startsWith('event: ')) event.event = line.slice(7);
          if (line.startsWith('data: ')) event.data = JSON.parse(line.slice(6));
        }
        if (event.data !== undefined) events.push(event);
      }
      if (until(events)) break;
    }
  } finally {
    clearTimeout(timer);
    abort.abort();
  }
  return events;
}
