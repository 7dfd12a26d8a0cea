// Issue #17: the GPU paths on a real GPU, what the fake nvidia-smi cannot show. Run by
// real-gpu.sh on a GPU machine (see there); by hand: GPU_GROW_BIN=… GPU_FIXED_BIN=… OUT=dir
// node test/gpu/realGpuCheck.mjs. Writes $OUT/real-gpu.json (every value, its unit in its
// name) and $OUT/real-gpu.txt. Exit 0: every check passed; 1: some failed; 2: the built
// pool could not be imported; 3: the watchdog or a signal ended the run.
import { readFileSync, readlinkSync } from 'node:fs';
import { availableParallelism, cpus, release, totalmem } from 'node:os';
import { join } from 'node:path';
import { CheckReport } from './checkReport.mjs';
import { exitedChildrenCpuMs, isAlive, MiB, nvidiaSmi, parseQuery, processTree, quantile, round, sleep, workerChildren } from './hostProbes.mjs';

/**
 * @param {string} name
 * @param {number} fallback
 */
function setting(name, fallback) {
  const value = Number(process.env[name]);
  return process.env[name] && Number.isFinite(value) ? value : fallback;
}

const settings = {
  gpuMemoryLimitMiB: setting('GPU_LIMIT_MIB', 2048),
  memoryLimitMiB: setting('RSS_LIMIT_MIB', 4096),
  memoryPollMs: 100,
  taskTimeoutMs: 60_000,
  fixedMiB: setting('FIXED_MIB', 512),
  fixedHoldMs: 1500,
  growRateMiBps: setting('GROW_RATE_MIBPS', 1000),
  growChunkMiB: 256,
  growMaxMiB: 8192,
  growTimeoutMs: 30_000,
  releaseToleranceMiB: 128,
  releaseWaitMs: 20_000,
  samplingCalls: setting('SAMPLING_CALLS', 50),
  idleMeasureMs: setting('IDLE_MEASURE_MS', 5000),
  watchdogMs: setting('WATCHDOG_MS', 200_000),
};
const out = process.env.OUT || join(process.cwd(), 'real-gpu-out');
const report = new CheckReport(out, settings.watchdogMs);
report.settings = { ...settings, out, gpuGrowBin: process.env.GPU_GROW_BIN ?? null, gpuFixedBin: process.env.GPU_FIXED_BIN ?? null };
const tasks = new URL('./gpuTasks.mjs', import.meta.url);
const COMPUTE_APPS = ['--query-compute-apps=pid,used_memory', '--format=csv,noheader,nounits'];

/** Every worker and CUDA program seen: none may outlive the pool's close, and the watchdog kills them. */
const seenPids = new Set();
/** @type {Set<number>} */
const cudaPids = new Set();
report.onAbort(() => {
  for (const pid of seenPids) signal(-pid); // a worker leads its process group, CUDA child included
  for (const pid of [...seenPids, ...cudaPids]) signal(pid);
});

/** @param {number} pid */
function signal(pid) {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // gone already
  }
}

/** @param {string} out `pid, used_memory` lines: MiB by pid */
function appsByPid(out) {
  return new Map(parseQuery(out, ['pid', 'usedMiB']).map((row) => [Number(row.pid), Number(row.usedMiB)]));
}

/** @param {unknown} error */
const describeError = (error) => (error instanceof Error ? `${error.name}: ${error.message}` : String(error));

// ---- the host, before anything starts -------------------------------------------------

