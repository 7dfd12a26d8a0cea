// @ts-check
// npm run chaos -- --minutes N --seed S: a random mix of healthy tasks and faults against
// real pools, each backend in a process of its own and at the same time, checked against
// the invariants of docs/reliability.md. Prints the faults injected and how they ended,
// the invariants with their violations, and exits non-zero on any violation.
// Flags: --minutes N (default 1; fractions allowed)  --seed S (default: drawn, printed)
//        --backends process,thread  --workers N (per pool, default 2)  --max-tasks N (per backend)
//        --json out.json (the summaries, as the backends reported them)
import { spawn } from 'node:child_process';
import { createWriteStream, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { INVARIANTS } from './invariants.mjs';

const { values } = parseArgs({
  options: {
    minutes: { type: 'string', default: '1' },
    seed: { type: 'string' },
    backends: { type: 'string', default: 'process,thread' },
    workers: { type: 'string', default: '2' },
    'max-tasks': { type: 'string', default: '500000' },
    json: { type: 'string' },
  },
});
const minutes = Number(values.minutes);
if (!(minutes > 0)) throw new Error(`--minutes: expected a number > 0, got ${values.minutes}`);
const seed = values.seed === undefined ? Math.floor(Math.random() * 2 ** 31) : Number(values.seed);
if (!Number.isInteger(seed)) throw new Error(`--seed: expected an integer, got ${values.seed}`);
const backends = /** @type {string[]} */ (values.backends.split(',').filter(Boolean));
const BACKEND_RUN = fileURLToPath(new URL('./backendRun.mjs', import.meta.url));
/** Past the chaos itself: settling (≤ 30 s), recovering, closing, with room to spare. */
const OVERTIME_MS = 180_000;

/**
 * @param {string} backend
 * @returns {Promise<{ backend: string, summary: any, exit: number | null, signal: string | null, log: string }>}
 */
function runBackend(backend) {
  const log = join(tmpdir(), `poolvisor-chaos-${seed}-${backend}.log`);
  const args = ['--expose-gc', BACKEND_RUN, '--backend', backend, '--minutes', String(minutes), '--seed', String(seed)];
  args.push('--workers', /** @type {string} */ (values.workers), '--max-tasks', /** @type {string} */ (values['max-tasks']));
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  // Workers' stderr (the stack traces of the faults) goes to a file, not the table.
  child.stderr.pipe(createWriteStream(log));
  const timer = setTimeout(() => child.kill('SIGKILL'), minutes * 60_000 + OVERTIME_MS);
  /** @type {any} */
  let summary;
  createInterface({ input: child.stdout }).on('line', (line) => {
    if (line.startsWith('CHAOS-SUMMARY ')) summary = JSON.parse(line.slice('CHAOS-SUMMARY '.length));
    else console.log(line);
  });
  return new Promise((resolve) => {
    child.once('close', (exit, signal) => {
      clearTimeout(timer);
      resolve({ backend, summary, exit, signal, log });
    });
  });
}

/**
 * @param {string[]} header
 * @param {string[][]} rows
 */
function table(header, rows) {
  const widths = header.map((cell, i) => Math.max(cell.length, ...rows.map((row) => (row[i] ?? '').length)));
  const line = (/** @type {string[]} */ cells) => cells.map((cell, i) => (i === cells.length - 1 ? cell : cell.padEnd(widths[i] ?? 0))).join('  ').trimEnd();
  return [line(header), ...rows.map(line)].join('\n');
}

/** @param {Record<string, number>} counts */
const joinCounts = (counts) =>
  Object.entries(counts)
    .sort(([, a], [, b]) => b - a)
    .map(([label, count]) => `${label} ${count}`)
    .join(' · ');

console.log(`poolvisor chaos · seed ${seed} · ${minutes} min · ${backends.join(' + ')} at once · ${values.workers} workers per pool · node ${process.version}\n`);
const results = await Promise.all(backends.map(runBackend));
let failed = false;

for (const { backend, summary, exit, signal, log } of results) {
  if (exit !== 0) failed = true;
  if (summary === undefined) {
    failed = true;
    console.log(`\n## ${backend}: the run ended without a summary (exit ${exit}, signal ${signal}); its stderr is in ${log}`);
    continue;
  }
  console.log(`\n## ${backend} backend: ${summary.jobs} jobs, ${summary.tasks} tasks in ${(summary.chaosMs / 1000).toFixed(0)} s, ${summary.poolsOpened} pool${summary.poolsOpened === 1 ? '' : 's'} opened`);
  const kinds = [...new Set([...Object.keys(summary.injected), ...Object.keys(summary.outcomes)])];
  console.log(table(['fault', 'injected', 'outcomes'], kinds.map((kind) => [kind, String(summary.injected[kind] ?? 0), joinCounts(summary.outcomes[kind] ?? {})])));
  const counters = joinCounts(summary.counters);
  if (counters) console.log(`counts: ${counters}`);
  console.log(`host RSS after gc: warm-up ${summary.rss.warmUpMiB} MiB → end ${summary.rss.endMiB} MiB (bound ${summary.rss.boundMiB} MiB)`);
  for (const note of summary.notes) console.log(`note: ${note}`);
  let size = 0;
  try {
    size = statSync(log).size;
  } catch {
    // no stderr at all
  }
  console.log(`workers' stderr: ${(size / 1024).toFixed(0)} KiB in ${log}`);
  if (summary.harnessErrors.count > 0) {
    failed = true;
    console.log(`HARNESS ERRORS: ${summary.harnessErrors.count}\n  ${summary.harnessErrors.samples.join('\n  ')}`);
  }
}

const reported = results.filter((result) => result.summary !== undefined);
console.log('\n## invariants (violations / checks)');
const rows = INVARIANTS.map(({ name, title }) => [
  title,
  ...reported.map(({ summary }) => {
    const entry = summary.invariants.find((/** @type {{ name: string }} */ invariant) => invariant.name === name);
    if (entry.notApplicable) return 'n/a';
    if (entry.violations > 0) failed = true;
    return `${entry.violations} / ${entry.checks}`;
  }),
]);
console.log(table(['invariant', ...reported.map(({ backend }) => backend)], rows));

for (const { backend, summary } of reported) {
  for (const entry of summary.invariants) {
    if (entry.violations === 0) continue;
    console.log(`\n${backend} · ${entry.title}: ${entry.violations} violation${entry.violations === 1 ? '' : 's'}, the first ${entry.samples.length}:`);
    for (const sample of entry.samples) console.log(`  ${JSON.stringify(sample)}`);
  }
}
if (values.json) writeFileSync(values.json, JSON.stringify({ seed, minutes, results: results.map(({ backend, summary, exit }) => ({ backend, exit, summary })) }, null, 2));
console.log(`\n${failed ? 'FAILED' : 'OK'}: seed ${seed}, ${minutes} min${failed ? ' — replay with the same --seed' : ''}`);
process.exitCode = failed ? 1 : 0;
