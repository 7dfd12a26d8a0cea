import { afterEach, describe, expect, it } from 'vitest';
import { inferenceTaskModule } from '../src/inference/index.js';
import { createPool, TaskError, type Pool } from '../src/index.js';
import type { FromWorker } from '../src/runtime/protocol.js';
import { createTaskRunner, taskNames } from '../src/runtime/worker/taskRunner.js';
import { eventually, fixture, liveWorkerChildren } from './support/processes.js';

const pools: Pool[] = [];

afterEach(async () => {
  await Promise.all(pools.splice(0).map((pool) => pool.close({ drainTimeoutMs: 0 })));
  expect(liveWorkerChildren()).toEqual([]);
});

const load = async (): Promise<Record<string, unknown>> => import(fixture('classesAndTasks.mjs').href);

describe('task names', () => {
  it('should offer the functions of a module, bound ones included, and none of its classes', async () => {
    expect(taskNames(await load())).toEqual(['parse', 'parseBound']);
  });

  it('should fail a class run by name with ERR_TASK_NOT_FOUND, as any other export that is not a task', async () => {
    const sent: FromWorker[] = [];
    const { run } = createTaskRunner({ tasks: await load(), send: (message) => sent.push(message), identity: () => ({ workerId: 'worker-0', device: 'cpu' }) });
    run([
      { id: 't1', name: 'BadInputError', payload: 'boom' },
      { id: 't2', name: 'Disguised', payload: null },
      { id: 't3', name: 'version', payload: null },
      { id: 't4', name: 'parseBound', payload: '[1]' },
    ]);
    expect(await eventually(() => sent.length === 4)).toBe(true);
    const [badInput, disguised, version, parsed] = sent;
    for (const failed of [badInput, disguised, version]) {
      expect(failed).toMatchObject({ type: 'result', ok: false, error: { code: 'ERR_TASK_NOT_FOUND', message: expect.stringContaining('its tasks: parse, parseBound') } });
    }
    expect(badInput).toMatchObject({ error: { message: expect.stringContaining('"BadInputError" is a class, not a task') } });
    expect(parsed).toMatchObject({ type: 'result', ok: true, value: [1] });
  });

  for (const backend of ['process', 'thread'] as const) {
    it(`should leave the classes out of what a ${backend} pool offers, and refuse them as tasks`, async () => {
      const pool = await createPool({ task: fixture('classesAndTasks.mjs'), maxWorkers: 1, backend });
      pools.push(pool);
      expect(await eventually(() => pool.taskNames().length > 0)).toBe(true);
      expect(pool.taskNames()).toEqual(['parse', 'parseBound']);
      const error = await pool.run('BadInputError', 'x').catch((e: unknown) => e);
      expect(error).toBeInstanceOf(TaskError);
      expect((error as TaskError).cause).toMatchObject({ code: 'ERR_TASK_NOT_FOUND' });
      expect(await pool.run('parse', '{"ok":true}')).toEqual({ ok: true });
    });
  }

  it('should offer inferMechanism, not InvalidLinkError, for the bundled inference module', async () => {
    const pool = await createPool({ task: inferenceTaskModule, maxWorkers: 1 });
    pools.push(pool);
    expect(await eventually(() => pool.taskNames().length > 0)).toBe(true);
    expect(pool.taskNames()).toEqual(['inferMechanism']);
  });
});
