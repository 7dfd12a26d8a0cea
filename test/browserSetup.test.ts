import { describe, expect, it } from 'vitest';
import { BrowserMissingError, CHROMIUM, decideBrowser, ensureBrowser, runsBrowserTest, type BrowserHost } from './setup/browser.js';

/** A machine as the setup sees it, recording what the setup ran and printed. */
function fakeHost(machine: { present: boolean; root: boolean; apt: boolean; installs?: 'ok' | 'fails' | 'puts it elsewhere' }) {
  const ran: string[] = [];
  const said: string[] = [];
  let present = machine.present;
  const host: BrowserHost = {
    browserPresent: () => present,
    isRoot: () => machine.root,
    hasAptGet: () => machine.apt,
    run(command, args) {
      ran.push(`${command} ${args.join(' ')}`);
      if (args[0] !== 'install') return { status: 0, stderr: '' };
      if (machine.installs === 'fails') return { status: 100, stderr: 'W: some warning\nE: Unable to locate package chromium\n' };
      if (machine.installs !== 'puts it elsewhere') present = true;
      return { status: 0, stderr: '' };
    },
    say: (line) => said.push(line),
  };
  return { host, ran, said };
}

const refusal = (run: () => void): BrowserMissingError => {
  try {
    run();
  } catch (error) {
    return error as BrowserMissingError;
  }
  throw new Error('expected the setup to refuse');
};

describe('the browser setup', () => {
  it('should leave a machine that has the browser alone', () => {
    const { host, ran, said } = fakeHost({ present: true, root: true, apt: true });
    ensureBrowser(host);
    expect(ran).toEqual([]);
    expect(said).toEqual([]);
  });

  it("should install Debian's chromium as root, saying so in one line", () => {
    const { host, ran, said } = fakeHost({ present: false, root: true, apt: true, installs: 'ok' });
    ensureBrowser(host);
    expect(ran).toEqual(['apt-get update -qq', 'apt-get install -y -qq -o DPkg::Lock::Timeout=300 chromium']);
    expect(said).toHaveLength(1);
    expect(said[0]).toContain('installing');
  });

  it('should refuse without root, in one line that says what to install, and install nothing', () => {
    const { host, ran } = fakeHost({ present: false, root: false, apt: true });
    const error = refusal(() => ensureBrowser(host));
    expect(error).toBeInstanceOf(BrowserMissingError);
    expect(error.code).toBe('ERR_TEST_BROWSER_MISSING');
    expect(error.message).toBe(`poolvisor tests: the dashboard test needs Chromium at ${CHROMIUM}: run 'sudo apt-get install chromium' (Debian)`);
    expect(ran).toEqual([]);
  });

  it('should refuse on a system without apt-get, even as root', () => {
    expect(decideBrowser({ browserPresent: false, isRoot: true, hasAptGet: false })).toEqual({
      kind: 'refuse',
      message: `poolvisor tests: the dashboard test needs Chromium at ${CHROMIUM}: install Chromium so that it runs as ${CHROMIUM}`,
    });
  });

  it("should say in one line why an install failed, with apt-get's last word", () => {
    const { host } = fakeHost({ present: false, root: true, apt: true, installs: 'fails' });
    const error = refusal(() => ensureBrowser(host));
    expect(error.message).toContain("'apt-get install -y -qq -o DPkg::Lock::Timeout=300 chromium' failed (exit 100: E: Unable to locate package chromium)");
    expect(error.message).not.toContain('\n');
  });

  it('should not pass an install that left no browser where the test looks', () => {
    const { host } = fakeHost({ present: false, root: true, apt: true, installs: 'puts it elsewhere' });
    expect(refusal(() => ensureBrowser(host)).message).toContain(`${CHROMIUM} is still missing`);
  });

  it('should act only when the run includes the dashboard test', () => {
    const project = (paths: string[] | undefined) =>
      ({ vitest: { state: paths === undefined ? {} : { getPaths: () => paths } }, config: { root: '/repo' } }) as unknown as Parameters<typeof runsBrowserTest>[0];
    expect(runsBrowserTest(project(['/repo/test/taskQueue.test.ts']))).toBe(false);
    expect(runsBrowserTest(project(['/repo/test/taskQueue.test.ts', '/repo/test/dashboard.browser.test.ts']))).toBe(true);
    // Should vitest's experimental state API change, a full run must still get its browser.
    expect(runsBrowserTest(project(undefined))).toBe(true);
  });
});