const gpuQuery = await nvidiaSmi(['--query-gpu=index,name,memory.total,memory.used,driver_version', '--format=csv,noheader,nounits']);
const hostGpus = parseQuery(gpuQuery.stdout, ['index', 'name', 'memoryTotalMiB', 'memoryUsedMiB', 'driverVersion']);
const gpuModes = await nvidiaSmi(['--query-gpu=index,persistence_mode,compute_mode,mig.mode.current,pstate', '--format=csv,noheader,nounits']);
const appsAtStart = await nvidiaSmi([...COMPUTE_APPS]);
const baselineUsedMiB = Number(hostGpus[0]?.memoryUsedMiB ?? NaN);
report.host = {
  node: process.version,
  kernel: release(),
  cpus: availableParallelism(),
  cpuModel: cpus()[0]?.model ?? null,
  memoryTotalMiB: Math.round(totalmem() / MiB),
  uid: process.getuid?.() ?? null,
  pidNamespace: readOr('/proc/self/ns/pid', () => readlinkSync('/proc/self/ns/pid')),
  init: readOr('/proc/1/cmdline'),
  gpuQuery: { ok: gpuQuery.ok, ms: round(gpuQuery.ms), stdout: gpuQuery.stdout.trim(), stderr: gpuQuery.stderr.trim(), error: gpuQuery.error ?? null },
  gpus: hostGpus,
  gpuModes: gpuModes.ok ? gpuModes.stdout.trim() : `failed: ${gpuModes.stderr.trim() || gpuModes.error}`,
  computeAppsAtStart: appsAtStart.ok ? appsAtStart.stdout.trim() : `failed: ${appsAtStart.stderr.trim() || appsAtStart.error}`,
  baselineUsedMiB,
  summary: hostGpus.length
    ? hostGpus.map((g) => `cuda:${g.index} ${g.name}, ${g.memoryTotalMiB} MiB (${g.memoryUsedMiB} used), driver ${g.driverVersion}`).join('; ') + `; node ${process.version}`
    : `nvidia-smi --query-gpu failed: ${gpuQuery.stderr.trim() || gpuQuery.error}; node ${process.version}`,
};
report.write();
console.log(`host: ${String(report.host.summary)}`);

/** @type {typeof import('../../dist/src/index.js') | undefined} */
let poolvisor;
try {
  poolvisor = await import('../../dist/src/index.js');
} catch (error) {
  report.notes.push(`could not import the built pool (../../dist/src/index.js): ${describeError(error)}`);
  report.outcome = 'setup-failed';
}

// ---- the pool under test -------------------------------------------------------------

/** @typedef {import('../../dist/src/index.js').Pool} Pool */
/** @type {Pool | undefined} */
let pool;
if (poolvisor) {
  const { createPool } = poolvisor;
  await report.check('pool', "starts with devices ['cuda:0', 'cpu'] and a GPU memory limit", 45_000, async (values) => {
    const started = Date.now();
    try {
      pool = await createPool({
        task: tasks,
        devices: ['cuda:0', 'cpu'],
        maxWorkers: 2,
        gpuMemoryLimitMb: settings.gpuMemoryLimitMiB,
        memoryLimitMb: settings.memoryLimitMiB,
        taskTimeoutMs: settings.taskTimeoutMs,
        memoryPollMs: settings.memoryPollMs,
        killGraceMs: 500,
      });
    } catch (error) {
      values.error = describeError(error);
      return { pass: false, summary: '', reason: `createPool failed: ${describeError(error)}` };
    }
    values.startMs = Date.now() - started;
    pool.on('event', (event) => {
      if (report.events.length >= 400) return;
      report.events.push(JSON.parse(JSON.stringify(event, (key, value) => (key === 'samples' && Array.isArray(value) ? `${value.length} samples` : value))));
    });
    notePids(pool);
    values.workers = pool.status().workers.map(({ id, device, pid, state }) => ({ id, device, pid, state }));
    return { pass: true, summary: `started in ${values.startMs} ms: ${pool.status().workers.map((w) => `${w.id} on ${w.device} (pid ${w.pid})`).join(', ')}` };
  });
}

/** @param {Pool} pool */
function notePids(pool) {
  for (const worker of pool.status().workers) if (worker.pid !== undefined) seenPids.add(worker.pid);
  for (const pid of workerChildren()) seenPids.add(pid);
}

/** @param {Pool} pool */
const gpuWorker = (pool) => pool.status().workers.find((worker) => worker.device === 'cuda:0');

