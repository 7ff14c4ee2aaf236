// Finding and importing one of atrest's optional packages (a provider, the PostgreSQL store) by
// name at run time: resolved from the application's directory, or, for atrest's own packages, from
// the running program's dependencies (the atrest CLI run in any directory), then import()ed. A
// package imported this way is loaded only when the configuration needs it.
import { existsSync, readFileSync, realpathSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

/** Find `<dir>/node_modules/<name>` walking up from `from`; the package's directory or undefined. */
function findPackageDir(name: string, from: string): string | undefined {
  let dir = resolve(from);
  for (;;) {
    const candidate = join(dir, 'node_modules', name);
    if (existsSync(join(candidate, 'package.json'))) return candidate;
    const parent = dirname(dir);
    if (parent === dir) return undefined;
    dir = parent;
  }
}

type Exports = string | { [k: string]: Exports } | null | undefined;

function pickExport(exp: Exports): string | undefined {
  if (typeof exp === 'string') return exp;
  if (exp === null || exp === undefined || typeof exp !== 'object') return undefined;
  const dot = (exp as Record<string, Exports>)['.'];
  if (dot !== undefined) return pickExport(dot);
  for (const cond of ['import', 'node', 'default']) {
    const hit = pickExport((exp as Record<string, Exports>)[cond]);
    if (hit !== undefined) return hit;
  }
  return undefined;
}

/** The entry file of the package in `dir` (ESM `exports` "." with import/node/default, else `main`). */
function packageEntry(dir: string): string {
  const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { exports?: Exports; main?: string };
  const entry = pickExport(pkg.exports) ?? pkg.main ?? 'index.js';
  return join(dir, entry);
}

/** The directory of the program being run (its entry script, links resolved), when there is one. */
function programDir(): string | undefined {
  const entry = process.argv[1];
  if (entry === undefined || entry === '') return undefined;
  try {
    return dirname(realpathSync(entry));
  } catch {
    return undefined;
  }
}

/**
 * The directory of the package `name`, from `appRoot` (walking up through node_modules), else, for
 * atrest's own packages (`fromProgram`), from the running program's; undefined when not installed.
 */
export function findPackage(name: string, appRoot: string, fromProgram: boolean): string | undefined {
  const program = fromProgram ? programDir() : undefined;
  return findPackageDir(name, appRoot) ?? (program === undefined ? undefined : findPackageDir(name, program));
}

/** Import the package in `dir` by its entry file. */
export async function importPackage(dir: string): Promise<Record<string, unknown>> {
  return (await import(pathToFileURL(packageEntry(dir)).href)) as Record<string, unknown>;
}
