// What a KMS or vault sees: decrypting N values under K data keys costs K unwrap calls (one per data
// key, in a fresh process that has nothing cached), and N concurrent decrypts of values under one
// uncached data key cost one call (single flight), counted by the emulators on the wire.
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import t from 'tap';
import { dearmor, openAtrest, readDataKeyId } from '@atrest/core';
import { startAwsKmsEmulator, startAzureKeyVaultEmulator, tempDir, writeIn } from '@atrest/testkit';
import { cloudEnv, repoRoot, runNodeModule } from './helpers.js';

Object.assign(process.env, cloudEnv);
const kms = await startAwsKmsEmulator();
t.teardown(() => kms.close());
const vault = await startAzureKeyVaultEmulator();
t.teardown(() => vault.close());

const SCOPES = ['s0', 's1', 's2', 's3'];
const PER_SCOPE = 50;
const SECRETS = 50;
/** Data keys: one per scope, and one for atrest's secrets table. */
const K = SCOPES.length + 1;
const N = SCOPES.length * PER_SCOPE + SECRETS;

type Sealed = { c: string; p: string; context: string; scope: string };

/** Values under K data keys, written by the application; returns them with their plaintext. */
async function seed(ini: string, db: string): Promise<Sealed[]> {
  const atrest = await openAtrest({ configFile: ini, database: db, appRoot: repoRoot, env: {} });
  const sealed: Sealed[] = [];
  for (const scope of SCOPES) {
    for (let i = 0; i < PER_SCOPE; i++) {
      const p = `${scope} value ${i}`;
      const context = `app.values:${scope}:${i}`;
      sealed.push({ c: await atrest.encryptText(p, { context, scope }), p, context, scope });
    }
  }
  // Later than the scopes' data keys: the start-up canary unwraps this one (the newest).
  await new Promise((r) => setTimeout(r, 20));
  for (let i = 0; i < SECRETS; i++) await atrest.secrets.set(`secret-${i}`, `secret value ${i}`);
  await atrest.close();
  return sealed;
}

/** A fresh Node process that opens atrest and reads every value (sequentially), printing how many matched. */
function freshProcessReadsAll(dir: string, ini: string, db: string, valuesFile: string) {
  const core = pathToFileURL(join(repoRoot, 'packages', 'core', 'dist', 'src', 'index.js')).href;
  return runNodeModule(
    dir,
    `import { readFileSync } from 'node:fs';
const { openAtrest } = await import(${JSON.stringify(core)});
const values = JSON.parse(readFileSync(${JSON.stringify(valuesFile)}, 'utf8'));
const a = await openAtrest({
  configFile: ${JSON.stringify(ini)},
  database: ${JSON.stringify(db)},
  appRoot: ${JSON.stringify(repoRoot)},
  env: {},
});
let ok = 0;
for (const v of values) if ((await a.decryptText(v.c, { context: v.context })) === v.p) ok++;
for (let i = 0; i < ${SECRETS}; i++) if ((await a.secrets.getText('secret-' + i)) === 'secret value ' + i) ok++;
await a.close();
console.log(JSON.stringify({ ok }));`,
  );
}

const providers = [
  {
    name: 'AWS KMS',
    section: `[security]\nencryption_provider = awskms.main\n[security.encryption.awskms.main]\n${Object.entries(
      kms.providerKeys,
    )
      .map(([k, v]) => `${k} = ${v}`)
      .join('\n')}\n`,
    reset: () => kms.resetCalls(),
    unwraps: () => kms.calls.Decrypt,
    wraps: () => kms.calls.Encrypt,
  },
  {
    name: 'Azure Key Vault',
    section: `[security]\nencryption_provider = azurekv.main\n[security.encryption.azurekv.main]\n${Object.entries(
      vault.providerKeys,
    )
      .map(([k, v]) => `${k} = ${v}`)
      .join('\n')}\n`,
    reset: () => vault.resetCalls(),
    unwraps: () => vault.calls.unwrapKey,
    wraps: () => vault.calls.wrapKey,
  },
] as const;

for (const provider of providers) {
  t.test(`${provider.name}: N values under K data keys`, async (t) => {
    const dir = tempDir('atrest-cloud-calls-');
    const ini = writeIn(dir, 'app.ini', provider.section);
    const db = join(dir, 'app.db');
    const sealed = await seed(ini, db);
    const valuesFile = writeIn(dir, 'values.json', JSON.stringify(sealed));

    provider.reset();
    const run = await freshProcessReadsAll(dir, ini, db, valuesFile);
    t.equal(run.code, 0, `the child process ran (${run.stderr.trim()})`);
    t.same(JSON.parse(run.stdout.toString('utf8')), { ok: N }, `all ${N} values decrypted in a fresh process`);
    t.equal(provider.unwraps(), K, `${N} decrypts under ${K} data keys: ${K} unwrap calls (got ${provider.unwraps()})`);
    t.equal(provider.wraps(), 0, 'and no wrap call');

    // One process, nothing cached but the canary's key: every value at once.
    provider.reset();
    const all = await openAtrest({ configFile: ini, database: db, appRoot: repoRoot, env: {} });
    const results = await Promise.all(sealed.map((v) => all.decryptText(v.c, { context: v.context })));
    t.ok(
      results.every((r, i) => r === sealed[i]?.p),
      `${sealed.length} concurrent decrypts`,
    );
    t.equal(
      provider.unwraps(),
      K,
      `${K} unwrap calls for ${sealed.length} concurrent decrypts under ${K - 1} data keys plus the canary's`,
    );
    await all.close();

    // N concurrent decrypts of values under one data key that is not cached: one call.
    provider.reset();
    const fresh = await openAtrest({ configFile: ini, database: db, appRoot: repoRoot, env: {} });
    const s0 = sealed.filter((v) => v.scope === 's0');
    const id = readDataKeyId(dearmor(s0[0]?.c ?? ''));
    t.ok(
      s0.every((v) => readDataKeyId(dearmor(v.c)) === id),
      `the ${s0.length} values share one data key`,
    );
    t.equal(
      provider.unwraps(),
      1,
      "which the fresh instance has not cached: opening it unwrapped only the canary's data key (the newest)",
    );
    provider.reset();
    const got = await Promise.all(s0.map((v) => fresh.decryptText(v.c, { context: v.context })));
    t.same(
      got,
      s0.map((v) => v.p),
      `${s0.length} concurrent decrypts`,
    );
    t.equal(
      provider.unwraps(),
      1,
      `one unwrap call for ${s0.length} concurrent decrypts under one uncached data key (got ${provider.unwraps()})`,
    );
    await Promise.all(s0.map((v) => fresh.decryptText(v.c, { context: v.context })));
    t.equal(provider.unwraps(), 1, 'and none once it is cached');
    await fresh.close();
  });
}
