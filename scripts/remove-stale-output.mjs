#!/usr/bin/env node
// tsc -b never deletes what it compiled from a source that is gone (a moved or removed test): tap
// would still run the old output. Remove every compiled file of dist/ whose source no longer exists.
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';

const roots = ['test', ...readdirSync('packages').map((name) => join('packages', name))];
const compiled = /\.(js|js\.map|d\.ts|d\.ts\.map)$/;

function walk(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? walk(join(dir, entry.name)) : [join(dir, entry.name)],
  );
}

for (const root of roots) {
  const dist = join(root, 'dist');
  if (!existsSync(dist)) continue;
  for (const file of walk(dist)) {
    if (!compiled.test(file)) continue;
    const source = join(root, file.slice(dist.length + 1).replace(compiled, '.ts'));
    if (!existsSync(source) && !existsSync(source.replace(/\.ts$/, '.mts'))) rmSync(file);
  }
}
