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
