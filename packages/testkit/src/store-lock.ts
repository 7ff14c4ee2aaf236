// Store conformance, the migration lock and meta: one holder at a time across connections and in
// one process, ATREST_LOCKED naming the holder, released by its holder, and released when the
// holding process dies (a real process, SIGKILLed).
import { hostname } from 'node:os';
import type { LockHolder } from '@atrest/core';
import type { Test } from 'tap';
import { freshStore } from './store-harness.js';
import type { MakeStoreHarness } from './store-harness.js';

function holder(command: string): LockHolder {
  return { command, pid: process.pid, host: hostname(), since: new Date().toISOString() };
}

export async function lockConformance(t: Test, make: MakeStoreHarness): Promise<void> {
  await t.test('one holder at a time, named to the others; released by its holder', async (t) => {
    const { store, connect } = await freshStore(t, make);
    const first = holder('conformance first');
    const lock = await store.acquireMigrationLock(first);
    const other = await connect();
    await t.rejects(
      other.acquireMigrationLock(holder('conformance second')),
      {
        code: 'ATREST_LOCKED',
        details: { command: first.command, pid: first.pid, host: first.host, since: first.since },
      },
      'another connection is refused, told who holds it',
    );
    const refusal = await other.acquireMigrationLock(holder('conformance named')).catch((err: unknown) => err);
    t.match(
      refusal,
      { details: { database: store.location }, message: `on the database ${store.location}:` },
      "the refusal names the store's location (a file, or host/port/database/user without password)",
    );
    t.notMatch((refusal as Error).message, /\/\/[^/@:]*:(?!\*+@)[^/@]*@/, 'no password in it, only ***');
    await t.rejects(
      store.acquireMigrationLock(holder('conformance again')),
      { code: 'ATREST_LOCKED' },
      'so is a second migration on the same connection',
    );
    await lock.heartbeat();
    await t.rejects(other.acquireMigrationLock(holder('after heartbeat')), { code: 'ATREST_LOCKED' }, 'still held');
    await lock.release();
    const second = await other.acquireMigrationLock(holder('conformance second'));
    t.pass('released: another connection takes it');
    await lock.release();
    await t.rejects(
      store.acquireMigrationLock(holder('conformance third')),
      { code: 'ATREST_LOCKED', details: { command: 'conformance second' } },
      "a release by a former holder leaves the new holder's lock alone",
    );
    await second.release();
  });

  await t.test("a holder's death releases the lock", async (t) => {
    const { store, harness } = await freshStore(t, make);
    const child = await harness.spawnLockHolder('conformance holder process');
    await t.rejects(
      store.acquireMigrationLock(holder('while it lives')),
      { code: 'ATREST_LOCKED', details: { command: 'conformance holder process', pid: child.pid } },
      'held by the live process, named by its pid',
    );
    await child.kill();
    const lock = await onceReleased(() => store.acquireMigrationLock(holder('after the kill')));
    t.pass('free once it was SIGKILLed');
    await lock.release();
  });

  await t.test('a damaged lock row: never a parse error, cleared by clearMigrationLock', async (t) => {
    const { store } = await freshStore(t, make);
    t.same(await store.clearMigrationLock(), { cleared: 'none' }, 'no row: nothing to clear');
    for (const [value, problem] of [
      ['{"host": "x", "pid": 1', /not JSON/],
      ['[1, 2]', /not a JSON object/],
      ['{"pid": "12"}', /field '\w+' is not a/],
    ] as const) {
      await store.setMeta('migration_lock', value);
      // SQLite's row is the lock: refused, named. PostgreSQL's advisory lock decides: the row is rewritten.
      const taken = await store.acquireMigrationLock(holder('over a damaged row')).then(
        (lock) => lock,
        (err: unknown) => err as { code?: string; details?: Record<string, unknown> },
      );
      if ('release' in taken) await taken.release();
      else t.match(taken, { code: 'ATREST_LOCK_DAMAGED', details: { table: 'atrest_meta', key: 'migration_lock' } });
      if (!('release' in taken)) t.match(await store.clearMigrationLock(), { cleared: 'damaged', problem }, value);
      const lock = await store.acquireMigrationLock(holder('after clearing'));
      t.pass(`taken once cleared: ${value}`);
      await lock.release();
    }
  });

  await t.test('clearMigrationLock never breaks a live holder; clears the row of a killed one', async (t) => {
    const { store, harness } = await freshStore(t, make);
    const holderProcess = await harness.spawnLockHolder('conformance live holder');
    await t.rejects(
      store.clearMigrationLock(),
      { code: 'ATREST_LOCKED', details: { command: 'conformance live holder', pid: holderProcess.pid } },
      'refused while the holder lives',
    );
    await t.rejects(store.acquireMigrationLock(holder('still held')), { code: 'ATREST_LOCKED' }, 'and it still holds');
    await holderProcess.kill();
    t.match(
      await onceReleased(() => store.clearMigrationLock()),
      { cleared: 'stale', holder: { command: 'conformance live holder' } },
      "the killed holder's row is cleared",
    );
    t.same(await store.clearMigrationLock(), { cleared: 'none' }, 'then nothing is left');
  });

  await t.test('meta values', async (t) => {
    const { store, connect } = await freshStore(t, make);
    t.equal(await store.getMeta('conformance'), undefined, 'unset');
    await store.setMeta('conformance', 'one');
    await store.setMeta('conformance', 'two');
    t.equal(await (await connect()).getMeta('conformance'), 'two', 'set, replaced, seen by another connection');
  });

  await t.test('a meta value claimed by racing connections: the first one wins, everyone sees it', async (t) => {
    const { store, connect } = await freshStore(t, make);
    const racers = [store, ...(await Promise.all([connect(), connect(), connect()]))];
    const seen = await Promise.all(racers.map((s, i) => s.claimMeta('conformance-claim', `racer ${i}`)));
    t.equal(new Set(seen).size, 1, 'one value for all');
    t.match(seen[0], /^racer [0-3]$/, "and it is one racer's");
    t.equal(await store.getMeta('conformance-claim'), seen[0], 'stored');
    t.equal(await store.claimMeta('conformance-claim', 'late'), seen[0], 'a later claim gets the earlier value');
  });
}

/**
 * `attempt()` retried while it fails with ATREST_LOCKED, for a bounded while (200 x 25 ms): the
 * PostgreSQL server ends a SIGKILLed holder's session once it reads the closed socket, a moment after
 * the exit on a busy machine. A lock still held after that fails the test.
 */
async function onceReleased<T>(attempt: () => Promise<T>): Promise<T> {
  for (let n = 1; ; n++) {
    try {
      return await attempt();
    } catch (err) {
      if (n >= 200 || (err as { code?: string }).code !== 'ATREST_LOCKED') throw err;
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  }
}
