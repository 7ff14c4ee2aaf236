// Shared fixture of the migration tests: an application database with atrest's secrets table and
// an application target table (`datasources`, a TEXT column and a JSON column, some legacy
// plaintext), the INI file that registers the targets, the CLI as a killable real process, and
// checks that read every value back and compare it with what was written. The database is on a
// FixtureStore: SQLite (the default) or PostgreSQL.
import type { ChildProcess } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { ARMOR_PREFIX, dearmor, isArmored, isAtrestError, openAtrest, readDataKeyId } from '@atrest/core';
import type { Atrest, AtrestStatus, Logger, TargetReport } from '@atrest/core';
import { spawnNode, tempDir } from '@atrest/testkit';
import type { Run } from '@atrest/testkit';
import { cliBin, repoRoot } from './helpers.js';
import { type FixtureStore, sqliteStore } from './migration-stores.js';

export const PASSWORD_TARGET = 'datasources.password';
export const JSON_TARGET = 'datasources.json_data';
export const TARGETS = `${PASSWORD_TARGET} ${JSON_TARGET}:json`;
/** GCM envelope overhead: magic 3 + version 1 + data key id 16 + nonce 12 + tag 16. */
export const ENVELOPE_OVERHEAD = 48;
export const OLD_PASSPHRASE = 'old passphrase: correct horse battery';
export const NEW_PASSPHRASE = 'new passphrase: staple tortoise 2026';

export type ProviderKind = 'file' | 'secret_key';

const created: string[] = [];
/** A temporary directory removed by `removeTempDirs` (databases of 50,000 secrets add up). */
function ownTempDir(prefix: string): string {
  const dir = tempDir(prefix);
  created.push(dir);
  return dir;
}
/** Remove every directory this module made (call from t.teardown). */
export function removeTempDirs(): void {
  for (const dir of created.splice(0)) rmSync(dir, { recursive: true, force: true });
}

/** One application database in its own directory, with its INI file. */
export type Fixture = {
  readonly dir: string;
  readonly store: FixtureStore;
  /** The SQLite file, or the PostgreSQL database's name. */
  readonly db: string;
  readonly keyPath: string;
  configFile: string;
  /** Environment for the CLI and for openAtrest (passphrase, when secret_key). */
  env: Record<string, string>;
};

/** What was written, to compare against. */
export type Originals = {
  readonly secrets: readonly Buffer[];
  /** Indexes of secrets stored as plaintext (encrypted = 0), as after a turn-off then on. */
  readonly plainSecrets: ReadonlySet<number>;
  /** Target rows by id: the password (null when NULL) and the JSON object's plaintext (null when NULL). */
  readonly rows: ReadonlyMap<number, { password: string | null; json: Record<string, unknown> | null }>;
};

export function secretName(i: number): string {
  return `secret-${String(i).padStart(6, '0')}`;
}

/** The i-th secret: lengths 0 to 299, text (with non-ASCII) or binary. */
export function secretValue(i: number): Buffer {
  const len = (i * 7919) % 300;
  if (i % 4 === 0) {
    const out = Buffer.alloc(len);
    for (let off = 0; off < len; off += 32) createHash('sha256').update(`bin-${i}-${off}`).digest().copy(out, off);
    return out;
  }
  return Buffer.from(`s${i}:ünï:`.padEnd(len, String.fromCharCode(97 + (i % 26))), 'utf8');
}

function rowOriginal(id: number): { password: string | null; json: Record<string, unknown> | null } {
  return {
    password: id % 10 === 0 ? null : `pw-${id}-ünï-${'x'.repeat(id % 37)}`,
    json:
      id % 15 === 0
        ? null
        : {
            user: `user${id}`,
            token: `tok-${id}-${'t'.repeat(id % 50)}`,
            port: 5000 + id,
            tls: { verify: true },
            note: '',
          },
  };
}

