// Store conformance, atrest's secrets: binary-safe values, the listing, paged scans that see every
// row once, compare-and-swap batches that lose to a concurrent writer and never touch updatedAt,
// and the counts per provider that status and the missing-key report need.
import { randomBytes } from 'node:crypto';
import type { RowId, SecretRow } from '@atrest/core';
import type { Test } from 'tap';
import { envelopeNaming, freshStore, newDataKey } from './store-harness.js';
import type { MakeStoreHarness } from './store-harness.js';

export async function secretConformance(t: Test, make: MakeStoreHarness): Promise<void> {
  await t.test('put, get, replace, delete, list', async (t) => {
    const { store } = await freshStore(t, make);
    const binary = Buffer.from([0, 255, 0, 10, 13, 0]);
    await store.putSecret('tls/ca.pem', binary, true);
    await store.putSecret('smtp', Buffer.from('plain'), false);
    const got = await store.getSecret('tls/ca.pem');
    t.same(got?.value, binary, 'binary-safe');
    t.equal(got?.encrypted, true);
    t.equal((await store.getSecret('smtp'))?.encrypted, false, 'the encrypted flag is kept');
    t.equal(await store.getSecret('missing'), undefined, 'a missing secret reads as undefined');
    const created = got?.createdAt;
    await new Promise((resolve) => setTimeout(resolve, 5));
    await store.putSecret('tls/ca.pem', Buffer.from('replaced'), false);
    const replaced = await store.getSecret('tls/ca.pem');
    t.match(replaced, { value: Buffer.from('replaced'), encrypted: false, createdAt: created }, 'replaced in place');
    t.not(replaced?.updatedAt, created, 'updatedAt moves');
    t.same(
      (await store.listSecrets()).map((s) => [s.name, s.size, s.encrypted]),
      [
        ['smtp', 5, false],
        ['tls/ca.pem', 8, false],
      ],
      'the list: by name, sizes, no values',
    );
    t.notOk(
      (await store.listSecrets()).some((s) => 'value' in s),
      'never a value',
    );
    t.equal(await store.countSecrets(), 2);
    t.equal(await store.deleteSecret('smtp'), true, 'delete: true when it existed');
    t.equal(await store.deleteSecret('smtp'), false, 'false after');
    t.equal(await store.countSecrets(), 1);
  });

  await t.test('paged scans see every secret once, in order', async (t) => {
    const { store } = await freshStore(t, make);
    for (let i = 0; i < 25; i++) await store.putSecret(`s-${String(i).padStart(2, '0')}`, randomBytes(i), i % 2 === 0);
    await store.deleteSecret('s-03');
    const seen: SecretRow[] = [];
    for (let after: RowId | undefined; ; ) {
      const page = await store.readSecrets(after, 7);
      t.ok(page.length <= 7, 'a page holds at most the limit');
      const last = page.at(-1);
      if (last === undefined) break;
      after = last.id;
      seen.push(...page);
    }
    t.equal(seen.length, 24, 'every secret once');
    t.equal(new Set(seen.map((s) => s.name)).size, 24, 'no secret twice');
    t.same(await store.readSecrets(seen.at(-1)?.id, 7), [], 'nothing after the last');
    const s5 = seen.find((s) => s.name === 's-05');
    t.same(s5?.value, (await store.getSecret('s-05'))?.value, 'a scanned row holds the value');
    const again = await store.rereadSecrets([seen[0]?.id ?? 0, s5?.id ?? 0]);
    t.same(
      again.map((s) => s.name),
      ['s-00', 's-05'],
      'reread by id',
    );
    await store.deleteSecret('s-05');
    t.same((await store.rereadSecrets([s5?.id ?? 0])).length, 0, 'a deleted secret is left out of a reread');
  });

  await t.test('compare-and-swap: a batch in one step, losing to a concurrent writer', async (t) => {
    const { store, harness, connect } = await freshStore(t, make);
    for (const name of ['a', 'b', 'c', 'd']) await store.putSecret(name, Buffer.from(`old ${name}`), true);
    const rows = await store.readSecrets(undefined, 10);
    const before = await store.getSecret('a');
    await new Promise((resolve) => setTimeout(resolve, 5));
    await harness.overwriteSecret('b', Buffer.from('the application wrote this'));
    await (await connect()).deleteSecret('c');
    const lost = await store.swapSecrets(
      rows.map((row) => ({ row, value: Buffer.from(`new ${row.name}`), encrypted: row.name !== 'd' })),
    );
    t.same(
      lost.map((s) => s.row.name),
      ['b', 'c'],
      'the swaps over a changed and a deleted row lose; they come back',
    );
    t.same((await store.getSecret('a'))?.value, Buffer.from('new a'), 'an unchanged row is written');
    t.equal((await store.getSecret('d'))?.encrypted, false, 'with its encrypted flag');
    t.same((await store.getSecret('b'))?.value, Buffer.from('the application wrote this'), 'the write is not lost');
    t.equal(await store.getSecret('c'), undefined, 'the deleted row stays deleted');
    t.equal((await store.getSecret('a'))?.updatedAt, before?.updatedAt, 'updatedAt is left alone');
    const flag = (await store.readSecrets(undefined, 10)).find((r) => r.name === 'd');
    const flipped =
      flag === undefined ? [] : [{ row: { ...flag, encrypted: true }, value: flag.value, encrypted: true }];
    t.equal((await store.swapSecrets(flipped)).length, 1, 'the encrypted flag is part of the comparison');
    t.same(await store.swapSecrets([]), [], 'an empty batch');
  });

  await t.test('counts per data key a secret names', async (t) => {
    const { store } = await freshStore(t, make);
    const a = await store.createActiveDataKey(newDataKey({ provider: 'a.main' }));
    const b = await store.createActiveDataKey(newDataKey({ provider: 'b.main' }));
    await store.putSecret('a1', envelopeNaming(a.id), true);
    await store.putSecret('a2', envelopeNaming(a.id), true);
    await store.putSecret('b1', envelopeNaming(b.id), true);
    await store.putSecret('lost', envelopeNaming('ab'.repeat(16)), true);
    await store.putSecret('plain', envelopeNaming(a.id), false);
    t.same(
      Object.fromEntries(await store.secretsByDataKey()),
      { [a.id]: 2, [b.id]: 1, ['ab'.repeat(16)]: 1, '': 1 },
      "by the data key id the envelope names, one not in the table included; '' for plaintext",
    );
    t.equal(await store.countSecretsUnder([a.id]), 2, 'encrypted secrets under a data key');
    t.equal(await store.countSecretsUnder([a.id, b.id]), 3, 'under several');
    t.equal(await store.countSecretsUnder([]), 0, 'under none');
  });
}
