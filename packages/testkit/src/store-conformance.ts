// The store conformance suite: every Store implementation (SQLite in core, PostgreSQL in its own
// package) runs it first, on real databases, one fresh database per test.
import { STORE_SCHEMA_VERSION } from '@atrest/core';
import type { Test } from 'tap';
import { dataKeyConformance } from './store-data-keys.js';
import { freshStore } from './store-harness.js';
import type { MakeStoreHarness } from './store-harness.js';
import { lockConformance } from './store-lock.js';
import { sealConformance } from './store-seals.js';
import { secretConformance } from './store-secrets.js';
import { targetConformance } from './store-targets.js';

async function schemaConformance(t: Test, make: MakeStoreHarness): Promise<void> {
  await t.test('a store that may create nothing refuses a database without atrest tables', async (t) => {
    const harness = await make();
    t.teardown(() => harness.destroy());
    for (const attempt of ['first', 'second']) {
      await t.rejects(
        harness.openStore({ create: false }),
        { code: 'ATREST_NOT_INITIALIZED', details: { missing: 'tables' } },
        `${attempt} attempt: ATREST_NOT_INITIALIZED, and no tables were made`,
      );
    }
    const store = await harness.openStore();
    await store.close();
    const existing = await harness.openStore({ create: false });
    t.equal(await existing.schemaVersion(), STORE_SCHEMA_VERSION, 'once created, it opens');
    await existing.close();
  });

  await t.test('schema versioning', async (t) => {
    const { store, harness, connect } = await freshStore(t, make);
    t.equal(await store.schemaVersion(), STORE_SCHEMA_VERSION, "a new database gets this atrest's schema");
    t.equal(await (await connect()).schemaVersion(), STORE_SCHEMA_VERSION, 'opening it again changes nothing');
    await harness.recordSchemaVersion(STORE_SCHEMA_VERSION + 1);
    await t.rejects(
      harness.openStore(),
      { code: 'ATREST_SCHEMA_TOO_NEW', details: { found: STORE_SCHEMA_VERSION + 1, known: STORE_SCHEMA_VERSION } },
      'a database a newer atrest upgraded is refused',
    );
  });
}

/** Run the store conformance suite as subtests of `t`, each on a database `makeHarness` makes. */
export async function runStoreConformance(t: Test, makeHarness: MakeStoreHarness): Promise<void> {
  await t.test('schema', (t) => schemaConformance(t, makeHarness));
  await t.test('data keys', (t) => dataKeyConformance(t, makeHarness));
  await t.test('secrets', (t) => secretConformance(t, makeHarness));
  await t.test('targets', (t) => targetConformance(t, makeHarness));
  await t.test('migration lock and meta', (t) => lockConformance(t, makeHarness));
  await t.test('seals', (t) => sealConformance(t, makeHarness));
}
