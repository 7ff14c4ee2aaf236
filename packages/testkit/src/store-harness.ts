// What the store conformance suite needs from a store's own test file (keyv's @keyv/test-suite
// pattern): a fresh database per test, connections to it, and the application's side of it in the
// store's own SQL dialect. Plus the helpers every aspect of the suite shares.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { DATA_KEY_ID_LENGTH, DATA_KEY_ID_OFFSET } from '@atrest/core';
import type { NewDataKey, RowId, Store, StoreOpenOptions, TargetSpec } from '@atrest/core';
import type { Test } from 'tap';

/** One empty database, as the store under test keeps it. */
export type StoreHarness = {
  /**
   * Open a store on this database (default `{ create: true }`); each call is another connection, as
   * another process or node holds.
   */
  openStore(options?: StoreOpenOptions): Promise<Store>;
  /** Create the application's table `table`: an integer primary key `id` and nullable text `columns`. */
  createTable(table: string, columns: readonly string[]): Promise<void>;
  /** Insert rows as the application does; returns their row ids, in order. */
  insertRows(table: string, rows: readonly Readonly<Record<string, string | null>>[]): Promise<RowId[]>;
  /** Write one cell as the application does (a writer concurrent with atrest). */
  updateCell(table: string, id: RowId, column: string, value: string | null): Promise<void>;
  deleteRow(table: string, id: RowId): Promise<void>;
  /** One cell as the database holds it; undefined when the row is gone. */
  readCell(table: string, id: RowId, column: string): Promise<string | null | undefined>;
  /** Overwrite one secret's stored value as another program would (a writer concurrent with atrest). */
  overwriteSecret(name: string, value: Uint8Array): Promise<void>;
  /** Record a schema version in atrest's tables, as a newer atrest would after upgrading them. */
  recordSchemaVersion(version: number): Promise<void>;
  /**
   * Start a real process that opens this store, takes the migration lock for `command` and holds it;
   * `kill()` SIGKILLs it and resolves once it is gone.
   */
  spawnLockHolder(command: string): Promise<{ pid: number; kill(): Promise<void> }>;
  /** Remove the database (every store opened on it is closed by then). */
  destroy(): Promise<void>;
};

/** Makes a fresh, empty database for one test. */
export type MakeStoreHarness = () => Promise<StoreHarness>;

/** A fresh database with `store` open on it; `connect()` opens more connections; all closed at teardown. */
export async function freshStore(
  t: Test,
  make: MakeStoreHarness,
): Promise<{ store: Store; harness: StoreHarness; connect(): Promise<Store> }> {
  const harness = await make();
  const stores: Store[] = [];
  const connect = async (): Promise<Store> => {
    const s = await harness.openStore();
    stores.push(s);
    return s;
  };
  t.teardown(async () => {
    for (const s of stores) await s.close();
    await harness.destroy();
  });
  return { store: await connect(), harness, connect };
}

/** A random data key id, as atrest makes them. */
export function dataKeyId(): string {
  return randomBytes(DATA_KEY_ID_LENGTH).toString('hex');
}

/** A data key to insert (active, label `conformance/2026-01-01`, provider `test.main`), with `overrides`. */
export function newDataKey(overrides: Partial<NewDataKey> = {}): NewDataKey {
  return {
    id: dataKeyId(),
    label: 'conformance/2026-01-01',
    provider: 'test.main',
    keyRef: 'kek-1',
    wrapped: randomBytes(48),
    encryptionsReserved: 0,
    createdAt: new Date().toISOString(),
    ...overrides,
  };
}

/** Bytes a store reads as an envelope naming data key `id` (the id at the format's offset). */
export function envelopeNaming(id: string): Buffer {
  const bytes = randomBytes(DATA_KEY_ID_OFFSET + DATA_KEY_ID_LENGTH + 28);
  bytes.write(id, DATA_KEY_ID_OFFSET, DATA_KEY_ID_LENGTH, 'hex');
  return bytes;
}

/** A registered target on the application table `table`; bound to its rows by `rowKey` when given. */
export function targetOn(table: string, column: string, rowKey?: string): TargetSpec {
  return rowKey === undefined
    ? { spec: `${table}.${column}`, table, column, json: false }
    : { spec: `${table}.${column}@${rowKey}`, table, column, json: false, rowKey };
}

/**
 * A `spawnLockHolder` for a harness: runs `node script ...args`, a script that takes the migration
 * lock and prints `locked`; resolves once it has, rejects if it exits first (with its stderr).
 */
export function spawnLockHolder(
  script: string,
  args: readonly string[],
): Promise<{ pid: number; kill(): Promise<void> }> {
  const child = spawn(process.execPath, [script, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  let errors = '';
  child.stderr.on('data', (d: Buffer) => {
    errors += d.toString('utf8');
  });
  return new Promise((resolve, reject) => {
    child.stdout.on('data', (d: Buffer) => {
      if (!d.toString('utf8').includes('locked')) return;
      resolve({
        pid: child.pid ?? 0,
        async kill() {
          child.kill('SIGKILL');
          await exited;
        },
      });
    });
    void exited.then(() => reject(new Error(`the lock holder exited: ${errors}`)));
  });
}
