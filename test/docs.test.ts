import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { withMachineDiagrams } from '../src/architectureDiagrams.js';

const read = (path: string) => readFileSync(new URL(`../${path}`, import.meta.url), 'utf8');

describe('the docs', () => {
  it('draw the machines as they are defined (npm run docs:diagrams regenerates them)', () => {
    const architecture = read('docs/architecture.md');
    expect(architecture).toContain('```mermaid');
    expect(withMachineDiagrams(architecture)).toBe(architecture);
  });

  it('list every error code the HTTP API can answer', () => {
    // The service's files each answer some (the routes, access control, the event stream); the
    // task store's codes are those of a task's record, documented with the pool's.
    const service = readdirSync(new URL('../src/service/', import.meta.url)).filter((name) => name.endsWith('.ts') && name !== 'taskStore.ts');
    const codes = new Set(service.flatMap((name) => [...read(`src/service/${name}`).matchAll(/'(ERR_[A-Z_]+)'/g)].map((m) => m[1] as string)));
    const documented = read('docs/http.md');
    expect(codes.size).toBeGreaterThanOrEqual(8);
    expect([...codes].filter((code) => !documented.includes(`\`${code}\``))).toEqual([]);
  });

  it('list every error code the code can produce', () => {
    const codes = new Set([...read('src/errors.ts').matchAll(/'(ERR_[A-Z_]+)'/g)].map((m) => m[1] as string));
    for (const code of read('src/pool.ts').matchAll(/'(ERR_[A-Z_]+)'/g)) codes.add(code[1] as string);
    const documented = read('docs/errors.md');
    expect(codes.size).toBeGreaterThanOrEqual(10);
    expect([...codes].filter((code) => !documented.includes(`\`${code}\``))).toEqual([]);
  });
});
