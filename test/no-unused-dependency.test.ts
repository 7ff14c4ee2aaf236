// An application on SQLite and the file provider never loads what it does not use: a child process
// whose module loader refuses every cloud SDK, the Vault client, Google's libraries and PostgreSQL's
// driver opens atrest (with unused awskms, azurekv, hashicorpvault and googlekms sections in its INI
// file, as a host file would have), stores, reads and reports. Where @atrest/store-postgres is not
// installed, PostgreSQL is a clear error.
import { execFile } from 'node:child_process';
import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import t from 'tap';
import { tempDir } from '@atrest/testkit';
import { repoRoot } from './helpers.js';

const run = promisify(execFile);
const REFUSED = new RegExp(
  [
    '^@aws-sdk/',
    '^@smithy/',
    '^@azure/',
    '^@google-cloud/',
    '^google-auth-library',
    '^google-gax',
    '^gaxios',
    'provider-hashicorpvault/dist/src/client\\.js',
    '^pg$',
    '^pg/',
    '/node_modules/pg/',
    'store-postgres/dist/src/',
  ].join('|'),
);

t.test('SQLite and the file provider: no SDK, client or driver of an unused part is ever resolved', async (t) => {
  const dir = tempDir('atrest-unused-');
  writeFileSync(
    join(dir, 'hooks.mjs'),
    `import { appendFileSync } from 'node:fs';
const refused = new RegExp(${JSON.stringify(REFUSED.source)});
export async function resolve(specifier, context, next) {
  const resolved = await next(specifier, context);
  appendFileSync(${JSON.stringify(join(dir, 'resolved.log'))}, specifier + ' ' + resolved.url + '\\n');
  if (refused.test(specifier) || refused.test(resolved.url)) throw new Error('refused by test: ' + specifier);
  return resolved;
}`,
  );
  writeFileSync(
    join(dir, 'app.ini'),
    [
      '[security]',
      'admin_user = admin',
      'encryption_provider = file.default',
      '[security.encryption.awskms.unused]',
      'key_id = alias/unused',
      'region = eu-north-1',
      '[security.encryption.azurekv.unused]',
      'key_id = k',
      'vault_uri = https://v.vault.azure.net',
      '[security.encryption.hashicorpvault.unused]',
      'url = https://vault.example.com:8200',
      'token = hvs.unused',
      'key_ring = atrest',
      '[security.encryption.googlekms.unused]',
      'key_id = projects/p/locations/global/keyRings/r/cryptoKeys/k',
      '',
    ].join('\n'),
  );
  const appDir = join(dir, 'app');
  mkdirSync(join(appDir, 'node_modules', '@atrest'), { recursive: true });
  symlinkSync(join(repoRoot, 'packages', 'provider-file'), join(appDir, 'node_modules', '@atrest', 'provider-file'));
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
// An application directory with the file provider but not @atrest/store-postgres.
let missing;
try {
  await openAtrest({
    database: 'postgres://app@127.0.0.1:1/app',
    env: {},
    appRoot: ${JSON.stringify(appDir)},
    options: { 'security.encryption.file.default.key_path': ${JSON.stringify(join(dir, 'b.key'))} },
  });
} catch (err) {
  missing = { code: err.code, message: err.message };
}
console.log(JSON.stringify({ v, current: s.currentProvider, missing }));`,
  );
  const { stdout } = await run(process.execPath, [join(dir, 'child.mjs')], { cwd: repoRoot });
  const result = JSON.parse(stdout.trim()) as {
    v: string;
    current: string;
    missing?: { code: string; message: string };
  };
  t.same([result.v, result.current], ['y', 'file.default'], 'atrest worked with all of them refused');
  t.equal(result.missing?.code, 'ATREST_STORE_NOT_INSTALLED', 'PostgreSQL without its package: a clear error');
  t.match(result.missing?.message, /needs the npm package @atrest\/store-postgres; it is not installed in .*app\./);
  t.match(result.missing?.message, /pnpm add @atrest\/store-postgres/, 'saying what to install');
  const resolved = readFileSync(join(dir, 'resolved.log'), 'utf8').split('\n');
  for (const pkg of ['provider-awskms', 'provider-azurekv', 'provider-hashicorpvault', 'provider-googlekms']) {
    t.ok(
      resolved.some((line) => line.includes(pkg)),
      `the unused ${pkg} section was validated (its package index loaded)`,
    );
  }
  const asked = resolved.filter((line) => line.split(' ').some((part) => part !== '' && REFUSED.test(part)));
  t.same(asked, [], 'none of them was even asked for');
});
