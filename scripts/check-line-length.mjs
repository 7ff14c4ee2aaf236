#!/usr/bin/env node
// Lines at most 120 characters in every tracked source file (Biome wraps code, not long strings).
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

const MAX = 120;
const files = execFileSync('git', ['ls-files', '*.ts', '*.mts', '*.js', '*.mjs'], { encoding: 'utf8' })
  .split('\n')
  .filter((f) => f !== '' && !f.includes('/fixtures/') && !f.startsWith('test/vectors/'));
const long = [];
for (const file of files) {
  readFileSync(file, 'utf8')
    .split('\n')
    .forEach((line, i) => {
      if ([...line].length > MAX) long.push(`${file}:${i + 1}: ${[...line].length} characters`);
    });
}
if (long.length > 0) {
  console.error(`${long.length} line(s) over ${MAX} characters:\n${long.join('\n')}`);
  process.exit(1);
}
