// The googlekms provider under Google's own libraries against the Cloud KMS emulator: one access
// token from the key file's token_uri for many calls, key versions, CRC32C both ways (a damaged or
// unverified answer is refused and retried), each failure as its own typed error (wrong service
// account key, denied key, missing key, untrusted certificate), retries counted.
import { generateKeyPairSync } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { recordingLogger, rejection, startGoogleKmsEmulator } from '@atrest/testkit';
import { crc32c } from '../src/crc32c.js';
import { context, createProvider, dataKey } from './helpers.js';

const emu = await startGoogleKmsEmulator();
t.teardown(() => emu.close());

t.test('CRC32C: the check value of the Castagnoli polynomial', async (t) => {
  t.equal(crc32c(Buffer.from('123456789')), 0xe3069283);
  t.equal(crc32c(new Uint8Array(32)), 0x8a9136aa, '32 zero bytes (RFC 3720)');
});

t.test('one token for many calls; versions; the key version is the keyRef', async (t) => {
  emu.resetCalls();
  const p = await createProvider(emu);
  t.teardown(() => p.close?.());
  const first = await p.wrapKey(dataKey(), context);
  t.equal(first.keyRef, `${emu.key_id}/cryptoKeyVersions/1`);
  const second = emu.rotateKey();
  const wrapped = await p.wrapKey(dataKey(), context);
  t.equal(wrapped.keyRef, second, 'the new primary wraps');
  for (const w of [first, wrapped]) t.same(Buffer.from(await p.unwrapKey(w, context)), Buffer.from(dataKey()));
  t.same(emu.calls, { token: 1, encrypt: 2, decrypt: 2 }, 'one token from token_uri, one call per operation');
  t.match(p.describe?.(), { key_id: emu.key_id, credentials: emu.serviceAccount, key_version: second });
  const mismatch = await rejection(p.unwrapKey(first, { ...context, label: 'secrets/2026-01-02' }));
  t.match(mismatch, { code: 'ATREST_WRONG_KEY', message: /its context differs/ }, 'the context is bound as AAD');
});

t.test('a damaged or unverified answer is refused, and retried', async (t) => {
  const logger = recordingLogger();
  const p = await createProvider(emu, { max_attempts: 2 }, logger);
  t.teardown(() => p.close?.());
  const wrapped = await p.wrapKey(dataKey(), context);
  emu.resetCalls();
  emu.tamperResponses('data');
  t.same(Buffer.from(await p.unwrapKey(wrapped, context)), Buffer.from(dataKey()), 'the second answer is good');
  t.equal(emu.calls.decrypt, 2, 'the damaged plaintext was refused, the call made again');
  emu.tamperResponses('data', 2);
  const damaged = await rejection(p.wrapKey(dataKey(), context));
  t.match(damaged, { code: 'ATREST_PROVIDER_UNAVAILABLE', message: /ciphertext Cloud KMS returned.*CRC32C/ });
  emu.tamperResponses('unverified', 2);
  const unverified = await rejection(p.wrapKey(dataKey(), context));
  t.match(unverified, { code: 'ATREST_PROVIDER_UNAVAILABLE', message: /did not verify the request/ });
  t.equal(logger.warnings.length, 3, 'each refusal but the last of a call logged as a retry');
});

