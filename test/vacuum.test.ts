// No legacy plaintext left in a SQLite file after re-encrypt (issue 9 §7), even where the
// application's own connection (without secure_delete) left old copies: in freeblocks of pages it
// updated, in rows it deleted, in pages it split. re-encrypt rebuilds the file (VACUUM) once it
// encrypted plaintext; proven by searching the raw bytes of the file and its -wal, by the CLI and by
// the API, and refused (said, not done) where VACUUM would renumber a table's rowids.
import { existsSync, readFileSync } from 'node:fs';
import Database from 'better-sqlite3';
import t from 'tap';
import type { Test } from 'tap';
import type { VacuumOutcome } from '@atrest/core';
import {
  type Fixture,
  PASSWORD_TARGET,
  cli,
  copyFixture,
  openFixture,
  provision,
  removeTempDirs,
  secretValue,
} from './migration-fixture.js';

t.teardown(removeTempDirs);

const { fixture, originals } = await provision('file', { secrets: 120, rows: 40, plainEvery: 7 });
const atrestPlain = [...originals.plainSecrets].map(secretValue).filter((v) => v.length >= 24);

/** How many of `needles` occur in the database file or its -wal, byte for byte. */
function found(db: string, needles: readonly Buffer[]): number {
  const files = [db, `${db}-wal`].filter((f) => existsSync(f)).map((f) => readFileSync(f));
  return needles.filter((needle) => files.some((file) => file.includes(needle))).length;
}

const planted = (i: number, version: string) => `planted-${String(i).padStart(4, '0')}-${version}-${'k'.repeat(24)}`;

/**
 * Write legacy plaintext into datasources.password the way an application does, through its own
 * connection (secure_delete off): inserts, then updates (the old value stays in a freeblock),
 * deletes, and rows grown so their pages split. The first 60 rows the application itself then
 * encrypts (encryptText): re-encrypt never rewrites their pages, where the old plaintext stays in
 * free space. Returns every plaintext written, the rows left and the plaintexts no row holds.
 */
async function plant(f: Fixture): Promise<{ needles: Buffer[]; rows: Map<number, string>; gone: Buffer[] }> {
  const a = await openFixture(f);
  const d = new Database(f.db);
  try {
    if (d.pragma('secure_delete', { simple: true }) !== 0) throw new Error('expected secure_delete off');
    const rows = new Map<number, string>();
    const insert = d.prepare('INSERT INTO datasources (id, name, password) VALUES (?, ?, ?)');
    const update = d.prepare('UPDATE datasources SET password = ? WHERE id = ?');
    const grow = d.prepare('UPDATE datasources SET name = ? WHERE id = ?');
    const remove = d.prepare('DELETE FROM datasources WHERE id = ?');
    const written: string[] = [];
    for (let i = 1; i <= 150; i++) {
      insert.run(1000 + i, `app-${i}`, planted(i, 'v1'));
      written.push(planted(i, 'v1'));
      rows.set(1000 + i, planted(i, 'v1'));
    }
    for (let i = 1; i <= 60; i++) {
      update.run(await a.encryptText(planted(i, 'v2'), { target: PASSWORD_TARGET }), 1000 + i);
      rows.set(1000 + i, planted(i, 'v2'));
      if (i % 2 === 0) grow.run(`app-${i}-${'n'.repeat(700)}`, 1000 + i);
      if (i % 5 === 0) {
        remove.run(1000 + i);
        rows.delete(1000 + i);
      }
    }
    for (let i = 61; i <= 150; i++) {
      if (i % 3 === 0) {
        update.run(planted(i, 'v2'), 1000 + i);
        written.push(planted(i, 'v2'));
        rows.set(1000 + i, planted(i, 'v2'));
      }
      if (i % 4 === 0) grow.run(`app-${i}-${'n'.repeat(700)}`, 1000 + i);
      if (i % 5 === 0) {
        remove.run(1000 + i);
        rows.delete(1000 + i);
      }
    }
    const live = new Set(rows.values());
    const gone = written.filter((s) => !live.has(s)).map((s) => Buffer.from(s, 'utf8'));
    return { needles: written.map((s) => Buffer.from(s, 'utf8')), rows, gone };
  } finally {
    d.close();
    await a.close();
  }
}

/** Every planted row left reads back as its last plaintext, and the fixture's values too. */
async function readsBack(t: Test, f: Fixture, rows: Map<number, string>): Promise<void> {
  const a = await openFixture(f);
  const d = new Database(f.db, { readonly: true });
  const wrong: number[] = [];
  try {
    const select = d.prepare('SELECT password FROM datasources WHERE id = ?').pluck();
    for (const [id, plain] of rows) {
      const stored = select.get(id) as string;
      if (stored === plain || (await a.decryptText(stored, { target: PASSWORD_TARGET })) !== plain) wrong.push(id);
    }
  } finally {
    d.close();
    await a.close();
  }
  t.same(wrong, [], `each of the ${rows.size} planted rows is encrypted and reads back`);
}

function rowids(db: string, table: string): number[] {
  const d = new Database(db, { readonly: true });
  try {
    return d.prepare(`SELECT rowid FROM ${table} ORDER BY rowid`).pluck().all() as number[];
  } finally {
    d.close();
  }
}

/** A table of the application's, with gaps in its rowids (rows deleted). */
function tableWithGaps(db: string, ddl: string, table: string): number[] {
  const d = new Database(db);
  d.exec(ddl);
  const insert = d.prepare(`INSERT INTO ${table} VALUES (?, ?)`);
  for (let i = 0; i < 40; i++) insert.run(`k${i}`, `v${i}`);
  d.prepare(`DELETE FROM ${table} WHERE rowid % 3 = 0`).run();
  d.close();
  return rowids(db, table);
}

