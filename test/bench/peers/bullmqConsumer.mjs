// One BullMQ consumer host in its own process, for the redelivery measurement of npm run bench:cluster:
// it tells its parent (IPC) when a job goes active here, with the pids of its sandboxed children.
// Usage: node bullmqConsumer.mjs <redis url> <queue> '<worker options as JSON>'
import { readFileSync } from 'node:fs';
import { Worker } from 'bullmq';

const [url, queue, json] = process.argv.slice(2);
const { port, hostname } = new URL(url ?? '');
const PROCESSOR = new URL('./bullmqProcessor.mjs', import.meta.url);
const children = () => {
  try {
    return readFileSync(`/proc/${process.pid}/task/${process.pid}/children`, 'utf8').trim().split(' ').filter(Boolean).map(Number);
  } catch {
    return [];
  }
};

const worker = new Worker(queue ?? '', PROCESSOR, { connection: { host: hostname, port: Number(port) }, concurrency: 1, ...JSON.parse(json ?? '{}') });
worker.on('active', (job) => {
  const at = Date.now();
  // The sandboxed child is forked as the job goes active; give it a moment to show up in /proc.
  setTimeout(() => process.send?.({ active: job.id, at, children: children() }), 200);
});
worker.on('error', (error) => process.stderr.write(`consumer: ${error.message}\n`));
await worker.waitUntilReady();
process.send?.({ ready: true });
