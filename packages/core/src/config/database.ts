// The application database out of `[database]` (Grafana's keys) and `[paths] data`: which store
// holds atrest's tables, the SQLite file (a relative path is resolved against `[paths] data`, as
// Grafana does), and PostgreSQL's keys as written, which the PostgreSQL store reads. A type atrest
// has no store for is an error, never a SQLite file. `--db` and `openAtrest({ database })` come in
// as options (the highest source): see `databaseOptions`.
import { resolve } from 'node:path';
import { describeSetting } from './origin.js';
import { invalidError, problem } from './problems.js';
import type { ConfigOrigin, ConfigSource, DatabaseConfig, PostgresKeys, StoreType } from './types.js';

/** The stores atrest has, as `[database] type` names them. */
const STORE_TYPES: readonly StoreType[] = ['sqlite3', 'postgres'];

export const STORE_TYPE_ALLOWED = `${STORE_TYPES.join(' or ')} (the stores atrest has; default sqlite3)`;

/** Why `type` names no store (convict's format check): MySQL is named, as Grafana users meet it first. */
export function checkStoreType(value: unknown): void {
  if (typeof value !== 'string') throw new Error('must be text');
  if (value === '' || (STORE_TYPES as readonly string[]).includes(value)) return;
  throw new Error(
    /^mysql/i.test(value) ? 'atrest has no MySQL store' : `atrest has no store of type ${JSON.stringify(value)}`,
  );
}

/** The store a URL names by its scheme; undefined for a scheme of no store (mysql://, …). */
function storeOfUrl(url: string): StoreType | undefined {
  if (/^(?:jdbc:)?postgres(?:ql)?:/i.test(url)) return 'postgres';
  if (/^(?:sqlite3?|file):/i.test(url)) return 'sqlite3';
  return undefined;
}

/** A SQLite URL's file (`sqlite:/path`, `sqlite:///path`, `sqlite3:…`, `file:/path`); undefined when not absolute. */
function sqlitePathOfUrl(url: string): string | undefined {
  const m = /^(?:sqlite3?|file):(?:\/\/)?(\/[^?#]*)/i.exec(url);
  return m?.[1] === undefined ? undefined : decodeURIComponent(m[1]);
}

/**
 * What `--db` or `openAtrest({ database })` (a SQLite path or a database URL) sets, as options: the
 * store's type with it, so that it replaces whatever database the other sources name.
 */
export function databaseOptions(given: string): Record<string, string> {
  const store = storeOfUrl(given);
  if (store === undefined) return { 'database.type': 'sqlite3', 'database.path': given };
  return { 'database.type': store, 'database.url': given };
}

const POSTGRES_KEYS = [
  'host',
  'name',
  'user',
  'password',
  'ssl_mode',
  'ca_cert_path',
  'client_cert_path',
  'client_key_path',
  'server_cert_name',
] as const satisfies readonly (keyof PostgresKeys)[];

const SOURCE_RANK: Readonly<Record<ConfigSource, number>> = { default: 0, ini: 1, dotenv: 2, env: 3, option: 4 };

/**
 * The database of validated `values`. The store is `type` (else the url's scheme, else sqlite3); a
 * url from a higher source than `type` brings its own store, one from a lower source than a `type`
 * of another store is dropped (that source's database was replaced), one from the same source is a
 * contradiction and refused. The SQLite file is the url's or `path`'s, whichever comes from the higher source (the url
 * on a tie, as in Grafana). Cross-key problems name both keys and where their values came from.
 */
export function databaseConfig(
  values: ReadonlyMap<string, unknown>,
  origin: (key: string) => ConfigOrigin,
): DatabaseConfig {
  const text = (key: string): string | undefined => {
    const value = values.get(key);
    return typeof value === 'string' && value !== '' ? value : undefined;
  };
  const rank = (key: string): number => (text(key) === undefined ? -1 : SOURCE_RANK[origin(key).source]);
  const givenUrl = text('database.url');
  const urlStore = givenUrl === undefined ? undefined : storeOfUrl(givenUrl);
  if (givenUrl !== undefined && urlStore === undefined) {
    throw invalidError([
      problem(
        'database.url',
        origin('database.url'),
        `its scheme ${JSON.stringify(givenUrl.split(':')[0])} names no store atrest has`,
        'postgres://, postgresql:// or jdbc:postgresql:// (PostgreSQL); sqlite:/path or file:/path (SQLite)',
      ),
    ]);
  }
  const given = text('database.type') as StoreType | undefined;
  // A url from a higher source than the type wins with its store, as Grafana's url wins over type.
  const urlWins = urlStore !== undefined && rank('database.url') > rank('database.type');
  const type = urlWins ? urlStore : (given ?? urlStore ?? 'sqlite3');
  let url = givenUrl;
  if (urlStore !== undefined && urlStore !== type) {
    if (rank('database.url') === rank('database.type')) {
      throw invalidError([
        problem(
          'database.type',
          origin('database.type'),
          `it is ${type}, but database.url (${describeSetting('database.url', origin('database.url'))}) ` +
            `names a ${urlStore} database`,
          'the type of the url, or no url',
        ),
      ]);
    }
    url = undefined; // a lower source's url for the store a higher source replaced
  }
  const postgres: PostgresKeys = Object.fromEntries(
    POSTGRES_KEYS.flatMap((key) => {
      const value = text(`database.${key}`);
      return value === undefined ? [] : [[key, value]];
    }),
  );
  if (type === 'postgres') return { type, path: undefined, url, postgres };
  const fromUrl = url === undefined ? undefined : sqlitePathOfUrl(url);
  if (url !== undefined && fromUrl === undefined) {
    throw invalidError([
      problem('database.url', origin('database.url'), 'it names no absolute file', 'sqlite:/path or file:/path'),
    ]);
  }
  const configured =
    fromUrl !== undefined && rank('database.url') >= rank('database.path') ? fromUrl : text('database.path');
  const data = text('paths.data');
  // Grafana's convention: `path = grafana.db` lives in `[paths] data`.
  const path = configured === undefined || data === undefined ? configured : resolve(data, configured);
  return { type, path, url, postgres };
}
