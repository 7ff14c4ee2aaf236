// Which store an application's database needs, and opening it: SQLite (a file, or the
// application's own better-sqlite3 handle) in core; PostgreSQL (the configured connection, or the
// application's own pg.Pool) through @atrest/store-postgres, imported only then, so that an
// application on SQLite never loads it nor `pg`.
import type Database from 'better-sqlite3';
import type { AtrestConfig } from '../config/types.js';
import { errors } from '../errors.js';
import type { Logger } from '../logger.js';
import { findPackage, importPackage } from '../package-import.js';
import { openSqliteStore } from './sqlite-store.js';
import type { Store, StoreOpenOptions } from './types.js';

/** An application's node-postgres pool (`pg.Pool`), as far as atrest tells it from other handles. */
export type PostgresPool = {
  readonly options: object;
  connect(): Promise<unknown>;
  end(): Promise<void>;
};

/**
 * What `openAtrest({ database })` takes: a SQLite path or a database URL (both read as the
 * configuration's `[database]`, see config/database.ts), or an open handle of the application's.
 */
export type DatabaseOption = string | Database.Database | PostgresPool;

const POSTGRES_PACKAGE = '@atrest/store-postgres';

/** What core calls in @atrest/store-postgres. */
type PostgresStoreModule = {
  postgresSettings(keys: Readonly<Record<string, string | undefined>>): object;
  openPostgresStore(database: object, options: StoreOpenOptions & { logger: Logger }): Promise<Store>;
};

/** Open the store of the application's handle `handle`, else of the configuration's `[database]`. */
export async function openStore(
  handle: Database.Database | PostgresPool | undefined,
  config: AtrestConfig,
  context: StoreOpenOptions & { readonly appRoot: string; readonly logger: Logger },
): Promise<Store> {
  if (handle !== undefined && 'prepare' in handle) return openSqliteStore(handle, context);
  const { database } = config;
  if (handle !== undefined || database.type === 'postgres') {
    const module = await postgresStoreModule(context.appRoot, config);
    const target = handle ?? module.postgresSettings({ ...database.postgres, url: database.url });
    return module.openPostgresStore(target, { create: context.create, logger: context.logger });
  }
  if (database.path === undefined) {
    throw errors.configInvalid(
      'No database.',
      `Set [database] path (or ${config.envPrefix}DATABASE_PATH, or --db), or [database] type = postgres with ` +
        'its host, name and user (or url).',
      { details: { key: 'database.path' } },
    );
  }
  return openSqliteStore(database.path, context);
}

/** @atrest/store-postgres, from the application's directory or the program's dependencies. */
async function postgresStoreModule(appRoot: string, config: AtrestConfig): Promise<PostgresStoreModule> {
  const dir = findPackage(POSTGRES_PACKAGE, appRoot, true);
  if (dir === undefined) {
    throw errors.storeNotInstalled(
      `The database is PostgreSQL (${config.database.type === 'postgres' ? '[database] type' : 'a pg.Pool'}), ` +
        `which needs the npm package ${POSTGRES_PACKAGE}; it is not installed in ${appRoot}.`,
      `Install it there: pnpm add ${POSTGRES_PACKAGE} (or npm install ${POSTGRES_PACKAGE}).`,
      { details: { package: POSTGRES_PACKAGE, appRoot } },
    );
  }
  let module: Record<string, unknown>;
  try {
    module = await importPackage(dir);
  } catch (cause) {
    throw errors.storeNotInstalled(
      `The package ${POSTGRES_PACKAGE} (${dir}) failed to load: ${(cause as Error).message}`,
      `Reinstall it (pnpm add ${POSTGRES_PACKAGE}); it brings its PostgreSQL client, pg.`,
      { cause, details: { package: POSTGRES_PACKAGE, appRoot } },
    );
  }
  if (typeof module['postgresSettings'] !== 'function' || typeof module['openPostgresStore'] !== 'function') {
    throw errors.storeNotInstalled(
      `The package ${POSTGRES_PACKAGE} in ${dir} does not export postgresSettings and openPostgresStore.`,
      `Install the version of ${POSTGRES_PACKAGE} that matches @atrest/core.`,
      { details: { package: POSTGRES_PACKAGE, appRoot } },
    );
  }
  return module as unknown as PostgresStoreModule;
}
