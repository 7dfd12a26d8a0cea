// The HTTP service under load: requests/s and latency of POST /v1/tasks (a no-op task, the
// 202 path) with 0 and with 50 reading SSE clients, and the server's RSS with a client that
// never reads its stream. Run: npm run bench:service [-- --tasks N --connections C --readers R]
// (builds first). Each case starts its own server process, so its VmRSS is its own (and its
// heap and Buffers after a GC, asked over IPC); the load generator and the SSE clients run in
// this process, on the same machine.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';

const { values } = parseArgs({
  options: {
    serve: { type: 'boolean', default: false },
    tasks: { type: 'string', default: '100000' },
    connections: { type: 'string', default: '32' },
    readers: { type: 'string', default: '50' },
    cases: { type: 'string', default: 'plain,readers,non-reader' },
  },
});

const MiB = 1024 * 1024;

function rssBytes(pid) {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8').match(/^VmRSS:\s+(\d+) kB/m);
  return line ? Number(line[1]) * 1024 : NaN;
}

async function startServer() {
  const child = spawn(process.execPath, ['--expose-gc', new URL(import.meta.url).pathname, '--serve'], { stdio: ['ignore', 'pipe', 'inherit', 'ipc'] });
  let text = '';
  for await (const chunk of child.stdout) {
    text += chunk;
    if (text.includes('\n')) break;
  }
  const { url } = JSON.parse(text.split('\n')[0]);
  return { child, url };
}

/** The server's live memory after a full GC: what it still holds, apart from the allocator's slack in RSS. */
async function liveBytes(child) {
  const answer = once(child, 'message');
  child.send('measure');
  const [usage] = await answer;
  return usage.heapUsed + usage.external;
}

async function stopServer(child) {
  if (child.exitCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}

/** An SSE client that reads and counts what arrives. */
function reader(url) {
  const state = { bytes: 0, request: undefined };
  state.request = http.get(`${url}/v1/events`, (response) => {
    response.on('data', (chunk) => {
      state.bytes += chunk.length;
    });
    response.on('error', () => {});
  });
  state.request.on('error', () => {});
  return { close: () => state.request.destroy(), bytes: () => state.bytes };
}

/** An SSE client that sends its request and never reads a byte of the answer. */
function nonReader(url) {
  const { hostname, port } = new URL(url);
  const socket = net.connect({ host: hostname, port: Number(port) });
  socket.on('error', () => {});
  socket.write(`GET /v1/events HTTP/1.1\r\nhost: ${hostname}\r\naccept: text/event-stream\r\n\r\n`);
  socket.pause();
  return { close: () => socket.destroy(), bytes: () => 0 };
}

async function poolIdle(url) {
  for (let i = 0; i < 600; i += 1) {
    const status = await (await fetch(`${url}/v1/pool`)).json();
    if (status.queued === 0 && status.running === 0) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

async function runCase(name, clients) {
  const { child, url } = await startServer();
  const open = Array.from({ length: clients.readers }, () => reader(url));
  if (clients.nonReader) open.push(nonReader(url));
  // Let the streams connect (and the workers start) before the load.
  await new Promise((resolve) => setTimeout(resolve, 1000));
  let peakRss = rssBytes(child.pid);
  const sampler = setInterval(() => {
    peakRss = Math.max(peakRss, rssBytes(child.pid));
  }, 250);
  const result = await autocannon({
    url: `${url}/v1/tasks`,
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ task: 'noop' }),
    connections: Number(values.connections),
    amount: Number(values.tasks),
  });
  await poolIdle(url);
  clearInterval(sampler);
  const rss = rssBytes(child.pid);
  const live = await liveBytes(child);
  peakRss = Math.max(peakRss, rss);
  const sseBytes = open.reduce((sum, client) => sum + client.bytes(), 0);
  for (const client of open) client.close();
  await stopServer(child);
  return {
    case: name,
    'requests/s': Math.round(result.requests.average),
    'p50 ms': result.latency.p50,
    'p99 ms': result.latency.p99,
    '2xx': result['2xx'],
    'non-2xx': result.non2xx,
    errors: result.errors,
    'RSS after, MiB': (rss / MiB).toFixed(0),
    'peak RSS, MiB': (peakRss / MiB).toFixed(0),
    'heap+external after GC, MiB': (live / MiB).toFixed(1),
    'SSE MiB read': (sseBytes / MiB).toFixed(1),
  };
}

async function main() {
  const cases = {
    plain: ['no SSE client', { readers: 0, nonReader: false }],
    readers: [`${values.readers} reading SSE clients`, { readers: Number(values.readers), nonReader: false }],
    'non-reader': ['1 SSE client that never reads', { readers: 0, nonReader: true }],
  };
  console.log(`POST /v1/tasks {task:"noop"}: ${values.tasks} requests per case, ${values.connections} connections, node ${process.version}`);
  const rows = [];
  for (const key of values.cases.split(',')) {
    const [name, clients] = cases[key];
    rows.push(await runCase(name, clients));
    console.log(rows.at(-1));
  }
  console.table(rows);
}

if (values.serve) {
  // The server side, in its own process. Logging off: a log line per request would be the bench.
  const { createService } = await import('../../dist/src/service/app.js');
  const service = await createService({
    pool: { task: new URL('../fixtures/tasks.mjs', import.meta.url).pathname, maxQueue: 1_000_000 },
    logger: false,
  });
  const url = await service.app.listen({ host: '127.0.0.1', port: 0 });
  process.stdout.write(`${JSON.stringify({ url })}\n`);
  process.on('message', () => {
    globalThis.gc();
    process.send(process.memoryUsage());
  });
  process.once('SIGTERM', () => void service.close(0).then(() => process.exit(0)));
} else {
  await main();
}
