// What an operator sees from the CLI when a cloud provider is misconfigured: a wrong AWS secret
// access key or Azure client secret is ATREST_PROVIDER_AUTH (exit 2) naming the provider and the
// identity, never a secret; a server certificate that does not verify (no ca_file, or another CA)
// is ATREST_TLS naming the host and the CA file, and no request (let alone a credential) is sent;
// rotate-encryption-key (and --prune) on a key that lives in the service is a usage error.
import { join } from 'node:path';
import t from 'tap';
import type { Test } from 'tap';
import { createTestTls, startAwsKmsEmulator, startAzureKeyVaultEmulator, tempDir, writeIn } from '@atrest/testkit';
import type { Run } from '@atrest/testkit';
import { cloudEnv, runAtrest, statusFrom } from './helpers.js';

const kms = await startAwsKmsEmulator();
t.teardown(() => kms.close());
const vault = await startAzureKeyVaultEmulator();
t.teardown(() => vault.close());
const otherCa = await createTestTls({ name: 'Some Other Private CA' });

const STORED = 'the-stored-db-password-42';
const WRONG_AWS_SECRET = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYWRONGSECRET1';
const WRONG_AZURE_SECRET = 'FbE4X~4Jq45ERKxx823Aheb9plBjQqHHWRONG';

type Case = {
  name: string;
  id: string;
  keys: Readonly<Record<string, string>>;
  /** Environment variable of this provider's `key`. */
  variable(key: string): string;
  secretKey: 'secret_access_key' | 'client_secret';
  wrongSecret: string;
  /** What the refusal must name besides the provider: the access key id, or tenant and client. */
  identity: readonly string[];
  host: string;
  requests(): number;
  identityRequests(): number;
  reset(): void;
};

const cases: Case[] = [
  {
    name: 'AWS KMS',
    id: 'awskms.main',
    keys: kms.providerKeys,
    variable: (key) => `ATREST_SECURITY_ENCRYPTION_AWSKMS_MAIN_${key.toUpperCase()}`,
    secretKey: 'secret_access_key',
    wrongSecret: WRONG_AWS_SECRET,
    identity: [kms.access_key_id],
    host: `127.0.0.1:${kms.port}`,
    requests: () => Object.values(kms.calls).reduce((a, b) => a + b, 0),
    identityRequests: () => 0,
    reset: () => kms.resetCalls(),
  },
  {
    name: 'Azure Key Vault',
    id: 'azurekv.main',
    keys: vault.providerKeys,
    variable: (key) => `ATREST_SECURITY_ENCRYPTION_AZUREKV_MAIN_${key.toUpperCase()}`,
    secretKey: 'client_secret',
    wrongSecret: WRONG_AZURE_SECRET,
    identity: [vault.tenant_id, vault.client_id],
    host: `127.0.0.1:${vault.port}`,
    requests: () => Object.values(vault.calls).reduce((a, b) => a + b, 0),
    identityRequests: () => vault.calls.token,
    reset: () => vault.resetCalls(),
  },
];

const escapeRegExp = (s: string): string => s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');

