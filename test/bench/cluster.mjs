// npm run bench:cluster: poolvisor against BullMQ on one private Redis, case by case (./clusterCases.mjs).
// For each case: throughput of no-op and 1 KB-echo tasks, CPU per task (this process, its other
// descendants, redis-server), Redis commands per task, the one-at-a-time round trip; and, where a
// case has it, the time until another host starts a job whose host was SIGKILLed.
// Flags: --cases a,b  --tasks N (5000)  --roundtrips N (500)  --skip-default-redelivery  --json out.json
import { readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import { startRedisServer } from '../support/redisServer.mjs';
import { CASES, REDELIVERY_SETTINGS } from './clusterCases.mjs';

const { values } = parseArgs({
  options: {
    cases: { type: 'string' },
    tasks: { type: 'string' },
    roundtrips: { type: 'string' },
    'skip-default-redelivery': { type: 'boolean' },
    json: { type: 'string' },
  },
});
const CONCURRENCY = 2;
const TASKS = Number(values.tasks ?? 5_000);
const ROUNDTRIPS = Number(values.roundtrips ?? 500);
const WARMUP = 200;
const PAYLOAD_1K = { items: Array.from({ length: 20 }, (_, i) => ({ id: i, name: `item-${i}`, score: i / 7, tags: ['a', 'b'] })) };
const KINDS = { noop: { task: 'noop', payload: undefined }, json1k: { task: 'echo', payload: PAYLOAD_1K } };
const CLK_TCK_US = 10_000; // /proc/<pid>/stat counts CPU in 1/100 s on Linux

const names = values.cases?.split(',') ?? Object.keys(CASES);
for (const name of names) if (!CASES[name]) throw new Error(`unknown case ${name}; known: ${Object.keys(CASES).join(', ')}`);

// ---- cleanup: every process this run started goes, whatever way the run ends ----
const tracked = new Set();
const trackedPids = new Set();
/** @type {Awaited<ReturnType<typeof startRedisServer>> | undefined} */
let redis;
const childrenOf = (pid) => {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(' ').filter(Boolean).map(Number);
  } catch {
    return [];
  }
};
const descendants = (pid) => childrenOf(pid).flatMap((child) => [child, ...descendants(child)]);
function killEverything(except = -1) {
  const pids = new Set([...descendants(process.pid), ...trackedPids, ...[...tracked].map((child) => child.pid)]);
  pids.delete(except);
  for (const pid of pids) {
    try {
      if (pid) process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}
process.on('exit', () => killEverything());
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => process.exit(130));

// ---- measurements ----
const cpuTicks = (pid) => {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(fields[11]) + Number(fields[12]); // utime + stime
  } catch {
    return 0;
  }
};
/** CPU µs so far: this process; its other descendants (workers, hosts); redis-server. */
function cpuNow() {
  const own = process.cpuUsage();
  const others = descendants(process.pid).filter((pid) => pid !== redis?.pid);
  return {
    self: own.user + own.system,
    children: new Map(others.map((pid) => [pid, cpuTicks(pid) * CLK_TCK_US])),
    redis: redis ? cpuTicks(redis.pid) * CLK_TCK_US : 0,
  };
}
function cpuSince(before) {
  const after = cpuNow();
  let children = 0;
  for (const [pid, us] of after.children) children += us - (before.children.get(pid) ?? 0);
  return { self: after.self - before.self, children, redis: after.redis - before.redis };
}

let info;
/** Redis calls so far, all commands (those run inside Lua scripts too) and script calls alone. */
async function redisCalls() {
  const stats = await info.info('commandstats');
  let all = 0;
  let scripts = 0;
  for (const [, command, calls] of stats.matchAll(/^cmdstat_([\w|]+):calls=(\d+)/gm)) {
    all += Number(calls);
    if (/^(evalsha|eval|evalsha_ro|eval_ro|fcall|fcall_ro)$/.test(command ?? '')) scripts += Number(calls);
  }
  return { all, scripts };
}

const quantile = (xs, q) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(q * xs.length))];
let queues = 0;
const context = (name) => ({
  redisUrl: redis?.url ?? '',
  queue: `bench.${name}.${(queues += 1)}`,
  concurrency: CONCURRENCY,
  track: (child) => tracked.add(child),
  trackPid: (pid) => trackedPids.add(pid),
});

async function throughput(benchCase, name, kind) {
  const { task, payload } = KINDS[kind];
  const running = await benchCase.start(context(name));
  try {
    await Promise.all(Array.from({ length: WARMUP }, () => running.submit(task, payload)));
    const calls0 = await redisCalls();
    const cpu0 = cpuNow();
    const t0 = performance.now();
    const results = await Promise.all(Array.from({ length: TASKS }, () => running.submit(task, payload)));
    const seconds = (performance.now() - t0) / 1000;
    const cpu = cpuSince(cpu0);
    const calls1 = await redisCalls();
    if (kind === 'json1k' && JSON.stringify(results[TASKS - 1]) !== JSON.stringify(payload)) throw new Error(`${name}: echo came back changed`);
    return {
      tasksPerSecond: TASKS / seconds,
      selfCpuUs: cpu.self / TASKS,
      childrenCpuUs: cpu.children / TASKS,
      redisCpuUs: cpu.redis / TASKS,
      // One INFO of ours falls between the two readings.
      redisCmds: (calls1.all - calls0.all - 1) / TASKS,
      redisScripts: (calls1.scripts - calls0.scripts) / TASKS,
    };
  } finally {
    await running.close();
  }
}

