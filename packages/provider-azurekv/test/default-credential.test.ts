// No client_secret in the section: the Azure default credential chain, here its environment
// credential (AZURE_TENANT_ID / AZURE_CLIENT_ID / AZURE_CLIENT_SECRET), against the emulator.
import { randomBytes } from 'node:crypto';
import t from 'tap';
import type { Test } from 'tap';
import type { AzureKeyVaultEmulator } from '@atrest/testkit';
import { rejection } from '@atrest/testkit';
import { emulator, providerOn } from './helpers/provider.js';

const variables = [
  'AZURE_TENANT_ID',
  'AZURE_CLIENT_ID',
  'AZURE_CLIENT_SECRET',
  'AZURE_AUTHORITY_HOST',
  'AZURE_TOKEN_CREDENTIALS',
] as const;

/** Set the AZURE_* variables for one test, restoring them after. */
function environment(
  t: Test,
  emu: AzureKeyVaultEmulator,
  values: Partial<Record<(typeof variables)[number], string>>,
): void {
  const saved = Object.fromEntries(variables.map((v) => [v, process.env[v]]));
  for (const v of variables) delete process.env[v];
  Object.assign(
    process.env,
    { AZURE_TENANT_ID: emu.tenant_id, AZURE_CLIENT_ID: emu.client_id, AZURE_CLIENT_SECRET: emu.client_secret },
    values,
  );
  t.teardown(() => {
    for (const v of variables) {
      const value = saved[v];
      if (value === undefined) delete process.env[v];
      else process.env[v] = value;
    }
  });
}

const noSecret = { tenant_id: '', client_id: '', client_secret: '' };
const context = { data_key_id: 'dk-env', label: 'env/2026-01-01' };

t.test('environment credential, authority_host from the section', async (t) => {
  const emu = await emulator(t);
  environment(t, emu, {});
  const p = await providerOn(t, emu, noSecret);
  const dataKey = new Uint8Array(randomBytes(32));
  t.same(
    Buffer.from(await p.unwrapKey(await p.wrapKey(dataKey, context), context)),
    Buffer.from(dataKey),
    'round trip with a token from the chain',
  );
  t.equal(emu.calls.token, 1, 'one token from the emulated Entra ID');
  t.equal(p.describe?.()['credential'], 'default credential chain', 'describe says which credential');
  t.notMatch(JSON.stringify(p.describe?.()), emu.client_secret, 'and not the secret');
});

t.test('environment credential, authority host from AZURE_AUTHORITY_HOST', async (t) => {
  const emu = await emulator(t);
  environment(t, emu, { AZURE_AUTHORITY_HOST: emu.authority_host });
  const p = await providerOn(t, emu, { ...noSecret, authority_host: '' });
  const dataKey = new Uint8Array(randomBytes(32));
  t.same(
    Buffer.from(await p.unwrapKey(await p.wrapKey(dataKey, context), context)),
    Buffer.from(dataKey),
    'round trip',
  );
  t.equal(emu.calls.token, 1, 'token from the host in AZURE_AUTHORITY_HOST');
});

t.test('a wrong secret in the environment → ATREST_PROVIDER_AUTH', async (t) => {
  const emu = await emulator(t);
  const secret = 'Env~wrong-secret-0123456789abcdef';
  environment(t, emu, { AZURE_CLIENT_SECRET: secret });
  const p = await providerOn(t, emu, noSecret);
  const err = await rejection(p.wrapKey(new Uint8Array(randomBytes(32)), context));
  t.equal(err?.code, 'ATREST_PROVIDER_AUTH', 'ATREST_PROVIDER_AUTH');
  t.match(err?.message, 'azurekv.main', 'names the provider');
  t.match(err?.message, /default credential chain/, 'says the default chain was used');
  t.match(err?.message, /AADSTS7000215/, 'and why');
  t.notMatch(err?.message, secret, 'never the secret');
});
