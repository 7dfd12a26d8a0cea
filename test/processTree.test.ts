import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';
import { collectTree, killTree, selfAndAncestors, startTimeOf, walkDescendants } from '../src/runtime/worker/processTree.js';
import { eventually, isAlive } from './support/processes.js';

const children: number[] = [];

async function sleeper(): Promise<number> {
  const child = spawn('sleep', ['1000'], { stdio: 'ignore' });
  await once(child, 'spawn');
  children.push(child.pid as number);
  return child.pid as number;
}

afterEach(() => {
  for (const pid of children.splice(0)) if (isAlive(pid)) process.kill(pid, 'SIGKILL');
});

describe('walking a process tree', () => {
  it('should stop at its limit, however many children each process has', () => {
    // A synthetic tree where every process has two children: a fork bomb, as /proc would show it.
    const visited: number[] = [];
    const count = walkDescendants([2], (pid) => `${pid * 2} ${pid * 2 + 1} `, (pid) => visited.push(pid) > 0, 100);
    expect(count).toBe(100);
    expect(visited).toHaveLength(100);
  });

  it('should find this process\'s children with their start times', async () => {
    const pid = await sleeper();
    const tree = collectTree([process.pid]);
    expect(tree.get(pid)).toBe(startTimeOf(pid));
    expect(tree.get(process.pid)).toBe(startTimeOf(process.pid));
  });

  it('should never count this process or its parent among what it may signal', () => {
    const spared = selfAndAncestors();
    expect(spared.has(process.pid)).toBe(true);
    expect(spared.has(process.ppid)).toBe(true);
  });
});

describe('killing a process tree', () => {
  it('should kill what it collected, and spare a pid whose start time is not the one collected', async () => {
    const [ours, reused] = [await sleeper(), await sleeper()];
    // `reused` stands for a pid the kernel handed to another process after the walk.
    const tree = new Map([
      [ours, startTimeOf(ours) as string],
      [reused, 'another start time'],
    ]);
    killTree(tree, selfAndAncestors());
    expect(await eventually(() => !isAlive(ours))).toBe(true);
    expect(isAlive(reused)).toBe(true);
  });
});
