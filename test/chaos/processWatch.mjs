// @ts-check
/**
 * Every process a chaos run's pool started, followed by pid and start time: the workers
 * (from the audit trail and `status()`) and the grandchildren, which report themselves
 * in a temp dir (tasks.mjs). Checks that a grandchild dies with its worker, and says
 * what is still alive after close(). Only what may still be alive is kept.
 */
import { readdirSync, readFileSync, statSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { commandLineOf, isAlive, liveChildren, startTimeOf } from './processes.mjs';

/** @typedef {import('./invariants.mjs').ChaosLedger} ChaosLedger */
/** @typedef {{ start: number, workerPid: number, workerStart: number | undefined, detached: boolean, workerGoneAt: number | undefined, reported: boolean, duringSpawn: boolean }} Grandchild */

/** From the moment its worker is gone, how long a grandchild may still be alive. */
const DESCENDANT_GRACE_MS = 3_000;

export class ProcessWatch {
  #ledger;
  #dir;
  /** @type {Map<number, number>} worker pid → start time, until seen gone */
  #workers = new Map();
  /** @type {Map<number, Grandchild>} */
  #grandchildren = new Map();
  /** @type {Map<number, number>} worker pid → when the harness SIGKILLed it */
  #killedAt = new Map();

  /**
   * @param {ChaosLedger} ledger
   * @param {string} dir where grandchildren report themselves
   */
  constructor(ledger, dir) {
    this.#ledger = ledger;
    this.#dir = dir;
  }

  /** @param {number | undefined} pid a worker's, as the pool reported it */
  rememberWorker(pid) {
    if (pid === undefined || this.#workers.has(pid)) return;
    const start = startTimeOf(pid);
    if (start !== undefined) this.#workers.set(pid, start);
  }

  /**
   * Whether `pid` is still the worker the pool reported (the machine is shared, and pids
   * are reused: never signal one that is not).
   * @param {number} pid
   */
  isWorker(pid) {
    const start = this.#workers.get(pid);
    return start !== undefined && isAlive(pid, start);
  }

  /**
   * The harness is about to `kill -9` this worker. A grandchild whose report is written
   * after that moment was being spawned when its worker died: the worker's own report
   * of the child goes out the moment its spawn returns, before the grandchild can write
   * a line, so such a kill came inside the spawn, out of the pool's reach
   * (docs/architecture.md). Those are counted apart, not as violations.
   * @param {number} pid
   */
  killedFromOutside(pid) {
    this.#killedAt.set(pid, Date.now());
  }

  /** Takes in the grandchildren that reported themselves; checks that each dies with its worker. */
  sweep() {
    const now = Date.now();
    for (const file of readdirSync(this.#dir)) {
      if (!file.endsWith('.grandchild')) continue;
      const path = join(this.#dir, file);
      const [pidText, workerPidText, how] = readFileSync(path, 'utf8').trim().split(' ');
      const reportedAt = statSync(path).mtimeMs;
      unlinkSync(path);
      const pid = Number(pidText);
      const workerPid = Number(workerPidText);
      const detached = how === 'detached';
      this.#ledger.count(detached ? 'grandchildren started, detached' : 'grandchildren started');
      const start = startTimeOf(pid);
      if (start === undefined) {
        this.#ledger.check('descendants', true, () => undefined); // gone already
        continue;
      }
      // A worker is kept with its start time until seen gone: one not known is gone already.
      const workerStart = this.#workers.get(workerPid);
      this.#grandchildren.set(pid, {
        start,
        workerPid,
        workerStart,
        detached,
        workerGoneAt: workerStart === undefined ? now : undefined,
        reported: false,
        duringSpawn: (this.#killedAt.get(workerPid) ?? Number.POSITIVE_INFINITY) <= reportedAt,
      });
    }
    for (const [pid, child] of this.#grandchildren) {
      if (!isAlive(pid, child.start)) {
        if (!child.reported) this.#ledger.check('descendants', true, () => undefined);
        this.#grandchildren.delete(pid);
        continue;
      }
      if (child.reported || (child.workerStart !== undefined && isAlive(child.workerPid, child.workerStart))) continue;
      const goneAt = (child.workerGoneAt ??= now);
      if (now - goneAt > DESCENDANT_GRACE_MS) {
        child.reported = true;
        if (child.duringSpawn) {
          this.#ledger.count('grandchildren out of reach: worker killed from outside during their spawn');
          killQuietly(pid);
          continue;
        }
        this.#ledger.check('descendants', false, () => ({ pid, detached: child.detached, workerPid: child.workerPid, aliveMsAfterWorker: now - goneAt }));
      }
    }
    for (const [pid, start] of this.#workers) if (!isAlive(pid, start)) this.#workers.delete(pid);
    // A kill older than any report still to come is no longer needed.
    for (const [pid, at] of this.#killedAt) if (now - at > 60_000) this.#killedAt.delete(pid);
  }

  /**
   * What is alive of everything seen, and every child of the host (spares included);
   * then forgets them all, for the next pool.
   * @returns {Array<{ pid: number, what: string, command: string, [detail: string]: unknown }>}
   */
  takeSurvivors() {
    this.sweep();
    /** @type {Array<{ pid: number, what: string, command: string, [detail: string]: unknown }>} */
    const survivors = [];
    for (const [pid, start] of this.#workers) if (isAlive(pid, start)) survivors.push({ pid, what: 'worker', command: commandLineOf(pid) });
    for (const [pid, child] of this.#grandchildren) {
      if (!isAlive(pid, child.start)) continue;
      if (child.duringSpawn) {
        if (!child.reported) this.#ledger.count('grandchildren out of reach: worker killed from outside during their spawn');
        killQuietly(pid);
        continue;
      }
      // What the harness knew of its worker, for whoever reads the violation: which one, whether it
      // was seen, whether it was killed from outside and when, how long ago it was seen gone.
      const killedAt = this.#killedAt.get(child.workerPid);
      survivors.push({
        pid,
        what: child.detached ? 'grandchild, detached' : 'grandchild',
        command: commandLineOf(pid),
        workerPid: child.workerPid,
        workerKnown: child.workerStart !== undefined,
        workerAlive: child.workerStart !== undefined && isAlive(child.workerPid, child.workerStart),
        workerGoneMsAgo: child.workerGoneAt === undefined ? null : Date.now() - child.workerGoneAt,
        killedFromOutsideMsAgo: killedAt === undefined ? null : Date.now() - killedAt,
      });
    }
    for (const pid of liveChildren()) {
      if (!survivors.some((survivor) => survivor.pid === pid)) survivors.push({ pid, what: 'child of the host', command: commandLineOf(pid) });
    }
    this.#workers.clear();
    this.#grandchildren.clear();
    return survivors;
  }
}

/** @param {number} pid */
function killQuietly(pid) {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // gone meanwhile
  }
}
