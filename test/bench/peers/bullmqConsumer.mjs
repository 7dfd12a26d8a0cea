// One BullMQ consumer host in its own process, for npm run bench:cluster: the throughput case
// `bullmq-sandboxed-host` (a host apart from its producer, as poolvisor's cluster hosts are), and
// the redelivery measurement, for which it tells its parent (IPC) when a job goes active here,
// with the pids of its sandboxed children.
// Usage: node bullmqConsumer.mjs <redis url> <queue> '<worker options as JSON>' [--report-active]
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
// Only the redelivery case asks: a timer and a /proc read per job would weigh on the throughput case.
if (process.argv.includes('--report-active')) worker.on('active', (job) => {
  const at = Date.now();
  // The sandboxed child is forked as the job goes active; give it a moment to show up in /proc.
  setTimeout(() => process.send?.({ active: job.id, at, children: children() }), 200);
});
worker.on('error', (error) => process.stderr.write(`consumer: ${error.message}\n`));
await worker.waitUntilReady();
process.send?.({ ready: true });
// A clean stop closes BullMQ's child pool too (its children would outlive a SIGKILL, orphaned).
process.once('SIGTERM', () => void worker.close().then(() => process.exit(0)));
