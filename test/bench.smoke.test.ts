import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('..', import.meta.url));

describe('the benchmark harness (a smoke run, no timing assertions)', () => {
  it('runs one scenario on poolvisor and a peer, each in its own process, and reports the ratio', () => {
    const result = spawnSync(process.execPath, ['test/bench/run.mjs', '--only', 'noop', '--reps', '1', '--tasks', '300', '--pools', 'poolvisor-process,workerpool-process'], {
      cwd: root,
      encoding: 'utf8',
      timeout: 120_000,
    });
    expect(result.status).toBe(0);
    expect(result.stdout).toMatch(/## noop \(tasks\/s\)/);
    expect(result.stdout).toMatch(/poolvisor-process +\d+ \[\d+–\d+\].*ratio to best process peer \d+\.\d+/);
    expect(result.stdout).toMatch(/workerpool-process +\d+ \[/);
  });
});

describe('the cluster benchmark harness (a smoke run, no timing assertions)', () => {
  it('runs the local pool, BullMQ in-process and as a host of its own, and a cluster host on a private redis-server, and leaves nothing running', () => {
    const result = spawnSync(
      process.execPath,
      ['test/bench/cluster.mjs', '--cases', 'local,bullmq-inprocess,bullmq-sandboxed-host,cluster-1', '--tasks', '100', '--roundtrips', '20', '--skip-default-redelivery'],
      { cwd: root, encoding: 'utf8', timeout: 120_000 },
    );
    expect(result.status, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/\| local \| noop \| [\d,]+ \|/);
    expect(result.stdout).toMatch(/\| bullmq-inprocess \| json1k \| [\d,]+ \| .* \| [\d.]+ \([\d.]+\) \|/);
    expect(result.stdout).toMatch(/\| bullmq-inprocess \| [\d,]+ \| [\d,]+ \|/);
    // `npm test` builds first: the cluster case runs, it is not skipped.
    expect(result.stdout).toMatch(/\| bullmq-sandboxed-host \| noop \| [\d,]+ \|/);
    expect(result.stdout).toMatch(/\| cluster-1 \| noop \| [\d,]+ \|/);
    expect(result.stdout).toMatch(/\| cluster-1 \| fast .* \| [\d,]+ \|/);
    const port = result.stdout.match(/redis:\/\/127\.0\.0\.1:(\d+)/)?.[1];
    expect(port).toBeDefined();
    expect(port).not.toBe('6379');
    // Nothing of the run is left: its redis-server, hosts and BullMQ consumer all named its port.
    const left = readdirSync('/proc')
      .filter((pid) => /^\d+$/.test(pid))
      .filter((pid) => {
        try {
          return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(`127.0.0.1:${port}`);
        } catch {
          return false;
        }
      });
    expect(left).toEqual([]);
  }, 150_000);
});
