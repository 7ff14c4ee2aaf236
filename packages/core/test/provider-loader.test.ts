// The loader: package names (built-in table, atrest-provider-<type>, `module`, never a path), the
// shape and apiVersion checks with what was expected and found, packages resolved from the
// application's directory only, loaded once; and openProvider, which makes a provider as core does.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { tempDir } from '@atrest/testkit';
import { openProvider, silentLogger } from '../src/index.js';
import { ProviderLoader, providerPackageName, validateDefinition } from '../src/providers/loader.js';

/** An application directory with `name` installed, its index.js being `source`. */
function appWith(name: string, source: string): string {
  const app = tempDir('atrest-loader-');
  const dir = join(app, 'node_modules', name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(
    join(dir, 'package.json'),
    JSON.stringify({ name, version: '1.0.0', type: 'module', main: 'index.js' }),
  );
  writeFileSync(join(dir, 'index.js'), source);
  return app;
}

const definition = (apiVersion: number, type = 'demo'): string =>
  `export const providers = [{ apiVersion: ${apiVersion}, type: '${type}', description: 'd', configSchema: {}, ` +
  'async create() { return {}; } }];\n';

t.test('package names', async (t) => {
  t.equal(providerPackageName('file'), '@atrest/provider-file', 'built-in types from the table');
  t.equal(providerPackageName('secret_key'), '@atrest/provider-file');
  t.equal(providerPackageName('awskms'), '@atrest/provider-awskms');
  t.equal(providerPackageName('hsm'), 'atrest-provider-hsm', 'any other type by convention');
  t.equal(providerPackageName('hsm', '@acme/atrest-hsm'), '@acme/atrest-hsm', 'or the section module');
  for (const module of ['./x', '../x.js', '/abs/x.js', 'https://example.com/x.js', 'file:///x.js', 'Bad Name']) {
    t.throws(() => providerPackageName('hsm', module), { code: 'ATREST_PROVIDER_NAME_INVALID' }, module);
  }
});

t.test('shape checks say what was expected and what was found', async (t) => {
  t.throws(
    () => validateDefinition({ leftPad: () => '' }, 'demo', 'pkg'),
    { code: 'ATREST_PROVIDER_INVALID', message: /expected a named export "providers"[\s\S]*leftPad \(function\)/ },
    'no providers export',
  );
  const good = { apiVersion: 1, type: 'other', description: 'd', configSchema: {}, create: async () => ({}) };
  t.throws(
    () => validateDefinition({ providers: [good] }, 'demo', 'pkg'),
    { code: 'ATREST_PROVIDER_INVALID', message: /provides the types \[other\], not "demo"/ },
    'another type',
  );
  t.throws(
    () => validateDefinition({ providers: [{ ...good, type: 'demo', apiVersion: 2 }] }, 'demo', 'pkg'),
    { code: 'ATREST_PROVIDER_API_VERSION', details: { found: '2', expected: 1 } },
    'another apiVersion',
  );
  t.throws(
    () => validateDefinition({ providers: [{ ...good, type: 'demo', create: 'no' }] }, 'demo', 'pkg'),
    { code: 'ATREST_PROVIDER_INVALID', message: /create is string, expected a function/ },
    'malformed',
  );
  t.equal(validateDefinition({ providers: [{ ...good, type: 'demo' }] }, 'demo', 'pkg').type, 'demo', 'accepted');
});

t.test('a package declaring another apiVersion is refused when loaded', async (t) => {
  const app = appWith('atrest-provider-demo', definition(2));
  const err = await new ProviderLoader(app).definition('demo').catch((e: unknown) => e);
  t.match(err, { code: 'ATREST_PROVIDER_API_VERSION', message: /version 2; this atrest speaks version 1/ });
});

t.test('packages resolve from the application directory, once', async (t) => {
  const app = appWith('atrest-provider-demo', definition(1));
  const loader = new ProviderLoader(app);
  const first = loader.definition('demo');
  t.equal(loader.definition('demo'), first, 'one load per type');
  t.equal((await first).type, 'demo');
  const elsewhere = tempDir('atrest-loader-empty-');
  const missing = await new ProviderLoader(elsewhere).definition('demo').catch((e: unknown) => e);
  t.match(missing, { code: 'ATREST_PROVIDER_NOT_INSTALLED', message: /pnpm add atrest-provider-demo/ });
  const broken = appWith('atrest-provider-broken', 'throw new Error("cannot start");\n');
  const failed = await new ProviderLoader(broken).definition('broken').catch((e: unknown) => e);
  t.match(failed, { code: 'ATREST_PROVIDER_INVALID', message: /failed to load: cannot start/ });
});

t.test('openProvider checks the definition and the section, then guards the instance', async (t) => {
  const options = {
    id: 'demo.main',
    type: 'demo',
    name: 'main',
    app: 'atrest',
    appRoot: process.cwd(),
    firstUse: true,
    logger: silentLogger,
  };
  let given: Readonly<Record<string, unknown>> = {};
  const demo = {
    apiVersion: 1,
    type: 'demo',
    description: 'd',
    configSchema: { size: { doc: 'a size', format: 'nat', default: 3 } },
    async create({ config }: { config: Readonly<Record<string, unknown>> }) {
      given = config;
      return {
        wrapKey: async () => ({ ciphertext: new Uint8Array(1), keyRef: 'r' }),
        unwrapKey: async () => new Uint8Array(1),
      };
    },
  };
  const p = await openProvider(demo, { ...options, config: {} });
  t.same(given, { size: 3 }, 'unset keys get the schema default');
  t.match(await p.unwrapKey({ ciphertext: new Uint8Array(1), keyRef: 'r' }, {}).catch((e: unknown) => e), {
    code: 'ATREST_PROVIDER_CONTRACT',
  });
  t.match(await openProvider(demo, { ...options, config: { sise: 1 } }).catch((e: unknown) => e), {
    code: 'ATREST_CONFIG_UNKNOWN_KEY',
    message: /unknown key\(s\) sise/,
  });
  t.match(await openProvider({ ...demo, apiVersion: 7 }, { ...options, config: {} }).catch((e: unknown) => e), {
    code: 'ATREST_PROVIDER_API_VERSION',
  });
});
