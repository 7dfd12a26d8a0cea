/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
import { spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHROMIUM } from './setup/browser.js';
import { eventually, isAlive } from './support/processes.js';

const root = fileURLToPath(new URL('..', import.meta.url));
let server: ChildProcess;
let base: string;
let browser: Browser;

beforeAll(async () => {
  server = spawn(process.execPath, ['dist/src/cli.js', 'serve', '--port', '0', '--task', 'test/fixtures/tasks.mjs', '--workers', '2', '--memory', '512'], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  base = await new Promise<string>((resolve, reject) => {
    let out = '';
    server.stdout?.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const match = /dashboard at (http:\/\/[^/\s]+)\//.exec(out);
      if (match) resolve(match[1] as string);
    });
    server.once('exit', (code) => reject(new Error(`server exited with ${code}: ${out}`)));
  });
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
});

afterAll(async () => {
  await browser?.close();
  if (server.exitCode !== null || server.signalCode !== null) return;
  const exited = new Promise((resolve) => server.once('exit', resolve));
  server.kill('SIGTERM');
  await exited;
});

describe('the dashboard in a real browser', () => {
  it('draws the machines and shows a worker going busy → killed → restarting → idle when a spinning task is submitted', async () => {
    const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    const errors: string[] = [];
    page.on('pageerror', (error) => errors.push(error.message));
    await page.goto(`${base}/`);
    await page.waitForSelector('body[data-ready="true"]');
    // Statecharts laid out from /v1/machines: the supervisor's and one per worker.
    expect(await page.locator('#supervisor svg [data-path="degraded"]').count()).toBe(1);
    expect(await page.locator('[data-worker]').count()).toBe(2);
    expect(await page.locator('[data-worker="worker-0"] svg [data-path="alive.running.monitoring"]').count()).toBe(1);
    await page.waitForFunction(() => [...document.querySelectorAll('[data-worker]')].every((w) => (w as HTMLElement).dataset.state === 'idle'));

    await page.selectOption('#task-name', 'spin');
    await page.fill('#payload', 'null');
    await page.fill('#timeout', '800');
    await page.click('#submit-button');
    await page.waitForFunction(() => /submitted t\d+/.test(document.getElementById('submit-result')?.textContent ?? ''));

    const sequence = ['busy', 'killed', 'restarting', 'idle'];
    await page.waitForFunction(
      (wanted) =>
        [...document.querySelectorAll('[data-worker]')].some((w) => {
          const history = ((w as HTMLElement).dataset.history ?? '').split(',');
          const start = history.indexOf(wanted[0] as string);
          return start >= 0 && wanted.every((state, i) => history[start + i] === state);
        }),
      sequence,
      { timeout: 15_000 },
    );
    // The kill and its reason are in the audit trail, and the worker is highlighted in its chart.
    await page.waitForSelector('#audit [data-type="worker.killed"]');
    expect(await page.textContent('#audit [data-type="worker.killed"]')).toMatch(/killed \(pid \d+\): deadline 800 ms, task t\d+/);
    expect(await page.locator('[data-worker] svg .state.active[data-path="alive.idle"]').count()).toBeGreaterThan(0);

    // A busy worker and a sparkline for the picture.
    await page.selectOption('#task-name', 'sleep');
    await page.fill('#payload', '4000');
    await page.fill('#timeout', '');
    await page.click('#submit-button');
    await page.waitForFunction(() => [...document.querySelectorAll('[data-worker]')].some((w) => (w as HTMLElement).dataset.state === 'busy'));
    await page.waitForTimeout(1200);
    const shot = join(mkdtempSync(join(tmpdir(), 'poolvisor-dashboard-')), 'dashboard.png');
    await page.screenshot({ path: shot, fullPage: true });
    if (process.env.POOLVISOR_UPDATE_SCREENSHOT === '1') copyFileSync(shot, join(root, 'docs/img/dashboard.png'));
    expect(errors).toEqual([]);
    await page.close();
  });

  it('stops on SIGTERM, leaving no worker behind', async () => {
    const status = (await (await fetch(`${base}/v1/pool`)).json()) as { workers: Array<{ pid: number }> };
    const pids = status.workers.map((w) => w.pid);
    const exited = new Promise<number | null>((resolve) => server.once('exit', (code) => resolve(code)));
    server.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(await eventually(() => pids.every((pid) => !isAlive(pid)))).toBe(true);
  });
});
