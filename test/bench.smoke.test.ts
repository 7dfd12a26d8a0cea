import { spawnSync } from 'node:child_process';
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
  it('runs the local pool and BullMQ on a private redis-server, skips the cluster case until it is built, and leaves nothing running', () => {
    const result = spawnSync(
      process.execPath,
      ['test/bench/cluster.mjs', '--cases', 'local,bullmq-inprocess,cluster-1', '--tasks', '100', '--roundtrips', '20', '--skip-default-redelivery'],
      { cwd: root, encoding: 'utf8', timeout: 120_000 },
    );
    expect(result.status, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/\| local \| noop \| [\d,]+ \|/);
    expect(result.stdout).toMatch(/\| bullmq-inprocess \| json1k \| [\d,]+ \| .* \| [\d.]+ \([\d.]+\) \|/);
    expect(result.stdout).toMatch(/\| bullmq-inprocess \| [\d,]+ \| [\d,]+ \|/);
    expect(result.stdout).toMatch(/cluster-1: skipped: |cluster-1 noop/);
    const port = result.stdout.match(/redis:\/\/127\.0\.0\.1:(\d+)/)?.[1];
    expect(port).toBeDefined();
    expect(port).not.toBe('6379');
  }, 150_000);
});
