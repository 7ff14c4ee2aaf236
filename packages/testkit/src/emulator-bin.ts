#!/usr/bin/env node
// `atrest-emulator <name> [--port N]`: start one local emulator, print its connection facts as ONE
// JSON line whose keys are the provider's INI keys, and serve until SIGINT/SIGTERM.
import { parseArgs } from 'node:util';
import { startAwsKmsEmulator } from './emulators/aws-kms.js';
import { startAzureKeyVaultEmulator } from './emulators/azure-keyvault.js';
import { startGoogleKmsEmulator } from './emulators/google-kms.js';
import { startHashicorpVaultEmulator } from './emulators/hashicorp-vault.js';

/** A running emulator, as the command sees it. */
type RunningEmulator = {
  /** The provider's INI keys and their values. */
  readonly providerKeys: Readonly<Record<string, string>>;
  /** Other values `key_id` may take, by what they are (AWS KMS: key ARN, alias, alias ARN). */
  readonly keyIdForms?: Readonly<Record<string, string>>;
  close(): Promise<void>;
};

/** One emulator the command can start. Add a row to offer another. */
type EmulatorCommand = {
  readonly name: string;
  readonly summary: string;
  start(options: { readonly port: number }): Promise<RunningEmulator>;
};

const emulatorCommands: readonly EmulatorCommand[] = [
  {
    name: 'aws-kms',
    summary: 'AWS KMS (JSON 1.1 + SigV4) for [security.encryption.awskms.<name>]',
    start: async ({ port }) => {
      const kms = await startAwsKmsEmulator({ port });
      const { keyId, keyArn, aliasName, aliasArn } = kms.key;
      return {
        providerKeys: kms.providerKeys,
        // Grafana's documentation gives all four; each is served.
        keyIdForms: { 'key id': keyId, 'key ARN': keyArn, alias: aliasName, 'alias ARN': aliasArn },
        close: () => kms.close(),
      };
    },
  },
  {
    name: 'azure-keyvault',
    summary: 'Azure Key Vault + Entra ID token endpoint for [security.encryption.azurekv.<name>]',
    start: ({ port }) => startAzureKeyVaultEmulator({ port }),
  },
  {
    name: 'hashicorp-vault',
    summary: 'HashiCorp Vault / OpenBao Transit for [security.encryption.hashicorpvault.<name>]',
    start: ({ port }) => startHashicorpVaultEmulator({ port }),
  },
  {
    name: 'google-kms',
    summary: 'Google Cloud KMS (REST) + OAuth 2.0 token endpoint for [security.encryption.googlekms.<name>]',
    start: ({ port }) => startGoogleKmsEmulator({ port }),
  },
];

function usage(): string {
  const width = Math.max(...emulatorCommands.map((c) => c.name.length));
  return [
    'Usage: atrest-emulator <emulator> [--port N]',
    '',
    'Starts a local emulator on https://127.0.0.1 with a throwaway CA, prints one JSON line with the',
    "provider's INI keys (endpoint, ca_file, credentials, key…), then serves until SIGINT or SIGTERM.",
    'aws-kms also lists on stderr every key_id form it serves: key id, key ARN, alias, alias ARN.',
    '',
    'Emulators:',
    ...emulatorCommands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    '',
    'Options:',
    '  --port N   TCP port on 127.0.0.1 (default 0: a free port)',
    '  --help     show this help',
    '',
  ].join('\n');
}

async function main(argv: readonly string[]): Promise<number> {
  let parsed: ReturnType<
    typeof parseArgs<{
      args: string[];
      allowPositionals: true;
      options: { port: { type: 'string' }; help: { type: 'boolean'; short: 'h' } };
    }>
  >;
  try {
    parsed = parseArgs({
      args: [...argv],
      allowPositionals: true,
      options: { port: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
    });
  } catch (err) {
    process.stderr.write(`atrest-emulator: ${(err as Error).message}\n\n${usage()}`);
    return 2;
  }
  if (parsed.values.help) {
    process.stdout.write(usage());
    return 0;
  }
  const [name, ...extra] = parsed.positionals;
  const command = emulatorCommands.find((c) => c.name === name);
  if (!command || extra.length > 0) {
    const why =
      name === undefined
        ? 'which emulator?'
        : !command
          ? `unknown emulator "${name}"`
          : `unexpected argument "${extra[0] ?? ''}"`;
    process.stderr.write(`atrest-emulator: ${why}\n\n${usage()}`);
    return 2;
  }
  const portText = parsed.values.port ?? '0';
  const port = /^\d+$/.test(portText) ? Number(portText) : Number.NaN;
  if (!(port >= 0 && port <= 65535)) {
    process.stderr.write(`atrest-emulator: --port must be a number from 0 to 65535, not "${portText}"\n`);
    return 2;
  }
  const emulator = await command.start({ port });
  process.stdout.write(`${JSON.stringify(emulator.providerKeys)}\n`);
  const forms = Object.entries(emulator.keyIdForms ?? {});
  if (forms.length > 0) {
    const width = Math.max(...forms.map(([what]) => what.length));
    const lines = forms.map(([what, value]) => `  ${what.padEnd(width)}  ${value}`);
    process.stderr.write(`atrest-emulator: key_id may be any of:\n${lines.join('\n')}\n`);
  }
  const signal = await new Promise<NodeJS.Signals>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await emulator.close();
  process.stderr.write(`atrest-emulator: ${command.name} stopped (${signal})\n`);
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`atrest-emulator: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  },
);