/** Password plaintext when id % 3 === 0; JSON field `user` plaintext when id % 4 === 0 (legacy rows). */
function passwordIsPlain(id: number): boolean {
  return id % 3 === 0;
}
function jsonFieldIsPlain(id: number, field: string): boolean {
  return field === 'user' && id % 4 === 0;
}

export function iniText(
  f: { store: FixtureStore; db: string; keyPath: string },
  extra: { current?: string; available?: string } = {},
): string {
  return [
    "; the host application's own file: atrest reads only its keys",
    'app_mode = production',
    'instance_name = migration-test',
    '',
    '[server]',
    'http_port = 3000',
    '',
    '[database]',
    ...f.store.iniLines(f.db),
    '',
    '[security]',
    'admin_user = admin',
    ...(extra.current !== undefined ? [`encryption_provider = ${extra.current}`] : []),
    ...(extra.available !== undefined ? [`available_encryption_providers = ${extra.available}`] : []),
    '',
    '[security.encryption.file.default]',
    `key_path = ${f.keyPath}`,
    '',
    '[secrets_migration]',
    `targets = ${TARGETS}`,
    '',
  ].join('\n');
}

/** Point the fixture's INI at other providers (the database and key file stay). */
export function configure(f: Fixture, extra: { current?: string; available?: string; passphrase?: string } = {}): void {
  writeFileSync(f.configFile, iniText(f, extra));
  f.env = extra.passphrase !== undefined ? { ATREST_ENCRYPTION_SECRET_KEY: extra.passphrase } : {};
}

async function emptyFixture(store: FixtureStore, kind: ProviderKind, passphrase = OLD_PASSPHRASE): Promise<Fixture> {
  const dir = ownTempDir('atrest-migration-');
  const f: Fixture = {
    dir,
    store,
    db: await store.create(dir),
    keyPath: join(dir, 'keys', 'app.key'),
    configFile: join(dir, 'app.ini'),
    env: {},
  };
  configure(f, kind === 'secret_key' ? { current: 'secret_key.default', passphrase } : {});
  return f;
}

export function openFixture(f: Fixture, logger?: Logger): Promise<Atrest> {
  return openAtrest({ configFile: f.configFile, env: f.env, appRoot: repoRoot, ...(logger ? { logger } : {}) });
}

/**
 * A database written the way an application writes it: `secrets` secrets through the secrets API
 * (data keys rotated every `rotateEvery`, so values sit under many data keys), `plainSecrets` of
 * them stored as plaintext, and `rows` target rows through encryptText, a third of them legacy
 * plaintext.
 */
export async function provision(
  kind: ProviderKind,
  counts: { secrets: number; rows: number; plainEvery?: number; rotateEvery?: number },
  store: FixtureStore = sqliteStore,
): Promise<{ fixture: Fixture; originals: Originals }> {
  const f = await emptyFixture(store, kind);
  await store.query(
    f.db,
    `CREATE TABLE datasources (id INTEGER PRIMARY KEY, name TEXT NOT NULL, password TEXT, json_data ${store.jsonType})`,
  );
  const a = await openFixture(f);
  // Legacy plaintext secrets, as a version of the application from before encryption wrote them.
  const plainCells: [string, Buffer, string, string][] = [];
  const secrets: Buffer[] = [];
  const plain = new Set<number>();
  const rotateEvery = counts.rotateEvery ?? 5000;
  const plainEvery = counts.plainEvery ?? 97;
  try {
    for (let i = 0; i < counts.secrets; i++) {
      const v = secretValue(i);
      secrets.push(v);
      if (i % plainEvery === 5) {
        const now = new Date().toISOString();
        plainCells.push([secretName(i), v, now, now]);
        plain.add(i);
      } else {
        await a.secrets.set(secretName(i), v);
      }
      if (i % rotateEvery === rotateEvery - 1) await a.migrations.rotateDataKeys();
    }
    const rows = new Map<number, { password: string | null; json: Record<string, unknown> | null }>();
    const cells: [number, string, string | null, string | null][] = [];
    for (let id = 1; id <= counts.rows; id++) {
      const o = rowOriginal(id);
      rows.set(id, o);
      const password =
        o.password === null
          ? null
          : passwordIsPlain(id)
            ? o.password
            : await a.encryptText(o.password, { target: PASSWORD_TARGET });
      let json: string | null = null;
      if (o.json !== null) {
        const stored: Record<string, unknown> = {};
        for (const [field, value] of Object.entries(o.json)) {
          stored[field] =
            typeof value === 'string' && value !== '' && !jsonFieldIsPlain(id, field)
              ? await a.encryptText(value, { target: JSON_TARGET, field })
              : value;
        }
        json = JSON.stringify(stored);
      }
      cells.push([id, `ds-${id}`, password, json]);
      if (id % 1000 === 0) await a.migrations.rotateDataKeys();
    }
    await store.insertAll(
      f.db,
      'INSERT INTO atrest_secrets (name, value, encrypted, created_at, updated_at) VALUES (?, ?, FALSE, ?, ?)',
      plainCells,
    );
    // As a turn-off then on leaves it: atrest's secrets are in a transition, not sealed.
    if (plainCells.length > 0) await store.query(f.db, "DELETE FROM atrest_seals WHERE place = 'atrest_secrets'");
    await store.insertAll(f.db, 'INSERT INTO datasources (id, name, password, json_data) VALUES (?, ?, ?, ?)', cells);
    return { fixture: f, originals: { secrets, plainSecrets: plain, rows } };
  } finally {
    await a.close();
  }
}

