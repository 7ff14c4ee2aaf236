// Which store an application's database needs, and opening it: SQLite, from a path, a SQLite URL
// or the application's own better-sqlite3 handle (the only store this version has).
import type Database from 'better-sqlite3';
import type { AtrestConfig } from '../config/types.js';
import { errors } from '../errors.js';
import { openSqliteStore } from './sqlite-store.js';
import type { Store, StoreOpenOptions } from './types.js';

/** What `openAtrest({ database })` takes: a path, or an open better-sqlite3 handle. */
export type DatabaseOption = string | Database.Database;

/** Open the store of `database`, else of the configuration's `[database] path` or `url`. */
export async function openStore(
  database: DatabaseOption | undefined,
  config: AtrestConfig,
  options: StoreOpenOptions,
): Promise<Store> {
  const target = database ?? config.database.path ?? sqlitePathFromUrl(config.database.url);
  if (target === undefined || target === '') {
    throw errors.configInvalid(
      'No database.',
      `Set [database] path or ${config.envPrefix}DATABASE_PATH (or pass --db).`,
      { details: { key: 'database.path' } },
    );
  }
  return openSqliteStore(target, options);
}

/** `[database] url` for SQLite (`sqlite:/path`, `sqlite:///path`, `file:/path`). */
function sqlitePathFromUrl(url: string | undefined): string | undefined {
  if (url === undefined || url === '') return undefined;
  const m = /^(?:sqlite|sqlite3|file):(?:\/\/)?(\/[^?#]*)/.exec(url);
  if (m?.[1] !== undefined) return decodeURIComponent(m[1]);
  throw errors.configInvalid(
    `[database] url names a database atrest cannot open yet (${url.split(':')[0]}:): ` +
      'this version stores its tables in SQLite.',
    'Set [database] path to a SQLite file.',
    { details: { key: 'database.url' } },
  );
}
