import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { hungryLink, invalidLink, slowLink, validLink } from './support/links.js';
import { eventually, isAlive } from './support/processes.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const cli = join(root, 'dist/src/cli.js');
const dir = mkdtempSync(join(tmpdir(), 'poolvisor-cli-'));

function linksFile(name: string, lines: string[]): string {
  const file = join(dir, name);
  writeFileSync(file, `${lines.join('\n')}\n`);
  return file;
}

const run = (args: string[]) => spawnSync(process.execPath, [cli, ...args], { cwd: root, encoding: 'utf8', timeout: 60_000 });

/**
 * Runs the CLI with a marker in its environment, which its workers inherit, so that any
 * process the run left behind can be found afterwards. A run that hangs is killed at
 * `timeout` and comes back with a null status.
 */
function runMarked(args: string[], timeout = 20_000) {
  const marker = `${process.pid}-${Math.random().toString(36).slice(2)}`;
  const result = spawnSync(process.execPath, [cli, ...args], { cwd: root, encoding: 'utf8', timeout, env: { ...process.env, POOLVISOR_CLI_TEST_RUN: marker } });
  return { ...result, leftBehind: () => runningWith(marker) };
}

function runningWith(marker: string): number[] {
  return readdirSync('/proc')
    .filter((entry) => /^\d+$/.test(entry))
    .map(Number)
    .filter((pid) => {
      try {
        return readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0').includes(`POOLVISOR_CLI_TEST_RUN=${marker}`) && isAlive(pid);
      } catch {
        return false;
      }
    });
}

