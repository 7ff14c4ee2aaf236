// Package hygiene: every bare import in a package's sources is declared in its package.json
// (dependencies or peerDependencies), every declared runtime dependency is used, and every error
// code of the catalogue is documented in docs/errors.md.
import { readdirSync, readFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { join } from 'node:path';
import t from 'tap';
import { errorCodes } from '@atrest/core';
import { repoRoot } from './helpers.js';

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  );
}

function packageOf(specifier: string): string {
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : (parts[0] ?? specifier);
}

const builtins = new Set(builtinModules.flatMap((m) => [m, `node:${m}`]));

for (const name of readdirSync(join(repoRoot, 'packages'))) {
  t.test(`packages/${name}: imports match declared dependencies`, async (t) => {
    const pkg = JSON.parse(readFileSync(join(repoRoot, 'packages', name, 'package.json'), 'utf8')) as {
      dependencies?: Record<string, string>;
      peerDependencies?: Record<string, string>;
    };
    const declared = new Set([...Object.keys(pkg.dependencies ?? {}), ...Object.keys(pkg.peerDependencies ?? {})]);
    const used = new Set<string>();
    for (const file of sources(join(repoRoot, 'packages', name, 'src'))) {
      const text = readFileSync(file, 'utf8');
      for (const m of text.matchAll(/(?:^|\s)(?:import|export)\s[^'"]*?from\s+'([^']+)'|import\(\s*'([^']+)'\s*\)/gm)) {
        const spec = m[1] ?? m[2] ?? '';
        if (spec.startsWith('.') || builtins.has(spec) || builtins.has(spec.split('/')[0] ?? '')) continue;
        used.add(packageOf(spec));
      }
    }
    for (const dep of used) t.ok(declared.has(dep), `${dep} is declared`);
    for (const dep of Object.keys(pkg.dependencies ?? {})) {
      if (dep.startsWith('@types/')) continue;
      t.ok(used.has(dep) || dep === '@atrest/provider-file', `${dep} is used`);
    }
  });
}

t.test('every error code is documented in docs/errors.md', async (t) => {
  const doc = readFileSync(join(repoRoot, 'docs', 'errors.md'), 'utf8');
  for (const code of Object.keys(errorCodes)) t.match(doc, `\`${code}\``, code);
});