for (const c of cases) {
  t.test(c.name, async (t) => {
    const dir = tempDir('atrest-cloud-refusals-');
    const db = join(dir, 'app.db');
    const section = (omit: readonly string[] = []): string =>
      `[security]\nencryption_provider = ${c.id}\n[security.encryption.${c.id}]\n${Object.entries(c.keys)
        .filter(([k]) => !omit.includes(k))
        .map(([k, v]) => `${k} = ${v}`)
        .join('\n')}\n[database]\npath = ${db}\n`;
    const ini = writeIn(dir, 'app.ini', section());
    const cli = (args: readonly string[], env: Record<string, string> = {}, file = ini, input?: string): Promise<Run> =>
      runAtrest(['--config', file, ...args], {
        env: { ...cloudEnv, ...env },
        ...(input !== undefined ? { input } : {}),
      });
    const realSecret = c.keys[c.secretKey] ?? '';
    /** Nothing secret in what the process printed. */
    const noSecrets = (t: Test, run: Run): void => {
      const all = `${run.stderr}${run.stdout.toString('utf8')}`;
      t.notOk(all.includes(c.wrongSecret), 'the wrong secret is not printed');
      t.notOk(all.includes(realSecret), 'the real secret is not printed');
      t.notOk(all.includes(STORED), 'the stored value is not printed');
    };

    const stored = await cli(['secrets', 'set', 'db-password'], {}, ini, STORED);
    t.equal(stored.code, 0, `a secret stored with the right configuration (${stored.stderr.trim()})`);

    await t.test(`a wrong ${c.secretKey}: ATREST_PROVIDER_AUTH, exit 2`, async (t) => {
      c.reset();
      const get = await cli(['secrets', 'get', 'db-password'], { [c.variable(c.secretKey)]: c.wrongSecret });
      t.equal(get.code, 2, 'exit 2 (configuration or key error)');
      t.match(
        get.stderr,
        new RegExp(`^error ATREST_PROVIDER_AUTH: .*${escapeRegExp(c.id)}`, 'm'),
        'the code and the provider',
      );
      for (const who of c.identity) t.match(get.stderr, who, `names ${who}`);
      t.equal(get.stdout.length, 0, 'nothing on stdout');
      t.notMatch(get.stderr, /\n\s+at /, 'no stack trace');
      noSecrets(t, get);

      const set = await cli(
        ['secrets', 'set', 'another'],
        { [c.variable(c.secretKey)]: c.wrongSecret },
        ini,
        'never-stored-value',
      );
      t.equal(set.code, 2, 'storing with the wrong secret: exit 2');
      t.match(set.stderr, /ATREST_PROVIDER_AUTH/);
      t.notOk(set.stderr.includes('never-stored-value'), 'the value is not printed');
      const list = await cli(['secrets', 'list', '--json']);
      t.same(
        (JSON.parse(list.stdout.toString('utf8')) as { name: string }[]).map((s) => s.name),
        ['db-password'],
        'nothing was stored by the refused run',
      );
    });

    await t.test("no ca_file: the emulator's certificate is untrusted, ATREST_TLS naming the host", async (t) => {
      const noCa = writeIn(dir, 'no-ca.ini', section(['ca_file']));
      c.reset();
      const run = await cli(['secrets', 'get', 'db-password'], {}, noCa);
      t.equal(run.code, 2, 'exit 2');
      t.match(run.stderr, new RegExp(`^error ATREST_TLS: .*${escapeRegExp(c.id)}`, 'm'), 'the code and the provider');
      t.match(run.stderr, c.host, `names the host ${c.host}`);
      t.match(run.stderr, /no ca_file/i, 'says no CA file is set');
      t.equal(run.stdout.length, 0, 'nothing on stdout');
      t.equal(c.requests(), 0, 'no request reached the server');
      t.equal(c.identityRequests(), 0, 'no credential was sent');
      noSecrets(t, run);
    });

    await t.test('another CA in ca_file: ATREST_TLS naming the host and the CA file', async (t) => {
      c.reset();
      // Without --json: with it, the error comes as one JSON object (packages/cli/test/usage.test.ts).
      const run = await cli(['status'], { [c.variable('ca_file')]: otherCa.caFile });
      t.equal(run.code, 2, 'exit 2');
      t.match(run.stderr, new RegExp(`^error ATREST_TLS: .*${escapeRegExp(c.id)}`, 'm'), 'the code and the provider');
      t.match(run.stderr, c.host, `names the host ${c.host}`);
      t.match(run.stderr, otherCa.caFile, 'names the CA file in use');
      t.equal(c.requests(), 0, 'no request reached the server');
      noSecrets(t, run);
    });

    await t.test(
      'rotate-encryption-key: the key lives in the service, so rotation and --prune are usage errors',
      async (t) => {
        const prune = await cli(['rotate-encryption-key', '--prune']);
        t.equal(prune.code, 2, '--prune: exit 2');
        t.match(
          prune.stderr,
          /^error ATREST_USAGE: .*keeps no old keys of its own/m,
          'a usage error, not ATREST_KEY_IN_USE',
        );
        const rotate = await cli(['rotate-encryption-key']);
        t.equal(rotate.code, 2, 'rotate: exit 2');
        t.match(rotate.stderr, /^error ATREST_USAGE: .*re-encrypt-data-keys/m, 'says to rotate in the service');
      },
    );

    const ok = await cli(['status', '--json']);
    t.match(statusFrom(ok).providers, [{ id: c.id, healthy: true }], 'with the right configuration all is well again');
  });
}
