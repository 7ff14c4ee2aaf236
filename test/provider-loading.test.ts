// Provider loading as an application sees it: a third-party provider package installed with npm
// into a temporary application directory and loaded by name from an INI file, and the failures.
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import t from 'tap';
import { openAtrest } from '@atrest/core';
import { runProviderConformance, tempDir } from '@atrest/testkit';
import { repoRoot, runAtrest } from './helpers.js';

const fixtures = join(repoRoot, 'test', 'fixtures');
const app = tempDir('atrest-thirdparty-');
writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'host-app', version: '1.0.0', private: true }));

function npmInstall(fixture: string): void {
  const packDir = tempDir('atrest-pack-');
  const tgz =
    execFileSync('npm', ['pack', '--silent', '--pack-destination', packDir, join(fixtures, fixture)], {
      encoding: 'utf8',
    })
      .trim()
      .split('\n')
      .pop() ?? '';
  execFileSync(
    'npm',
    ['install', '--silent', '--no-audit', '--no-fund', '--offline', '--prefix', app, join(packDir, tgz)],
    { stdio: 'ignore' },
  );
}

npmInstall('atrest-provider-envkey');
npmInstall('not-a-provider');
npmInstall('atrest-provider-oldapi');

const KEY = 'a'.repeat(64);
function ini(body: string): string {
  const file = join(tempDir('atrest-ini-'), 'host.ini');
  writeFileSync(file, body);
  return file;
}
const db = () => join(tempDir('atrest-db-'), 'app.db');

t.test('a third-party provider installed with npm loads by name from the INI file', async (t) => {
  const configFile = ini(
    `[server]\nhttp_port = 3000\n\n[security]\nadmin_user = admin\nencryption_provider = ` +
      `envkey.main\n\n[security.encryption.envkey.main]\nkey_hex = ${KEY}\n`,
  );
  const database = db();
  const a = await openAtrest({ configFile, database, appRoot: app, env: {} });
  await a.secrets.set('token', 'third-party wrapped');
  const s = await a.status();
  t.equal(s.currentProvider, 'envkey.main');
  t.equal(s.dataKeys.byProvider['envkey.main']?.total, 1, 'the data key is wrapped by the third-party provider');
  await a.close();
  const b = await openAtrest({ configFile, database, appRoot: app, env: {} });
  t.equal(await b.secrets.getText('token'), 'third-party wrapped', 'reopened, it decrypts');
  await b.close();
  const wrong = ini(
    `[security]\nencryption_provider = envkey.main\n\n[security.encryption.envkey.main]\nkey_hex = ${'b'.repeat(64)}\n`,
  );
  await t.rejects(
    openAtrest({ configFile: wrong, database, appRoot: app, env: {} }),
    { code: 'ATREST_WRONG_KEY' },
    'another key is refused at open',
  );
});

t.test('the section module key names the package', async (t) => {
  const configFile = ini(
    `[security]\nencryption_provider = vendor.main\n\n[security.encryption.vendor.main]\nmodule = ` +
      `atrest-provider-notone\n`,
  );
  const err = await openAtrest({ configFile, database: db(), appRoot: app, env: {} }).catch((e: unknown) => e);
  t.match(err, { code: 'ATREST_PROVIDER_INVALID' });
  t.match((err as Error).message, /expected a named export "providers"/, 'says what was expected');
  t.match((err as Error).message, /leftPad \(function\)/, 'and what was found');
});

t.test('package not installed: the message gives the install command', async (t) => {
  const configFile = ini(`[security]\nencryption_provider = hsm.main\n`);
  const err = await openAtrest({ configFile, database: db(), appRoot: app, env: {} }).catch((e: unknown) => e);
  t.match(err, { code: 'ATREST_PROVIDER_NOT_INSTALLED' });
  t.match((err as Error).message, 'pnpm add atrest-provider-hsm');
});

t.test('wrong apiVersion', async (t) => {
  const configFile = ini(`[security]\nencryption_provider = oldapi.main\n`);
  const err = await openAtrest({ configFile, database: db(), appRoot: app, env: {} }).catch((e: unknown) => e);
  t.match(err, { code: 'ATREST_PROVIDER_API_VERSION' });
  t.match((err as Error).message, /version 99/);
});

