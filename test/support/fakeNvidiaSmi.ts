import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';

/**
 * A stand-in `nvidia-smi`, first on PATH, that prints what the test writes to its
 * files, in the real tool's CSV format (noheader, nounits): so parsing, attribution,
 * breach and kill run for real, without a GPU.
 */
export class FakeNvidiaSmi {
  readonly dir = mkdtempSync(join(tmpdir(), 'fake-nvidia-smi-'));
  readonly #path = process.env.PATH;

  constructor() {
    const script = `#!/bin/sh
dir="${this.dir}"
if [ -f "$dir/fail" ]; then cat "$dir/fail" >&2; exit 9; fi
case "$1" in
  --query-gpu=*) cat "$dir/gpus.csv" ;;
  --query-compute-apps=*) cat "$dir/apps.csv" ;;
  *) echo "fake nvidia-smi: unexpected arguments: $*" >&2; exit 2 ;;
esac
`;
    writeFileSync(join(this.dir, 'nvidia-smi'), script);
    chmodSync(join(this.dir, 'nvidia-smi'), 0o755);
    this.gpus(0);
    this.apps({});
    process.env.PATH = `${this.dir}${delimiter}${this.#path ?? ''}`;
  }

  /** `count` H200-like GPUs, as `--query-gpu=index,name,memory.total` lists them. */
  gpus(count: number): void {
    const lines = Array.from({ length: count }, (_, i) => `${i}, NVIDIA H200, 143771`);
    writeFileSync(join(this.dir, 'gpus.csv'), lines.length ? `${lines.join('\n')}\n` : '');
  }

  /** GPU memory in MiB by pid, as `--query-compute-apps=pid,used_memory` lists it. */
  apps(usedMiBByPid: Record<number, number>): void {
    const lines = Object.entries(usedMiBByPid).map(([pid, mib]) => `${pid}, ${mib}`);
    writeFileSync(join(this.dir, 'apps.csv'), lines.length ? `${lines.join('\n')}\n` : '');
  }

  /** Makes every call fail with `message` on stderr, as a broken driver does. */
  fail(message: string | undefined): void {
    if (message === undefined) rmSync(join(this.dir, 'fail'), { force: true });
    else writeFileSync(join(this.dir, 'fail'), `${message}\n`);
  }

  restore(): void {
    process.env.PATH = this.#path;
    rmSync(this.dir, { recursive: true, force: true });
  }
}
