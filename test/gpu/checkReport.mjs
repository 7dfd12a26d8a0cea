// The record realGpuCheck.mjs keeps: each check's verdict and every value it measured,
// written to real-gpu.json (and a readable real-gpu.txt) after every check, so that a
// run cut short still leaves what it had. A check that throws or runs past its own
// timeout is recorded as such and the run goes on; a global watchdog ends the run.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * @typedef {{ pass: boolean, summary: string, reason?: string }} Verdict
 * @typedef {{ id: string, title: string, status: 'pass' | 'fail' | 'error' | 'timeout' | 'skipped' | 'running',
 *   ms: number, summary: string, reason?: string, values: Record<string, unknown> }} CheckRecord
 */

export class CheckReport {
  /** @type {Record<string, unknown>} */
  host = {};
  /** @type {Record<string, unknown>} */
  settings = {};
  /** @type {CheckRecord[]} */
  checks = [];
  /** @type {string[]} */
  notes = [];
  /** The pool's audit trail, samples left out. @type {unknown[]} */
  events = [];
  /** @type {'running' | 'pass' | 'fail' | 'setup-failed' | 'watchdog' | 'terminated'} */
  outcome = 'running';
  /** @type {(() => void)[]} */
  #onAbort = [];
  readonly = false;

  /**
   * @param {string} outDir
   * @param {number} watchdogMs
   */
  constructor(outDir, watchdogMs) {
    this.outDir = outDir;
    this.watchdogMs = watchdogMs;
    this.startedAt = Date.now();
    mkdirSync(outDir, { recursive: true });
    this.watchdog = setTimeout(() => this.abort('watchdog', `the global watchdog fired after ${watchdogMs} ms`), watchdogMs);
    process.once('SIGTERM', () => this.abort('terminated', 'SIGTERM (the timeout around the check?)'));
    process.once('SIGINT', () => this.abort('terminated', 'SIGINT'));
  }

  /** @param {() => void} cleanup runs (synchronously) before an aborted run exits */
  onAbort(cleanup) {
    this.#onAbort.push(cleanup);
  }

  /**
   * Runs one check with its own timeout. `run` fills `values` as it goes, so what it
   * measured before a failure is kept.
   * @param {string} id
   * @param {string} title
   * @param {number} timeoutMs
   * @param {(values: Record<string, unknown>) => Promise<Verdict>} run
   */
  async check(id, title, timeoutMs, run) {
    /** @type {CheckRecord} */
    const record = { id, title, status: 'running', ms: 0, summary: '', values: {} };
    this.checks.push(record);
    this.write();
    const started = Date.now();
    /** @type {NodeJS.Timeout | undefined} */
    let timer;
    const timedOut = new Promise((resolve) => (timer = setTimeout(() => resolve('timeout'), timeoutMs)));
    try {
      const verdict = await Promise.race([run(record.values), timedOut]);
      if (verdict === 'timeout') {
        record.status = 'timeout';
        record.reason = `did not finish within its ${timeoutMs} ms`;
      } else {
        const { pass, summary, reason } = /** @type {Verdict} */ (verdict);
        record.status = pass ? 'pass' : 'fail';
        record.summary = summary;
        if (reason !== undefined) record.reason = reason;
      }
    } catch (error) {
      record.status = 'error';
      record.reason = error instanceof Error ? (error.stack ?? error.message) : String(error);
    } finally {
      clearTimeout(timer);
    }
    record.ms = Date.now() - started;
    this.write();
    console.log(`${record.status.toUpperCase().padEnd(7)} ${id} ${title} (${record.ms} ms): ${record.summary || record.reason}`);
    return record;
  }

  /**
   * @param {string} id
   * @param {string} title
   * @param {string} reason
   */
  skip(id, title, reason) {
    this.checks.push({ id, title, status: 'skipped', ms: 0, summary: '', reason, values: {} });
    this.write();
    console.log(`SKIPPED ${id} ${title}: ${reason}`);
  }

  /** Ends the run: its exit status, 0 when every check passed, 2 when the pool could not be loaded. */
  finish() {
    clearTimeout(this.watchdog);
    if (this.outcome === 'running') this.outcome = this.checks.every((c) => c.status === 'pass') ? 'pass' : 'fail';
    this.write();
    return this.outcome === 'pass' ? 0 : this.outcome === 'setup-failed' ? 2 : 1;
  }

  /**
   * @param {'watchdog' | 'terminated'} outcome
   * @param {string} why
   */
  abort(outcome, why) {
    if (this.readonly) return;
    this.outcome = outcome;
    this.notes.push(`${why}, during ${this.checks.find((c) => c.status === 'running')?.id ?? 'no check'}`);
    for (const cleanup of this.#onAbort) {
      try {
        cleanup();
      } catch (error) {
        this.notes.push(`cleanup failed: ${String(error)}`);
      }
    }
    this.write();
    this.readonly = true;
    console.error(`real-gpu check aborted: ${why}`);
    process.exit(3);
  }

  write() {
    if (this.readonly) return;
    const json = {
      schema: 'poolvisor-real-gpu/1',
      outcome: this.outcome,
      startedAt: new Date(this.startedAt).toISOString(),
      durationMs: Date.now() - this.startedAt,
      host: this.host,
      settings: this.settings,
      checks: this.checks,
      notes: this.notes,
      events: this.events,
    };
    writeFileSync(join(this.outDir, 'real-gpu.json'), `${JSON.stringify(json, null, 2)}\n`);
    writeFileSync(join(this.outDir, 'real-gpu.txt'), this.text());
  }

  text() {
    const failed = this.checks.filter((c) => c.status !== 'pass').length;
    const lines = [
      `poolvisor real-GPU check, ${new Date(this.startedAt).toISOString()}: ${this.outcome.toUpperCase()} (${this.checks.length - failed} of ${this.checks.length} checks passed, ${Date.now() - this.startedAt} ms)`,
      `host: ${String(this.host.summary ?? '(not read)')}`,
      '',
      ...this.checks.map((c) => `${c.status.toUpperCase().padEnd(8)} ${c.id} ${c.title} (${c.ms} ms)\n         ${c.summary || ''}${c.reason ? `${c.summary ? '\n         ' : ''}why: ${c.reason.split('\n')[0]}` : ''}`),
      ...(this.notes.length > 0 ? ['', 'notes:', ...this.notes.map((note) => `  ${note}`)] : []),
      '',
      'every measured value, with its unit in its name: real-gpu.json',
      '',
    ];
    return lines.join('\n');
  }
}
