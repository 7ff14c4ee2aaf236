// Secrets out of dumps (issue 9 §7): JSON.stringify, util.inspect and console.log of the
// configuration, of the instance and of its errors show secrets redacted, while the code that
// reads them (the providers) still gets the real values.
import { join } from 'node:path';
import { format, inspect } from 'node:util';
import t from 'tap';
import type { Test } from 'tap';
import { loadAtrestConfig, openAtrest } from '@atrest/core';
import { rejection, tempDir } from '@atrest/testkit';
import { repoRoot } from './helpers.js';

const PASSPHRASE = 'passphrase-that-must-never-show-1';
const AWS_SECRET = 'aws-secret-access-key-never-shown';
const AWS_TOKEN = 'aws-session-token-never-shown';
const DB_PASSWORD = 'database-password-never-shown';
const SECRETS = [PASSPHRASE, AWS_SECRET, AWS_TOKEN, DB_PASSWORD];

const env = {
  ATREST_ENCRYPTION_SECRET_KEY: PASSPHRASE,
  ATREST_SECURITY_ENCRYPTION_AWSKMS_MAIN_KEY_ID: 'arn:aws:kms:us-east-1:111122223333:key/1234abcd',
  ATREST_SECURITY_ENCRYPTION_AWSKMS_MAIN_ACCESS_KEY_ID: 'AKIAIOSFODNN7EXAMPLE',
  ATREST_SECURITY_ENCRYPTION_AWSKMS_MAIN_SECRET_ACCESS_KEY: AWS_SECRET,
  ATREST_SECURITY_ENCRYPTION_AWSKMS_MAIN_SESSION_TOKEN: AWS_TOKEN,
};

/** Every way an application dumps an object: JSON, util.inspect (deep, hidden too), console.log's format. */
function dumps(value: unknown): Record<string, string> {
  return {
    'JSON.stringify': JSON.stringify(value) ?? '',
    'util.inspect': inspect(value, { depth: Number.POSITIVE_INFINITY }),
    'console.log': format('%o', value),
    'console.log %s': format(value),
  };
}

function assertRedacted(t: Test, what: string, value: unknown): void {
  for (const [how, text] of Object.entries(dumps(value))) {
    const shown = SECRETS.filter((s) => text.includes(s));
    t.same(shown, [], `${how} of ${what} shows no secret`);
  }
}

t.test('the configuration and the instance dump redacted; providers get the real values', async (t) => {
  const dir = tempDir('atrest-redact-');
  const config = await loadAtrestConfig({
    env: { ...env, ATREST_DATABASE_URL: `postgres://atrest:${DB_PASSWORD}@127.0.0.1:5432/app?sslmode=disable` },
    appRoot: repoRoot,
  });
  assertRedacted(t, 'the configuration', config);
  t.match(inspect(config, { depth: 10 }), '<redacted>', 'a secret that is set shows as <redacted>');
  t.match(JSON.stringify(config.database), 'postgres://atrest:***@127.0.0.1:5432/app', 'the URL, password redacted');
  t.equal(config.database.url?.includes(DB_PASSWORD), true, 'the real URL is still there for the store');
  t.equal(config.providers.get('awskms.main')?.values['secret_access_key'], AWS_SECRET, 'and the real values');

  const atrest = await openAtrest({ env: { ...env, ATREST_DATABASE_PATH: join(dir, 'app.db') }, appRoot: repoRoot });
  t.teardown(() => atrest.close());
  await atrest.secrets.set('smtp', 'value');
  assertRedacted(t, 'the instance', atrest);
  assertRedacted(t, "the instance's configuration", atrest.config);
  t.equal((await atrest.secrets.get('smtp'))?.toString(), 'value', 'the passphrase still works');
  const err = await rejection(atrest.decrypt(Buffer.from('atrest:v1:AAAA')));
  assertRedacted(t, 'an error', err);
});

t.test('an error about a secret value does not show it', async (t) => {
  const dir = tempDir('atrest-redact-');
  const short = 'short-pw';
  const err = await rejection(
    openAtrest({
      env: { ATREST_ENCRYPTION_SECRET_KEY: short, ATREST_DATABASE_PATH: join(dir, 'a.db') },
      appRoot: repoRoot,
    }),
  );
  t.match(err, { code: 'ATREST_CONFIG_INVALID' });
  for (const [how, text] of Object.entries(dumps(err))) t.notOk(text.includes(short), `${how} of the error`);
});
