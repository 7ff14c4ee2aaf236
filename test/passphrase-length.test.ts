// Passphrase length is counted one way everywhere (issue 9 §6): in Unicode code points, at start
// (the configuration) and for rotate-encryption-key's new passphrase (the provider). Before, a
// rotation counted UTF-16 units and accepted 8 emoji (16 units) that every later start refused.
import { join } from 'node:path';
import t from 'tap';
import { isAtrestError, openAtrest } from '@atrest/core';
import { tempDir } from '@atrest/testkit';
import { repoRoot } from './helpers.js';

const dir = tempDir('atrest-passphrase-');
const database = join(dir, 'app.db');
const open = (secret: string) =>
  openAtrest({ appRoot: repoRoot, database, env: { ATREST_ENCRYPTION_SECRET_KEY: secret } });
const EIGHT_EMOJI = '😀'.repeat(8); // 8 code points, 16 UTF-16 units, 32 UTF-8 bytes
const SIXTEEN_ACCENTS = 'é'.repeat(16); // 16 code points, 16 UTF-16 units, 32 UTF-8 bytes

t.test('start and rotation refuse and accept the same passphrases', async (t) => {
  const start = await open(EIGHT_EMOJI).catch((e: unknown) => e);
  t.ok(isAtrestError(start, 'ATREST_CONFIG_INVALID'), 'a start refuses 8 emoji (16 UTF-16 units)');
  const a = await open('correct horse battery staple');
  await a.secrets.set('kept', 'value');
  const rotation = await a.migrations.rotateEncryptionKey({ newSecret: EIGHT_EMOJI }).catch((e: unknown) => e);
  t.ok(isAtrestError(rotation, 'ATREST_CONFIG_INVALID'), 'a rotation refuses them too');
  t.equal(await a.secrets.getText('kept'), 'value', 'the refused rotation changed nothing');
  await a.migrations.rotateEncryptionKey({ newSecret: SIXTEEN_ACCENTS });
  await a.close();
  const old = await open('correct horse battery staple').catch((e: unknown) => e);
  t.ok(isAtrestError(old), 'the old passphrase no longer opens the database');
  const b = await open(SIXTEEN_ACCENTS);
  t.equal(await b.secrets.getText('kept'), 'value', 'the 16-character passphrase that rotation took starts atrest');
  await b.close();
});
