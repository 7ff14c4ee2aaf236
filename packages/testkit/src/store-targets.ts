// Store conformance, the application's registered targets: their columns, paged scans in key order
// that see every row once, and compare-and-swap batches that never overwrite the application's writes;
// a row-bound target's scans carry each row's key, and its swaps lose when that key changed.
import type { RowId, TargetRow } from '@atrest/core';
import type { Test } from 'tap';
import { freshStore, targetOn } from './store-harness.js';
import type { MakeStoreHarness } from './store-harness.js';

export async function targetConformance(t: Test, make: MakeStoreHarness): Promise<void> {
  await t.test('columns of a target, and a target whose table is missing', async (t) => {
    const { store, harness } = await freshStore(t, make);
    await harness.createTable('conf_sources', ['name', 'password']);
    const columns = await store.targetColumns(targetOn('conf_sources', 'password'));
    t.same([...(columns ?? [])].sort(), ['id', 'name', 'password'], 'every column of the table');
    t.equal(await store.targetColumns(targetOn('conf_missing', 'password')), undefined, 'no table: undefined');
  });

  await t.test('paged scans see every row once, in key order; rereads by id', async (t) => {
    const { store, harness } = await freshStore(t, make);
    await harness.createTable('conf_sources', ['name', 'password']);
    const ids = await harness.insertRows(
      'conf_sources',
      Array.from({ length: 23 }, (_, i) => ({ name: `ds${i}`, password: i % 5 === 0 ? null : `pw${i}` })),
    );
    await harness.deleteRow('conf_sources', ids[4] ?? 0);
    const target = targetOn('conf_sources', 'password');
    t.equal(await store.countTargetRows(target), 22, 'the rows of the table');
    const seen: TargetRow[] = [];
    for (let after: RowId | undefined; ; ) {
      const page = await store.readTargetRows(target, after, 5);
      t.ok(page.length <= 5, 'a page holds at most the limit');
      const last = page.at(-1);
      if (last === undefined) break;
      after = last.id;
      seen.push(...page);
    }
    t.same(
      seen.map((r) => r.id),
      ids.filter((_, i) => i !== 4),
      'every row once, in the order the keys were made',
    );
    t.equal(seen[0]?.cell, null, 'a NULL cell reads as null');
    t.equal(seen[1]?.cell, 'pw1', 'a text cell as its text');
    const again = await store.rereadTargetRows(target, [ids[2] ?? 0, ids[4] ?? 0, ids[7] ?? 0]);
    t.same(
      again.map((r) => [r.id, r.cell]),
      [
        [ids[2], 'pw2'],
        [ids[7], 'pw7'],
      ],
      'reread by id; a deleted row is left out',
    );
  });

  await t.test('compare-and-swap of target cells never overwrites an application write', async (t) => {
    const { store, harness } = await freshStore(t, make);
    await harness.createTable('conf_sources', ['name', 'password']);
    const ids = await harness.insertRows('conf_sources', [
      { name: 'a', password: 'old a' },
      { name: 'b', password: 'old b' },
      { name: 'c', password: null },
      { name: 'd', password: 'old d' },
      { name: 'e', password: null },
    ]);
    const target = targetOn('conf_sources', 'password');
    const rows = await store.readTargetRows(target, undefined, 10);
    await harness.updateCell('conf_sources', ids[1] ?? 0, 'password', 'the application wrote this');
    await harness.updateCell('conf_sources', ids[4] ?? 0, 'password', 'written over a NULL');
    await harness.deleteRow('conf_sources', ids[3] ?? 0);
    const lost = await store.swapTargetCells(
      target,
      rows.map((row) => ({ row, cell: `new ${row.id}` })),
    );
    t.same(
      lost.map((s) => s.row.id),
      [ids[1], ids[3], ids[4]],
      'the swaps over changed and deleted rows lose; they come back',
    );
    t.equal(await harness.readCell('conf_sources', ids[0] ?? 0, 'password'), `new ${ids[0]}`, 'unchanged: written');
    t.equal(await harness.readCell('conf_sources', ids[2] ?? 0, 'password'), `new ${ids[2]}`, 'a NULL cell compares');
    t.equal(
      await harness.readCell('conf_sources', ids[1] ?? 0, 'password'),
      'the application wrote this',
      'the application write is kept',
    );
    t.equal(await harness.readCell('conf_sources', ids[4] ?? 0, 'password'), 'written over a NULL', 'this one too');
    t.equal(await harness.readCell('conf_sources', ids[3] ?? 0, 'password'), undefined, 'the deleted row stays so');
    t.equal(await harness.readCell('conf_sources', ids[0] ?? 0, 'name'), 'a', 'other columns are left alone');
    t.same(await store.swapTargetCells(target, []), [], 'an empty batch');
  });

  await t.test('a row-bound target: scans carry the row key as text, swaps lose when it changed', async (t) => {
    const { store, harness } = await freshStore(t, make);
    await harness.createTable('conf_sources', ['uid', 'password']);
    const ids = await harness.insertRows('conf_sources', [
      { uid: 'u-1', password: 'a' },
      { uid: null, password: 'b' },
      { uid: 'u-3', password: 'c' },
      { uid: 'u-4', password: 'd' },
    ]);
    const target = targetOn('conf_sources', 'password', 'uid');
    const rows = await store.readTargetRows(target, undefined, 10);
    t.same(
      rows.map((r) => [r.cell, r.rowKey]),
      [
        ['a', 'u-1'],
        ['b', null],
        ['c', 'u-3'],
        ['d', 'u-4'],
      ],
      'each row with its key; NULL as null',
    );
    const byId = await store.rereadTargetRows(targetOn('conf_sources', 'password', 'id'), [ids[2] ?? 0]);
    t.same(
      byId.map((r) => r.rowKey),
      [String(ids[2])],
      'an integer key as its text',
    );
    await harness.updateCell('conf_sources', ids[2] ?? 0, 'uid', 'u-3-renamed');
    const lost = await store.swapTargetCells(
      target,
      rows.map((row) => ({ row, cell: `new ${row.cell}` })),
    );
    t.same(
      lost.map((s) => s.row.id),
      [ids[2]],
      'the row whose key changed loses',
    );
    t.equal(await harness.readCell('conf_sources', ids[2] ?? 0, 'password'), 'c', 'its value is left alone');
    t.equal(await harness.readCell('conf_sources', ids[1] ?? 0, 'password'), 'new b', 'a NULL key compares');
    t.equal(await harness.readCell('conf_sources', ids[3] ?? 0, 'password'), 'new d');
  });
}
