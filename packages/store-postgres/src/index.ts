// @atrest/store-postgres public API. Every export is named here; there is no `export *`.
export { openPostgres } from './connect.js';
export type { OpenPostgresOptions, PostgresConnection } from './connect.js';
export { postgresSettings } from './settings.js';
export { openPostgresStore } from './store.js';
export type { PostgresDatabaseKeys, PostgresSettings } from './settings.js';
export type { SslMode } from './url.js';