async function roundtrip(benchCase, name) {
  const running = await benchCase.start(context(name));
  try {
    for (let i = 0; i < 50; i += 1) await running.submit('noop');
    const calls0 = await redisCalls();
    const times = [];
    for (let i = 0; i < ROUNDTRIPS; i += 1) {
      const t0 = performance.now();
      await running.submit('noop');
      times.push((performance.now() - t0) * 1000);
    }
    const calls1 = await redisCalls();
    return { p50Us: quantile(times, 0.5), p99Us: quantile(times, 0.99), redisCmds: (calls1.all - calls0.all - 1) / ROUNDTRIPS };
  } finally {
    await running.close();
  }
}

// ---- the run ----
const fmt = (n, digits = 0) => (n === undefined ? '–' : n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits }));
const rows = { throughput: [], roundtrip: [], redelivery: [], skipped: [] };
const started = Date.now();
try {
  redis = await startRedisServer({ appendonly: true, 'maxmemory-policy': 'noeviction' });
  info = new Redis(redis.url, { maxRetriesPerRequest: 1 });
  const version = (await info.info('server')).match(/redis_version:(\S+)/)?.[1];
  console.log(`poolvisor cluster benchmarks · node ${process.version} · ${cpus().length} × ${cpus()[0]?.model.trim()} · ${(totalmem() / 2 ** 30).toFixed(0)} GiB · load average ${loadavg().map((l) => l.toFixed(2)).join(' ')} at the start`);
  console.log(`private redis-server ${version} on ${redis.url} (appendonly yes, appendfsync everysec, noeviction) · concurrency ${CONCURRENCY} · ${TASKS} tasks · ${ROUNDTRIPS} round trips\n`);
  for (const name of names) {
    const benchCase = CASES[name];
    const why = benchCase.unavailable?.();
    if (why) {
      rows.skipped.push({ case: name, why });
      console.log(`${name}: skipped: ${why}`);
      continue;
    }
    for (const kind of Object.keys(KINDS)) {
      const result = await throughput(benchCase, name, kind);
      rows.throughput.push({ case: name, kind, ...result });
      console.log(`${name} ${kind}: ${fmt(result.tasksPerSecond)} tasks/s`);
    }
    const rt = await roundtrip(benchCase, name);
    rows.roundtrip.push({ case: name, ...rt });
    console.log(`${name} round trip: p50 ${fmt(rt.p50Us)} µs, p99 ${fmt(rt.p99Us)} µs`);
    if (benchCase.redeliveryAfterKill) {
      for (const [label, variant] of Object.entries(REDELIVERY_SETTINGS)) {
        if (label === 'default' && values['skip-default-redelivery']) {
          rows.redelivery.push({ case: name, settings: label, ms: undefined, note: 'skipped (--skip-default-redelivery)' });
          continue;
        }
        // Each repeat on a fresh queue: the lock and stall timers start from a random phase.
        const results = [];
        for (let i = 0; i < variant.repeats; i += 1) {
          const result = await benchCase.redeliveryAfterKill(context(name), variant);
          results.push(result);
          console.log(`${name} redelivery (${label}): ${result.ms === undefined ? result.note : `${fmt(result.ms)} ms`}`);
        }
        const ms = results.map((r) => r.ms).filter((v) => v !== undefined);
        const notes = [...new Set(results.map((r) => r.note?.replace(/\(pid [\d, ]+\) /, '')).filter(Boolean))];
        rows.redelivery.push({ case: name, settings: label, options: variant.settings, runs: results.length, msAll: results.map((r) => r.ms), ms: ms.length ? quantile(ms, 0.5) : undefined, note: notes.join('; ') });
      }
    }
  }

  console.log('\n## Throughput (concurrency 2; CPU and Redis figures per task)');
  console.log('| case | tasks | tasks/s | bench process CPU µs | other processes CPU µs | redis-server CPU µs | Redis commands (of which scripts) |');
  console.log('|---|---|---|---|---|---|---|');
  for (const r of rows.throughput) {
    const redisFigures = r.redisCmds > 0.01 ? `${fmt(r.redisCmds, 1)} (${fmt(r.redisScripts, 1)})` : '0';
    console.log(`| ${r.case} | ${r.kind} | ${fmt(r.tasksPerSecond)} | ${fmt(r.selfCpuUs)} | ${fmt(r.childrenCpuUs)} | ${fmt(r.redisCpuUs)} | ${redisFigures} |`);
  }
  console.log('\n## One task at a time (no-op)');
  console.log('| case | p50 µs | p99 µs | Redis commands per task |');
  console.log('|---|---|---|---|');
  for (const r of rows.roundtrip) console.log(`| ${r.case} | ${fmt(r.p50Us)} | ${fmt(r.p99Us)} | ${r.redisCmds > 0.01 ? fmt(r.redisCmds, 1) : '0'} |`);
  if (rows.redelivery.length) {
    console.log('\n## Redelivery after a host SIGKILL (SIGKILL → the job active on another host)');
    console.log('| case | settings | ms (median of runs) | each run, ms | note |');
    console.log('|---|---|---|---|---|');
    for (const r of rows.redelivery) {
      const options = r.options && Object.keys(r.options).length ? ` ${JSON.stringify(r.options)}` : '';
      console.log(`| ${r.case} | ${r.settings}${options} | ${fmt(r.ms)} | ${(r.msAll ?? []).map((v) => fmt(v)).join(', ')} | ${r.note ?? ''} |`);
    }
  }
  for (const r of rows.skipped) console.log(`\n${r.case}: skipped: ${r.why}`);
  console.log(`\n(total ${((Date.now() - started) / 1000).toFixed(0)} s)`);
  if (values.json) writeFileSync(values.json, JSON.stringify({ node: process.version, cpus: cpus().length, tasks: TASKS, roundtrips: ROUNDTRIPS, ...rows }, null, 2));
} finally {
  info?.disconnect();
  killEverything(redis?.pid);
  await redis?.stop();
}
process.exit(process.exitCode ?? 0);
