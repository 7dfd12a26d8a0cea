// Prints the node_modules folders the built pool loads at run time, one per line, relative
// to the repository root: the packages dist/src/index.js and the worker entries import,
// followed through their imports, and those packages' own dependencies. pack.sh carries
// only these to a GPU machine (not fastify, pino or the dev tools).
import { existsSync, readFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(fileURLToPath(new URL('../..', import.meta.url)));
const entries = ['dist/src/index.js', 'dist/src/runtime/worker/processEntry.js', 'dist/src/runtime/worker/threadEntry.js', 'dist/src/runtime/worker/orphanWatchdog.js'];
const IMPORT = /(?:^|[\s;])(?:import|export)\s[^'"]*?from\s*['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)|^\s*import\s*['"]([^'"]+)['"]/gm;

/** @type {Set<string>} */
const files = new Set();
/** @type {Set<string>} */
const bare = new Set();
/** @param {string} file */
function follow(file) {
  if (files.has(file)) return;
  files.add(file);
  for (const match of readFileSync(file, 'utf8').matchAll(IMPORT)) {
    const specifier = /** @type {string} */ (match[1] ?? match[2] ?? match[3]);
    if (specifier.startsWith('.')) follow(resolve(dirname(file), specifier));
    else if (!specifier.startsWith('node:') && !builtinModules.includes(specifier)) bare.add(specifier);
  }
}
for (const entry of entries) {
  const file = join(root, entry);
  if (!existsSync(file)) throw new Error(`${entry} is missing: run npm run build first`);
  follow(file);
}

/** @param {string} specifier */
const packageName = (specifier) => specifier.split('/').slice(0, specifier.startsWith('@') ? 2 : 1).join('/');

/**
 * Node's lookup: node_modules/<name> in `from` and each folder above it.
 * @param {string} name
 * @param {string} from
 */
function locate(name, from) {
  for (let dir = from; ; dir = dirname(dir)) {
    const candidate = join(dir, 'node_modules', name);
    if (existsSync(join(candidate, 'package.json'))) return candidate;
    if (dirname(dir) === dir) throw new Error(`package ${name} (needed from ${relative(root, from) || '.'}) is not installed: run npm ci`);
  }
}

/** @type {Set<string>} */
const packages = new Set();
/** @param {string} name @param {string} from */
function include(name, from) {
  const dir = locate(name, from);
  if (packages.has(dir)) return;
  packages.add(dir);
  const manifest = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
  for (const dependency of Object.keys({ ...manifest.dependencies, ...manifest.optionalDependencies })) {
    try {
      include(dependency, dir);
    } catch (error) {
      // An optional dependency for another platform is not installed, and need not be.
      if (!(dependency in (manifest.optionalDependencies ?? {}))) throw error;
    }
  }
}
for (const specifier of bare) include(packageName(specifier), root);

console.log([...packages].map((dir) => relative(root, dir)).sort().join('\n'));
