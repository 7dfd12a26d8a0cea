/**
 * `npm run docs:diagrams`: regenerates the Mermaid diagrams in docs/architecture.md
 * from the machine definitions. `--check` only reports whether they are current.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { withMachineDiagrams } from './architectureDiagrams.js';

const file = new URL('../../docs/architecture.md', import.meta.url);
const current = readFileSync(file, 'utf8');
const next = withMachineDiagrams(current);
if (process.argv.includes('--check')) {
  if (next !== current) {
    console.error('docs/architecture.md: diagrams are out of date; run npm run docs:diagrams');
    process.exit(1);
  }
  console.log('docs/architecture.md: diagrams are current');
} else {
  writeFileSync(file, next);
  console.log(next === current ? 'docs/architecture.md: already current' : 'docs/architecture.md: diagrams regenerated');
}
