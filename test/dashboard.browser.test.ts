/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
import { spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHROMIUM } from './setup/browser.js';
import { clusterHosts } from './support/clusterHosts.js';
import { eventually, isAlive } from './support/processes.js';
import { openRedisServers } from './support/redisServer.js';

const root = fileURLToPath(new URL('..', import.meta.url));
let server: ChildProcess;
let base: string;
let browser: Browser;

/** Starts `poolvisor serve` with these arguments; resolves with the process and its base URL once it listens. */
async function startServe(args: string[]): Promise<{ child: ChildProcess; base: string }> {
  const child = spawn(process.execPath, ['dist/src/cli.js', 'serve', '--port', '0', ...args], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const match = /dashboard at (http:\/\/[^/\s]+)\//.exec(out);
      if (match) resolve(match[1] as string);
    });
    child.once('exit', (code) => reject(new Error(`server exited with ${code}: ${out}`)));
  });
  return { child, base: url };
}

/** SIGTERM, then its exit code. */
async function stopServe(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  child.kill('SIGTERM');
  return exited;
}

/**
 * Runs `use` against a `poolvisor serve` of its own; the pages it opens with `open` are closed
 * and the server stopped afterwards, which must exit 0.
 */
async function withServer(args: string[], use: (url: string, open: (viewport?: { width: number; height: number }) => Promise<Page>) => Promise<void>): Promise<void> {
  const { child, base: url } = await startServe(args);
  const pages: Page[] = [];
  try {
    await use(url, async (viewport = { width: 1400, height: 900 }) => {
      const page = await browser.newPage({ viewport });
      pages.push(page);
      return page;
    });
  } finally {
    for (const page of pages) await page.close();
    expect(await stopServe(child)).toBe(0);
  }
}

/** Clicks `selector` and returns the id of the task it submitted (a new one, not the last shown). */
async function submitBy(page: Page, selector: string): Promise<string> {
  const before = await page.getAttribute('#submit-result', 'data-task-id');
  await page.click(selector);
  await page.waitForFunction((previous) => {
    const id = document.getElementById('submit-result')?.dataset.taskId;
    return id !== undefined && id !== '' && id !== previous;
  }, before);
  return (await page.getAttribute('#submit-result', 'data-task-id')) as string;
}

const launchBrowser = () =>
  chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });

beforeAll(async () => {
  ({ child: server, base } = await startServe(['--task', 'test/fixtures/tasks.mjs', '--workers', '2', '--memory', '512']));
  browser = await launchBrowser();
});

afterAll(async () => {
  await browser?.close();
  await stopServe(server);
});

