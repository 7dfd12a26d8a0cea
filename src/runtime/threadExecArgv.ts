/**
 * The host's Node options a worker thread is started with. By default a thread inherits
 * all of them, and some make it fail before our entry runs: under `node --input-type=module
 * -e …` every thread exits with ERR_INPUT_TYPE_NOT_ALLOWED. An explicit list has its
 * own trap: Node refuses one that names a process-wide setting (ERR_WORKER_INVALID_EXEC_ARGV).
 *
 * The rule: a thread runs task code inside this process, so it gets the options that
 * decide how that code is loaded and behaves, and none that decide what the host is.
 * - Kept: module loading (`--import`, `--require`, `--loader`, `--conditions`,
 *   `--preserve-symlinks`); language and API switches (`--experimental-*`,
 *   `--no-experimental-*` but the few Node applies to the process only,
 *   `--frozen-intrinsics`, `--no-addons`); how errors and warnings read
 *   (`--enable-source-maps`, warnings, deprecations, `--unhandled-rejections`,
 *   `--trace-uncaught`); the network defaults a task's requests use (`--dns-result-order`,
 *   `--max-http-header-size`, `--insecure-http-parser`, `--tls-min-*`, `--tls-max-*`).
 * - Dropped: what the host runs (`-e`, `-p`, `--input-type`, `--test`, `--watch`, `-i`,
 *   `-c`): a thread has its own entry; tools bound to the process (`--inspect*` and
 *   `--debug*`: one inspector port per process; `--prof`, `--cpu-prof*`, `--heap-prof*`,
 *   `--report-*`); process-wide settings (V8 flags such as `--max-old-space-size`,
 *   `--title`, OpenSSL, `--env-file`, `--experimental-policy`): in force for the whole
 *   process already. And anything not named here: a thread that misses a host flag
 *   costs less than a thread that cannot start.
 * NODE_OPTIONS is not ours to filter: Node applies it to every thread itself.
 */
export function threadExecArgv(hostExecArgv: readonly string[]): string[] {
  const kept: string[] = [];
  for (let i = 0; i < hostExecArgv.length; i += 1) {
    const arg = hostExecArgv[i] as string;
    const name = arg.split('=', 1)[0] as string;
    // In execArgv a value never stands alone but after its option; the script is not in it.
    const values: string[] = [];
    const takesNext = !arg.includes('=') && (TAKES_VALUE.has(name) || !isOption(hostExecArgv[i + 1]));
    if (takesNext && i + 1 < hostExecArgv.length) {
      values.push(hostExecArgv[i + 1] as string);
      i += 1;
    }
    if (appliesToThread(name)) kept.push(arg, ...values);
  }
  return kept;
}

const isOption = (arg: string | undefined) => arg === undefined || arg.startsWith('-');

/** Options whose value may be the next argument, even one that starts with a dash (`-e "-1"`). */
const TAKES_VALUE = new Set([
  '-e', '--eval', '-p', '--print', '-r', '--require', '--import', '--loader', '--experimental-loader',
  '-C', '--conditions', '--input-type', '--title', '--env-file', '--inspect-port', '--debug-port',
]);

const KEPT = new Set([
  '--import', '--require', '-r', '--loader', '--conditions', '-C', '--preserve-symlinks',
  '--frozen-intrinsics', '--no-addons', '--no-global-search-paths',
  '--enable-source-maps', '--no-warnings', '--warnings', '--disable-warning', '--no-deprecation', '--deprecation',
  '--trace-warnings', '--trace-deprecation', '--throw-deprecation', '--pending-deprecation',
  '--trace-uncaught', '--unhandled-rejections',
  '--dns-result-order', '--max-http-header-size', '--insecure-http-parser',
]);

/** `--experimental-*` switches Node refuses in a thread: they configure the process. */
const PROCESS_ONLY_EXPERIMENTS = new Set([
  '--experimental-policy', '--experimental-sea-config', '--experimental-shadow-realm', '--no-experimental-global-navigator',
]);

function appliesToThread(name: string): boolean {
  if (KEPT.has(name)) return true;
  if (/^--tls-(min|max)-v1\.\d$/.test(name)) return true;
  return /^--(no-)?experimental-/.test(name) && !PROCESS_ONLY_EXPERIMENTS.has(name);
}
