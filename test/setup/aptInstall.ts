/**
 * What the test setups share: finding a command, running one to the end, and installing one
 * Debian package as root, non-interactively, each step's failure said in one line with
 * apt-get's own last word.
 */
import { spawnSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

export interface CommandRunner {
  /** Runs one command to the end; `stderr` is kept for a failure's message. */
  run(command: string, args: readonly string[]): { status: number | null; stderr: string };
}

/**
 * `apt-get update`, then `apt-get install <pkg>`; a failing step throws what `failed`
 * makes of its one-line description.
 */
export function aptInstall(host: CommandRunner, pkg: string, installFlags: readonly string[], failed: (what: string) => Error): void {
  const steps: Array<[string, string[]]> = [
    ['apt-get', ['update', '-qq']],
    // Another run on this machine may hold the dpkg lock: wait for it rather than fail.
    ['apt-get', ['install', '-y', '-qq', ...installFlags, '-o', 'DPkg::Lock::Timeout=300', pkg]],
  ];
  for (const [command, args] of steps) {
    const { status, stderr } = host.run(command, args);
    if (status !== 0) {
      const last = stderr.trim().split('\n').at(-1) ?? '';
      throw failed(`'${command} ${args.join(' ')}' failed (exit ${String(status)}${last ? `: ${last}` : ''})`);
    }
  }
}

export function executable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** Whether `command` is an executable in a folder of PATH. */
export const onPath = (command: string): boolean => (process.env.PATH ?? '').split(delimiter).some((dir) => dir !== '' && executable(join(dir, command)));

/** The machine's own command runner (apt-get is told it has no terminal to ask on). */
export function runToEnd(command: string, args: readonly string[]): { status: number | null; stderr: string } {
  const result = spawnSync(command, args, {
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    stdio: ['ignore', 'ignore', 'pipe'],
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  });
  return { status: result.status, stderr: result.stderr ?? result.error?.message ?? '' };
}