describe('poolvisor infer', () => {
  it('writes one JSON line per link, prints plain progress when not a TTY, and a summary; exits 0 with failed links', () => {
    const file = linksFile('batch.jsonl', [
      ...[1, 2, 3, 4, 5].map((i) => JSON.stringify(validLink(i))),
      JSON.stringify(invalidLink),
      '{"id": "broken", "evidence": [',
      JSON.stringify(slowLink),
      JSON.stringify(hungryLink),
    ]);
    const out = join(dir, 'results.jsonl');
    const result = run(['infer', file, '--workers', '2', '--timeout', '6000', '--memory', '160', '--out', out]);
    expect(result.status).toBe(0);
    const lines = readFileSync(out, 'utf8').trim().split('\n').map((line) => JSON.parse(line));
    expect(lines).toHaveLength(9);
    expect(lines.map((l) => l.index).sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8]);
    const byIndex = new Map(lines.map((l) => [l.index, l]));
    expect([0, 1, 2, 3, 4, 5, 6, 7, 8].map((i) => byIndex.get(i).kind ?? byIndex.get(i).status)).toEqual([
      'ok', 'ok', 'ok', 'ok', 'ok', 'invalid', 'invalid', 'timeout', 'memory',
    ]);
    expect(byIndex.get(0).result.posterior.mean).toBeGreaterThan(0);
    expect(byIndex.get(6).message).toContain('line 7: not JSON');
    expect(byIndex.get(8).evidence).toMatchObject({ resource: 'rss', workerId: expect.stringMatching(/^worker-/) });
    expect(result.stdout).toContain('summary: 9 of 9 links');
    const outcomesLine = result.stdout.split('\n').find((line) => line.trim().startsWith('outcomes')) ?? '';
    for (const count of ['ok 5', 'invalid 2', 'timeout 1', 'memory 1']) expect(outcomesLine).toContain(count);
    expect(result.stdout).toMatch(/kills +.*timeout 1/);
    expect(result.stdout).toMatch(/kills +.*memory \(rss\) 1/);
    expect(result.stdout).toMatch(/task time +p50 \d+/);
    expect(result.stdout).toMatch(/peak RSS +worker-0 \d+ MiB · worker-1 \d+ MiB/);
    expect(result.stderr).toMatch(/^progress: \d+\/9 settled/m);
    expect(result.stderr).not.toContain('\r');
  });

  it('sends results to stdout and the report to stderr without --out', () => {
    const result = run(['infer', linksFile('two.json', [JSON.stringify([validLink(1), validLink(2)])]), '--workers', '1']);
    expect(result.status).toBe(0);
    expect(result.stdout.trim().split('\n').map((l) => JSON.parse(l).status)).toEqual(['ok', 'ok']);
    expect(result.stderr).toContain('summary: 2 of 2 links');
  });

  it('fails every kind of invalid link with ERR_INVALID_LINK naming the field and the value, each message once; an empty file starts no pool', () => {
    const empty = run(['infer', linksFile('empty.jsonl', ['', '  ', ''])]);
    expect(empty.status).toBe(1);
    expect(empty.stderr.trim()).toBe(`poolvisor infer: ${join(dir, 'empty.jsonl')} has no links: nothing to infer`);
    expect(empty.stdout).toBe('');
    const file = linksFile('bad.jsonl', [
      JSON.stringify({ ...validLink(1), id: 'negative', observations: { successes: -1, trials: 3 } }),
      JSON.stringify({ ...validLink(2), id: 'few-draws', sampling: { chains: 2, draws: -5, warmup: 10, seed: 1 } }),
      '{ not json',
      JSON.stringify({ ...validLink(3), evidence: [{ test: 'smoking-gun', passed: true }] }),
    ]);
    const result = run(['infer', file, '--workers', '1']);
    expect(result.status).toBe(0);
    const lines = result.stdout.trim().split('\n').map((line) => JSON.parse(line)).sort((a, b) => a.index - b.index);
    expect(lines.map((line) => [line.index, line.status, line.kind, line.code])).toEqual([0, 1, 2, 3].map((i) => [i, 'failed', 'invalid', 'ERR_INVALID_LINK']));
    expect(lines[0].message).toBe('observations.successes: expected an integer >= 0, got -1');
    expect(lines[1].message).toBe('sampling.draws: expected an integer from 10 to 1000000000, got -5');
    expect(lines[2].message).toMatch(/^line 3: not JSON/);
    expect(lines[3].message).toBe('evidence[0].test: expected one of hoop, smoking_gun, doubly_decisive, straw_in_the_wind, got "smoking-gun"');
    expect(lines[1].evidence.issues).toEqual([{ field: 'sampling.draws', message: 'expected an integer from 10 to 1000000000', received: -5 }]);
  });

  it('refuses bad arguments and unreadable files with a clear message and a non-zero exit', () => {
    const missing = run(['infer', join(dir, 'nope.jsonl')]);
    expect(missing.status).toBe(1);
    expect(missing.stderr).toContain('cannot read');
    expect(missing.stderr).toContain('ENOENT');
    const badFlag = run(['infer', join(dir, 'x.jsonl'), '--workers', 'many']);
    expect(badFlag.status).toBe(2);
    expect(badFlag.stderr).toContain('--workers: expected a positive integer, got "many"');
    const noFile = run(['infer']);
    expect(noFile.status).toBe(2);
    expect(noFile.stderr).toContain('expected one links file, got none');
    const badDevice = run(['infer', linksFile('one.jsonl', [JSON.stringify(validLink(1))]), '--devices', 'tpu']);
    expect(badDevice.status).toBe(2);
    expect(badDevice.stderr).toContain("devices.0: expected 'cpu' or 'cuda:N'");
    const unknown = run(['frobnicate']);
    expect(unknown.status).toBe(2);
    expect(unknown.stderr).toContain('unknown command "frobnicate"');
  });

  it('refuses an --out it cannot open before any worker starts: one line naming the flag, exit 1, no hang', () => {
    const result = runMarked(['infer', 'docs/examples/links.jsonl', '--workers', '2', '--out', '/nonexistent/x']);
    expect(result.status).toBe(1);
    // No progress line: the pool never started.
    expect(result.stderr).toBe('poolvisor infer: --out /nonexistent/x: cannot open for writing (ENOENT: no such file or directory)\n');
    expect(result.leftBehind()).toEqual([]);
  });

  it('keeps the previous results when an option is wrong: --out is opened only once the options hold', () => {
    const out = linksFile('previous.jsonl', ['{"index":0,"status":"ok"}']);
    const result = run(['infer', linksFile('one-more.jsonl', [JSON.stringify(validLink(1))]), '--devices', 'tpu', '--out', out]);
    expect(result.status).toBe(2);
    expect(readFileSync(out, 'utf8')).toBe('{"index":0,"status":"ok"}\n');
  });

  it('closes the pool and exits 1 when a result cannot be written, to --out or to a closed stdout, leaving no worker', async () => {
    const file = linksFile('three.jsonl', [1, 2, 3].map((i) => JSON.stringify(validLink(i))));
    const full = runMarked(['infer', file, '--workers', '2', '--out', '/dev/full']);
    expect(full.status).toBe(1);
    expect(full.stderr).toMatch(/^progress: /m); // the pool did start
    expect(full.stderr).toContain('poolvisor infer: --out /dev/full: cannot write (ENOSPC: no space left on device)\n');
    expect(full.leftBehind()).toEqual([]);

    // `poolvisor infer links.jsonl | head -1`: the reader goes away before the results come.
    const child = spawn(process.execPath, [cli, 'infer', file, '--workers', '2'], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.destroy();
    let stderr = '';
    child.stderr.on('data', (chunk) => (stderr += chunk));
    const workers = new Set<number>();
    const watch = setInterval(() => {
      try {
        for (const pid of readFileSync(`/proc/${child.pid}/task/${child.pid}/children`, 'utf8').trim().split(' ').filter(Boolean)) workers.add(Number(pid));
      } catch {
        // exited
      }
    }, 10);
    const code = await new Promise<number | null>((resolve) => child.on('exit', (status) => resolve(status)));
    clearInterval(watch);
    expect(code).toBe(1);
    expect(stderr).toContain('poolvisor infer: stdout: cannot write (EPIPE: broken pipe)\n');
    expect(workers.size).toBeGreaterThan(0);
    expect([...workers].filter(isAlive)).toEqual([]);
  });

  it('stops cleanly on SIGINT: finished results are on disk, running tasks are killed, no worker is left', async () => {
    const file = linksFile('long.jsonl', [
      JSON.stringify(validLink(1)),
      JSON.stringify(validLink(2)),
      JSON.stringify(slowLink),
      JSON.stringify(slowLink),
      JSON.stringify(slowLink),
    ]);
    const out = join(dir, 'interrupted.jsonl');
    const child = spawn(process.execPath, [cli, 'infer', file, '--workers', '2', '--timeout', '60000', '--out', out], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    const children = () => {
      try {
        return readFileSync(`/proc/${child.pid}/task/${child.pid}/children`, 'utf8').trim().split(' ').filter(Boolean).map(Number);
      } catch {
        return [];
      }
    };
    const done = () => {
      try {
        return readFileSync(out, 'utf8').trim().split('\n').filter(Boolean).length;
      } catch {
        return 0;
      }
    };
    expect(await eventually(() => done() >= 2 && children().length >= 2, 20_000)).toBe(true);
    const workers = children();
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    child.kill('SIGINT');
    expect(await exited).toBe(130);
    expect(readFileSync(out, 'utf8').trim().split('\n').map((l) => JSON.parse(l).status)).toEqual(['ok', 'ok']);
    expect(stdout).toContain('summary (interrupted): 2 of 5 links');
    expect(await eventually(() => workers.every((pid) => !isAlive(pid)))).toBe(true);
  });
});