describe('the dashboard in a real browser', () => {
  it('draws the machines; each scenario button submits at once, and the task table shows each outcome: a kill (busy → killed → restarting → idle), a crash, a memory kill, a success, a cancel', async () => {
    const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    const errors: string[] = [];
    page.on('pageerror', (error) => errors.push(error.message));
    // Nothing the page asks for is refused (the icon included), but for its probe of /v1/cluster,
    // whose 404 is how it learns it runs over a local pool.
    const refused: string[] = [];
    page.on('response', (response) => {
      if (response.status() >= 400 && new URL(response.url()).pathname !== '/v1/cluster') refused.push(`${response.status()} ${response.url()}`);
    });
    await page.goto(`${base}/`);
    await page.waitForSelector('body[data-ready="true"]');
    // Statecharts laid out from /v1/machines: the supervisor's and one per worker.
    expect(await page.locator('#supervisor svg [data-path="degraded"]').count()).toBe(1);
    expect(await page.locator('[data-worker]').count()).toBe(2);
    expect(await page.locator('[data-worker="worker-0"] svg [data-path="alive.running.monitoring"]').count()).toBe(1);
    // Laid out by ELK on the server: arrows routed with their events as labels, no two labels on top of each other.
    expect(await page.getAttribute('#supervisor svg', 'data-layout')).toBe('elk');
    expect(await page.locator('[data-worker="worker-0"] svg .edge-group[data-source="alive.idle"][data-target="alive.running"] .edge-label').textContent()).toBe('task.run');
    const overlaps = await page.evaluate(() => {
      const found: string[] = [];
      for (const svg of [document.querySelector('#supervisor svg'), document.querySelector('[data-worker="worker-0"] [data-role="chart"] svg')]) {
        const labels = [...(svg?.querySelectorAll('.edge-label') ?? [])] as SVGTextElement[];
        const boxes = labels.map((label) => ({ text: label.textContent, box: label.getBBox() }));
        for (let i = 0; i < boxes.length; i += 1) {
          for (let j = i + 1; j < boxes.length; j += 1) {
            const [a, b] = [boxes[i]!.box, boxes[j]!.box];
            if (a.x < b.x + b.width && b.x < a.x + a.width && a.y < b.y + b.height && b.y < a.y + a.height) found.push(`${boxes[i]!.text} × ${boxes[j]!.text}`);
          }
        }
      }
      return found;
    });
    expect(overlaps).toEqual([]);
    await page.waitForFunction(() => [...document.querySelectorAll('[data-worker]')].every((w) => (w as HTMLElement).dataset.state === 'idle'));
    // A memory chart per worker, drawn by uPlot with its axes, the limits labelled in its legend.
    await page.waitForSelector('[data-worker="worker-0"] [data-role="memory"] canvas');
    const legend = await page.textContent('[data-worker="worker-0"] [data-role="memory"] .u-legend');
    expect(legend).toContain('RSS');
    expect(legend).toContain('hard limit 512 MiB');
    expect(legend).toContain('soft limit 410 MiB');
    expect(await page.getAttribute('[data-worker="worker-0"] [data-role="memory"]', 'data-hard-limit-mib')).toBe('512');

    // "Press it to watch a kill": the scenario button submits at once.
    await page.click('#samples [data-scenario="deadline"]');
    await page.waitForFunction(() => /submitted t\d+/.test(document.getElementById('submit-result')?.textContent ?? ''));
    const deadlineTask = (await page.getAttribute('#submit-result', 'data-task-id')) as string;

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
    expect(await page.textContent('#audit [data-type="worker.killed"]')).toMatch(/killed \(pid \d+\): deadline 1000 ms, task t\d+/);
    expect(await page.locator('[data-worker] svg .state.active[data-path="alive.idle"]').count()).toBeGreaterThan(0);
    // The last transition taken is highlighted: into the state the worker is in now.
    const taken = await page.evaluate(() =>
      [...document.querySelectorAll('[data-worker]')].map((card) => {
        const edge = card.querySelector('[data-role="chart"] .edge-group.taken') as SVGGElement | null;
        return { path: card.querySelector('.state.active:not(.compound)')?.getAttribute('data-path'), target: edge?.dataset.target };
      }),
    );
    expect(taken.some(({ target }) => target !== undefined)).toBe(true);
    for (const { path, target } of taken) if (target !== undefined) expect(path === target || path?.startsWith(`${target}.`)).toBe(true);
    // The worker's timeline keeps the kill: the task's busy stretch, the kill with its evidence, the restart, idle again.
    const killInTimeline = (id: string) =>
      page.evaluate((taskId) => {
        for (const card of document.querySelectorAll('[data-worker]')) {
          const rects = [...card.querySelectorAll('svg.timeline rect')] as SVGRectElement[];
          const at = rects.findIndex((r) => r.dataset.kill !== undefined && (r.querySelector('title')?.textContent ?? '').includes(`task ${taskId},`));
          if (at >= 1) return rects.slice(at - 1, at + 3).map((r) => ({ state: r.dataset.state, tasks: r.dataset.tasks, title: r.querySelector('title')?.textContent }));
        }
        return undefined;
      }, id);
    await page.waitForFunction((taskId) => [...document.querySelectorAll('svg.timeline rect[data-kill]')].some((r) => (r.querySelector('title')?.textContent ?? '').includes(`task ${taskId},`)), deadlineTask);
    await page.waitForFunction(() => [...document.querySelectorAll('svg.timeline')].some((svg) => svg.querySelector('rect[data-kill] ~ rect[data-state="idle"]')));
    const strip = await killInTimeline(deadlineTask);
    expect(strip?.map((segment) => segment.state)).toEqual(['busy', 'killed', 'restarting', 'idle']);
    expect(strip?.[0]?.tasks).toBe(deadlineTask);
    expect(strip?.[1]?.title).toMatch(/deadline 1000 ms \(ran \d+ ms\), task t\d+, pid \d+/);

    // The task table shows the typed error; its detail, the evidence and the payload the page sent.
    const outcomeOf = (id: string) => page.textContent(`#tasks tr[data-task="${id}"] [data-role="outcome"]`);
    await page.waitForSelector(`#tasks tr[data-task="${deadlineTask}"][data-state="failed"]`);
    expect(await outcomeOf(deadlineTask)).toBe('ERR_WORKER_TIMEOUT');
    await page.click(`#tasks tr[data-task="${deadlineTask}"]`);
    await page.waitForFunction((id) => document.getElementById('task-detail')?.dataset.task === id && /"timeoutMs": 1000/.test(document.getElementById('task-detail')?.textContent ?? ''), deadlineTask);
    const detail = JSON.parse((await page.textContent('#task-detail')) as string) as { state: string; error: { code: string; evidence: { elapsedMs: number } }; payload: unknown };
    expect(detail).toMatchObject({ state: 'failed', error: { code: 'ERR_WORKER_TIMEOUT' }, payload: null });
    expect(detail.error.evidence.elapsedMs).toBeGreaterThanOrEqual(1000);

    // Every other scenario, one click each: a crash and a memory runaway are typed errors, a quick task succeeds.
    const ids = new Map<string, string>();
    for (const [scenario, outcome] of [['crash', 'ERR_WORKER_CRASHED'], ['memory', 'ERR_WORKER_MEMORY'], ['quick', 'ok']] as const) {
      const id = await submitBy(page, `#samples [data-scenario="${scenario}"]`);
      await page.waitForSelector(`#tasks tr[data-task="${id}"]:is([data-state="failed"], [data-state="succeeded"])`, { timeout: 20_000 });
      expect(await outcomeOf(id)).toBe(outcome);
      ids.set(scenario, id);
    }
    // The memory kill's evidence is on its worker's chart: the task's samples up to the kill.
    const killedWorker = (await page.textContent(`#tasks tr[data-task="${ids.get('memory')}"] td:nth-child(3)`)) as string;
    await page.waitForFunction((worker) => Number(document.querySelector(`[data-worker="${worker}"] [data-role="memory"]`)?.getAttribute('data-kill-samples')) > 0, killedWorker);
    expect(await page.textContent(`[data-worker="${killedWorker}"] [data-role="memory"] .u-legend`)).toContain('samples before a memory kill');

    // A task that reports progress shows it in its row.
    await page.selectOption('#task-name', 'reportsProgress');
    await page.fill('#payload', '{"steps": 4, "everyMs": 400}');
    await page.fill('#timeout', '');
    await page.fill('#memory', '');
    const reporter = await submitBy(page, '#submit-button');
    await page.waitForSelector(`#tasks tr[data-task="${reporter}"] progress[title^="reported"]`);
    await page.waitForSelector(`#tasks tr[data-task="${reporter}"][data-state="succeeded"]`);

    // A running task can be cancelled from its row.
    await page.selectOption('#task-name', 'sleep');
    await page.fill('#payload', '20000');
    await page.fill('#timeout', '');
    await page.fill('#memory', '');
    const sleeper = await submitBy(page, '#submit-button');
    await page.waitForSelector(`#tasks tr[data-task="${sleeper}"][data-state="running"] progress`);
    await page.click(`#tasks tr[data-task="${sleeper}"] [data-role="cancel"]`);
    await page.waitForSelector(`#tasks tr[data-task="${sleeper}"][data-state="cancelled"]`);
    expect(await outcomeOf(sleeper)).toBe('ERR_TASK_CANCELLED');
    // Kills stay in the history after everything since: the deadline's, and the crash's with its exit code.
    expect((await killInTimeline(deadlineTask))?.map((segment) => segment.state)).toEqual(['busy', 'killed', 'restarting', 'idle']);
    expect(await page.locator('svg.timeline rect[data-kill="crashed"] title').allTextContents()).toEqual([expect.stringMatching(/crashed \(exit code 1, signal null\)/)]);

    // A busy worker and its memory chart for the picture.
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
    expect(refused).toEqual([]);
    const icon = await fetch(`${base}/favicon.ico`);
    expect([icon.status, icon.headers.get('content-type')]).toEqual([200, 'image/svg+xml']);
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

describe("the dashboard over the demo module's tasks, in a real browser", () => {
  it('offers the four scenarios, and each ends as its kind implies', async () => {
    await withServer(['--task', 'dist/tools/demo/tasks.js', '--workers', '2', '--memory', '512'], async (url, open) => {
      const page = await open();
      await page.goto(`${url}/`);
      await page.waitForSelector('#samples [data-scenario]');
      expect(await page.locator('#samples [data-scenario]').evaluateAll((buttons) => buttons.map((b) => (b as HTMLElement).dataset.scenario))).toEqual(['quick', 'deadline', 'memory', 'crash']);
      for (const [scenario, state, outcome] of [['quick', 'succeeded', 'ok'], ['deadline', 'failed', 'ERR_WORKER_TIMEOUT'], ['memory', 'failed', 'ERR_WORKER_MEMORY'], ['crash', 'failed', 'ERR_WORKER_CRASHED']] as const) {
        const id = await submitBy(page, `#samples [data-scenario="${scenario}"]`);
        await page.waitForSelector(`#tasks tr[data-task="${id}"][data-state="${state}"]`, { timeout: 20_000 });
        expect([scenario, await page.textContent(`#tasks tr[data-task="${id}"] [data-role="outcome"]`)]).toEqual([scenario, outcome]);
      }
    });
  });
});

describe('the dashboard with 16 workers on a narrow screen, in a real browser', () => {
  it('shows a compact row per worker with its timeline, opens one on a click, and never scrolls sideways', async () => {
    await withServer(['--task', 'test/fixtures/tasks.mjs', '--workers', '16', '--backend', 'thread'], async (url, open) => {
      const page = await open({ width: 420, height: 900 });
      await page.goto(`${url}/`);
      await page.waitForSelector('body[data-ready="true"]');
      expect(await page.locator('[data-worker]').count()).toBe(16);
      expect(await page.getAttribute('#workers', 'class')).toContain('compact');
      await page.waitForFunction(() => document.querySelectorAll('[data-worker] svg.timeline').length === 16);
      expect(await page.isHidden('[data-worker="worker-3"] [data-role="chart"]')).toBe(true);
      await page.click('[data-worker="worker-3"] .head');
      expect(await page.isVisible('[data-worker="worker-3"] [data-role="chart"] svg')).toBe(true);
      expect(await page.isVisible('[data-worker="worker-3"] [data-role="memory"] canvas')).toBe(true);
      expect(await page.isHidden('[data-worker="worker-4"] [data-role="chart"]')).toBe(true);
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      expect(overflow).toBeLessThanOrEqual(0);
    });
  });
});

describe('the dashboard of a server with a token, in a real browser', () => {
  it('asks for the token once and keeps it for the tab, takes one from a #token= link off the address bar, and asks again when one is refused', async () => {
    const token = 'a-dashboard-token-of-32-characters';
    await withServer(['--task', 'test/fixtures/tasks.mjs', '--workers', '1', '--token', token], async (url, open) => {
      const page = await open();
      await page.goto(`${url}/`);
      await page.waitForSelector('#token-dialog:not([hidden])');
      expect(await page.textContent('#token-why')).toContain('wants a token');
      await page.fill('#token-input', token);
      await page.click('#token-submit');
      await page.waitForSelector('body[data-ready="true"]');
      expect(await page.locator('[data-worker]').count()).toBe(1);
      // Kept for the tab: a reload does not ask again.
      await page.reload();
      await page.waitForSelector('body[data-ready="true"]');
      expect(await page.isHidden('#token-dialog')).toBe(true);

      const linked = await open();
      await linked.goto(`${url}/#token=${token}`);
      await linked.waitForSelector('body[data-ready="true"]');
      expect(new URL(linked.url()).hash).toBe('');

      const wrong = await open();
      await wrong.goto(`${url}/#token=not-the-token-this-server-has`);
      await wrong.waitForSelector('#token-dialog:not([hidden])');
      expect(await wrong.textContent('#token-why')).toContain('refused');
    });
  });
});

describe('the dashboard in front of a cluster, in a real browser', () => {
  const openRedis = openRedisServers();
  const { startHost, noteWorkers } = clusterHosts();

  it('shows one panel per live host with its workers and queue depths, a task making a worker busy, and a SIGKILLed host going away', async () => {
    const redis = await openRedis();
    const [big, small] = await Promise.all([startHost(redis, 'dash', { args: ['--workers', '2'] }), startHost(redis, 'dash', { args: ['--workers', '1'] })]);
    const serve = await startServe(['--redis', redis.url, '--queue', 'dash']);
    try {
      const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
      const errors: string[] = [];
      page.on('pageerror', (error) => errors.push(error.message));
      await page.goto(`${serve.base}/`);
      await page.waitForSelector('body[data-ready="true"][data-mode="cluster"]');
      await page.waitForFunction(() => document.querySelectorAll('[data-host]').length === 2);
      expect(await page.locator('#supervisor-section').isHidden()).toBe(true);
      expect(await page.locator(`[data-host="${big.id}"] [data-host-worker]`).count()).toBe(2);
      expect(await page.locator(`[data-host="${small.id}"] [data-host-worker]`).count()).toBe(1);
      expect(await page.textContent(`[data-host="${big.id}"] [data-role="meta"]`)).toMatch(new RegExp(`pid ${big.pid} · slots cpu 2$`));
      expect(await page.textContent(`[data-host="${small.id}"] [data-role="state"]`)).toBe('running');
      expect(await page.locator('#queues tr[data-class="cpu"] td[data-state="waiting"]').textContent()).toBe('0');

      // The name is typed, with what the live hosts offer as suggestions, and their scenarios as buttons.
      await page.waitForFunction(() => [...document.querySelectorAll('#host-tasks option')].some((o) => (o as HTMLOptionElement).value === 'sleep'));
      expect(await page.locator('#host-tasks option').evaluateAll((options) => options.map((o) => (o as HTMLOptionElement).value))).toEqual(expect.arrayContaining(['echo', 'sleep', 'spin', 'exitWith']));
      expect(await page.locator('#samples [data-scenario]').evaluateAll((buttons) => buttons.map((b) => (b as HTMLElement).dataset.scenario))).toEqual(['quick', 'deadline', 'memory', 'crash']);

      // A task submitted from the page runs on some host: a worker there goes busy, and the trail says it succeeded.
      await page.fill('#task-name', 'sleep');
      await page.fill('#payload', '2500');
      await page.click('#submit-button');
      await page.waitForFunction(() => /submitted cpu\./.test(document.getElementById('submit-result')?.textContent ?? ''));
      await page.waitForSelector('[data-host] [data-host-worker][data-state="busy"]', { timeout: 10_000 });
      expect(await page.locator('[data-host] [data-role="running"]', { hasText: '1' }).count()).toBe(1);
      await page.waitForSelector('#audit [data-type="task.succeeded"]', { timeout: 15_000 });
      // And the task table has it, settled.
      const clusterTask = (await page.getAttribute('#submit-result', 'data-task-id')) as string;
      await page.waitForSelector(`#tasks tr[data-task="${clusterTask}"][data-state="succeeded"]`);
      const shot = join(mkdtempSync(join(tmpdir(), 'poolvisor-dashboard-')), 'dashboard-cluster.png');
      await page.screenshot({ path: shot, fullPage: true });
      if (process.env.POOLVISOR_UPDATE_SCREENSHOT === '1') copyFileSync(shot, join(root, 'docs/img/dashboard-cluster.png'));

      noteWorkers(small);
      small.child.kill('SIGKILL');
      await page.waitForFunction(() => document.querySelectorAll('[data-host]').length === 1, undefined, { timeout: 10_000 });
      expect(await page.locator(`[data-host="${big.id}"]`).count()).toBe(1);
      expect(errors).toEqual([]);
      await page.close();
    } finally {
      expect(await stopServe(serve.child)).toBe(0);
    }
  }, 60_000);
});