/** A copy of `f` (database and key file) in a new directory, with its own INI file. */
export async function copyFixture(f: Fixture): Promise<Fixture> {
  const dir = ownTempDir('atrest-migration-');
  const c: Fixture = {
    dir,
    store: f.store,
    db: await f.store.copy(f.db, dir),
    keyPath: join(dir, 'keys', 'app.key'),
    configFile: join(dir, 'app.ini'),
    env: { ...f.env },
  };
  if (existsSync(f.keyPath)) {
    mkdirSync(join(dir, 'keys'), { mode: 0o700 });
    copyFileSync(f.keyPath, c.keyPath);
    chmodSync(c.keyPath, 0o600);
  }
  writeFileSync(c.configFile, iniText(c, currentOf(f)));
  return c;
}

function currentOf(f: Fixture): { current?: string; available?: string } {
  const text = readFileSync(f.configFile, 'utf8');
  const current = /^encryption_provider = (.*)$/m.exec(text)?.[1];
  const available = /^available_encryption_providers = (.*)$/m.exec(text)?.[1];
  return { ...(current !== undefined ? { current } : {}), ...(available !== undefined ? { available } : {}) };
}

/** Outcome of reading every value back. */
export type Verification = { secrets: number; values: number; mismatches: string[] };

/**
 * Open atrest with the fixture's configuration (a wrong key fails here) and compare every secret and
 * every target value with `originals` (plaintext as well as ciphertext is read: allowPlaintext).
 */
export async function verifyAll(f: Fixture, originals: Originals): Promise<Verification> {
  const a = await openFixture(f);
  const mismatches: string[] = [];
  let secrets = 0;
  let values = 0;
  try {
    for (let i = 0; i < originals.secrets.length; i++) {
      let got: Buffer | undefined;
      try {
        got = await a.secrets.get(secretName(i));
      } catch (err) {
        mismatches.push(`${secretName(i)}: ${(err as { code?: string }).code ?? String(err)}`);
        continue;
      }
      secrets++;
      if (got === undefined || !got.equals(originals.secrets[i] ?? Buffer.alloc(1)))
        mismatches.push(`${secretName(i)}: wrong value (${got?.length ?? 'missing'} bytes)`);
    }
    const rows = await targetRows(f);
    if (rows.length !== originals.rows.size)
      mismatches.push(`datasources: ${rows.length} rows instead of ${originals.rows.size}`);
    for (const row of rows) {
      const o = originals.rows.get(row.id);
      if (o === undefined) {
        mismatches.push(`datasources ${row.id}: unexpected row`);
        continue;
      }
      values += await compareRow(a, row, o, mismatches);
    }
  } finally {
    await a.close();
  }
  return { secrets, values, mismatches };
}