/** What the (c) check measured, for (d): the memory a CUDA context costs the program. */
let contextOverheadMiB = /** @type {number | undefined} */ (undefined);
/** What (d) left for (e). */
const runaway = { pid: /** @type {number | undefined} */ (undefined), rejectedAt: /** @type {number | undefined} */ (undefined) };

if (pool && poolvisor) {
  const running = pool;
  const { WorkerMemoryError } = poolvisor;

  await report.check('a', 'discovery finds the GPU with its real total memory', 10_000, async (values) => {
    const gpu = running.status().gpu;
    values.poolGpuStatus = {
      sampling: gpu.sampling,
      reason: gpu.reason ?? null,
      gpus: gpu.gpus?.map((g) => ({ index: g.index, name: g.name, memoryTotalMiB: g.memoryTotalBytes / MiB })) ?? null,
    };
    values.nvidiaSmiGpus = hostGpus;
    const mine = gpu.gpus?.[0];
    const theirs = hostGpus[0];
    const same = mine !== undefined && theirs !== undefined && mine.name === theirs.name && mine.memoryTotalBytes === Number(theirs.memoryTotalMiB) * MiB;
    return {
      pass: gpu.sampling && same && gpu.gpus?.length === hostGpus.length,
      ...(gpu.sampling ? {} : { reason: `GPU memory is not sampled: ${gpu.reason}` }),
      summary: `pool: ${mine ? `${mine.name}, ${mine.memoryTotalBytes / MiB} MiB` : 'no GPU'}; nvidia-smi: ${theirs ? `${theirs.name}, ${theirs.memoryTotalMiB} MiB` : 'no GPU'}; sampling ${gpu.sampling}`,
    };
  });

  await report.check('b', "a cuda task sees CUDA_VISIBLE_DEVICES=0, a cpu task '' and no device", 40_000, async (values) => {
    values.cudaWorkerSees = await running.run('env', null, { device: 'cuda', timeoutMs: 10_000 });
    values.cpuWorkerSees = await running.run('env', null, { device: 'cpu', timeoutMs: 10_000 });
    values.cudaProgramOnCpuWorker = await running
      .run('gpuFixed', { mib: 64, holdMs: 0 }, { device: 'cpu', timeoutMs: 30_000 })
      .then((value) => ({ resolved: value }), (error) => ({ rejected: describeError(error) }));
    const onCpu = /** @type {{ rejected?: string }} */ (values.cudaProgramOnCpuWorker);
    const noDevice = onCpu.rejected !== undefined && onCpu.rejected.includes('no-device');
    return {
      pass: values.cudaWorkerSees === '0' && values.cpuWorkerSees === '' && noDevice,
      summary: `cuda worker: ${JSON.stringify(values.cudaWorkerSees)}, cpu worker: ${JSON.stringify(values.cpuWorkerSees)}; gpu-fixed on the cpu worker: ${onCpu.rejected?.match(/no-device.*?count=\d+/)?.[0] ?? JSON.stringify(values.cudaProgramOnCpuWorker)}`,
    };
  });

  await report.check('c', `the pool attributes a child's ${settings.fixedMiB} MiB to its worker`, 40_000, async (values) => {
    const started = Date.now();
    let settled = false;
    const task = running
      .run('gpuFixed', { mib: settings.fixedMiB, holdMs: settings.fixedHoldMs }, { device: 'cuda', timeoutMs: 30_000 })
      .then((value) => ({ value: /** @type {{ output: string, workerPid: number, childPid: number }} */ (value) }), (error) => ({ error: describeError(error) }))
      .finally(() => (settled = true));
    let maxGpuBytes = 0;
    let maxRssBytes = 0;
    let samplesWithGpu = 0;
    /** @type {number | undefined} */
    let firstGpuAtMs;
    /** @type {{ atMs: number, poolGpuMiB: number | null, tree: { pid: number, ppid: number, cmd: string }[], computeApps: string, computeAppsMs: number | undefined }[]} */
    const snapshots = [];
    values.snapshots = snapshots;
    let lastSnapshot = 0;
    while (!settled) {
      const worker = gpuWorker(running);
      if (worker?.pid !== undefined) seenPids.add(worker.pid);
      if (worker?.gpuBytes !== undefined && worker.gpuBytes > 0) {
        samplesWithGpu += 1;
        firstGpuAtMs ??= Date.now() - started;
        maxGpuBytes = Math.max(maxGpuBytes, worker.gpuBytes);
      }
      maxRssBytes = Math.max(maxRssBytes, worker?.rssBytes ?? 0);
      if (worker?.pid !== undefined && snapshots.length < 4 && Date.now() - lastSnapshot >= 400) {
        const tree = processTree(worker.pid);
        if (tree.length > 1) {
          lastSnapshot = Date.now();
          for (const entry of tree.slice(1)) cudaPids.add(entry.pid);
          const apps = await nvidiaSmi(COMPUTE_APPS, 5000);
          snapshots.push({
            atMs: lastSnapshot - started,
            poolGpuMiB: worker.gpuBytes === undefined ? null : worker.gpuBytes / MiB,
            tree: tree.map(({ pid, ppid, cmd }) => ({ pid, ppid, cmd })),
            computeApps: apps.ok ? apps.stdout.trim() : `failed: ${apps.stderr.trim() || apps.error}`,
            computeAppsMs: round(apps.ms),
          });
        }
      }
      await sleep(50);
    }
    const outcome = await task;
    values.taskMs = Date.now() - started;
    values.program = outcome;
    const printed = 'value' in outcome ? outcome.value.output : outcome.error;
    const childPid = Number(/pid=(\d+)/.exec(printed)?.[1] ?? NaN);
    values.childPid = childPid;
    values.childSawCudaVisibleDevices = /CUDA_VISIBLE_DEVICES=(\S*)/.exec(printed)?.[1] ?? null;
    values.childSawDevice = /name="([^"]*)"/.exec(printed)?.[1] ?? null;
    values.poolMaxGpuMiB = maxGpuBytes / MiB;
    values.poolMaxRssMiB = round(maxRssBytes / MiB);
    values.poolSamplesWithGpu = samplesWithGpu;
    values.firstGpuSampleAfterMs = firstGpuAtMs ?? null;
    const listedMiB = Math.max(0, ...snapshots.map((s) => appsByPid(s.computeApps).get(childPid) ?? 0));
    values.nvidiaSmiChildMiB = listedMiB;
    values.childListedByNvidiaSmi = listedMiB > 0;
    values.childInWorkerTree = snapshots.some((s) => s.tree.some((entry) => entry.pid === childPid));
    if (listedMiB > 0) contextOverheadMiB = listedMiB - settings.fixedMiB;
    values.contextOverheadMiB = contextOverheadMiB ?? null;
    // Once the program has freed and exited, the worker's GPU bytes fall back to 0.
    const freed = Date.now();
    while (Date.now() - freed < 5000 && (gpuWorker(running)?.gpuBytes ?? 0) > 0) await sleep(25);
    values.poolGpuBackToZeroAfterExitMs = (gpuWorker(running)?.gpuBytes ?? 0) === 0 ? Date.now() - freed : null;
    const why = [
      'error' in outcome ? `the program failed: ${outcome.error}` : '',
      listedMiB > 0 ? '' : `nvidia-smi never listed the program's pid ${childPid} (what it listed: ${JSON.stringify(snapshots.map((s) => s.computeApps))})`,
      values.childInWorkerTree ? '' : `pid ${childPid} was never seen in the worker's process tree`,
      maxGpuBytes >= settings.fixedMiB * MiB ? '' : `the pool never sampled ${settings.fixedMiB} MiB for the worker (at most ${values.poolMaxGpuMiB} MiB; status().gpu: ${JSON.stringify(running.status().gpu)})`,
    ].filter(Boolean);
    return {
      pass: why.length === 0,
      summary: `pool sampled up to ${values.poolMaxGpuMiB} MiB (nvidia-smi: ${listedMiB} MiB for child pid ${childPid}, so ${values.contextOverheadMiB} MiB of CUDA context); child in the worker's tree: ${values.childInWorkerTree}; worker tree RSS up to ${values.poolMaxRssMiB} MiB; device ${JSON.stringify(values.childSawDevice)}`,
      ...(why.length > 0 ? { reason: why.join('; ') } : {}),
    };
  });

  await report.check('d', `a runaway at ${settings.growRateMiBps} MiB/s is killed at the ${settings.gpuMemoryLimitMiB} MiB GPU limit`, 50_000, async (values) => {
    const logFile = join(out, 'gpu-grow.log');
    const started = Date.now();
    let settled = false;
    let maxGpuBytes = 0;
    let maxRssBytes = 0;
    const outcome = running
      .run('gpuGrow', { rateMiBps: settings.growRateMiBps, chunkMiB: settings.growChunkMiB, maxMiB: settings.growMaxMiB, logFile }, { device: 'cuda', timeoutMs: settings.growTimeoutMs })
      .then((value) => ({ value }), (error) => ({ error: /** @type {unknown} */ (error) }))
      .finally(() => (settled = true));
    while (!settled) {
      const worker = gpuWorker(running);
      if (worker?.pid !== undefined) {
        seenPids.add(worker.pid);
        for (const entry of processTree(worker.pid).slice(1)) cudaPids.add(entry.pid);
      }
      maxGpuBytes = Math.max(maxGpuBytes, worker?.gpuBytes ?? 0);
      maxRssBytes = Math.max(maxRssBytes, worker?.rssBytes ?? 0);
      await sleep(20);
    }
    const result = await outcome;
    const rejectedAt = Date.now();
    runaway.rejectedAt = rejectedAt;
    values.poolMaxGpuMiB = maxGpuBytes / MiB;
    values.poolMaxRssMiB = round(maxRssBytes / MiB);

    const log = readOr(logFile);
    const steps = [...log.matchAll(/step t=(\d+) allocated_mib=(\d+)/g)].map((m) => ({ at: Number(m[1]), allocatedMiB: Number(m[2]) }));
    runaway.pid = Number(/pid=(\d+)/.exec(log)?.[1] ?? NaN) || undefined;
    if (runaway.pid !== undefined) cudaPids.add(runaway.pid);
    values.programPid = runaway.pid ?? null;
    values.programLogTail = log.split('\n').slice(-4);
    values.programSteps = steps.map((s) => ({ tMs: s.at - started, allocatedMiB: s.allocatedMiB }));
    const deviceAt = Number(/device t=(\d+)/.exec(log)?.[1] ?? NaN);
    values.cudaInitMs = Number.isFinite(deviceAt) ? deviceAt - Number(/pid=\d+ t=(\d+)/.exec(log)?.[1]) : null;

    if (!('error' in result) || !(result.error instanceof WorkerMemoryError)) {
      values.outcome = 'error' in result ? describeError(result.error) : { resolved: result.value };
      return { pass: false, summary: '', reason: `expected a WorkerMemoryError, got ${JSON.stringify(values.outcome)}` };
    }
    const error = result.error;
    const limitMiB = error.limitBytes / MiB;
    const summary = {
      name: error.name,
      code: error.code,
      message: error.message,
      resource: error.resource,
      device: error.device,
      workerId: error.workerId,
      pid: error.pid,
      usedMiB: error.usedBytes / MiB,
      limitMiB,
      rssMiB: round(error.rssBytes / MiB),
    };
    values.error = summary;
    values.samples = error.samples.map((s) => ({ tMs: s.atMs - started, rssMiB: round(s.rssBytes / MiB), gpuMiB: s.gpuBytes === undefined ? null : s.gpuBytes / MiB }));
    values.sampledOverLimitMiB = (error.usedBytes - error.limitBytes) / MiB;
    const lastSample = error.samples.at(-1);
    values.lastSampleToRejectionMs = lastSample ? rejectedAt - lastSample.atMs : null;
    const killed = /** @type {{ type: string, at: number, termination?: { reason: string } }[]} */ (report.events).find(
      (event) => event.type === 'worker.killed' && event.at >= started && event.termination?.reason === 'memory',
    );
    values.killedEventAfterMs = killed ? killed.at - started : null;

    // The program's own count, with the context overhead (c) measured, says when it truly
    // crossed the limit and how far over it was at the kill; the samples lag behind it.
    const overhead = contextOverheadMiB ?? (lastSample?.gpuBytes !== undefined ? lastSample.gpuBytes / MiB - (stepBefore(steps, lastSample.atMs)?.allocatedMiB ?? 0) : undefined);
    values.contextOverheadMiB = overhead ?? null;
    values.contextOverheadFrom = contextOverheadMiB !== undefined ? 'check c' : 'the last sample';
    if (overhead !== undefined) {
      const crossing = steps.find((s) => s.allocatedMiB + overhead > limitMiB);
      values.crossedLimitAfterMs = crossing ? crossing.at - started : null;
      values.killLatencyMs = crossing ? (killed?.at ?? rejectedAt) - crossing.at : null;
      values.rejectLatencyMs = crossing ? rejectedAt - crossing.at : null;
      const atKill = stepBefore(steps, killed?.at ?? rejectedAt);
      values.programAllocatedAtKillMiB = atKill?.allocatedMiB ?? null;
      values.trueOverLimitAtKillMiB = atKill ? atKill.allocatedMiB + overhead - limitMiB : null;
    }
    const sampledGpu = error.samples.some((s) => (s.gpuBytes ?? 0) > 0);
    return {
      pass: error.resource === 'gpu' && error.device === 'cuda:0' && sampledGpu && error.usedBytes > error.limitBytes,
      summary: `${error.name} resource=${error.resource}: sampled ${summary.usedMiB} MiB of ${limitMiB} (over by ${values.sampledOverLimitMiB} MiB; by the program's count ${values.trueOverLimitAtKillMiB ?? '?'} MiB); kill ${values.killLatencyMs ?? '?'} ms after it crossed, rejected ${values.rejectLatencyMs ?? '?'} ms after; ${error.samples.length} samples, worker tree RSS ${summary.rssMiB} MiB`,
    };
  });

  await report.check('e', 'the GPU memory is released after the kill', settings.releaseWaitMs + 10_000, async (values) => {
    const from = runaway.rejectedAt ?? Date.now();
    const pid = runaway.pid;
    values.programPid = pid ?? null;
    values.baselineUsedMiB = baselineUsedMiB;
    /** @type {{ tMs: number, usedMiB: number, listed: boolean, alive: boolean }[]} */
    const trace = [];
    values.trace = trace;
    /** @type {number | undefined} */ let goneAfterMs;
    /** @type {number | undefined} */ let unlistedAfterMs;
    /** @type {number | undefined} */ let memoryBackAfterMs;
    while (Date.now() - from < settings.releaseWaitMs) {
      const alive = pid !== undefined && isAlive(pid);
      const [used, apps] = await Promise.all([nvidiaSmi(['--query-gpu=memory.used', '--format=csv,noheader,nounits'], 5000), nvidiaSmi(COMPUTE_APPS, 5000)]);
      const usedMiB = Number(used.stdout.split('\n')[0]);
      const listed = pid !== undefined && appsByPid(apps.stdout).has(pid);
      const tMs = Date.now() - from;
      if (trace.length < 60) trace.push({ tMs, usedMiB, listed, alive });
      if (!alive) goneAfterMs ??= tMs;
      if (!listed && apps.ok) unlistedAfterMs ??= tMs;
      if (usedMiB <= baselineUsedMiB + settings.releaseToleranceMiB) memoryBackAfterMs ??= tMs;
      if (goneAfterMs !== undefined && unlistedAfterMs !== undefined && memoryBackAfterMs !== undefined) break;
      await sleep(100);
    }
    values.processGoneAfterMs = goneAfterMs ?? null;
    values.unlistedAfterMs = unlistedAfterMs ?? null;
    values.memoryBackToBaselineAfterMs = memoryBackAfterMs ?? null;
    values.finalUsedMiB = trace.at(-1)?.usedMiB ?? null;
    return {
      pass: pid !== undefined && goneAfterMs !== undefined && unlistedAfterMs !== undefined && memoryBackAfterMs !== undefined,
      summary: `pid ${pid} gone after ${goneAfterMs ?? '>' + settings.releaseWaitMs} ms, off nvidia-smi's list after ${unlistedAfterMs ?? '>' + settings.releaseWaitMs} ms, memory.used back to ${values.finalUsedMiB} MiB (baseline ${baselineUsedMiB}) after ${memoryBackAfterMs ?? '>' + settings.releaseWaitMs} ms (times from the rejection)`,
      ...(pid === undefined ? { reason: 'the runaway never printed its pid (see check d)' } : {}),
    };
  });

  await report.check('g', 'close leaves no process of the pool alive', 30_000, async (values) => {
    notePids(running);
    values.workersBeforeClose = workerChildren();
    const started = Date.now();
    const closed = await Promise.race([running.close({ drainTimeoutMs: 2000 }).then(() => true), sleep(15_000).then(() => false)]);
    values.closeMs = Date.now() - started;
    values.closed = closed;
    const ours = [...seenPids, ...cudaPids];
    values.pidsChecked = ours;
    values.aliveRightAfterClose = ours.filter(isAlive);
    const deadline = Date.now() + 3000;
    while (Date.now() < deadline && ours.some(isAlive)) await sleep(50);
    values.aliveAfter3s = ours.filter(isAlive);
    values.workerChildrenAfter = workerChildren();
    const apps = await nvidiaSmi(COMPUTE_APPS, 5000);
    values.computeAppsAfter = apps.ok ? apps.stdout.trim() : `failed: ${apps.stderr.trim() || apps.error}`;
    const listed = [...appsByPid(apps.stdout).keys()].filter((pid) => ours.includes(pid));
    values.ourPidsStillOnGpu = listed;
    const survivors = /** @type {number[]} */ (values.aliveAfter3s);
    return {
      pass: closed && survivors.length === 0 && workerChildren().length === 0 && listed.length === 0,
      summary: `closed in ${values.closeMs} ms; ${ours.length} pids of the pool checked: ${survivors.length} alive after 3 s, ${listed.length} still on nvidia-smi's list`,
    };
  });
} else {
  const why = pool === undefined && poolvisor ? 'the pool did not start (check pool)' : 'the built pool could not be imported';
  for (const [id, title] of [['a', 'discovery'], ['b', 'devices'], ['c', 'attribution'], ['d', 'runaway'], ['e', 'release'], ['g', 'close']]) {
    report.skip(/** @type {string} */ (id), /** @type {string} */ (title), why);
  }
}

