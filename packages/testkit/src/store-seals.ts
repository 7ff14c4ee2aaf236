// Store conformance, seals: the places where plaintext is refused. atrest's own secrets are sealed
// in a new database; a seal keeps its first time, is seen by every connection, and is lifted one
// place at a time or all at once.
import type { Test } from 'tap';
import { freshStore } from './store-harness.js';
import type { MakeStoreHarness } from './store-harness.js';

export async function sealConformance(t: Test, make: MakeStoreHarness): Promise<void> {
  await t.test("a new database: atrest's own secrets are sealed, nothing else", async (t) => {
    const { store } = await freshStore(t, make);
    const seals = await store.seals();
    t.same([...seals.keys()], ['atrest_secrets'], 'only atrest_secrets');
    t.match(seals.get('atrest_secrets'), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/, 'sealed at an ISO-8601 time');
  });

  await t.test('seal, seal again, seen by another connection, unseal', async (t) => {
    const { store, connect } = await freshStore(t, make);
    await store.seal('datasources.password', '2026-01-02T03:04:05.000Z');
    await store.seal('datasources.password', '2027-01-01T00:00:00.000Z');
    await store.seal('datasources.json_data', '2026-02-02T00:00:00.000Z');
    const other = await connect();
    t.same(
      Object.fromEntries(await other.seals()),
      {
        atrest_secrets: (await store.seals()).get('atrest_secrets'),
        'datasources.password': '2026-01-02T03:04:05.000Z',
        'datasources.json_data': '2026-02-02T00:00:00.000Z',
      },
      'every seal, the first time kept, seen by another connection',
    );
    t.equal(await other.unseal(['datasources.password', 'not.sealed']), 1, 'one seal lifted');
    t.same([...(await store.seals()).keys()].sort(), ['atrest_secrets', 'datasources.json_data'], 'the others stay');
    t.equal(await store.unseal([]), 0, 'an empty list lifts nothing');
    t.equal(await store.unseal(), 2, 'no list: every seal lifted');
    t.equal((await store.seals()).size, 0, 'none left');
    await store.seal('atrest_secrets', '2026-03-03T00:00:00.000Z');
    t.same(Object.fromEntries(await store.seals()), { atrest_secrets: '2026-03-03T00:00:00.000Z' }, 'sealed again');
  });
}