/** Compare one stored target row with its plaintext; returns the number of values compared. */
export async function compareRow(
  a: Atrest,
  row: { id: number; password: string | null; json_data: string | null },
  o: { password: string | null; json: Record<string, unknown> | null },
  mismatches: string[],
): Promise<number> {
  let n = 0;
  const check = async (
    stored: unknown,
    want: unknown,
    where: string,
    opts: { target: string; field?: string },
  ): Promise<void> => {
    if (typeof want !== 'string' || want === '') {
      if (JSON.stringify(stored) !== JSON.stringify(want)) mismatches.push(`${where}: non-secret value changed`);
      return;
    }
    n++;
    if (typeof stored !== 'string') {
      mismatches.push(`${where}: not a string`);
      return;
    }
    try {
      const got = await a.decryptText(stored, { ...opts, allowPlaintext: true });
      if (got !== want)
        mismatches.push(
          `${where}: decrypts to something else ` +
            `(${isArmored(got) ? 'ciphertext: encrypted twice' : `${got.length} chars`})`,
        );
    } catch (err) {
      mismatches.push(`${where}: ${(err as { code?: string }).code ?? String(err)}`);
    }
  };
  if (o.password === null) {
    if (row.password !== null) mismatches.push(`datasources ${row.id}.password: should be NULL`);
  } else await check(row.password, o.password, `datasources ${row.id}.password`, { target: PASSWORD_TARGET });
  if (o.json === null) {
    if (row.json_data !== null) mismatches.push(`datasources ${row.id}.json_data: should be NULL`);
  } else {
    const stored = JSON.parse(row.json_data ?? 'null') as Record<string, unknown> | null;
    if (stored === null || Object.keys(stored).sort().join() !== Object.keys(o.json).sort().join())
      mismatches.push(`datasources ${row.id}.json_data: fields changed`);
    else
      for (const [field, want] of Object.entries(o.json))
        await check(stored[field], want, `datasources ${row.id}.json_data.${field}`, { target: JSON_TARGET, field });
  }
  return n;
}

/** The target table's rows, the JSON column as text. */
function targetRows(f: Fixture): Promise<{ id: number; password: string | null; json_data: string | null }[]> {
  return f.store.query(f.db, 'SELECT id, password, CAST(json_data AS TEXT) AS json_data FROM datasources ORDER BY id');
}

/** One stored value as the database holds it. */
export type StoredValue = {
  where: string;
  plainLength: number | undefined;
  stored: Buffer | string;
  encrypted: boolean;
  dataKeyId: string | undefined;
};

/** Every stored value (secrets and target values), raw. */
export async function storedValues(f: Fixture, originals: Originals): Promise<StoredValue[]> {
  const out: StoredValue[] = [];
  const secrets = await f.store.query<{ name: string; value: Buffer; encrypted: number }>(
    f.db,
    'SELECT name, value, CAST(encrypted AS INTEGER) AS encrypted FROM atrest_secrets ORDER BY name',
  );
  for (const r of secrets) {
    const i = Number(r.name.slice('secret-'.length));
    out.push({
      where: r.name,
      plainLength: originals.secrets[i]?.length,
      stored: r.value,
      encrypted: r.encrypted === 1,
      dataKeyId: r.encrypted === 1 ? readDataKeyId(r.value) : undefined,
    });
  }
  for (const r of await targetRows(f)) {
    const o = originals.rows.get(r.id);
    const cells: [string, string, string | undefined][] = [];
    if (r.password !== null) cells.push([`datasources ${r.id}.password`, r.password, o?.password ?? undefined]);
    if (r.json_data !== null) {
      for (const [field, v] of Object.entries(JSON.parse(r.json_data) as Record<string, unknown>)) {
        const want = o?.json?.[field];
        if (typeof v === 'string' && v !== '')
          cells.push([`datasources ${r.id}.json_data.${field}`, v, typeof want === 'string' ? want : undefined]);
      }
    }
    for (const [where, v, want] of cells) {
      const enc = isArmored(v);
      out.push({
        where,
        plainLength: want === undefined ? undefined : Buffer.byteLength(want, 'utf8'),
        stored: v,
        encrypted: enc,
        dataKeyId: enc ? readDataKeyId(dearmor(v)) : undefined,
      });
    }
  }
  return out;
}

