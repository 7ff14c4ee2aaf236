// Nothing is ever encrypted twice, on one store (migration-idempotence and
// migration-idempotence-postgres run this body on SQLite and on PostgreSQL): rotations and
// re-encrypts run again and again (file and passphrase providers) leave every value equal to its
// original, every stored ciphertext exactly one encryption of its plaintext (48 bytes more, or the
// armor of that), and a second re-encrypt with nothing to do.
import t from 'tap';
import type { Test } from 'tap';
import { readKeyFile } from '@atrest/provider-file';
import {
  cli,
  configure,
  copyFixture,
  dataKeys,
  openError,
  parseReports,
  provision,
  removeTempDirs,
  since,
  sizeViolations,
  storedValues,
  verifyAll,
} from './migration-fixture.js';
import type { Fixture, Originals } from './migration-fixture.js';
import type { FixtureStore } from './migration-stores.js';

/** The fixture's size (each provider's database): secrets, target rows, a data key per `rotateEvery` secrets. */
export type IdempotenceSizes = { readonly secrets: number; readonly rows: number; readonly rotateEvery: number };

/** Every value encrypted exactly once and equal to its original; a second re-encrypt changes nothing. */
async function checkOnce(t: Test, f: Fixture, originals: Originals, when: string): Promise<void> {
  const values = await storedValues(f, originals);
  t.same(
    sizeViolations(values).slice(0, 10),
    [],
    `${when}: all ${values.length} stored values are exactly one encryption of their plaintext`,
  );
  const v = await verifyAll(f, originals);
  t.same(v.mismatches.slice(0, 10), [], `${when}: every value decrypts to its original`);
  const again = await cli(f, ['secrets-migration', 're-encrypt', '--json']);
  t.equal(again.code, 0, `${when}: re-encrypt again exits 0`);
  const changed = parseReports(again).reduce(
    (n, r) => n + r.reEncrypted + r.plaintextEncrypted + r.decrypted + r.failed,
    0,
  );
  t.equal(changed, 0, `${when}: a second re-encrypt reports 0 changes`);
  t.same(
    (await storedValues(f, originals)).map((x) => x.stored),
    values.map((x) => x.stored),
    `${when}: and rewrites no byte`,
  );
}

/** re-encrypt after something retired the data keys: every value moves, exactly once. */
async function reEncryptAll(
  t: Test,
  f: Fixture,
  originals: Originals,
  when: string,
  expectPlain: number,
): Promise<void> {
  const total = (await storedValues(f, originals)).length;
  const r = await cli(f, ['secrets-migration', 're-encrypt', '--json']);
  t.equal(r.code, 0, `${when}: re-encrypt exits 0`);
  const reports = parseReports(r);
  t.equal(
    reports.reduce((n, x) => n + x.plaintextEncrypted, 0),
    expectPlain,
    `${when}: ${expectPlain} plaintext values encrypted`,
  );
  t.equal(
    reports.reduce((n, x) => n + x.reEncrypted, 0),
    total - expectPlain,
    `${when}: every other value (${total - expectPlain}) re-encrypted once`,
  );
  await checkOnce(t, f, originals, when);
}

async function legacyPlaintext(f: Fixture, o: Originals): Promise<number> {
  return (await storedValues(f, o)).filter((v) => !v.encrypted).length;
}

/** Every case of this file on `store`. */
export async function idempotenceTests(store: FixtureStore, sizes: IdempotenceSizes): Promise<void> {
  t.teardown(removeTempDirs);
  const started = Date.now();
  const fileTemplate = await provision('file', sizes, store);
  const passTemplate = await provision('secret_key', sizes, store);
  t.comment(`${store.name}: provisioned in ${since(started)}`);

  t.test('file provider: rotate and re-encrypt, again and again', async (t) => {
    const f = await copyFixture(fileTemplate.fixture);
    const o = fileTemplate.originals;
    const plain = await legacyPlaintext(f, o);
    t.ok(plain > sizes.rows / 2, `${plain} legacy plaintext values to start with`);
    for (let round = 1; round <= 3; round++) {
      const rot = await cli(f, ['rotate-encryption-key', '--json']);
      t.equal(rot.code, 0, `round ${round}: rotate-encryption-key exits 0`);
      await reEncryptAll(t, f, o, `round ${round}`, round === 1 ? plain : 0);
    }
    t.equal(readKeyFile(f.keyPath).keys.length, 4, 'the key file holds four versions');
    const full = await cli(f, ['rotate-encryption-key', '--full', '--json']);
    t.equal(full.code, 0, 'rotate-encryption-key --full exits 0');
    await checkOnce(t, f, o, 'after --full');
    for (const args of [
      ['secrets-migration', 're-encrypt-data-keys'],
      ['rotate-encryption-key', '--prune'],
    ]) {
      t.equal((await cli(f, args)).code, 0, `${args.join(' ')} exits 0`);
      await checkOnce(t, f, o, `after ${args.join(' ')}`);
    }
    t.equal(readKeyFile(f.keyPath).keys.length, 1, 'pruned to the primary version');
    t.equal((await cli(f, ['secrets-migration', 'rotate-data-keys'])).code, 0, 'rotate-data-keys exits 0');
    await reEncryptAll(t, f, o, 'after rotate-data-keys', 0);
  });

  t.test('secret_key provider: new passphrases, re-encrypt, again and again', async (t) => {
    const f = await copyFixture(passTemplate.fixture);
    const o = passTemplate.originals;
    const plain = await legacyPlaintext(f, o);
    const passphrases = [
      'first passphrase of this test',
      'second passphrase, rotated',
      'third passphrase, rotated too',
      'fourth passphrase, with --full',
    ];
    configure(f, {
      current: 'secret_key.default',
      passphrase: passTemplate.fixture.env['ATREST_ENCRYPTION_SECRET_KEY'] ?? '',
    });
    for (let round = 1; round <= 3; round++) {
      const next = passphrases[round] ?? '';
      const rot = await cli(f, ['rotate-encryption-key', '--json'], `${next}\n`);
      t.equal(rot.code, 0, `round ${round}: rotate-encryption-key to a new passphrase exits 0`);
      t.equal(
        await openError(f),
        'ATREST_WRONG_KEY',
        `round ${round}: the previous passphrase no longer opens the data`,
      );
      configure(f, { current: 'secret_key.default', passphrase: next });
      await reEncryptAll(t, f, o, `round ${round}`, round === 1 ? plain : 0);
    }
    const last = passphrases[3] ?? '';
    const full = await cli(f, ['rotate-encryption-key', '--full', '--json'], last);
    t.equal(full.code, 0, 'rotate-encryption-key --full with a new passphrase (no trailing newline) exits 0');
    const fullReports = (JSON.parse(full.stdout.toString('utf8')) as { reports: { reEncrypted: number }[] }).reports;
    t.equal(
      fullReports.reduce((n, r) => n + r.reEncrypted, 0),
      (await storedValues(f, o)).length,
      '--full re-encrypted every value once',
    );
    configure(f, { current: 'secret_key.default', passphrase: last });
    await checkOnce(t, f, o, 'after --full');
    t.same(
      [...new Set((await dataKeys(f)).map((k) => k.provider))],
      ['secret_key.default'],
      'every data key under the passphrase',
    );
  });
}
