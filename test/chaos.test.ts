import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { FAULTS } from './chaos/faults.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));

interface InvariantReport {
  name: string;
  title: string;
  checks: number;
  violations: number;
  samples: unknown[];
  notApplicable?: string;
}

interface BackendReport {
  backend: 'process' | 'thread';
  exit: number | null;
  summary?: {
    tasks: number;
    features: { quarantine: boolean; leaseExpiry: boolean };
    injected: Record<string, number>;
    invariants: InvariantReport[];
  };
}

describe('the chaos suite (npm run chaos), 30 s with seed 1 on both backends', () => {
  it('injects every fault kind its backend can have, and no invariant is violated', () => {
    const dir = mkdtempSync(join(tmpdir(), 'poolvisor-chaos-test-'));
    const json = join(dir, 'chaos.json');
    try {
      const run = spawnSync(process.execPath, ['test/chaos/run.mjs', '--minutes', '0.5', '--seed', '1', '--json', json], {
        cwd: root,
        encoding: 'utf8',
        timeout: 240_000,
      });
      // The harness's own tables are the explanation of any failure below.
      const table = `${run.stdout}\n${run.stderr}`;
      expect(existsSync(json), `no report (exit ${run.status}, signal ${run.signal})\n${table}`).toBe(true);
      const { results } = JSON.parse(readFileSync(json, 'utf8')) as { results: BackendReport[] };
      expect(results.map((result) => result.backend), table).toEqual(['process', 'thread']);
      const violated: string[] = [];
      for (const { backend, summary } of results) {
        expect(summary, `${backend}: no summary\n${table}`).toBeDefined();
        if (summary === undefined) continue;
        expect(summary.tasks, table).toBeGreaterThan(100);
        const kinds = FAULTS.filter((fault) => fault.backends.includes(backend) && (fault.needs === undefined || summary.features[fault.needs])).map(
          (fault) => fault.kind,
        );
        if (backend === 'process') kinds.push('external kill -9');
        expect(Object.keys(summary.injected).sort(), table).toEqual(kinds.sort());
        for (const invariant of summary.invariants) if (invariant.violations > 0) violated.push(`${backend}: ${invariant.title} (${invariant.violations})`);
      }
      expect(violated, table).toEqual([]);
      expect(run.status, table).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 300_000);
});
