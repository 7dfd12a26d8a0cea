import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { WorkerExit } from '../../machines/workerActors.js';
import { BackendWorker, type TerminateOptions } from './backendWorker.js';
import { WORKER_ENV, type FromWorker, type ResultFormat } from './protocol.js';
import { collectTree, killTree, selfAndAncestors, signalTree, startTimeOf } from './worker/processTree.js';
import type { ExitReport } from './workerConnection.js';

const ENTRY = fileURLToPath(new URL('./worker/processEntry.js', import.meta.url));

/** Children a worker's tasks started that are remembered at most (a sweep of the ended ones makes room). */
const REPORTED_CHILDREN = 256;

let spared: Set<number> | undefined;
/** This process and its ancestors, never signalled: read once (a kill signals two to four times). */
const sparedPids = () => (spared ??= selfAndAncestors());
/** How much of a worker's stderr is kept as evidence for a crash. */
const STDERR_TAIL_BYTES = 4096;

/** How long a dead worker's IPC channel is waited for to deliver its last reports (it normally ends at once). */
const CHANNEL_DRAIN_MS = 1000;

export interface ProcessWorkerOptions {
  readonly workerId: string;
  readonly device: string;
  /** The task module, as a URL `import()` accepts. */
  readonly taskModule: string;
  readonly startTimeoutMs: number;
  readonly execArgv: readonly string[];
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly resultFormat: ResultFormat;
  readonly signal?: AbortSignal | undefined;
}

/**
 * One worker OS process, forked into its own process group; a kill reaches that group
 * and every process found under the worker, whatever group it moved to. Keeps the tail of
 * its stderr (the evidence a crash report carries) and the children its tasks started.
 */
export class ProcessWorker extends BackendWorker {
  readonly pid: number;
  #stderrTail = '';
  readonly #outputDone: Promise<unknown>;
  /** The processes under the worker as last collected, by pid with their start times. */
  readonly #tree = new Map<number, string>();
  /** The children the worker reported as its tasks started them (pid → start time), the gone ones pruned now and then. */
  readonly #reported = new Map<number, string>();

  private constructor(private readonly child: ChildProcess) {
    // A worker that just died cannot be told; its exit is reported all the same.
    super(child, (message) => {
      if (child.connected) child.send(message);
    });
    this.pid = child.pid as number;
    this.#outputDone = new Promise((resolve) => child.stderr?.once('close', resolve));
    child.stderr?.on('data', (chunk: Buffer) => {
      // Forwarded, so the user still sees their worker's output, and kept as evidence.
      process.stderr.write(chunk);
      this.#stderrTail = (this.#stderrTail + chunk.toString('utf8')).slice(-STDERR_TAIL_BYTES);
    });
    // An IPC write to a process that just died raises here; the exit event reports the death.
    child.on('error', () => {});
  }

  override get stderrTail(): string {
    return this.#stderrTail;
  }

  /** Resolves once stderr has been read to its end (the last lines of a failed start say why). */
  get outputDone(): Promise<unknown> {
    return this.#outputDone;
  }

  /** Forks a worker and resolves once its task module is loaded. */
  static async start(options: ProcessWorkerOptions): Promise<ProcessWorker> {
    const child = fork(ENTRY, [], {
      detached: true, // its own process group: one signal reaches the grandchildren that stay in it
      serialization: 'advanced',
      stdio: ['ignore', 'inherit', 'pipe', 'ipc'],
      execArgv: [...options.execArgv],
      env: {
        ...process.env,
        ...options.env,
        [WORKER_ENV.taskModule]: options.taskModule,
        [WORKER_ENV.workerId]: options.workerId,
        [WORKER_ENV.device]: options.device,
        [WORKER_ENV.resultFormat]: options.resultFormat,
        // A cpu worker sees no GPU, so a CPU task cannot grab one by accident; cuda:N sees GPU N only.
        CUDA_VISIBLE_DEVICES: options.device.startsWith('cuda:') ? options.device.slice('cuda:'.length) : '',
      },
    });
    if (child.pid === undefined) {
      // The spawn itself failed (no node binary, too many processes): the error says why.
      throw await new Promise<Error>((resolve) => child.once('error', resolve));
    }
    const worker = new ProcessWorker(child);
    await worker.handshake('worker process', options);
    return worker;
  }

