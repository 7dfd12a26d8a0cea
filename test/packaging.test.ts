import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { validLink } from './support/links.js';
import { eventually, fixture, isAlive } from './support/processes.js';

const root = fileURLToPath(new URL('..', import.meta.url));

describe('the built package', () => {
  it("imports as 'poolvisor' from dist and runs a task", () => {
    const script = `
      import { createPool, WorkerTimeoutError } from 'poolvisor';
      import { supervisorMachine } from 'poolvisor/machines';
      const pool = await createPool({ task: new URL('./test/fixtures/tasks.mjs', 'file://${root}'), maxWorkers: 1 });
      const value = await pool.run('echo', 'from dist');
      await pool.close();
      console.log(JSON.stringify({ value, timeout: typeof WorkerTimeoutError, machine: supervisorMachine.id }));
    `;
    const result = spawnSync(process.execPath, ['--input-type=module', '-e', script], { cwd: root, encoding: 'utf8' });
    expect(result.stderr).toBe('');
    expect(JSON.parse(result.stdout)).toEqual({ value: 'from dist', timeout: 'function', machine: 'supervisor' });
  });

  it("offers the inference application at 'poolvisor/inference', apart from the library's entry", () => {
    const script = `
      import * as library from 'poolvisor';
      import { InferenceEngine, inferenceTaskModule, classifyFailure } from 'poolvisor/inference';
      const engine = await InferenceEngine.create({ maxWorkers: 1 });
      const posterior = await engine.inferMechanism(${JSON.stringify(validLink(1))});
      await engine.close();
      console.log(JSON.stringify({
        inLibrary: ['InferenceEngine', 'inferenceTaskModule', 'classifyFailure'].filter((name) => name in library),
        taskModule: inferenceTaskModule.pathname.endsWith('/dist/src/inference/tasks.js'),
        classify: typeof classifyFailure,
        mean: posterior.posterior.mean > 0,
      }));
    `;
    const result = spawnSync(process.execPath, ['--input-type=module', '-e', script], { cwd: root, encoding: 'utf8' });
    expect(result.stderr).toBe('');
    expect(JSON.parse(result.stdout)).toEqual({ inLibrary: [], taskModule: true, classify: 'function', mean: true });
  });

  it('leaves no worker behind when the host process is SIGKILLed', async () => {
    const host = spawn(process.execPath, [fileURLToPath(fixture('hostThatDies.mjs'))], { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] });
    const [line] = (await once(host.stdout, 'data')) as [Buffer];
    const pids = JSON.parse(line.toString()) as number[];
    expect(pids).toHaveLength(3); // two workers and a spare
    expect(pids.every(isAlive)).toBe(true);
    host.kill('SIGKILL');
    await once(host, 'exit');
    // Each worker sees its IPC channel close and takes its process group down.
    expect(await eventually(() => pids.every((pid) => !isAlive(pid)), 10_000)).toBe(true);
  });
});

describe('npm run demo', () => {
  it('shows each kind of failure and what the supervisor decided', () => {
    const result = spawnSync(process.execPath, ['dist/tools/demo.js'], { cwd: root, encoding: 'utf8', timeout: 60_000 });
    expect(result.status).toBe(0);
    for (const text of ['WorkerTimeoutError', 'WorkerMemoryError', 'WorkerCrashedError', 'TaskError', 'not counted against the pool', 'no worker process is left']) {
      expect(result.stdout).toContain(text);
    }
    expect(result.stdout.match(/^ok {4}/gm)).toHaveLength(4);
  });
});
