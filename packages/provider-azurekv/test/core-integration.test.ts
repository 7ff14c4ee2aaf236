// The provider as an application meets it: a Grafana-style INI section and environment variables,
// validated by core's config layer against this package's schema, loaded by core's provider
// loader, wrapping real data keys for openAtrest() against the emulator.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { formatConfigEntries, loadAtrestConfig, openAtrest } from '@atrest/core';
import { tempDir } from '@atrest/testkit';
import t from 'tap';
import { emulator } from './helpers/provider.js';

const repoRoot = fileURLToPath(new URL('../../../../', import.meta.url));

t.test('INI + environment → core config → provider → envelope encryption', async (t) => {
  const emu = await emulator(t);
  const dir = tempDir('atrest-azurekv-app-');
  const ini = join(dir, 'app.ini');
  writeFileSync(
    ini,
    [
      '[server]',
      'http_port = 3000',
      '',
      '[security]',
      'admin_user = admin',
      'encryption_provider = azurekv.main',
      '',
      '# Azure Key Vault provider setup',
      '[security.encryption.azurekv.main]',
      `tenant_id = ${emu.tenant_id}`,
      `client_id = ${emu.client_id}`,
      `key_id = ${emu.key_id}`,
      `vault_uri = ${emu.vault_uri}`,
      `authority_host = ${emu.authority_host}`,
      `ca_file = ${emu.ca_file}`,
      'request_timeout = 5s',
      'retry_delay = 20ms',
      '',
      '[database]',
      `path = ${join(dir, 'app.db')}`,
      '',
    ].join('\n'),
  );
  // The secret stays out of the INI file.
  const env = {
    ATREST_SECURITY_ENCRYPTION_AZUREKV_MAIN_CLIENT_SECRET: emu.client_secret,
    ATREST_SECURITY_ENCRYPTION_AZUREKV_MAIN_MAX_RETRIES: '2',
  };

  const config = await loadAtrestConfig({ configFile: ini, env, appRoot: repoRoot });
  const section = config.providers.get('azurekv.main');
  t.ok(section, 'core found the section');
  t.match(
    section?.values,
    {
      key_id: emu.key_id,
      vault_uri: emu.vault_uri,
      client_secret: emu.client_secret,
      max_retries: 2,
      request_timeout: 5000,
      retry_delay: 20,
      max_retry_delay: 10_000,
      algorithm: 'RSA-OAEP-256',
      key_version: '',
    },
    'validated with this schema: env applied, durations parsed, defaults filled',
  );
  const shown = config.entries.find((e) => e.key === 'security.encryption.azurekv.main.client_secret');
  t.equal(shown?.sensitive, true, 'client_secret is marked sensitive');
  const listing = formatConfigEntries(config.entries);
  t.match(listing, 'security.encryption.azurekv.main.client_secret', '`config show` lists it');
  t.notMatch(listing, emu.client_secret, 'redacted');

  const atrest = await openAtrest({ configFile: ini, env, appRoot: repoRoot });
  t.teardown(() => atrest.close());
  const sealed = await atrest.encrypt('postgres://grafana:s3cret@db/grafana', {
    context: 'data_source.secure_json_data:1',
  });
  t.equal(
    (await atrest.decrypt(sealed, { context: 'data_source.secure_json_data:1' })).toString('utf8'),
    'postgres://grafana:s3cret@db/grafana',
    'encrypt/decrypt through a data key wrapped in the vault',
  );
  t.ok(emu.calls.token >= 1 && emu.calls.getKey >= 1, 'the vault and the token endpoint were used');

  const bad = await loadAtrestConfig({
    configFile: ini,
    env: { ...env, ATREST_SECURITY_ENCRYPTION_AZUREKV_MAIN_ALGORITHM: 'RSA1_5' },
    appRoot: repoRoot,
  }).then(
    () => undefined,
    (e: { code?: string; message?: string }) => e,
  );
  t.equal(bad?.code, 'ATREST_CONFIG_INVALID', 'a value outside the schema is refused by core');
  t.match(bad?.message, /algorithm/, 'naming the key');
});
