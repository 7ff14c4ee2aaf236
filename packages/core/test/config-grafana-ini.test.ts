// The host INI read as Grafana reads it (issue 10 §5): Grafana's own keys in atrest's sections are
// understood, and Grafana's documented sample pasted as is (its section header commented out) is
// told as a missing section, not as a missing key, when the provider starts.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { loadAtrestConfig, openAtrest } from '@atrest/core';
import { tempDir } from '@atrest/testkit';

const repoRoot = fileURLToPath(new URL('../../../../', import.meta.url));
const iniFile = (ini: string) => {
  const dir = tempDir('atrest-grafana-ini-');
  writeFileSync(join(dir, 'grafana.ini'), ini);
  return { configFile: join(dir, 'grafana.ini'), database: join(dir, 'grafana.db'), env: {}, appRoot: repoRoot };
};
const load = (ini: string) => loadAtrestConfig(iniFile(ini));

t.test('[security.encryption] algorithm: accepted with its Grafana values, shown as not used', async (t) => {
  for (const algorithm of ['aes-gcm', 'aes-cfb']) {
    const config = await load(`[security.encryption]\nalgorithm = ${algorithm}\n`);
    const entry = config.entries.find((e) => e.key === 'security.encryption.algorithm');
    t.equal(entry?.value, `${algorithm} (not used: atrest's format is fixed, AES-256-GCM)`);
  }
  await t.rejects(load('[security.encryption]\nalgorithm = des\n'), {
    code: 'ATREST_CONFIG_INVALID',
    message: /algorithm.*aes-gcm or aes-cfb/s,
  });
});

t.test("Grafana's Azure sample pasted as is: the section is missing, says the error", async (t) => {
  // From the reference: the header is commented out, the keys are not.
  const ini = [
    '[security]',
    'encryption_provider = azurekv.example-encryption-key',
    'available_encryption_providers = azurekv.example-encryption-key',
    '',
    '# Azure Key Vault provider setup',
    ';[security.encryption.azurekv.example-encryption-key]',
    'tenant_id = 1234abcd-12ab-34cd-56ef-1234567890ab',
    'client_id = 1356dfgh-12ab-34cd-56ef-3322114455cc',
    'key_id = mysecretkey',
    'vault_uri = https://my-vault-name.vault.azure.net',
  ].join('\n');
  const err = await openAtrest(iniFile(ini)).then(
    () => undefined,
    (e: unknown) => e as { code?: string; message: string; details?: Record<string, unknown> },
  );
  t.equal(err?.code, 'ATREST_CONFIG_INVALID');
  t.match(err?.message, 'its section [security.encryption.azurekv.example-encryption-key] is missing');
  t.match(err?.message, 'A header commented out with ";"');
  t.notMatch(err?.message, /is required|has no key_id/);
  t.match(err?.details, { missing: 'section', provider: 'azurekv.example-encryption-key' });
  t.match(err?.message, 'ATREST_SECURITY_ENCRYPTION_AZUREKV_EXAMPLE_ENCRYPTION_KEY_*');

  const header = ini.replace(';[security.encryption', '[security.encryption');
  const uncommented = await openAtrest(iniFile(header)).then(
    () => undefined,
    (e: unknown) => e as { message: string },
  );
  t.notMatch(uncommented?.message, 'is missing', 'with its header, the section is read (and other problems named)');
});
