#!/usr/bin/env node
/**
 * The `poolvisor` command. `poolvisor infer <links.json|links.jsonl>` runs a batch of
 * causal links through Bayesian mechanism inference on a supervised pool.
 * `poolvisor serve` runs the HTTP API over one pool, or with `--redis` in front of a cluster;
 * `poolvisor worker` is a host of that cluster.
 */
import { closeSync, openSync, readFileSync, writeSync } from 'node:fs';
import { getSystemErrorMap, parseArgs } from 'node:util';
import { resolvePoolOptions, type PoolOptions } from './config.js';
import { ConfigError } from './errors.js';
import { InferenceEngine, inferenceTaskModule, type InferenceOutcome } from './inference/index.js';
import type { PoolAuditEvent } from './pool.js';
import { POOL_FLAGS, poolOptionsFromFlags, wholeNumber } from './poolFlags.js';
import { clusterWorkerCommand, WORKER_USAGE } from './cluster/workerCommand.js';
import { serve, SERVE_USAGE } from './service/index.js';

const USAGE = `usage: poolvisor infer <links.json|links.jsonl> [options]

Runs Bayesian mechanism inference on each causal link, on a pool of supervised workers.
One JSON line per link goes to --out (or to stdout); progress and the summary go to stderr
(to stdout when --out is given).

options:
  --workers N        worker processes (default: the number of CPUs)
  --timeout MS       deadline per link (default 300000)
  --memory MB        memory limit per worker (default 2048)
  --devices LIST     comma-separated devices, e.g. cpu,cuda:0 (default cpu)
  --backend NAME     process (default) or thread
  --concurrency N    links in flight at once (default: twice the workers)
  --out FILE         write results here as JSON lines (truncated first)
  --help             this text`;

class UsageError extends Error {}

/** The results cannot go where they were asked to: said before any worker starts when it can be. */
class OutputError extends Error {
  readonly code = 'ERR_OUTPUT';

  constructor(
    readonly target: string,
    readonly action: 'cannot open for writing' | 'cannot write',
    cause: unknown,
  ) {
    super(`${target}: ${action} (${systemReason(cause)})`, { cause });
  }
}

/** `ENOENT: no such file or directory`: Node's own message also names the syscall and the path, which the caller already says. */
function systemReason(error: unknown): string {
  const { code, errno, message } = error as NodeJS.ErrnoException;
  const description = errno === undefined ? undefined : getSystemErrorMap().get(errno)?.[1];
  return code !== undefined && description !== undefined ? `${code}: ${description}` : message;
}

interface Results {
  write(line: string): void;
  close(): void;
}

function openResults(out: string | undefined): Results {
  const target = out === undefined ? 'stdout' : `--out ${out}`;
  let fd = 1;
  if (out !== undefined) {
    try {
      fd = openSync(out, 'w');
    } catch (error) {
      throw new OutputError(target, 'cannot open for writing', error);
    }
  }
  let open = true;
  return {
    write(line) {
      try {
        writeSync(fd, line);
      } catch (error) {
        throw new OutputError(target, 'cannot write', error);
      }
    },
    close() {
      if (!open || fd === 1) return;
      open = false;
      closeSync(fd);
    },
  };
}

interface Arguments {
  file: string;
  pool: Omit<PoolOptions, 'task'>;
  concurrency: number | undefined;
  out: string | undefined;
}

function parseInferArguments(argv: string[]): Arguments {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        ...POOL_FLAGS,
        concurrency: { type: 'string' },
        out: { type: 'string' },
        help: { type: 'boolean' },
      },
    });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const { values, positionals } = parsed;
  if (values.help) throw new UsageError('');
  if (positionals.length !== 1) throw new UsageError(`expected one links file, got ${positionals.length === 0 ? 'none' : positionals.join(' ')}`);
  return {
    file: positionals[0] as string,
    // Flags only: a POOLVISOR_* environment set up for a service must not reshape a batch.
    pool: poolOptionsFromFlags(values, {}),
    concurrency: wholeNumber('--concurrency', values.concurrency, 1),
    out: values.out,
  };
}

/** A line that is not JSON still becomes a link (a failing one), so it is reported, not dropped. */
interface UnreadableLink {
  readonly unreadable: string;
}

/** The links of a file; a file without any is refused here, before a pool starts for nothing. */
function readLinks(file: string): unknown[] {
  const links = parseLinksFile(file);
  if (links.length === 0) throw new Error(`${file} has no links: nothing to infer`);
  return links;
}

