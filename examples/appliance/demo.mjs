#!/usr/bin/env node
// An appliance's life with atrest on its embedded default (the key-file provider), end to end:
// version 1 stored passwords in the clear; first boot with atrest creates the key file; the
// application stores secrets and reads old and new rows; the key file moved away is refused (named,
// never regenerated) until it is restored; the operator checks status, rotates the key, re-encrypts
// everything and prunes the old key with the atrest CLI; the application restarts and reads it all.
// Last, a second appliance starts on a passphrase (secret_key) and refuses a wrong one.
// Everything lives in a fresh temporary directory (the key path is overridden, as on a real box
// APPLIANCE_ENCRYPTION_KEY_PATH would be; the default is /srv/appliance-encryption.key).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, renameSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { configFile, installVersion1, startAppliance } from './app.mjs';

const cli = fileURLToPath(new URL('../../packages/cli/dist/src/bin.js', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'atrest-appliance-'));
const databasePath = join(dir, 'appliance.db');
const keyPath = join(dir, 'srv', 'appliance-encryption.key');
const env = { ...process.env, APPLIANCE_ENCRYPTION_KEY_PATH: keyPath };
const cert = [
  '-----BEGIN CERTIFICATE-----',
  'MIIBszCCAVmgAwIBAgIUZGVtbyBjZXJ0aWZpY2F0ZSBmb3IgYXRyZXN0MAoGCCqG',
  '-----END CERTIFICATE-----',
  '',
].join('\n');

