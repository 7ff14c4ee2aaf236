// Store conformance, data keys: one active key per label and provider however connections race,
// committed before it is returned, an encryption budget that holds across connections, retiring
// and dropping (dated by the store's clock), the aggregate reads of status and the canary, and the
// re-wrap in one transaction.
import { randomBytes } from 'node:crypto';
import type { Test } from 'tap';
import { freshStore, newDataKey } from './store-harness.js';
import type { MakeStoreHarness } from './store-harness.js';

export async function dataKeyConformance(t: Test, make: MakeStoreHarness): Promise<void> {
  await t.test('a new active data key is committed before it is returned', async (t) => {
    const { store, connect } = await freshStore(t, make);
    const key = newDataKey({ encryptionsReserved: 7 });
    const active = await store.createActiveDataKey(key);
    t.match(active, { ...key, active: true, droppedAt: null }, 'the record as inserted, active');
    t.equal(active.updatedAt, key.createdAt, 'updated when created');
    const other = await connect();
    t.match(await other.dataKey(key.id), { id: key.id, active: true }, 'another connection reads it at once');
    t.match(await other.activeDataKey(key.label, key.provider), { id: key.id }, 'as the active key of its label');
    t.equal(await other.activeDataKey(key.label, 'other.provider'), undefined, 'active per provider');
    t.equal(await other.activeDataKey('conformance/2026-01-02', key.provider), undefined, 'active per label');
    t.equal(await other.dataKey('00'.repeat(16)), undefined, 'an unknown id reads as undefined');
  });

  await t.test('connections racing for a label end with one active key, the winner', async (t) => {
    const { connect } = await freshStore(t, make);
    const stores = await Promise.all([connect(), connect(), connect(), connect()]);
    const keys = stores.map(() => newDataKey());
    const results = await Promise.all(stores.map((s, i) => s.createActiveDataKey(keys[i] ?? newDataKey())));
    const winner = results[0]?.id;
    t.ok(
      results.every((r) => r.id === winner),
      'every caller gets the same active key',
    );
    t.ok(
      keys.some((k) => k.id === winner),
      'one of the keys inserted',
    );
    const all = await stores[0]?.listDataKeys();
    t.equal(all?.filter((k) => k.active).length, 1, 'exactly one active key');
    t.equal(all?.length, 1, 'the losers left no record');
  });

  await t.test('the encryption budget holds across connections', async (t) => {
    const { store, connect } = await freshStore(t, make);
    const key = await store.createActiveDataKey(newDataKey({ encryptionsReserved: 2 }));
    t.equal(await store.reserveEncryptions(key.id, 3, 10), true, '2 + 3 within a cap of 10');
    t.equal(await store.reserveEncryptions(key.id, 6, 10), false, '5 + 6 would pass it');
    const others = await Promise.all([connect(), connect(), connect()]);
    const granted = await Promise.all([store, ...others].map((s) => s.reserveEncryptions(key.id, 2, 10)));
    t.equal(granted.filter(Boolean).length, 2, 'of four concurrent reservations of 2, exactly two fit in the 5 left');
    t.equal((await store.dataKey(key.id))?.encryptionsReserved, 9, 'the reservations add up');
    t.equal(await store.reserveEncryptions('ff'.repeat(16), 1, 10), false, 'an unknown key reserves nothing');
  });

  await t.test('retire, retire all, drop', async (t) => {
    const { store } = await freshStore(t, make);
    const a = await store.createActiveDataKey(newDataKey({ label: 'a/2026-01-01' }));
    const b = await store.createActiveDataKey(newDataKey({ label: 'b/2026-01-01' }));
    await store.createActiveDataKey(newDataKey({ label: 'c/2026-01-01', provider: 'other.main' }));
    t.equal(await store.retireDataKey(a.id), true, 'an active key is retired');
    t.equal(await store.retireDataKey(a.id), false, 'once');
    t.equal(await store.reserveEncryptions(a.id, 1, 10), false, 'a retired key reserves nothing');
    t.equal(await store.activeDataKey(a.label, a.provider), undefined, 'its label has no active key');
    const next = await store.createActiveDataKey(newDataKey({ label: a.label }));
    t.equal(next.active, true, 'a new key takes the label');
    t.equal(await store.retireActiveDataKeys(), 3, 'retire all: the three active keys');
    t.equal(await store.retireActiveDataKeys(), 0, 'then none');
    t.equal(await store.countDataKeys(), 4, 'retired keys count');
    t.equal(await store.countDataKeys('other.main'), 1, 'per provider');
    t.equal(await store.dropDataKeys(), 4, 'drop: every key');
    t.equal(await store.dropDataKeys(), 0, 'once');
    t.equal(await store.countDataKeys(), 0, 'dropped keys do not count');
    const dropped = await store.dataKey(b.id);
    t.ok(dropped !== undefined && !dropped.active && dropped.droppedAt !== null, 'but stay readable, inactive');
    t.same(await store.newestDataKeys(3), [], 'and the canary passes them over');
    t.equal((await store.listDataKeys()).length, 4, 'the list keeps them');
  });

  await t.test('delete: only retired keys of the ids given, unchanged since the time given', async (t) => {
    const { store, connect } = await freshStore(t, make);
    const retired = await store.createActiveDataKey(newDataKey({ label: 'r/2026-01-01' }));
    const active = await store.createActiveDataKey(newDataKey({ label: 'a/2026-01-01' }));
    const other = await store.createActiveDataKey(newDataKey({ label: 'o/2026-01-01' }));
    await store.retireDataKey(retired.id);
    await store.retireDataKey(other.id);
    const before = new Date(Date.now() - 60_000).toISOString();
    const ids = [retired.id, active.id];
    t.equal(await store.deleteDataKeys(ids, before), 0, 'retired after the time given: kept');
    const later = new Date(Date.now() + 60_000).toISOString();
    t.equal(await (await connect()).deleteDataKeys(ids, later), 1, 'retired before it: deleted');
    t.equal(await store.dataKey(retired.id), undefined, 'gone');
    t.match(await store.dataKey(active.id), { active: true }, 'an active key is never deleted');
    t.match(await store.dataKey(other.id), { active: false }, 'a key not named stays');
    t.equal(await store.deleteDataKeys([], later), 0, 'no ids, nothing');
  });

  await t.test("retiring and dropping date a key by the store's clock, the cleanup's", async (t) => {
    const { store } = await freshStore(t, make);
    const a = await store.createActiveDataKey(newDataKey({ label: 'c/2026-01-01' }));
    const b = await store.createActiveDataKey(newDataKey({ label: 'd/2026-01-01' }));
    const dated = async (what: string, id: string, change: () => Promise<unknown>) => {
      const from = await store.now();
      await change();
      const to = await store.now();
      const at = Date.parse((await store.dataKey(id))?.updatedAt ?? '');
      t.ok(from <= at && at <= to, `${what}: dated ${at}, between two reads of the store's clock (${from}, ${to})`);
    };
    await dated('retired', a.id, () => store.retireDataKey(a.id));
    await dated('retired with all', b.id, () => store.retireActiveDataKeys());
    await dated('dropped', a.id, () => store.dropDataKeys());
  });

  await t.test('listDataKeys oldest first; newestDataKeys per provider key, newest first', async (t) => {
    const { store } = await freshStore(t, make);
    const at = (minute: number): string => new Date(Date.UTC(2026, 0, 1, 0, minute)).toISOString();
    const made = [];
    for (let i = 0; i < 5; i++) {
      made.push(await store.createActiveDataKey(newDataKey({ label: `s${i}/2026-01-01`, createdAt: at(10 - i) })));
    }
    made.push(
      await store.createActiveDataKey(newDataKey({ label: 'x/2026-01-01', keyRef: 'kek-2', createdAt: at(1) })),
    );
    made.push(
      await store.createActiveDataKey(newDataKey({ label: 'y/2026-01-01', provider: 'a.first', createdAt: at(2) })),
    );
    const list = await store.listDataKeys();
    t.same(
      list.map((k) => k.createdAt),
      [...list.map((k) => k.createdAt)].sort(),
      'ordered by creation time',
    );
    t.equal(list.length, 7);
    const newest = await store.newestDataKeys(2);
    t.same(
      newest.map((k) => [k.provider, k.keyRef, k.createdAt]),
      [
        ['a.first', 'kek-1', at(2)],
        ['test.main', 'kek-1', at(10)],
        ['test.main', 'kek-1', at(9)],
        ['test.main', 'kek-2', at(1)],
      ],
      'by provider, then key reference, newest first, two each',
    );
  });

  await t.test('re-wrap in one transaction: unchanged records written, changed ones are conflicts', async (t) => {
    const { store, connect } = await freshStore(t, make);
    const a = await store.createActiveDataKey(newDataKey({ label: 'a/2026-01-01' }));
    const b = await store.createActiveDataKey(newDataKey({ label: 'b/2026-01-01' }));
    const moving = await store.createActiveDataKey(newDataKey({ label: 'm/2026-01-01' }));
    // The new provider already has an active key for the moving key's label.
    const there = await store.createActiveDataKey(newDataKey({ label: 'm/2026-01-01', provider: 'next.main' }));
    const wrapped = (): Buffer => randomBytes(48);
    const outcome = await (await connect()).rewrapDataKeys(
      [
        { id: a.id, expectedWrapped: a.wrapped, provider: 'next.main', keyRef: 'kek-9', wrapped: wrapped() },
        { id: b.id, expectedWrapped: randomBytes(48), provider: 'next.main', keyRef: 'kek-9', wrapped: wrapped() },
        { id: moving.id, expectedWrapped: moving.wrapped, provider: 'next.main', keyRef: 'kek-9', wrapped: wrapped() },
      ],
      { retireActive: false },
    );
    t.same(outcome, { conflicts: [b.id], retired: 0 }, 'the key read with other bytes is a conflict');
    t.match(await store.dataKey(a.id), { provider: 'next.main', keyRef: 'kek-9', active: true }, 're-wrapped');
    t.match(await store.dataKey(b.id), { provider: 'test.main', keyRef: 'kek-1', wrapped: b.wrapped }, 'untouched');
    t.match(await store.dataKey(moving.id), { provider: 'next.main', active: false }, 'retired: its label is taken');
    t.match(await store.dataKey(there.id), { active: true }, 'the key that was there stays active');
    const all = await store.rewrapDataKeys(
      [{ id: b.id, expectedWrapped: b.wrapped, provider: 'next.main', keyRef: 'kek-9', wrapped: wrapped() }],
      { retireActive: true },
    );
    t.same(all, { conflicts: [], retired: 3 }, 'with retireActive, every active key is retired in the same step');
    t.same(
      (await store.listDataKeys()).filter((k) => k.active),
      [],
      'none is active',
    );
  });
}