function parseLinksFile(file: string): unknown[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new Error(`cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
  if (file.endsWith('.jsonl') || file.endsWith('.ndjson')) {
    return text
      .split('\n')
      .map((line, i) => ({ line: line.trim(), number: i + 1 }))
      .filter(({ line }) => line.length > 0)
      .map(({ line, number }): unknown => {
        try {
          return JSON.parse(line);
        } catch (error) {
          return { unreadable: `line ${number}: not JSON (${(error as Error).message})` } satisfies UnreadableLink;
        }
      });
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (error) {
    throw new Error(`${file} is not JSON: ${(error as Error).message} (use .jsonl for one link per line)`);
  }
  const links = Array.isArray(data) ? data : (data as { links?: unknown }).links;
  if (!Array.isArray(links)) throw new Error(`${file}: expected an array of links, or { "links": [...] }`);
  return links;
}

function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] as number;
}

const mib = (bytes: number) => `${(bytes / 1048576).toFixed(0)} MiB`;

function formatDuration(ms: number): string {
  if (!Number.isFinite(ms)) return '?';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = ms / 1000;
  return s < 60 ? `${s.toFixed(1)} s` : `${Math.floor(s / 60)}m${Math.round(s % 60)}s`;
}

function outcomeLine(outcome: InferenceOutcome): string {
  if (outcome.ok) {
    return JSON.stringify({ index: outcome.index, linkId: outcome.linkId ?? null, status: 'ok', elapsedMs: Math.round(outcome.elapsedMs), result: outcome.posterior });
  }
  const { kind, code, message, error } = outcome.failure;
  const evidence = Object.fromEntries(
    Object.entries(error).filter(([key]) => !['code', 'name', 'message', 'stack', 'cause'].includes(key)),
  );
  return JSON.stringify({ index: outcome.index, linkId: outcome.linkId ?? null, status: 'failed', kind, code, message, evidence, elapsedMs: Math.round(outcome.elapsedMs) });
}

async function infer(argv: string[]): Promise<number> {
  const args = parseInferArguments(argv);
  // Opening --out truncates it: a mistyped option must fail before that costs the last run's results.
  resolvePoolOptions({ ...args.pool, task: inferenceTaskModule });
  const links = readLinks(args.file);
  // Before the pool: a failure here has no workers to stop.
  const results = openResults(args.out);
  let engine: InferenceEngine;
  try {
    engine = await InferenceEngine.create(args.pool);
  } catch (error) {
    results.close();
    throw error;
  }
  let batch: { exitCode: number; summary: string };
  try {
    batch = await runBatch(engine, links, results, args);
  } finally {
    // Every way out closes the pool: its workers would keep this process alive, and a throw would leave it hanging.
    await engine.close({ drainTimeoutMs: 0 });
    results.close();
  }
  (args.out === undefined ? process.stderr : process.stdout).write(batch.summary);
  return batch.exitCode;
}

async function runBatch(engine: InferenceEngine, links: unknown[], results: Results, args: Arguments): Promise<{ exitCode: number; summary: string }> {
  const pool = engine.pool;
  const tty = process.stderr.isTTY === true;

  // What the summary needs, from the audit trail: task times, kills, peak memory.
  const startedAt = new Map<string, number>();
  const taskMs: number[] = [];
  const kills = new Map<string, number>();
  const peakRss = new Map<string, number>();
  pool.on('event', (event: PoolAuditEvent) => {
    if (event.type === 'task.started') startedAt.set(event.taskId, event.at);
    else if (event.type === 'task.succeeded' || event.type === 'task.failed') {
      const at = startedAt.get(event.taskId);
      if (at !== undefined) taskMs.push(event.at - at);
      startedAt.delete(event.taskId);
    } else if (event.type === 'worker.killed') {
      const reason = event.termination.reason === 'memory' ? `memory (${event.termination.resource})` : event.termination.reason;
      kills.set(reason, (kills.get(reason) ?? 0) + 1);
      // The sample that triggered a memory kill is the peak the pollers saw.
      if (event.termination.reason === 'memory') peakRss.set(event.workerId, Math.max(peakRss.get(event.workerId) ?? 0, event.termination.rssBytes));
    }
  });
  const samplePeaks = () => {
    for (const worker of pool.status().workers) peakRss.set(worker.id, Math.max(peakRss.get(worker.id) ?? 0, worker.rssBytes));
  };

  const t0 = performance.now();
  let progress = { done: 0, failed: 0, running: 0 };
  const render = (final = false) => {
    samplePeaks();
    const settled = progress.done + progress.failed + (links.length - readable.length);
    const elapsed = (performance.now() - t0) / 1000;
    const rate = settled / Math.max(elapsed, 1e-3);
    const eta = rate > 0 ? ((links.length - settled) / rate) * 1000 : Number.POSITIVE_INFINITY;
    const text = `${settled}/${links.length} settled · ${progress.done} ok · ${progress.failed} failed · ${progress.running} running · ${rate.toFixed(1)} links/s · ETA ${formatDuration(eta)}`;
    if (tty) {
      const width = 24;
      const filled = Math.round((settled / Math.max(1, links.length)) * width);
      process.stderr.write(`\r[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${text}\u001b[K${final ? '\n' : ''}`);
    } else {
      process.stderr.write(`progress: ${text}\n`);
    }
  };

  const stop = new AbortController();
  let interrupted = false;
  const onSignal = () => {
    if (interrupted) return;
    interrupted = true;
    process.stderr.write('\ninterrupted: killing running tasks; finished results are on disk\n');
    stop.abort();
    void pool.close({ drainTimeoutMs: 0 });
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  const byOutcome = new Map<string, number>();
  // Lines that were not JSON fail here, as invalid links; the rest go to the pool.
  const readable: unknown[] = [];
  const originalIndex: number[] = [];
  links.forEach((link, index) => {
    if (typeof link === 'object' && link !== null && 'unreadable' in link) {
      byOutcome.set('invalid', (byOutcome.get('invalid') ?? 0) + 1);
      results.write(`${JSON.stringify({ index, linkId: null, status: 'failed', kind: 'invalid', code: 'ERR_INVALID_LINK', message: (link as UnreadableLink).unreadable })}\n`);
    } else {
      readable.push(link);
      originalIndex.push(index);
    }
  });
  const ticker = setInterval(render, tty ? 100 : 2000);
  const peaks = setInterval(samplePeaks, 100);
  try {
    for await (const outcome of engine.inferMany(readable, {
      ...(args.concurrency ? { concurrency: args.concurrency } : {}),
      signal: stop.signal,
      onProgress: (p) => (progress = { ...p }),
    })) {
      if (interrupted && !outcome.ok && (outcome.failure.kind === 'cancelled' || outcome.failure.kind === 'rejected')) continue;
      const key = outcome.ok ? 'ok' : outcome.failure.kind;
      byOutcome.set(key, (byOutcome.get(key) ?? 0) + 1);
      results.write(`${outcomeLine({ ...outcome, index: originalIndex[outcome.index] as number })}\n`);
    }
  } finally {
    clearInterval(ticker);
    clearInterval(peaks);
    render(true);
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
  const elapsedMs = performance.now() - t0;

  const sorted = taskMs.sort((a, b) => a - b);
  const lines = [
    '',
    `summary${interrupted ? ' (interrupted)' : ''}: ${[...byOutcome.values()].reduce((a, b) => a + b, 0)} of ${links.length} links in ${formatDuration(elapsedMs)}`,
    `  outcomes      ${[...byOutcome].map(([k, n]) => `${k} ${n}`).join(' · ') || 'none'}`,
    `  kills         ${[...kills].map(([k, n]) => `${k} ${n}`).join(' · ') || 'none'}`,
    `  task time     p50 ${formatDuration(quantile(sorted, 0.5))} · p95 ${formatDuration(quantile(sorted, 0.95))}`,
    `  throughput    ${((sorted.length / elapsedMs) * 1000).toFixed(1)} links/s`,
    `  peak RSS      ${[...peakRss].map(([id, bytes]) => `${id} ${mib(bytes)}`).join(' · ')}`,
  ];
  return { exitCode: interrupted ? 130 : 0, summary: `${lines.join('\n')}\n` };
}

/** The commands that run until a signal: a bad option exits 2, any other failure 1, each with one line. */
const LONG_RUNNING: Record<string, { usage: string; run: (argv: string[]) => Promise<number> }> = {
  serve: { usage: SERVE_USAGE, run: serve },
  worker: { usage: WORKER_USAGE, run: clusterWorkerCommand },
};

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === '--help' || command === 'help') {
    process.stdout.write(`${USAGE}\n\n${SERVE_USAGE}\n\n${WORKER_USAGE}\n`);
    return command === undefined ? 2 : 0;
  }
  const service = Object.hasOwn(LONG_RUNNING, command) ? LONG_RUNNING[command] : undefined;
  if (service !== undefined) {
    if (rest.includes('--help')) {
      process.stdout.write(`${service.usage}\n`);
      return 0;
    }
    try {
      return await service.run(rest);
    } catch (error) {
      process.stderr.write(`poolvisor ${command}: ${(error as Error).message}\n`);
      return error instanceof ConfigError || (error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS') ? 2 : 1;
    }
  }
  if (command !== 'infer') {
    process.stderr.write(`poolvisor: unknown command ${JSON.stringify(command)}\n\n${USAGE}\n`);
    return 2;
  }
  try {
    return await infer(rest);
  } catch (error) {
    if (error instanceof UsageError) {
      if (error.message === '') {
        process.stdout.write(`${USAGE}\n`);
        return 0;
      }
      process.stderr.write(`poolvisor infer: ${error.message}\n\n${USAGE}\n`);
      return 2;
    }
    if (error instanceof ConfigError) {
      process.stderr.write(`poolvisor infer: ${error.message}\n`);
      return 2;
    }
    process.stderr.write(`poolvisor infer: ${(error as Error).message}\n`);
    return 1;
  }
}

process.exitCode = await main(process.argv.slice(2));
