// An application on one cloud provider never loads the other cloud's SDK: a child process whose
// module loader refuses the other SDK's packages (and records every specifier) opens atrest with the
// other provider's section present but unused, stores, reads and reports against the emulator.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import t from 'tap';
import { startAwsKmsEmulator, startAzureKeyVaultEmulator, tempDir, writeIn } from '@atrest/testkit';
import { repoRoot, runNodeModule } from './helpers.js';

const kms = await startAwsKmsEmulator();
t.teardown(() => kms.close());
const vault = await startAzureKeyVaultEmulator();
t.teardown(() => vault.close());

const awsSection = `[security.encryption.awskms.main]\n${Object.entries(kms.providerKeys)
  .map(([k, v]) => `${k} = ${v}`)
  .join('\n')}\n`;
const azureSection = `[security.encryption.azurekv.main]\n${Object.entries(vault.providerKeys)
  .map(([k, v]) => `${k} = ${v}`)
  .join('\n')}\n`;
const AWS = /^@aws-sdk\/|^@smithy\/|^@aws-crypto\//;
const AZURE = /^@azure\/|^@azure-rest\//;

const cases = [
  {
    current: 'awskms.main',
    uses: AWS,
    refused: AZURE,
    refusedDir: /[\\/]node_modules[\\/]@azure[\\/]/,
    usedDir: /[\\/]node_modules[\\/](@aws-sdk|@smithy)[\\/]/,
    sdk: '@aws-sdk/client-kms',
    unusedPackage: 'provider-azurekv',
  },
  {
    current: 'azurekv.main',
    uses: AZURE,
    refused: AWS,
    refusedDir: /[\\/]node_modules[\\/](@aws-sdk|@smithy)[\\/]/,
    usedDir: /[\\/]node_modules[\\/]@azure[\\/]/,
    sdk: '@azure/keyvault-keys',
    unusedPackage: 'provider-awskms',
  },
] as const;

for (const c of cases) {
  t.test(`${c.current} current: the other cloud's SDK is never loaded`, async (t) => {
    const dir = tempDir('atrest-cloud-sdk-');
    const log = join(dir, 'resolved.log');
    const hooks = writeIn(
      dir,
      'hooks.mjs',
      `import { appendFileSync } from 'node:fs';
export async function resolve(specifier, context, next) {
  appendFileSync(${JSON.stringify(log)}, specifier + '\\n');
  if (${c.refused.toString()}.test(specifier)) throw new Error('refused by test: ' + specifier);
  return next(specifier, context);
}`,
    );
    const ini = writeIn(
      dir,
      'app.ini',
      `[security]\nadmin_user = admin\nencryption_provider = ${c.current}\n\n${awsSection}\n${azureSection}`,
    );
    const core = pathToFileURL(join(repoRoot, 'packages', 'core', 'dist', 'src', 'index.js')).href;
    const run = await runNodeModule(
      dir,
      `import { register, createRequire } from 'node:module';
register(${JSON.stringify(pathToFileURL(hooks).href)});
const { openAtrest } = await import(${JSON.stringify(core)});
const options = {
  configFile: ${JSON.stringify(ini)},
  database: ${JSON.stringify(join(dir, 'a.db'))},
  env: {},
  appRoot: ${JSON.stringify(repoRoot)},
};
const a = await openAtrest(options);
await a.secrets.set('db-password', 'value-1');
const reopened = await openAtrest(options);
const v = await reopened.secrets.getText('db-password');
const s = await reopened.status();
await a.close();
await reopened.close();
const cjs = Object.keys(createRequire(import.meta.url).cache);
const providers = s.providers.map((p) => [p.id, p.healthy]);
console.log(JSON.stringify({ v, current: s.currentProvider, providers, dataKeys: s.dataKeys.byProvider, cjs }));`,
    );
    t.equal(run.code, 0, `the child ran with the other SDK refused (${run.stderr.trim()})`);
    const out = JSON.parse(run.stdout.toString('utf8')) as {
      v: string;
      current: string;
      providers: [string, boolean][];
      dataKeys: Record<string, unknown>;
      cjs: string[];
    };
    t.equal(out.v, 'value-1', 'a secret stored and read back (in a second instance: unwrapped by the service)');
    t.same(out.providers, [[c.current, true]], 'only the current provider is open, and healthy');
    t.same(Object.keys(out.dataKeys), [c.current], 'its data key');
    const resolved = readFileSync(log, 'utf8').split('\n');
    t.ok(resolved.includes(c.sdk), `${c.sdk} was loaded (the check sees SDK imports)`);
    t.ok(
      resolved.some((s) => s.includes(c.unusedPackage)),
      `the unused section was validated (${c.unusedPackage}'s index loaded)`,
    );
    t.same(
      resolved.filter((s) => c.refused.test(s)),
      [],
      'no module of the other SDK was even asked for',
    );
    t.same(
      out.cjs.filter((f) => c.refusedDir.test(f)),
      [],
      'nor loaded through require()',
    );
    t.ok(
      out.cjs.some((f) => c.usedDir.test(f)),
      `the SDK in use shows in require's cache (${out.cjs.filter((f) => c.usedDir.test(f)).length} ` +
        `files): the check above can see one`,
    );
    t.ok(
      resolved.some((s) => c.uses.test(s)),
      'and in the import log',
    );
  });
}
