// config show against a host's INI file: foreign sections ignored, typos refused, origins shown,
// secrets never printed, columns kept with long values, variables of another app name pointed out.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { box, runAtrest, runInProcess } from './helpers.js';

t.test('host INI: foreign sections ignored, typo refused, env over INI, no secret in config show', async (t) => {
  const b = box();
  const ini = join(b.dir, 'grafana.ini');
  writeFileSync(
    ini,
    [
      'app_mode = production',
      '[paths]',
      'data = /var/lib/grafana',
      '[server]',
      'http_port = 3000',
      '[database]',
      'type = sqlite3',
      `path = ${b.db}`,
      '[security]',
      'admin_user = admin',
      'admin_password = admin-password-not-atrests',
      'cookie_secure = true',
      'secret_key = SW2YcwTIb9zpOOhoPsMm-passphrase',
      '[security.encryption]',
      'data_keys_cache_ttl = 5m',
      '[auth.anonymous]',
      'enabled = false',
      '',
    ].join('\n'),
  );
  const show = await runAtrest(['--config', ini, 'config', 'show']);
  t.equal(show.code, 0, show.stderr);
  const text = show.stdout.toString();
  t.notMatch(text, 'SW2YcwTIb9zpOOhoPsMm', 'the passphrase is not shown');
  t.notMatch(text, 'admin_password', "foreign keys are not atrest's");
  t.match(text, 'secret_key.default', 'the default provider follows from the passphrase');
  t.match(text, /data_keys_cache_ttl.*5m|data_keys_cache_ttl.*300000/);
  const json = JSON.parse((await runAtrest(['--config', ini, 'config', 'show', '--json'])).stdout.toString()) as {
    key: string;
    value: unknown;
    origin: { source: string };
  }[];
  t.notMatch(JSON.stringify(json), 'SW2YcwTIb9zpOOhoPsMm', 'nor in JSON');
  const envOver = JSON.parse(
    (
      await runAtrest(['--config', ini, 'config', 'show', '--json'], {
        env: { ATREST_SECURITY_ENCRYPTION_DATA_KEYS_CACHE_TTL: '1h' },
      })
    ).stdout.toString(),
  ) as typeof json;
  const ttl = envOver.find((e) => e.key === 'security.encryption.data_keys_cache_ttl');
  t.equal(ttl?.origin.source, 'env', 'environment beats the INI file');
  const set = await runAtrest(['--config', ini, 'secrets', 'set', 'x'], { input: 'y' });
  t.equal(set.code, 0, `works against the host file: ${set.stderr}`);
  writeFileSync(ini, readFileSync(ini, 'utf8').replace('data_keys_cache_ttl = 5m', 'data_key_cache_ttl = 5m'));
  const typo = await runAtrest(['--config', ini, 'status']);
  t.equal(typo.code, 2);
  t.match(typo.stderr, 'ATREST_CONFIG_UNKNOWN_KEY');
  t.match(typo.stderr, 'data_keys_cache_ttl', 'suggests the right key');
  t.match(typo.stderr, ini, 'names the file');
});

t.test('config show keeps its columns with long values', async (t) => {
  const b = box();
  const longPath = join(b.dir, 'a-directory-with-a-rather-long-name', 'and-another-below-it', 'appliance.key');
  const r = await runAtrest(['--db', b.db, '--key-path', longPath, 'config', 'show']);
  t.equal(r.code, 0, r.stderr);
  const lines = r.stdout.toString().trimEnd().split('\n');
  const long = lines.find((l) => l.includes(longPath)) ?? '';
  t.ok(longPath.length > 60 && long.endsWith('option'), 'the long key path is shown with its origin');
  // Every origin here is 'default' or 'option': where it starts is the origin column.
  const originColumn = lines.map((l) => l.length - (l.endsWith('option') ? 'option' : 'default').length);
  t.same(new Set(originColumn).size, 1, `one origin column for all ${lines.length} lines`);
  t.ok(
    lines.every((l) => l.endsWith('option') || l.endsWith('default')),
    'every line ends with its origin',
  );
});

t.test('with --app, ATREST_* variables that are set are said not to be read', async (t) => {
  const b = box();
  const env = {
    ATREST_ENCRYPTION_KEY_PATH: join(b.dir, 'atrest.key'),
    ATREST_DATABASE_PATH: join(b.dir, 'atrest.db'),
    MYAPP_SECURITY_ENCRYPTION_DATA_KEYS_CACHE_TTL: '5m',
  };
  const r = await runAtrest(['--app', 'myapp', '--db', b.db, 'config', 'show'], { env });
  t.equal(r.code, 0, r.stderr);
  t.match(
    r.stderr,
    'warning: the app is myapp, so only MYAPP_* variables are read; ' +
      'ATREST_DATABASE_PATH, ATREST_ENCRYPTION_KEY_PATH are set and not read.',
  );
  t.notMatch(r.stdout.toString(), 'atrest.key', 'and indeed they are not read');
  t.match(r.stdout.toString(), /data_keys_cache_ttl\s+5m\s+env MYAPP_/, "the app's own variables are");
  const json = await runAtrest(['--app', 'myapp', '--db', b.db, 'config', 'show', '--json'], { env });
  t.ok(Array.isArray(JSON.parse(json.stdout.toString())), 'with --json stdout is still only the data');
  t.match(json.stderr, 'ATREST_ENCRYPTION_KEY_PATH');
  const own = await runAtrest(['--db', b.db, 'config', 'show'], { env });
  t.equal(own.stderr, '', 'under the default app name they are read, and nothing is said');
});

t.test('a section of an uninstalled provider type: a warning unless that provider is in use', async (t) => {
  const b = box();
  const sample = '[security.encryption.vaultx.sample]\nkey_id = from-a-sample\n';
  const unused = join(b.dir, 'unused.ini');
  writeFileSync(unused, sample);
  const shown = await runInProcess([...b.args, '--config', unused, 'config', 'show']);
  t.equal(shown.code, 0, shown.stderr);
  t.match(shown.stderr, /^warning: The sections of provider type vaultx .* atrest-provider-vaultx is not installed/m);
  t.notMatch(shown.stdout.toString(), 'vaultx', 'its sections are left out');
  const set = await runInProcess([...b.args, '--config', unused, 'secrets', 'set', 'x'], { input: 'v' });
  t.equal(set.code, 0, set.stderr);
  t.equal(set.stderr.split('\n').filter((l) => l.includes('vaultx')).length, 1, 'said once, in the log');

  for (const use of ['encryption_provider', 'available_encryption_providers']) {
    const ini = join(b.dir, `${use}.ini`);
    writeFileSync(ini, `[security]\n${use} = vaultx.sample\n${sample}`);
    const r = await runInProcess([...b.args, '--config', ini, 'status']);
    t.equal(r.code, 2, use);
    t.match(
      r.stderr,
      /ATREST_PROVIDER_NOT_INSTALLED: The provider type "vaultx" needs the npm package atrest-provider-vaultx/,
    );
  }
});
