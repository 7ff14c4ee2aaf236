// Nothing destructive on unverified facts (issue 9 §4), on one store: `rotate-encryption-key
// --prune` proves by unwrapping that no data key needs an old key version (a tampered key_ref
// column does not fool it), `--full --prune` rotates, re-encrypts and prunes under one lock, and a
// damaged migration lock row is reported and cleared by `secrets-migration unlock`.
import { readKeyFile } from '@atrest/provider-file';
import type { Test } from 'tap';
import { cli, copyFixture, dataKeys, provision, verifyAll } from './migration-fixture.js';
import type { Fixture } from './migration-fixture.js';
import type { FixtureStore } from './migration-stores.js';

/** The key file's versions, and the primary's fingerprint. */
function ring(f: Fixture): { versions: number[]; primary: string; fingerprints: string[] } {
  const r = readKeyFile(f.keyPath);
  return {
    versions: r.keys.map((k) => k.version),
    primary: r.keys.find((k) => k.version === r.primary)?.fingerprint ?? '',
    fingerprints: r.keys.map((k) => k.fingerprint),
  };
}

async function wrappedKeys(f: Fixture): Promise<Map<string, Buffer>> {
  const rows = await f.store.query<{ id: string; wrapped: Buffer }>(f.db, 'SELECT id, wrapped FROM atrest_data_keys');
  return new Map(rows.map((r) => [r.id, Buffer.from(r.wrapped)]));
}

/**
 * The attack: after a rotation, data key `id` is put back under the old key version (its record
 * from before the rotation) while its key_ref column still names the current version.
 */
async function tamper(f: Fixture, before: ReadonlyMap<string, Buffer>, id: string): Promise<void> {
  await f.store.query(f.db, 'UPDATE atrest_data_keys SET wrapped = ? WHERE id = ?', [before.get(id), id]);
}

const text = (b: Buffer): string => b.toString('utf8');

