import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { serveSettings } from '../src/service/serveCommand.js';

const root = fileURLToPath(new URL('..', import.meta.url));

describe('poolvisor serve settings', () => {
  it('take flags over POOLVISOR_* variables over the config file over defaults', () => {
    const dir = mkdtempSync(join(tmpdir(), 'poolvisor-serve-'));
    const config = join(dir, 'poolvisor.json');
    writeFileSync(config, JSON.stringify({ port: 9000, drainTimeoutMs: 5000, pool: { maxWorkers: 3, memoryLimitMb: 512 } }));
    const settings = serveSettings(['--config', config, '--workers', '4'], { POOLVISOR_PORT: '9100', POOLVISOR_MEMORY: '1024' });
    expect(settings).toMatchObject({ host: '127.0.0.1', port: 9100, drainTimeoutMs: 5000, pool: { maxWorkers: 4, memoryLimitMb: 1024 } });
    expect(serveSettings([], {})).toMatchObject({ host: '127.0.0.1', port: 7070, drainTimeoutMs: 30_000, token: undefined });
  });

  it('read the pool flags as poolvisor infer does, naming the flag or the variable a bad value came from', () => {
    expect(() => serveSettings(['--workers', 'many'], {})).toThrow('--workers: expected a positive integer, got "many"');
    expect(() => serveSettings([], { POOLVISOR_MEMORY: '0' })).toThrow('POOLVISOR_MEMORY: expected a positive integer, got "0"');
    expect(() => serveSettings(['--backend', 'fiber'], {})).toThrow('--backend: expected process or thread, got "fiber"');
    expect(() => serveSettings([], { POOLVISOR_PORT: '70.5' })).toThrow('POOLVISOR_PORT: expected a whole number, got "70.5"');
    const infer = spawnSync(process.execPath, ['dist/src/cli.js', 'infer', 'links.jsonl', '--workers', 'many'], { cwd: root, encoding: 'utf8', timeout: 30_000 });
    expect(infer.status).toBe(2);
    expect(infer.stderr).toBe('poolvisor infer: --workers: expected a positive integer, got "many"\n');
  });

  it("check the service's own bounds in the config file, naming the field", () => {
    const dir = mkdtempSync(join(tmpdir(), 'poolvisor-serve-'));
    const config = join(dir, 'limits.json');
    writeFileSync(config, JSON.stringify({ maxPayloadDepth: 0, taskRecords: { maxBytes: 1024 } }));
    expect(() => serveSettings(['--config', config], {})).toThrow('config.maxPayloadDepth: expected an integer from 1 to 512, got 0');
    writeFileSync(config, JSON.stringify({ maxPayloadDepth: 8, taskRecords: { maxBytes: 1024 }, resultLingerMs: 0 }));
    expect(serveSettings(['--config', config], {})).toMatchObject({ resultLingerMs: 0, limits: { maxPayloadDepth: 8, taskRecords: { maxBytes: 1024 } } });
  });

  it('check the config file with the pool schema, naming the field', () => {
    const dir = mkdtempSync(join(tmpdir(), 'poolvisor-serve-'));
    const config = join(dir, 'bad.json');
    writeFileSync(config, JSON.stringify({ pool: { memoryLimitMb: -1 } }));
    expect(() => serveSettings(['--config', config], {})).toThrow('config.pool.memoryLimitMb: expected a number > 0, got -1');
  });

  it('refuse to bind a non-loopback address without a token', () => {
    const result = spawnSync(process.execPath, ['dist/src/cli.js', 'serve', '--host', '0.0.0.0', '--port', '0'], { cwd: root, encoding: 'utf8', timeout: 30_000 });
    expect(result.status).toBe(2);
    expect(result.stderr).toContain('refusing to bind 0.0.0.0 without a token');
  });

  it('exit 2 with one line for an empty or short token, from the flag or the environment, without printing it', () => {
    const cli = (args: string[], env: Record<string, string>) =>
      spawnSync(process.execPath, ['dist/src/cli.js', 'serve', '--port', '0', ...args], { cwd: root, encoding: 'utf8', timeout: 30_000, env: { ...process.env, ...env } });
    const short = cli(['--token', 'Zq9#short'], {});
    expect(short.status).toBe(2);
    expect(short.stderr).toBe('poolvisor serve: --token: expected at least 16 characters, got 9\n');
    expect(short.stdout + short.stderr).not.toContain('Zq9#short');
    // An empty POOLVISOR_TOKEN used to count as a token and bind every interface.
    const empty = cli(['--host', '0.0.0.0'], { POOLVISOR_TOKEN: '' });
    expect(empty.status).toBe(2);
    expect(empty.stderr).toBe('poolvisor serve: POOLVISOR_TOKEN: expected at least 16 characters, got 0\n');
  });

  it('with --redis and --queue (or POOLVISOR_REDIS, POOLVISOR_QUEUE, the config file) stand in front of a cluster and run no pool', () => {
    expect(serveSettings(['--redis', 'redis://10.0.0.5:6379', '--queue', 'inference'], {})).toMatchObject({ cluster: { redis: 'redis://10.0.0.5:6379', queue: 'inference' }, pool: {} });
    // The pool variables the hosts' environment may share are theirs: ignored here, not refused.
    const fromEnv = serveSettings([], { POOLVISOR_REDIS: 'redis://r:6379', POOLVISOR_QUEUE: 'q', POOLVISOR_WORKERS: '8' });
    expect(fromEnv).toMatchObject({ cluster: { redis: 'redis://r:6379', queue: 'q' } });
    expect(fromEnv.pool).toEqual({});
    const dir = mkdtempSync(join(tmpdir(), 'poolvisor-serve-'));
    const config = join(dir, 'cluster.json');
    writeFileSync(config, JSON.stringify({ redis: 'redis://r:6379/2', queue: 'q', maxTaskTimeoutMs: 60_000, maxWaitingRequests: 10 }));
    expect(serveSettings(['--config', config], {}).cluster).toEqual({ redis: 'redis://r:6379/2', queue: 'q', maxTaskTimeoutMs: 60_000, maxWaitingRequests: 10 });
    expect(serveSettings([], {}).cluster).toBeUndefined();
  });

  it('refuse pool flags with --redis, a --redis without --queue and cluster fields without --redis, each in one line naming the field', () => {
    expect(() => serveSettings(['--redis', 'redis://r:6379', '--queue', 'q', '--workers', '2', '--task', 'x.js'], {})).toThrow(
      '--redis: cannot go with --task, --workers: with --redis, serve runs no pool (the hosts do); give the pool options to poolvisor worker',
    );
    expect(() => serveSettings(['--redis', 'redis://r:6379'], {})).toThrow('--queue: required with --redis (or POOLVISOR_QUEUE, config queue)');
    expect(() => serveSettings(['--queue', 'q'], {})).toThrow('--queue: needs --redis (or POOLVISOR_REDIS, config redis)');
    const dir = mkdtempSync(join(tmpdir(), 'poolvisor-serve-'));
    const config = join(dir, 'mixed.json');
    writeFileSync(config, JSON.stringify({ maxWaitingRequests: 5 }));
    expect(() => serveSettings(['--config', config], {})).toThrow('config.maxWaitingRequests: needs --redis');
    writeFileSync(config, JSON.stringify({ redis: 'redis://r:6379', queue: 'q', pool: { maxWorkers: 2 } }));
    expect(() => serveSettings(['--config', config], {})).toThrow('--redis: cannot go with config.pool');
    // A local service's bounds would bound nothing in front of a cluster: said, not ignored.
    writeFileSync(config, JSON.stringify({ redis: 'redis://r:6379', queue: 'q', taskRecords: { maxCount: 10 }, maxPendingPayloadBytes: 1024 }));
    expect(() => serveSettings(['--config', config], {})).toThrow('--redis: cannot go with config.taskRecords, config.maxPendingPayloadBytes');
    writeFileSync(config, JSON.stringify({ redis: 'http://r:6379', queue: 'q' }));
    expect(() => serveSettings(['--config', config], {})).toThrow('config.redis: expected a redis:// URL');
    // From the command line: exit 2, one line, before anything starts.
    const result = spawnSync(process.execPath, ['dist/src/cli.js', 'serve', '--redis', 'redis://127.0.0.1:1', '--queue', 'q', '--workers', '2'], { cwd: root, encoding: 'utf8', timeout: 30_000 });
    expect(result.status).toBe(2);
    expect(result.stderr).toBe('poolvisor serve: --redis: cannot go with --workers: with --redis, serve runs no pool (the hosts do); give the pool options to poolvisor worker\n');
    const help = spawnSync(process.execPath, ['dist/src/cli.js', 'serve', '--help'], { cwd: root, encoding: 'utf8', timeout: 30_000 });
    expect(help.stdout).toContain('--redis URL            serve a cluster at redis://host:port[/db] instead of a local pool');
  });
});