function step(title) {
  console.log(`\n== ${title}`);
}
/** Run the atrest CLI on the appliance's database; shows what it printed unless `quiet`. */
function atrest(args, { quiet = false, expect = 0 } = {}) {
  const r = spawnSync(
    process.execPath,
    [cli, '--app', 'appliance', '--config', configFile, '--db', databasePath, ...args],
    { env, encoding: 'utf8' },
  );
  const shown = `${r.stderr}${r.stdout}`.split('\n').filter((l) => l !== '');
  if (!quiet) console.log(shown.map((l) => `   | ${l}`).join('\n'));
  if (r.status !== expect) throw new Error(`atrest ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
  return r.stdout;
}
/** The error an operation fails with (the demo fails if it succeeds). */
async function refusal(operation) {
  try {
    await operation();
  } catch (err) {
    console.log(`   | ${err.code}: ${err.message}`);
    return err;
  }
  throw new Error('demo check failed: this should have been refused');
}
function check(cond, what) {
  if (!cond) throw new Error(`demo check failed: ${what}`);
  console.log(`   ok: ${what}`);
}

step(`version 1 of the appliance stores two datasource passwords in the clear (${databasePath})`);
installVersion1(databasePath);

step('first boot with atrest: the key file is created (0600, parents 0700)');
let app = await startAppliance({ databasePath, env });
const mode = (statSync(keyPath).mode & 0o777).toString(8);
console.log(`   key file ${keyPath}, mode ${mode}`);
check(mode === '600', 'key file mode is 0600');

step('the appliance stores secrets: an SMTP password, a TLS certificate (binary-safe), a new datasource');
await app.atrest.secrets.set('smtp_password', 's3cret-smtp-password');
await app.atrest.secrets.set('tls_cert', Buffer.from(cert));
await app.addDatasource('metrics-db', 'new-password-2026', { apiKey: 'api-key-123', tlsKey: 'tls-key-456' });
let rows = await app.readDatasources();
for (const r of rows) console.log(`   ${r.name}: password ${r.encrypted ? 'encrypted' : 'PLAINTEXT (legacy)'}`);
check(
  rows.length === 3 && rows[0].password === 'pg-password-from-2019' && rows[2].password === 'new-password-2026',
  'legacy and new rows read back',
);
check((await app.atrest.secrets.getText('tls_cert')) === cert, 'certificate read back byte for byte');
await app.close();

step('operator: atrest status');
atrest(['status']);

step('operator: atrest secrets get smtp_password');
check(
  atrest(['secrets', 'get', 'smtp_password']) === 's3cret-smtp-password',
  'CLI reads the secret the application stored',
);

step('fail closed: the key file is moved away (a restore that forgot it); the application refuses to start');
renameSync(keyPath, `${keyPath}.elsewhere`);
const missing = await refusal(() => startAppliance({ databasePath, env }));
check(missing.code === 'ATREST_KEY_MISSING' && missing.message.includes(keyPath), 'refused, naming the key file');
check(!existsSync(keyPath), 'no new key was made in its place');
const refusedCli = spawnSync(
  process.execPath,
  [cli, '--app', 'appliance', '--config', configFile, '--db', databasePath, 'secrets', 'get', 'smtp_password'],
  { env, encoding: 'utf8' },
);
check(refusedCli.status !== 0 && refusedCli.stdout === '', `the CLI refuses too (exit ${refusedCli.status}, no value)`);

step('the key file is restored: the application starts and reads again');
renameSync(`${keyPath}.elsewhere`, keyPath);
app = await startAppliance({ databasePath, env });
check((await app.atrest.secrets.getText('smtp_password')) === 's3cret-smtp-password', 'smtp_password reads back');
await app.close();

step('operator: atrest rotate-encryption-key (new key-file version; data keys re-wrapped, active ones retired)');
atrest(['rotate-encryption-key']);

step('operator: atrest secrets-migration re-encrypt (every value onto fresh data keys; legacy plaintext encrypted)');
atrest(['secrets-migration', 're-encrypt']);

step('operator: a second re-encrypt changes nothing');
check(/nothing to do/.test(atrest(['secrets-migration', 're-encrypt'])), 'second run is a no-op');

step('operator: atrest rotate-encryption-key --prune (the old key version is no longer needed)');
atrest(['rotate-encryption-key', '--prune']);

step('operator: atrest status');
atrest(['status']);
const status = JSON.parse(atrest(['status', '--json'], { quiet: true }));
check(status.secrets.plaintext === 0, 'no plaintext left');
check(
  status.providers[0].details.primary_version === 2 && status.providers[0].details.versions === 1,
  'only the new key version remains',
);

step('application restarts and reads everything again');
app = await startAppliance({ databasePath, env });
rows = await app.readDatasources();
check(
  rows.map((r) => r.password).join() === 'pg-password-from-2019,mysql-password-from-2020,new-password-2026',
  'every datasource password intact',
);
check((await app.atrest.secrets.getText('smtp_password')) === 's3cret-smtp-password', 'smtp_password intact');
await app.close();

const passDatabase = join(dir, 'passphrase-appliance.db');
const passphrase = 'correct horse battery staple';
step(`a second appliance starts on a passphrase (APPLIANCE_SECURITY_SECRET_KEY), no key file (${passDatabase})`);
installVersion1(passDatabase);
const passEnv = { ...env, APPLIANCE_SECURITY_SECRET_KEY: passphrase };
app = await startAppliance({ databasePath: passDatabase, env: passEnv });
await app.atrest.secrets.set('smtp_password', 'passphrase-protected');
const passStatus = await app.atrest.status();
await app.close();
console.log(`   current provider: ${passStatus.currentProvider}`);
check(passStatus.currentProvider === 'secret_key.default', 'the passphrase provider wraps its data keys');

step('restarted with a wrong passphrase: refused, nothing decrypted with it');
const wrongEnv = { ...env, APPLIANCE_SECURITY_SECRET_KEY: 'wrong horse battery staple' };
const wrong = await refusal(() => startAppliance({ databasePath: passDatabase, env: wrongEnv }));
check(wrong.code === 'ATREST_WRONG_KEY', 'a wrong passphrase is refused at start');
app = await startAppliance({ databasePath: passDatabase, env: passEnv });
check((await app.atrest.secrets.getText('smtp_password')) === 'passphrase-protected', 'the right one reads it back');
await app.close();

console.log(`\nThe appliance's life ran end to end. Files are in ${dir}`);
