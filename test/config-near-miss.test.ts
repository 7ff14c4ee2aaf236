// A near miss of one of atrest's own keys is an error with a "did you mean" (issue 9 §1): in the
// [security] section atrest shares with the host (Grafana's INI), in <APP>_SECURITY_… variables,
// and a provider type one slip from a built-in one (never "install atrest-provider-awskm"). The
// host's own keys in [security] stay allowed, and the typo leaves no key file behind.
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { isAtrestError, loadAtrestConfig } from '@atrest/core';
import { tempDir } from '@atrest/testkit';
import { repoRoot, runAtrest } from './helpers.js';

const dir = tempDir('atrest-near-miss-');
const ini = (name: string, text: string): string => {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
};
const GRAFANA_SECURITY = [
  '[security]',
  'disable_initial_admin_creation = false',
  'admin_user = admin',
  'admin_password = admin',
  'admin_email = admin@localhost',
  'secret_key = SW2YcwTIb9zpOOhoPsMm-correct',
  'disable_gravatar = false',
  'cookie_secure = false',
  'cookie_samesite = lax',
  'allow_embedding = false',
  'strict_transport_security = false',
  'x_content_type_options = true',
  'x_xss_protection = true',
  'content_security_policy = false',
  'login_cookie_name = grafana_session',
  'csrf_trusted_origins =',
  '',
].join('\n');

async function refusal(options: Parameters<typeof loadAtrestConfig>[0]): Promise<unknown> {
  return loadAtrestConfig({ appRoot: repoRoot, ...options }).then(
    () => undefined,
    (e: unknown) => e,
  );
}

t.test('encrpytion_provider in [security] is refused with a did-you-mean; the host keys stay allowed', async (t) => {
  const ok = await refusal({ configFile: ini('grafana.ini', GRAFANA_SECURITY) });
  t.equal(ok, undefined, "Grafana's own [security] keys are the host's: accepted");
  for (const typo of ['encrpytion_provider', 'encryption_providr', 'available_encryption_provider', 'secret_kye']) {
    const e = await refusal({ configFile: ini('typo.ini', `${GRAFANA_SECURITY}${typo} = secret_key.default\n`) });
    t.ok(isAtrestError(e, 'ATREST_CONFIG_UNKNOWN_KEY'), `${typo}: ATREST_CONFIG_UNKNOWN_KEY`);
    t.match(
      (e as Error).message,
      /did you mean "(encryption_provider|available_encryption_providers|secret_key)"\?/,
      typo,
    );
  }
  const env = await refusal({ env: { ATREST_SECURITY_ENCRPYTION_PROVIDER: 'file.default' } });
  t.ok(isAtrestError(env, 'ATREST_CONFIG_UNKNOWN_KEY'), 'the variable with the same slip too');
  t.match((env as Error).message, /did you mean ATREST_SECURITY_ENCRYPTION_PROVIDER\?/);
  t.equal(await refusal({ env: { ATREST_SECURITY_ADMIN_USER: 'admin' } }), undefined, 'a host variable is not');
});

t.test('the CLI stops on the typo before any key file or database is made', async (t) => {
  const key = join(dir, 'k.key');
  const db = join(dir, 'app.db');
  const config = ini('cli.ini', '[security]\nencrpytion_provider = secret_key.default\n');
  const r = await runAtrest(['--config', config, '--db', db, 'init'], { env: { ATREST_ENCRYPTION_KEY_PATH: key } });
  t.equal(r.code, 2, 'exit 2');
  t.match(r.stderr, /^error ATREST_CONFIG_UNKNOWN_KEY: .*did you mean "encryption_provider"\?/m);
  t.notOk(existsSync(key), 'no key file');
  t.notOk(existsSync(db), 'no database');
});

t.test('a provider type one slip from a built-in suggests it and names no package to install', async (t) => {
  for (const [typo, meant] of [
    ['awskm', 'awskms'],
    ['azurek', 'azurekv'],
    ['secretkey', 'secret_key'],
    ['googlekm', 'googlekms'],
  ] as const) {
    const e = await refusal({
      configFile: ini(
        'p.ini',
        `[security]\nencryption_provider = ${typo}.main\n[security.encryption.${typo}.main]\nkey_id = x\n`,
      ),
    });
    t.ok(isAtrestError(e, 'ATREST_CONFIG_INVALID'), `${typo}: refused`);
    t.match((e as Error).message, `did you mean the built-in type "${meant}"?`, `${typo}: suggests ${meant}`);
    t.notMatch((e as Error).message, /pnpm add|npm install|atrest-provider-/, `${typo}: no package to install`);
  }
});
