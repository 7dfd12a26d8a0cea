import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('..', import.meta.url));

function sourceFiles(dir: string): string[] {
  return readdirSync(join(root, dir), { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? sourceFiles(join(dir, entry.name)) : /\.(ts|js|mjs)$/.test(entry.name) ? [join(dir, entry.name)] : [],
  );
}

function importsOf(file: string): string[] {
  const text = readFileSync(join(root, file), 'utf8');
  return [...text.matchAll(/(?:^|\n)\s*(?:import|export)\s[^'"]*?from\s+['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g)].map(
    (m) => (m[1] ?? m[2]) as string,
  );
}

describe('the layers', () => {
  it('keeps machines/ pure: xstate and sibling files only', () => {
    const offenders = sourceFiles('machines').flatMap((file) =>
      importsOf(file)
        .filter((spec) => !(spec === 'xstate' || spec.startsWith('./')))
        .map((spec) => `${file} imports ${spec}`),
    );
    expect(offenders).toEqual([]);
  });

  it('keeps the worker side apart from the pool: Node built-ins, and the protocol as types', () => {
    for (const file of sourceFiles('src/runtime/worker')) {
      const text = readFileSync(join(root, file), 'utf8');
      const staticImports = [...text.matchAll(/^import .* from ['"]([^'"]+)['"];$/gm)].map((m) => m[1] as string);
      expect(staticImports.filter((spec) => !spec.startsWith('node:') && !/^\.\/[\w]+\.js$/.test(spec)), file).toEqual([]);
      const typeReferences = [...text.matchAll(/@typedef \{import\(['"]([^'"]+)['"]\)/g)].map((m) => m[1] as string);
      expect(typeReferences.filter((spec) => !['../protocol.js', '../../../machines/taskTypes.js'].includes(spec)), file).toEqual([]);
    }
  });

  it('reads a pool through the read model only: nothing outside machines/ reaches into snapshots or the ledger', () => {
    const offenders = [...sourceFiles('src'), ...sourceFiles('tools')].flatMap((file) => {
      const text = readFileSync(join(root, file), 'utf8');
      return [/\.children\b/, /context\.ledger\b/, /getSnapshot\(\)\.context\b/]
        .filter((pattern) => pattern.test(text))
        .map((pattern) => `${file} uses ${pattern.source}`);
    });
    expect(offenders).toEqual([]);
  });

  it('lets only src/runtime touch processes and /proc', () => {
    const offenders = sourceFiles('src')
      .filter((file) => !file.startsWith('src/runtime/'))
      .flatMap((file) =>
        importsOf(file)
          .filter((spec) => spec === 'node:child_process' || spec === 'pidusage' || spec === 'node:worker_threads')
          .map((spec) => `${file} imports ${spec}`),
      );
    expect(offenders).toEqual([]);
  });

  it('keeps the inference an application: it uses the library through its public entry, and is used through its own', () => {
    const inward = sourceFiles('src/inference').flatMap((file) =>
      importsOf(file)
        .filter((spec) => spec.startsWith('.') && !spec.startsWith('./') && spec !== '../index.js')
        .map((spec) => `${file} imports ${spec}`),
    );
    expect(inward).toEqual([]);
    const outward = sourceFiles('src')
      .filter((file) => !file.startsWith('src/inference/'))
      .flatMap((file) =>
        importsOf(file)
          .filter((spec) => spec.includes('inference/') && !spec.endsWith('inference/index.js'))
          .map((spec) => `${file} imports ${spec}`),
      );
    expect(outward).toEqual([]);
  });

  it('exports an explicit list from the public entry', () => {
    const index = readFileSync(join(root, 'src/index.ts'), 'utf8');
    expect(index).not.toMatch(/export \* from/);
  });
});
