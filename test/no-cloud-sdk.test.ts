// An application on the file provider never loads a cloud SDK: a child process whose module loader
// refuses @aws-sdk, @smithy and @azure opens atrest (with unused awskms and azurekv sections in its
// INI file, as a host file would have), stores, reads and reports.
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import t from 'tap';
import { tempDir } from '@atrest/testkit';
import { repoRoot } from './helpers.js';

const run = promisify(execFile);

t.test('file provider: no AWS or Azure module is ever resolved', async (t) => {
  const dir = tempDir('atrest-nosdk-');
  writeFileSync(
    join(dir, 'hooks.mjs'),
    `import { appendFileSync } from 'node:fs';
export async function resolve(specifier, context, next) {
  appendFileSync(${JSON.stringify(join(dir, 'resolved.log'))}, specifier + '\\n');
  if (/^@aws-sdk\\/|^@smithy\\/|^@azure\\//.test(specifier)) throw new Error('refused by test: ' + specifier);
  return next(specifier, context);
}`,
  );
  writeFileSync(
    join(dir, 'app.ini'),
    [
      '[security]',
      'admin_user = admin',
      'encryption_provider = file.default',
      '',
      '[security.encryption.awskms.unused]',
      'key_id = alias/unused',
      'region = eu-north-1',
      '',
      '[security.encryption.azurekv.unused]',
      'key_id = k',
      'vault_uri = https://v.vault.azure.net',
      '',
    ].join('\n'),
  );
  const core = pathToFileURL(join(repoRoot, 'packages', 'core', 'dist', 'src', 'index.js')).href;
  writeFileSync(
    join(dir, 'child.mjs'),
    `import { register } from 'node:module';
register(${JSON.stringify(pathToFileURL(join(dir, 'hooks.mjs')).href)});
const { openAtrest } = await import(${JSON.stringify(core)});
const a = await openAtrest({
  configFile: ${JSON.stringify(join(dir, 'app.ini'))},
  database: ${JSON.stringify(join(dir, 'a.db'))},
  env: {},
  appRoot: ${JSON.stringify(repoRoot)},
  options: { 'security.encryption.file.default.key_path': ${JSON.stringify(join(dir, 'a.key'))} },
});
await a.secrets.set('x', 'y');
const v = await a.secrets.getText('x');
const s = await a.status();
await a.close();
console.log(JSON.stringify({ v, current: s.currentProvider }));`,
  );
  const { stdout } = await run(process.execPath, [join(dir, 'child.mjs')], { cwd: repoRoot });
  t.same(JSON.parse(stdout.trim()), { v: 'y', current: 'file.default' }, 'atrest worked with every cloud SDK refused');
  const { readFileSync } = await import('node:fs');
  const resolved = readFileSync(join(dir, 'resolved.log'), 'utf8').split('\n');
  t.ok(
    resolved.some((s) => s.includes('provider-awskms')),
    'the unused awskms section was validated (its package index loaded)',
  );
  t.notOk(
    resolved.some((s) => /@aws-sdk|@smithy|@azure/.test(s)),
    'no cloud SDK module was even asked for',
  );
});