  protected override exitReport(exit: WorkerExit): ExitReport {
    return { ...exit, stderrTail: this.#stderrTail };
  }

  protected override received(message: FromWorker): void {
    if (message.type === 'child') this.#noteChild(message.pid);
  }

  /**
   * Ends the worker and every process under it: SIGTERM, then SIGKILL after `graceMs`
   * (or SIGKILL at once). Signals go to the process group and to each descendant found
   * under the worker, since a grandchild that set up a group or session of its own is
   * out of the group's reach. Once the worker has exited, whatever is left of them, and
   * what they started since, gets SIGKILL. Resolves with the worker's exit; never rejects.
   */
  override async terminate({ graceMs, immediate }: TerminateOptions): Promise<WorkerExit> {
    if (this.exit === undefined) {
      // Frozen at once, so a runaway grows no further and a spinning task gives its core
      // back; walked a turn later, since the walk takes a millisecond or so and the
      // caller's rejection, settled in this turn, need not wait for it.
      this.#signalGroup('SIGSTOP');
      await new Promise((resolve) => setImmediate(resolve));
    } else {
      // A dead worker's last reports of its children may still be in the channel.
      await this.#channelClosed();
    }
    this.#collect();
    if (this.exit === undefined) {
      if (immediate) this.#kill();
      else {
        this.#signal('SIGTERM');
        this.#signalGroup('SIGCONT'); // a stopped process acts on its SIGTERM only once continued
      }
      const timer = immediate ? undefined : setTimeout(() => this.#kill(), graceMs);
      await this.exited;
      clearTimeout(timer);
    }
    this.#kill();
    if (this.child.connected) this.child.disconnect();
    return this.exit as WorkerExit;
  }

  /**
   * Adds to the tree everything under the worker, if it still lives, and under the
   * children it reported: once the worker is dead they are init's, and its reports are
   * the only way left to find them (a worker killed from outside, a native crash). One
   * walk: what is under both is visited once.
   */
  #collect(): void {
    // Known with the start times reported, so a pid reused since is not taken for one of them.
    for (const [pid, start] of this.#reported) if (!this.#tree.has(pid)) this.#tree.set(pid, start);
    collectTree([this.pid, ...this.#reported.keys()], this.#tree);
  }

  /**
   * Remembers a child a task started. Kept bounded for a worker whose tasks start child
   * after child: past {@link REPORTED_CHILDREN}, the ones that have ended are forgotten.
   */
  #noteChild(pid: number): void {
    if (this.#reported.size >= REPORTED_CHILDREN) {
      for (const [known, start] of this.#reported) if (startTimeOf(known) !== start) this.#reported.delete(known);
      // Still full of live ones: the oldest makes room (a map iterates in insertion order).
      if (this.#reported.size >= REPORTED_CHILDREN) this.#reported.delete(this.#reported.keys().next().value as number);
    }
    const start = startTimeOf(pid);
    if (start !== undefined) this.#reported.set(pid, start);
  }

  /**
   * Resolves once the IPC channel has delivered all it held (a dead worker's channel ends
   * as soon as it is read to its end), or a second on — and even then only after the I/O
   * already waiting has been read. A main thread held up past the wait (a loaded host) runs
   * the expired timer first in its next turn, before the turn's poll phase reads the pipe:
   * a report of a child still in it would come after the kill that needed it, and the child
   * would outlive its worker. `setImmediate` runs after that poll phase.
   */
  #channelClosed(): Promise<void> {
    if (!this.child.connected) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.child.off('disconnect', done);
        resolve();
      };
      const timer = setTimeout(() => setImmediate(done), CHANNEL_DRAIN_MS);
      this.child.once('disconnect', done);
    });
  }

  #signal(signal: NodeJS.Signals): void {
    this.#signalGroup(signal);
    signalTree(this.#tree, signal, sparedPids());
  }

  /** SIGKILL for the group and all that is known of the tree, stopped first so that none of it forks away meanwhile. */
  #kill(): void {
    this.#signalGroup('SIGSTOP');
    killTree(this.#tree, sparedPids());
    this.#signalGroup('SIGKILL');
  }

  #signalGroup(signal: NodeJS.Signals): void {
    try {
      process.kill(-this.pid, signal);
    } catch {
      // ESRCH: the whole group is gone already.
    }
  }
}