t.test('CLI: old copies in free space the application left are in the file before, none after', async (t) => {
  const f = await copyFixture(fixture);
  const { needles, rows, gone } = await plant(f);
  const all = [...needles, ...atrestPlain];
  t.ok(needles.length >= 150 && atrestPlain.length >= 10, `${all.length} plaintexts planted`);
  const live = [...rows].filter(([id]) => id > 1060).map(([, s]) => Buffer.from(s, 'utf8'));
  const stored = live.length + atrestPlain.length;
  t.equal(found(f.db, [...live, ...atrestPlain]), stored, `before: each of the ${stored} stored ones is in the file`);
  t.ok(found(f.db, gone) > 10, `and ${found(f.db, gone)} of ${gone.length} replaced or deleted ones, in free space`);
  const run = await cli(f, ['secrets-migration', 're-encrypt', '--batch-size', '40']);
  t.equal(run.code, 0, `re-encrypt exits 0: ${run.stderr}`);
  t.match(run.stderr, /database file rebuilt \(VACUUM\)/, 'it says it rebuilt the file');
  t.equal(found(f.db, all), 0, 'after: none in the file or the -wal');
  await readsBack(t, f, rows);
});

t.test('rotate-encryption-key --full, which re-encrypts too: the same rebuild', async (t) => {
  const f = await copyFixture(fixture);
  const { needles, rows } = await plant(f);
  const all = [...needles, ...atrestPlain];
  t.ok(found(f.db, all) > 0, 'plaintexts in the file before');
  const run = await cli(f, ['rotate-encryption-key', '--full']);
  t.equal(run.code, 0, `rotate-encryption-key --full exits 0: ${run.stderr}`);
  t.match(run.stderr, /database file rebuilt \(VACUUM\)/, 'it says it rebuilt the file');
  t.equal(found(f.db, all), 0, 'after: none in the file or the -wal');
  await readsBack(t, f, rows);
});

t.test('API: reEncrypt rebuilds the file, keeps the rowids of indexed tables; vacuum: false skips it', async (t) => {
  const f = await copyFixture(fixture);
  const skipped = await copyFixture(fixture);
  const outcomes: VacuumOutcome[] = [];
  let kept: number[] = [];
  for (const c of [f, skipped]) {
    const { needles, rows } = await plant(c);
    kept = tableWithGaps(c.db, 'CREATE TABLE settings (k TEXT PRIMARY KEY, v TEXT)', 'settings');
    const a = await openFixture(c);
    try {
      const reports = await a.migrations.reEncrypt({
        batchSize: 40,
        vacuum: c === f,
        onVacuum: (v) => outcomes.push(v),
      });
      t.ok(
        reports.some((r) => r.plaintextEncrypted > 0),
        'plaintext encrypted',
      );
    } finally {
      await a.close();
    }
    await readsBack(t, c, rows);
    const left = found(c.db, [...needles, ...atrestPlain]);
    if (c === f) t.equal(left, 0, 'rebuilt: no plaintext in the file or the -wal');
    else t.ok(left > 0, `vacuum: false: ${left} old copies stay in the free space the application left`);
    t.same(rowids(c.db, 'settings'), kept, 'a table with a TEXT PRIMARY KEY keeps its rowids, gaps and all');
  }
  t.same(outcomes, [{ vacuumed: true }], 'onVacuum told once, for the run that rebuilt the file');
});

t.test('a table with neither INTEGER PRIMARY KEY nor index: not rebuilt, said, rowids kept', async (t) => {
  const f = await copyFixture(fixture);
  const { needles } = await plant(f);
  const before = tableWithGaps(f.db, 'CREATE TABLE audit (at TEXT, note TEXT)', 'audit');
  const run = await cli(f, ['secrets-migration', 're-encrypt']);
  t.equal(run.code, 0, `re-encrypt exits 0: its work is done (${run.stderr})`);
  t.match(run.stderr, /warning: database file not rebuilt.*new rowids to audit.*VACUUM/, 'the warning names it');
  t.same(rowids(f.db, 'audit'), before, 'its rowids are untouched');
  t.ok(found(f.db, needles) > 0, 'and old copies stay (the README says how to remove them)');
  // The refusal is needed: SQLite's VACUUM does number such a table's rows anew.
  const d = new Database(f.db);
  d.exec('VACUUM');
  d.close();
  t.not(rowids(f.db, 'audit').join(), before.join(), 'a VACUUM renumbers it');
  t.equal(found(f.db, needles), 0, 'and takes the copies out');
});

t.test('--no-vacuum and --dry-run do not rebuild the file', async (t) => {
  const f = await copyFixture(fixture);
  const { needles } = await plant(f);
  const before = found(f.db, needles);
  const dry = await cli(f, ['secrets-migration', 're-encrypt', '--dry-run']);
  t.equal(dry.code, 0, dry.stderr);
  t.notMatch(dry.stderr, /VACUUM/, 'a dry run says nothing of VACUUM');
  t.equal(found(f.db, needles), before, `and leaves the ${before} plaintexts in the file`);
  const run = await cli(f, ['secrets-migration', 're-encrypt', '--no-vacuum']);
  t.equal(run.code, 0, run.stderr);
  t.notMatch(run.stderr, /VACUUM/, '--no-vacuum: no VACUUM');
  t.ok(found(f.db, needles) > 0, 'old copies stay in free space');
});
