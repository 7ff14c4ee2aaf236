// Run in a child process by lazy-import.test.ts: which modules load when the package index is
// imported, when a provider is created, and (with `use`) when it is first used.
import { register } from 'node:module';
import { setTimeout as sleep } from 'node:timers/promises';
import { MessageChannel } from 'node:worker_threads';

const { port1, port2 } = new MessageChannel();
const resolved: string[] = [];
port1.on('message', (url: string) => resolved.push(url));
register(new URL('./resolve-recorder-hooks.js', import.meta.url), { data: { port: port2 }, transferList: [port2] });

/** Wait until the hooks thread has reported everything (no message for 100 ms). */
async function settled(): Promise<string[]> {
  let seen = -1;
  while (seen !== resolved.length) {
    seen = resolved.length;
    await sleep(100);
  }
  return [...resolved];
}

const index = await import('../../src/index.js');
const afterImport = await settled();
const logger = { debug() {}, info() {}, warn() {}, error() {} };
const provider = await index.createAzureKeyVaultProvider({
  id: 'azurekv.probe',
  type: 'azurekv',
  name: 'probe',
  app: 'atrest',
  appRoot: process.cwd(),
  firstUse: false,
  logger,
  config: {
    vault_uri: 'https://127.0.0.1:9',
    key_id: 'probe',
    tenant_id: 't',
    client_id: 'c',
    client_secret: 's',
    max_attempts: 1,
    request_timeout: '500ms',
  },
});
const afterCreate = await settled();
let afterUse: string[] = [];
if (process.argv[2] === 'use') {
  await provider.health?.().catch(() => undefined);
  afterUse = await settled();
}
await provider.close?.();
port1.close();
process.stdout.write(`${JSON.stringify({ afterImport, afterCreate, afterUse })}\n`);