export async function destructiveTests(t: Test, store: FixtureStore): Promise<void> {
  // 400 secrets under 10 data keys, and 30 rows of a registered target.
  const base = await provision('file', { secrets: 400, rows: 30, rotateEvery: 40 }, store);

  await t.test(`${store.name}: --prune is not fooled by a key_ref column naming the current key`, async (t) => {
    const f = await copyFixture(base.fixture);
    const before = await wrappedKeys(f);
    const v1 = ring(f).primary;
    const rotated = await cli(f, ['rotate-encryption-key']);
    t.equal(rotated.code, 0, `rotate-encryption-key exits 0: ${rotated.stderr}`);
    const v2 = ring(f).primary;
    const victim = [...before.keys()][3] ?? '';
    await tamper(f, before, victim);
    const keys = await dataKeys(f);
    t.same([...new Set(keys.map((k) => k.key_ref))], [v2], 'the key_ref column says every data key is on v2');
    t.same((await verifyAll(f, base.originals)).mismatches, [], 'every value reads (the old version is there)');

    const refused = await cli(f, ['rotate-encryption-key', '--prune']);
    t.equal(refused.code, 1, '--prune exits 1');
    t.match(
      refused.stderr,
      new RegExp(
        `ATREST_KEY_IN_USE: 1 data key\\(s\\) unwrap only with an old key of file.default \\(first: ${victim}\\)`,
      ),
      'ATREST_KEY_IN_USE naming the data key that needs the old version',
    );
    t.same(ring(f).fingerprints, [v1, v2], 'nothing was pruned');
    const v = await verifyAll(f, base.originals);
    t.same(v.mismatches, [], 'every value still reads');
    t.equal(v.secrets, 400, 'all 400 secrets read');

    // re-encrypt-data-keys does not trust the column either: the data key is re-wrapped to v2.
    const rewrap = await cli(f, ['secrets-migration', 're-encrypt-data-keys', '--json']);
    t.equal(rewrap.code, 0, `re-encrypt-data-keys exits 0: ${rewrap.stderr}`);
    t.match(JSON.parse(text(rewrap.stdout)), { rewrapped: 1, failed: [] }, 'it re-wraps the one under v1');
    const pruned = await cli(f, ['rotate-encryption-key', '--prune', '--json']);
    t.equal(pruned.code, 0, `--prune then exits 0: ${pruned.stderr}`);
    t.same(JSON.parse(text(pruned.stdout)), { removed: [v1] }, 'and removes v1');
    t.same(ring(f).versions, [2], 'only v2 is left');
    t.same((await verifyAll(f, base.originals)).mismatches, [], 'every value reads with the pruned key file');
    const status = await cli(f, ['status']);
    t.equal(status.code, 0, 'status exits 0');
  });

  await t.test(`${store.name}: a data key that unwraps with no key at all stops --prune`, async (t) => {
    const f = await copyFixture(base.fixture);
    t.equal((await cli(f, ['rotate-encryption-key'])).code, 0, 'rotated');
    const [victim] = [...(await wrappedKeys(f)).keys()];
    // A damaged record: restoring the row from a backup may need the old version, so it stays.
    await f.store.query(f.db, 'UPDATE atrest_data_keys SET wrapped = ? WHERE id = ?', [Buffer.alloc(69, 1), victim]);
    const refused = await cli(f, ['rotate-encryption-key', '--prune']);
    t.equal(refused.code, 1, '--prune exits 1');
    t.match(refused.stderr, /ATREST_KEY_IN_USE: 1 data key\(s\) of file.default unwrap with none of its keys/);
    t.equal(ring(f).versions.length, 2, 'nothing was pruned');
  });

  await t.test(`${store.name}: --full --prune rotates, re-encrypts and prunes, in one run`, async (t) => {
    const f = await copyFixture(base.fixture);
    const v1 = ring(f).primary;
    const run = await cli(f, ['rotate-encryption-key', '--full', '--prune', '--json']);
    t.equal(run.code, 0, `exits 0: ${run.stderr}`);
    const out = JSON.parse(text(run.stdout)) as { removed: string[]; reports: { target: string; failed: number }[] };
    t.same(out.removed, [v1], 'the old version was removed');
    t.ok(out.reports.length >= 3, 'the values were re-encrypted (a report per target)');
    t.same(
      out.reports.map((r) => r.failed),
      out.reports.map(() => 0),
      'no row failed',
    );
    const after = ring(f);
    t.same(after.versions, [2], 'the key file holds the new version only');
    const keys = await dataKeys(f);
    t.same([...new Set(keys.map((k) => k.key_ref))], [after.primary], 'every data key is on it');
    t.same((await verifyAll(f, base.originals)).mismatches, [], 'every value reads');
    const help = await cli(f, ['rotate-encryption-key', '--help']);
    t.match(text(help.stdout), /with --full it rotates, re-encrypts and then prunes, under one lock/, 'as --help says');
  });

  await t.test(`${store.name}: a damaged migration lock row is reported and cleared by unlock`, async (t) => {
    const f = await copyFixture(base.fixture);
    await f.store.query(f.db, 'DELETE FROM atrest_meta WHERE key = ?', ['migration_lock']);
    await f.store.query(f.db, 'INSERT INTO atrest_meta (key, value) VALUES (?, ?)', ['migration_lock', '{"pid": 1']);
    if (store.name === 'SQLite') {
      // SQLite's row is the lock: every migration refuses, naming the row and the command that clears it.
      const refused = await cli(f, ['secrets-migration', 're-encrypt']);
      t.equal(refused.code, 1, 're-encrypt exits 1');
      t.match(
        refused.stderr,
        /ATREST_LOCK_DAMAGED: The migration lock row of atrest_meta \(key '\w+'\) is damaged: it is not JSON/,
        'ATREST_LOCK_DAMAGED, not a JSON parse error',
      );
      t.match(refused.stderr, /Run 'atrest secrets-migration unlock'/, 'naming the command that clears it');
    }
    const unlock = await cli(f, ['secrets-migration', 'unlock']);
    t.equal(unlock.code, 0, `unlock exits 0: ${unlock.stderr}`);
    t.match(text(unlock.stdout), /cleared the damaged migration lock row \(it is not JSON\)/);
    const again = await cli(f, ['secrets-migration', 'unlock']);
    t.match(text(again.stdout), /the migration lock is free: nothing to clear/, 'a second unlock finds nothing');
    const reEncrypt = await cli(f, ['secrets-migration', 're-encrypt']);
    t.equal(reEncrypt.code, 0, `re-encrypt runs again: ${reEncrypt.stderr}`);
    t.same((await verifyAll(f, base.originals)).mismatches, [], 'every value reads');
  });
}
