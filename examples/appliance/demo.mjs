#!/usr/bin/env node
// An appliance's life with atrest on its embedded default (the key-file provider), end to end:
// version 1 stored passwords in the clear; first boot with atrest creates the key file; the
// application stores secrets and reads old and new rows; the operator checks status, rotates the
// key, re-encrypts everything and prunes the old key with the atrest CLI; the application
// restarts and reads it all.
// Everything lives in a fresh temporary directory (the key path is overridden, as on a real box
// APPLIANCE_ENCRYPTION_KEY_PATH would be; the default is /srv/appliance-encryption.key).
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, statSync } from 'node:fs';
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
function atrest(args, input) {
  const r = spawnSync(
    process.execPath,
    [cli, '--app', 'appliance', '--config', configFile, '--db', databasePath, ...args],
    { env, input, encoding: 'utf8' },
  );
  const shown = `${r.stderr}${r.stdout}`.split('\n').filter((l) => l !== '');
  console.log(shown.map((l) => `   | ${l}`).join('\n'));
  if (r.status !== 0) throw new Error(`atrest ${args.join(' ')} exited ${r.status}`);
  return r.stdout;
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

step('operator: atrest rotate-encryption-key (new key-file version; data keys re-wrapped, active ones retired)');
atrest(['rotate-encryption-key']);

step('operator: atrest secrets-migration re-encrypt (every value onto fresh data keys; legacy plaintext encrypted)');
atrest(['secrets-migration', 're-encrypt']);

step('operator: a second re-encrypt changes nothing');
check(/nothing to do/.test(atrest(['secrets-migration', 're-encrypt'])), 'second run is a no-op');

step('operator: atrest rotate-encryption-key --prune (the old key version is no longer needed)');
atrest(['rotate-encryption-key', '--prune']);

step('operator: atrest status');
const status = JSON.parse(
  execFileSync(
    process.execPath,
    [cli, '--app', 'appliance', '--config', configFile, '--db', databasePath, 'status', '--json'],
    { env, encoding: 'utf8' },
  ),
);
atrest(['status']);
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

console.log(`\nThe appliance's life ran end to end. Files are in ${dir}`);
