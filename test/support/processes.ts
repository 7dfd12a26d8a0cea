import { readFileSync } from 'node:fs';

/** Alive means running: a zombie (exited, not yet reaped) counts as gone. */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

/** Polls until `predicate` holds, for at most `timeoutMs`; returns whether it did. */
export async function eventually(predicate: () => boolean, timeoutMs = 5000, everyMs = 20): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (predicate()) return true;
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
  return predicate();
}

export const fixture = (name: string) => new URL(`../fixtures/${name}`, import.meta.url);

/** Live worker processes (of any pool) that this process started: none should outlive a close. */
export function liveWorkerChildren(): number[] {
  const children = readFileSync(`/proc/${process.pid}/task/${process.pid}/children`, 'utf8').trim().split(' ').filter(Boolean).map(Number);
  return children.filter((pid) => {
    try {
      return isAlive(pid) && readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('processEntry.js');
    } catch {
      return false;
    }
  });
}
