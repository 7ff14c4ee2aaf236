// Opening atrest's connection pool on node-postgres: configured from the settings alone (never from
// PGPASSWORD or ~/.pgpass: an operator finds every value in atrest's configuration), a warning when a
// server off this machine is reached without verification, and a failed connection turned into an
// atrest error that says what to fix.
import { type AtrestError, errors, type Logger, silentLogger } from '@atrest/core';
import pg from 'pg';
import type { PostgresSettings } from './settings.js';
import { endpoint, tlsFailure, tlsOptions } from './tls.js';

/** atrest's pool on one PostgreSQL database. */
export type PostgresConnection = {
  readonly pool: pg.Pool;
  readonly settings: PostgresSettings;
  /** End every connection of the pool. */
  close(): Promise<void>;
};

export type OpenPostgresOptions = {
  readonly logger?: Logger;
  /** Connections the pool may hold (default 10). */
  readonly maxConnections?: number;
};

// A server that does not answer (a dropped packet, not a refusal) fails the start instead of hanging it.
const CONNECT_TIMEOUT_MS = 15_000;

/** Open a pool and prove one connection (TLS and authentication included) before returning it. */
export async function openPostgres(
  settings: PostgresSettings,
  options: OpenPostgresOptions = {},
): Promise<PostgresConnection> {
  const logger = options.logger ?? silentLogger;
  const ssl = tlsOptions(settings);
  const unverified =
    settings.sslMode === 'disable' || (settings.sslMode === 'require' && settings.sslRootCert === undefined);
  if (unverified && !isLoopback(settings.host)) {
    logger.warn(
      `PostgreSQL server ${endpoint(settings)} is reached with sslmode ${settings.sslMode}: ` +
        (settings.sslMode === 'disable' ? 'nothing is encrypted, and ' : 'encrypted, but ') +
        "the server's identity is not checked. Use sslmode verify-full with ca_cert_path.",
      { server: settings.shown },
    );
  }
  const password = settings.password ?? '';
  const pool = new pg.Pool({
    host: settings.host,
    port: settings.port,
    database: settings.database,
    user: settings.user,
    password: async () => password,
    ssl,
    max: options.maxConnections ?? 10,
    connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
    application_name: 'atrest',
  });
  // An idle connection that breaks (a server restart) is only logged: the pool opens a new one when needed.
  pool.on('error', (err) => {
    logger.warn('A PostgreSQL connection broke; a new one is opened when needed.', {
      server: settings.shown,
      error: err.message,
    });
  });
  try {
    (await pool.connect()).release();
  } catch (err) {
    await pool.end();
    throw connectionFailure(err, settings);
  }
  return { pool, settings, close: () => pool.end() };
}

/** The atrest error for a connection that could not be made. */
function connectionFailure(err: unknown, settings: PostgresSettings): AtrestError {
  const tls = tlsFailure(err, settings);
  if (tls) return tls;
  const [problem, fix] = explain(err, settings);
  return errors.store(`Cannot connect to PostgreSQL ${settings.shown}: ${problem}.`, fix, {
    cause: err,
    details: { host: settings.host, port: settings.port, database: settings.database, user: settings.user },
  });
}

/** What went wrong and what to do, for the failures an operator meets. */
function explain(err: unknown, settings: PostgresSettings): [problem: string, fix: string] {
  const code = (err as { code?: unknown }).code;
  const message = err instanceof Error ? err.message : String(err);
  const user = JSON.stringify(settings.user);
  // Without a password node-postgres fails by itself once the server asks for one.
  if (settings.password === undefined && /client password must be/.test(message)) {
    return [`the server wants a password for user ${user}, and none is set`, 'Set [database] password.'];
  }
  if (code === '28P01') return [`the password of user ${user} was refused`, 'Check [database] password.'];
  if (code === '3D000') {
    return [
      `the database ${JSON.stringify(settings.database)} does not exist`,
      `Create it (CREATE DATABASE ${settings.database} OWNER ${settings.user}) or fix [database] name.`,
    ];
  }
  if (code === 'ECONNREFUSED')
    return ['nothing accepts connections there', 'Start the server, or fix [database] host.'];
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') {
    return [`the host name ${JSON.stringify(settings.host)} does not resolve`, 'Fix [database] host.'];
  }
  return [message, 'Check the server, and [database] host, user and password.'];
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^(::ffff:)?127\.\d+\.\d+\.\d+$/i.test(host);
}
