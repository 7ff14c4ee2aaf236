// An application on the file provider loads neither the Vault client nor Google's libraries, even
// with (unused) hashicorpvault and googlekms sections in its INI file: a child process whose module
// loader refuses them opens atrest, stores, reads and reports.
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import t from 'tap';
import { tempDir } from '@atrest/testkit';
import { repoRoot } from './helpers.js';

const run = promisify(execFile);
const REFUSED =
  /^@google-cloud\/|^google-auth-library|^google-gax|^gaxios|provider-hashicorpvault\/dist\/src\/client\.js/;

t.test('file provider: no Vault client and no Google library is ever resolved', async (t) => {
  const dir = tempDir('atrest-noclient-');
  writeFileSync(
    join(dir, 'hooks.mjs'),
    `import { appendFileSync } from 'node:fs';
export async function resolve(specifier, context, next) {
  const resolved = await next(specifier, context);
  appendFileSync(${JSON.stringify(join(dir, 'resolved.log'))}, specifier + ' ' + resolved.url + '\\n');
  if (${REFUSED}.test(specifier) || ${REFUSED}.test(resolved.url)) throw new Error('refused by test: ' + specifier);
  return resolved;
}`,
  );
  writeFileSync(
    join(dir, 'app.ini'),
    [
      '[security]',
      'encryption_provider = file.default',
      '[security.encryption.hashicorpvault.unused]',
      'url = https://vault.example.com:8200',
      'token = hvs.unused',
      'key_ring = atrest',
      '[security.encryption.googlekms.unused]',
      'key_id = projects/p/locations/global/keyRings/r/cryptoKeys/k',
      '',
    ].join('\n'),
  );
  const core = pathToFileURL(join(repoRoot, 'packages', 'core', 'dist', 'src', 'index.js')).href;
  writeFileSync(
    join(dir, 'child.mjs'),
    `import { register } from 'node:module';
register(${JSON.stringify(pathToFileURL(join(dir, 'hooks.mjs')).href)});
const { openAtrest } = await import(${JSON.stringify(core)});
const a = await openAtrest({ configFile: ${JSON.stringify(join(dir, 'app.ini'))},
  database: ${JSON.stringify(join(dir, 'a.db'))},
  env: {}, appRoot: ${JSON.stringify(repoRoot)},
  options: { 'security.encryption.file.default.key_path': ${JSON.stringify(join(dir, 'a.key'))} } });
await a.secrets.set('x', 'y');
const v = await a.secrets.getText('x');
const s = await a.status();
await a.close();
console.log(JSON.stringify({ v, current: s.currentProvider }));`,
  );
  const { stdout } = await run(process.execPath, [join(dir, 'child.mjs')], { cwd: repoRoot });
  t.same(JSON.parse(stdout.trim()), { v: 'y', current: 'file.default' }, 'atrest worked with both clients refused');
  const resolved = readFileSync(join(dir, 'resolved.log'), 'utf8').split('\n');
  t.ok(
    resolved.some((s) => s.includes('provider-hashicorpvault')) &&
      resolved.some((s) => s.includes('provider-googlekms')),
    'the unused sections were validated (both package indexes loaded)',
  );
  t.notOk(
    resolved.some((s) => REFUSED.test(s.split(' ')[0] ?? '') || REFUSED.test(s.split(' ')[1] ?? '')),
    'neither client was even asked for',
  );
});