t.test('wrong service account key, denied key, missing key', async (t) => {
  const dir = (await import('node:os')).tmpdir();
  const good = JSON.parse(readFileSync(emu.credentials_file, 'utf8')) as Record<string, string>;
  const other = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
  const wrongFile = join(dir, `atrest-wrong-sa-${process.pid}.json`);
  writeFileSync(wrongFile, JSON.stringify({ ...good, private_key: other.export({ format: 'pem', type: 'pkcs8' }) }));
  t.teardown(() => import('node:fs').then((fs) => fs.rmSync(wrongFile, { force: true })));
  const wrong = await rejection(
    (await createProvider(emu, { credentials_file: wrongFile })).wrapKey(dataKey(), context),
  );
  t.match(wrong, {
    code: 'ATREST_PROVIDER_AUTH',
    message: /token endpoint .* refused service account .*Invalid JWT Signature/,
  });
  t.notMatch(String((wrong as Error).message), 'BEGIN PRIVATE KEY', 'no key material in the message');

  const stranger = emu.createServiceAccountKey('stranger@atrest-test.iam.gserviceaccount.com');
  const denied = await rejection(
    (await createProvider(emu, { credentials_file: stranger.file })).wrapKey(dataKey(), context),
  );
  t.match(denied, { code: 'ATREST_PROVIDER_AUTH', message: /may not encrypt .*Encrypter\/Decrypter/s });

  const absent = `${emu.keyRingName}/cryptoKeys/absent`;
  emu.grant(emu.serviceAccount, absent);
  const missing = await rejection((await createProvider(emu, { key_id: absent })).wrapKey(dataKey(), context));
  t.match(missing, { code: 'ATREST_KEY_MISSING', message: /absent was not found/ });

  const badName = await rejection(createProvider(emu, { key_id: `${emu.key_id}/cryptoKeyVersions/1` }));
  t.match(badName, { code: 'ATREST_CONFIG_INVALID', message: /key_id/ });
});

t.test('an untrusted certificate is refused, with or without ca_file', async (t) => {
  const other = await startGoogleKmsEmulator();
  t.teardown(() => other.close());
  const noCa = await rejection((await createProvider(emu, { ca_file: '' })).wrapKey(dataKey(), context));
  t.match(noCa, { code: 'ATREST_TLS', message: /There is no ca_file set/ });
  const wrongCa = await rejection((await createProvider(emu, { ca_file: other.ca_file })).wrapKey(dataKey(), context));
  t.match(wrongCa, { code: 'ATREST_TLS', message: /does not verify/ });
});

t.test('transient failures are retried, within max_attempts', async (t) => {
  const logger = recordingLogger();
  const p = await createProvider(emu, { max_attempts: 3 }, logger);
  t.teardown(() => p.close?.());
  const wrapped = await p.wrapKey(dataKey(), context);
  emu.resetCalls();
  emu.injectFault({ kind: 'throttling', times: 1 });
  emu.injectFault({ kind: 'drop', times: 1 });
  t.same(Buffer.from(await p.unwrapKey(wrapped, context)), Buffer.from(dataKey()), 'the third attempt is served');
  t.equal(emu.calls.decrypt, 3);
  emu.injectFault({ kind: 'service-unavailable' });
  const gaveUp = await rejection(p.unwrapKey(wrapped, context));
  t.match(gaveUp, { code: 'ATREST_PROVIDER_UNAVAILABLE', message: /after 3 attempts/ });
  t.equal(emu.calls.decrypt, 6, 'no retries of the library on top of the kit');
  emu.clearFaults();
});

t.test('without credentials_file: application default credentials', async (t) => {
  const saved = process.env['GOOGLE_APPLICATION_CREDENTIALS'];
  t.teardown(() => {
    if (saved === undefined) delete process.env['GOOGLE_APPLICATION_CREDENTIALS'];
    else process.env['GOOGLE_APPLICATION_CREDENTIALS'] = saved;
  });
  process.env['GOOGLE_APPLICATION_CREDENTIALS'] = emu.credentials_file;
  emu.resetCalls();
  const p = await createProvider(emu, { credentials_file: '' });
  t.teardown(() => p.close?.());
  const wrapped = await p.wrapKey(dataKey(), context);
  t.same(Buffer.from(await p.unwrapKey(wrapped, context)), Buffer.from(dataKey()));
  t.match(emu.calls, { token: 0, encrypt: 1, decrypt: 1 }, "Google's default for a key file: self-signed JWTs");
  t.match(p.describe?.(), { credentials: 'application default credentials' });

  process.env['GOOGLE_APPLICATION_CREDENTIALS'] = join(emu.credentials_file, 'absent.json');
  const none = await rejection(createProvider(emu, { credentials_file: '' }));
  t.match(none, { code: 'ATREST_PROVIDER_AUTH', message: /no application default credentials/ });
});