/**
 * @param {{ at: number, allocatedMiB: number }[]} steps
 * @param {number} at
 */
function stepBefore(steps, at) {
  return steps.filter((s) => s.at <= at).at(-1);
}

/** @param {string} path @param {() => string} [read] */
function readOr(path, read = () => readFileSync(path, 'utf8')) {
  try {
    return read().replace(/\0/g, ' ').trim();
  } catch (error) {
    return `(${describeError(error)})`;
  }
}

// ---- what sampling costs ------------------------------------------------------------------

await report.check('f', `the cost of one nvidia-smi sample, and of GPU sampling at ${settings.memoryPollMs} ms`, 90_000, async (values) => {
  const wallMs = [];
  let failures = 0;
  /** @type {string | undefined} */
  let firstFailure;
  const cpuBefore = exitedChildrenCpuMs();
  for (let i = 0; i < settings.samplingCalls; i += 1) {
    const call = await nvidiaSmi(COMPUTE_APPS, 5000);
    wallMs.push(call.ms);
    if (!call.ok) {
      failures += 1;
      firstFailure ??= call.stderr.trim() || call.error;
    }
  }
  const cpuMsPerCall = (exitedChildrenCpuMs() - cpuBefore) / settings.samplingCalls;
  const callsPerSecond = 1000 / settings.memoryPollMs;
  values.calls = settings.samplingCalls;
  values.failedCalls = failures;
  values.firstFailure = firstFailure ?? null;
  values.wallMsP50 = round(quantile(wallMs, 0.5), 2);
  values.wallMsP95 = round(quantile(wallMs, 0.95), 2);
  values.wallMsMax = round(Math.max(...wallMs), 2);
  values.cpuMsPerCall = round(cpuMsPerCall, 2);
  values.cpuPctOfCoreAtPollRate = round((cpuMsPerCall * callsPerSecond) / 10, 2);
  values.keepsUpWithPollRate = (quantile(wallMs, 0.95) ?? Infinity) < settings.memoryPollMs;

  if (poolvisor) {
    values.idleGpuPool = await idleCost({ devices: ['cuda:0'], gpuMemoryLimitMb: settings.gpuMemoryLimitMiB });
    values.idleCpuPool = await idleCost({ devices: ['cpu'] });
  }
  const gpuIdle = /** @type {{ mainCpuPctOfCore?: number, childrenCpuPctOfCore?: number, error?: string } | undefined} */ (values.idleGpuPool);
  const cpuIdle = /** @type {{ mainCpuPctOfCore?: number, childrenCpuPctOfCore?: number, error?: string } | undefined} */ (values.idleCpuPool);
  return {
    pass: failures === 0 && gpuIdle?.error === undefined && cpuIdle?.error === undefined,
    summary: `nvidia-smi --query-compute-apps: p50 ${values.wallMsP50} ms, p95 ${values.wallMsP95} ms wall, ${values.cpuMsPerCall} ms CPU per call (${settings.samplingCalls} calls) = ${values.cpuPctOfCoreAtPollRate}% of a core at ${callsPerSecond} Hz${values.keepsUpWithPollRate ? '' : ' (p95 wall over the period: the sampler skips beats)'}; idle pool, main process + nvidia-smi: GPU ${gpuIdle?.mainCpuPctOfCore ?? '?'}% + ${gpuIdle?.childrenCpuPctOfCore ?? '?'}% of a core, CPU-only ${cpuIdle?.mainCpuPctOfCore ?? '?'}% + ${cpuIdle?.childrenCpuPctOfCore ?? '?'}%`,
    ...(failures > 0 ? { reason: `${failures} of ${settings.samplingCalls} nvidia-smi calls failed: ${firstFailure}` } : {}),
  };
});