/** Length of the text armor of a ciphertext of `plainLength` bytes (base64url without padding). */
export function armoredLength(plainLength: number): number {
  return ARMOR_PREFIX.length + Math.ceil(((plainLength + ENVELOPE_OVERHEAD) * 4) / 3);
}

/** Values whose stored size is not exactly one encryption of their plaintext (so: encrypted twice, or not at all). */
export function sizeViolations(values: readonly StoredValue[]): string[] {
  const bad: string[] = [];
  for (const v of values) {
    if (v.plainLength === undefined) continue;
    if (!v.encrypted) {
      bad.push(`${v.where}: plaintext`);
      continue;
    }
    const want = typeof v.stored === 'string' ? armoredLength(v.plainLength) : v.plainLength + ENVELOPE_OVERHEAD;
    if (v.stored.length !== want) bad.push(`${v.where}: ${v.stored.length} instead of ${want}`);
  }
  return bad;
}

export type DataKeyInfo = { id: string; label: string; provider: string; key_ref: string; active: number };

export function dataKeys(f: Fixture): Promise<DataKeyInfo[]> {
  return f.store.query(
    f.db,
    'SELECT id, label, provider, key_ref, CAST(active AS INTEGER) AS active ' +
      'FROM atrest_data_keys ORDER BY created_at, id',
  );
}

/** The CLI as a real process that can be killed; `done` resolves when it has exited. */
export function spawnAtrest(
  args: readonly string[],
  options: { env?: Record<string, string>; input?: string | Buffer } = {},
): { child: ChildProcess; done: Promise<Run> } {
  return spawnNode([cliBin, ...args], { cwd: repoRoot, ...options, home: ownTempDir('atrest-migration-home-') });
}

/** Run the CLI on the fixture (its INI and env), to the end. */
export async function cli(f: Fixture, args: readonly string[], input?: string): Promise<Run> {
  return spawnAtrest(['--config', f.configFile, ...args], { env: f.env, ...(input !== undefined ? { input } : {}) })
    .done;
}

/** Run the CLI on the fixture and SIGKILL it after `delayMs` (unless it exited first). */
export async function cliKilledAfter(
  f: Fixture,
  args: readonly string[],
  delayMs: number,
  input?: string,
): Promise<Run> {
  const { child, done } = spawnAtrest(['--config', f.configFile, ...args], {
    env: f.env,
    ...(input !== undefined ? { input } : {}),
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), delayMs);
  const run = await done;
  clearTimeout(timer);
  return run;
}

export async function statusJson(f: Fixture): Promise<AtrestStatus> {
  const r = await cli(f, ['status', '--json']);
  if (r.code !== 0) throw new Error(`status exited ${r.code}: ${r.stderr}`);
  return JSON.parse(r.stdout.toString('utf8')) as AtrestStatus;
}

export function parseReports(r: Run): TargetReport[] {
  return JSON.parse(r.stdout.toString('utf8')) as TargetReport[];
}

/** Whether openAtrest accepts the fixture's configuration (undefined) or the error code it refuses with. */
export async function openError(f: Fixture): Promise<string | undefined> {
  try {
    const a = await openFixture(f);
    await a.close();
    return undefined;
  } catch (err) {
    if (isAtrestError(err)) return err.code;
    throw err;
  }
}

/** Seconds with millisecond precision, for comments. */
export function since(started: number): string {
  return `${((Date.now() - started) / 1000).toFixed(2)}s`;
}
