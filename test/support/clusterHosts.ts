/**
 * Cluster hosts for the real-process tests: each host is a `poolvisor worker` process on
 * loopback (built `dist/src/cli.js`), against a private Redis from ./redisServer.ts.
 * `clusterHosts()` at the top of a test file registers an afterEach that closes the file's
 * clients, SIGKILLs its hosts that still run, and checks that no host or worker process of
 * the test outlives it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterEach, expect } from 'vitest';
import { createClusterClient, type ClusterClient, type ClusterClientOptions } from '../../src/cluster/index.js';
import { eventually, fixture, isAlive } from './processes.js';
import type { RedisServer } from './redisServer.js';

const root = fileURLToPath(new URL('../..', import.meta.url));

export interface Host {
  readonly child: ChildProcess;
  /** Its id in the cluster, as its first stdout line says. */
  readonly id: string;
  readonly pid: number;
  readonly slots: Record<string, number>;
  /** Resolves when the process has exited: its code, or the signal that ended it. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export interface StartHostOptions {
  /** More `poolvisor worker` arguments (`--workers 2`, `--devices cuda:0`). */
  readonly args?: string[];
  /** The host's environment (default: this process's). */
  readonly env?: NodeJS.ProcessEnv;
  /** The task module (default: test/fixtures/tasks.mjs). */
  readonly task?: string;
}

/** The direct children of `pid`, from /proc (every thread's list: a child may belong to any). */
export function childrenOf(pid: number): number[] {
  try {
    return readdirSync(`/proc/${pid}/task`).flatMap((tid) =>
      readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').trim().split(' ').filter(Boolean).map(Number),
    );
  } catch {
    return [];
  }
}

/** The worker processes a host runs, from /proc: they must die with it. */
export const workerPidsOf = (hostPid: number): number[] => childrenOf(hostPid);

/** The host processes (`dist/src/cli.js worker`) this test process started that still run. */
export function liveHostChildren(): number[] {
  return childrenOf(process.pid).filter((pid) => {
    try {
      return isAlive(pid) && readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('dist/src/cli.js');
    } catch {
      return false;
    }
  });
}

/** One line per run of the `logged` fixture, `i pid time`: the runs of each task, by its `i`. */
export function runsByTask(log: string): Map<number, Array<{ pid: number; at: number }>> {
  const runs = new Map<number, Array<{ pid: number; at: number }>>();
  for (const line of readFileSync(log, 'utf8').trim().split('\n').filter(Boolean)) {
    const [i, pid, at] = line.split(' ').map(Number) as [number, number, number];
    runs.set(i, [...(runs.get(i) ?? []), { pid, at }]);
  }
  return runs;
}

export function clusterHosts() {
  const hosts: Host[] = [];
  const clients: ClusterClient[] = [];
  /** Every worker pid seen of this test's hosts: none may outlive the test. */
  const workerPids = new Set<number>();

  afterEach(async () => {
    const live = hosts.splice(0);
    for (const host of live) for (const pid of workerPidsOf(host.pid)) workerPids.add(pid);
    await Promise.all(
      live.map(async (host) => {
        if (host.child.exitCode === null && host.child.signalCode === null) host.child.kill('SIGKILL');
        await host.exited;
      }),
    );
    await Promise.all(clients.splice(0).map((c) => c.close()));
    const pids = [...workerPids];
    workerPids.clear();
    expect(liveHostChildren()).toEqual([]);
    expect(await eventually(() => pids.every((pid) => !isAlive(pid)), 10_000)).toBe(true);
  });

  return {
    /** Starts a host and resolves once it has joined the cluster (its first stdout line). */
    async startHost(redis: RedisServer, queue: string, options: StartHostOptions = {}): Promise<Host> {
      const task = options.task ?? fileURLToPath(fixture('tasks.mjs'));
      const child = spawn(process.execPath, ['dist/src/cli.js', 'worker', '--redis', redis.url, '--queue', queue, '--task', task, ...(options.args ?? [])], {
        cwd: root,
        stdio: ['ignore', 'pipe', 'inherit'],
        ...(options.env ? { env: options.env } : {}),
      });
      const exited = once(child, 'exit').then(([code, signal]) => ({ code: code as number | null, signal: signal as NodeJS.Signals | null }));
      let text = '';
      for await (const chunk of child.stdout as AsyncIterable<Buffer>) {
        text += chunk;
        if (text.includes('\n')) break;
      }
      if (!text.includes('\n')) throw new Error(`the host exited before it joined: ${JSON.stringify(await exited)}`);
      const { host, pid, slots } = JSON.parse(text.split('\n')[0] as string) as { host: string; pid: number; slots: Record<string, number> };
      const started: Host = { child, id: host, pid, slots, exited };
      hosts.push(started);
      return started;
    },

    async client(redis: RedisServer, queue: string, options: Partial<ClusterClientOptions> = {}): Promise<ClusterClient> {
      const c = await createClusterClient({ redis: redis.url, queue, ...options });
      clients.push(c);
      return c;
    },

    /** Notes a host's worker pids now, so that the afterEach checks they are gone (a host about to be killed). */
    noteWorkers(host: Host): number[] {
      const pids = workerPidsOf(host.pid);
      for (const pid of pids) workerPids.add(pid);
      return pids;
    },
  };
}