/**
 * The pool process's CPU over an idle period (one idle worker, sampled every memoryPollMs),
 * and that of the nvidia-smi calls it made (exited children).
 * @param {Record<string, unknown>} options
 */
async function idleCost(options) {
  if (!poolvisor) return { error: 'no pool' };
  try {
    const idle = await poolvisor.createPool({ task: tasks, maxWorkers: 1, spareWorkers: 0, memoryPollMs: settings.memoryPollMs, ...options });
    notePids(idle);
    await sleep(1000);
    const cpu = process.cpuUsage();
    const children = exitedChildrenCpuMs();
    const started = performance.now();
    await sleep(settings.idleMeasureMs);
    const wall = performance.now() - started;
    const used = process.cpuUsage(cpu);
    const mainMs = (used.user + used.system) / 1000;
    const childrenMs = exitedChildrenCpuMs() - children;
    const sampling = idle.status().gpu.sampling;
    await Promise.race([idle.close({ drainTimeoutMs: 0 }), sleep(10_000)]);
    await sleep(200);
    return {
      wallMs: Math.round(wall),
      mainCpuMs: round(mainMs),
      mainCpuPctOfCore: round((100 * mainMs) / wall, 2),
      childrenCpuMs: round(childrenMs),
      childrenCpuPctOfCore: round((100 * childrenMs) / wall, 2),
      gpuSampling: sampling,
      workersLeftAfterClose: workerChildren(),
    };
  } catch (error) {
    return { error: describeError(error) };
  }
}

process.exit(report.finish());
