/**
 * Vitest global setup: the dashboard test drives a real Chromium, and `npm test` has to
 * pass on a fresh machine with nothing installed by hand. As root on Debian (CI) it
 * installs Debian's `chromium`; anywhere else it stops the run with one line that says
 * what to install. A run without the dashboard test touches nothing.
 */
import { resolve } from 'node:path';
import type { TestProject } from 'vitest/node';
import { aptInstall, executable, onPath, runToEnd } from './aptInstall.js';

/** Where test/dashboard.browser.test.ts launches the browser from: Debian's package puts it here. */
export const CHROMIUM = '/usr/bin/chromium';
const BROWSER_TEST = 'test/dashboard.browser.test.ts';

/** What the setup needs to know of, and do to, the machine; a test passes its own. */
export interface BrowserHost {
  browserPresent(): boolean;
  isRoot(): boolean;
  hasAptGet(): boolean;
  /** Runs one command to the end; `stderr` is kept for a failure's message. */
  run(command: string, args: readonly string[]): { status: number | null; stderr: string };
  say(line: string): void;
}

/** The browser is missing and the setup cannot, or could not, install it. */
export class BrowserMissingError extends Error {
  readonly code = 'ERR_TEST_BROWSER_MISSING';

  constructor(message: string) {
    super(message);
    this.name = 'BrowserMissingError';
  }
}

export type BrowserDecision = { readonly kind: 'ready' } | { readonly kind: 'install' } | { readonly kind: 'refuse'; readonly message: string };

export function decideBrowser(facts: { browserPresent: boolean; isRoot: boolean; hasAptGet: boolean }): BrowserDecision {
  if (facts.browserPresent) return { kind: 'ready' };
  if (facts.isRoot && facts.hasAptGet) return { kind: 'install' };
  const how = facts.hasAptGet ? "run 'sudo apt-get install chromium' (Debian)" : `install Chromium so that it runs as ${CHROMIUM}`;
  return { kind: 'refuse', message: `poolvisor tests: the dashboard test needs Chromium at ${CHROMIUM}: ${how}` };
}

/** Makes the browser available, or throws a {@link BrowserMissingError} that says what to do. */
export function ensureBrowser(host: BrowserHost): void {
  const decision = decideBrowser({ browserPresent: host.browserPresent(), isRoot: host.isRoot(), hasAptGet: host.hasAptGet() });
  if (decision.kind === 'ready') return;
  if (decision.kind === 'refuse') throw new BrowserMissingError(decision.message);
  host.say(`poolvisor tests: the dashboard test needs Chromium at ${CHROMIUM}; installing Debian's chromium (apt-get, as root)`);
  aptInstall(host, 'chromium', [], (what) => new BrowserMissingError(`poolvisor tests: ${what}; the dashboard test needs Chromium at ${CHROMIUM}`));
  if (!host.browserPresent()) {
    throw new BrowserMissingError(`poolvisor tests: apt-get installed chromium, but ${CHROMIUM} is still missing; the dashboard test needs it there`);
  }
}

export const systemHost: BrowserHost = {
  browserPresent: () => executable(CHROMIUM),
  isRoot: () => process.getuid?.() === 0,
  hasAptGet: () => onPath('apt-get'),
  run: runToEnd,
  say: (line) => process.stdout.write(`${line}\n`),
};

/**
 * Whether this run includes the dashboard test. The files a run selected are known before
 * the global setup runs, but only through vitest's state API, which is marked experimental:
 * should it change, the setup assumes the test is included, so a full run stays
 * self-sufficient and only a single-file run loses its shortcut.
 */
export function runsBrowserTest(project: Pick<TestProject, 'vitest' | 'config'>): boolean {
  const paths = (project.vitest.state as { getPaths?: () => string[] } | undefined)?.getPaths?.();
  if (!Array.isArray(paths)) return true;
  const browserTest = resolve(project.config.root, BROWSER_TEST);
  return paths.some((path) => resolve(path) === browserTest);
}

export function setup(project: TestProject): void {
  if (!runsBrowserTest(project)) return;
  try {
    ensureBrowser(systemHost);
  } catch (error) {
    if (!(error instanceof BrowserMissingError)) throw error;
    // Thrown, it would come after vitest's "No test files found" (how it reads a failed setup)
    // and a stack trace; nothing has started yet, so the line that matters can be all there is.
    process.stderr.write(`${error.message}\n`);
    process.exit(1);
  }
}