t.test('paths and URLs are never loaded as modules', async (t) => {
  const evil = join(app, 'evil.js');
  writeFileSync(evil, 'throw new Error("must never run")');
  for (const module of [
    evil,
    '../evil.js',
    './evil',
    'https://example.com/x.js',
    'file:///tmp/x.js',
    'data:text/javascript,1',
  ]) {
    const configFile = ini(
      `[security]\nencryption_provider = vendor.main\n\n[security.encryption.vendor.main]\nmodule = ${module}\n`,
    );
    await t.rejects(
      openAtrest({ configFile, database: db(), appRoot: app, env: {} }),
      { code: 'ATREST_PROVIDER_NAME_INVALID' },
      module,
    );
  }
});

t.test('bad section config: an unknown key with a suggestion, a bad value', async (t) => {
  const typo = ini(
    `[security]\nencryption_provider = envkey.main\n\n[security.encryption.envkey.main]\nkey_hx = ${KEY}\n`,
  );
  const err = await openAtrest({ configFile: typo, database: db(), appRoot: app, env: {} }).catch((e: unknown) => e);
  t.match(err, { code: 'ATREST_CONFIG_UNKNOWN_KEY' });
  t.match((err as Error).message, /key_hex/, 'suggests key_hex');
  const short = ini(
    `[security]\nencryption_provider = envkey.main\n\n[security.encryption.envkey.main]\nkey_hex = abcd\n`,
  );
  await t.rejects(openAtrest({ configFile: short, database: db(), appRoot: app, env: {} }), {
    code: 'ATREST_CONFIG_INVALID',
  });
});

t.test('a provider section entirely from the environment', async (t) => {
  const a = await openAtrest({
    database: db(),
    appRoot: app,
    env: {
      ATREST_SECURITY_ENCRYPTION_PROVIDER: 'envkey.from-env',
      ATREST_SECURITY_ENCRYPTION_ENVKEY_FROM_ENV_KEY_HEX: KEY,
    },
  });
  await a.secrets.set('x', 'y');
  t.equal((await a.status()).currentProvider, 'envkey.from-env');
  t.equal(await a.secrets.getText('x'), 'y');
  await a.close();
});

t.test('third-party packages resolve from the application directory only', async (t) => {
  const empty = tempDir('atrest-emptyapp-');
  mkdirSync(join(empty, 'node_modules'));
  const configFile = ini(
    `[security]\nencryption_provider = envkey.main\n\n[security.encryption.envkey.main]\nkey_hex = ${KEY}\n`,
  );
  await t.rejects(
    openAtrest({ configFile, database: db(), appRoot: empty, env: {} }),
    { code: 'ATREST_PROVIDER_NOT_INSTALLED' },
    'resolved from the app directory only',
  );
});

t.test('the atrest CLI run in any directory finds the built-in providers it depends on', async (t) => {
  const elsewhere = tempDir('atrest-cwd-');
  const init = await runAtrest(['--db', join(elsewhere, 'app.db'), '--key-path', join(elsewhere, 'k.key'), 'init'], {
    cwd: elsewhere,
  });
  t.equal(init.code, 0, `init succeeds with no node_modules in the directory: ${init.stderr}`);
  const configFile = ini(
    `[security]\nencryption_provider = envkey.main\n\n[security.encryption.envkey.main]\nkey_hex = ${KEY}\n`,
  );
  const thirdParty = await runAtrest(['--config', configFile, '--db', join(elsewhere, 'app.db'), 'status'], {
    cwd: elsewhere,
  });
  t.equal(thirdParty.code, 2, 'a third-party type is not looked up beside the CLI');
  t.match(thirdParty.stderr, /ATREST_PROVIDER_NOT_INSTALLED[\s\S]*atrest-provider-envkey/, 'it names the package');
});

t.test('the third-party fixture provider passes the conformance suite', async (t) => {
  const entry = pathToFileURL(join(fixtures, 'atrest-provider-envkey', 'index.js')).href;
  const { providers } = (await import(entry)) as { providers: unknown[] };
  await runProviderConformance(t, {
    definition: providers[0],
    type: 'envkey',
    config: { key_hex: KEY },
    otherConfig: { key_hex: 'b'.repeat(64) },
  });
});
