import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { withMachineDiagrams } from '../tools/architectureDiagrams.js';

const read = (path: string) => readFileSync(new URL(`../${path}`, import.meta.url), 'utf8');

describe('the docs', () => {
  it('draw the machines as they are defined (npm run docs:diagrams regenerates them)', () => {
    const architecture = read('docs/architecture.md');
    expect(architecture).toContain('```mermaid');
    expect(withMachineDiagrams(architecture)).toBe(architecture);
  });

  it('list every error code the HTTP API can answer', () => {
    // The routes, the access rules, the body parser, the records and the error envelope each live in their own file.
    const sources = readdirSync(new URL('../src/service/', import.meta.url)).filter((name) => name.endsWith('.ts'));
    // Codes the service reads (Node's), not answers.
    const nodeCodes = new Set(['ERR_HTTP_REQUEST_TIMEOUT']);
    const codes = new Set(
      sources.flatMap((name) => [...read(`src/service/${name}`).matchAll(/'(ERR_[A-Z_]+)'/g)].map((m) => m[1] as string)).filter((code) => !nodeCodes.has(code)),
    );
    const documented = read('docs/http.md');
    expect(codes.size).toBeGreaterThanOrEqual(10);
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
