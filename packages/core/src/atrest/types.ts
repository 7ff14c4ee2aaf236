// The public shape of an open atrest instance and of the options that open it.
import type { AtrestConfig, ConfigSources } from '../config/types.js';
import type { Logger } from '../logger.js';
import type { MigrationsApi } from '../migration/types.js';
import type { DatabaseOption } from '../store/open.js';
import type { AuditEvent } from '../observability/audit.js';
import type { MetricsSnapshot } from '../observability/metrics.js';
import type { AtrestHealth } from './health.js';
import type { AtrestStatus } from './status.js';

/** Options of `openAtrest`: where the configuration comes from, plus what only code can pass. */
export type OpenAtrestOptions = ConfigSources & {
  /**
   * The application database, in place of `[database]`: a SQLite path, a database URL
   * (`postgres://…`, `jdbc:postgresql://…`; a password may come from `[database] password`), the
   * application's better-sqlite3 handle, or its `pg.Pool`. atrest commits its data keys on its own
   * connection, never inside the application's transaction.
   */
  database?: DatabaseOption;
  /** The application's directory: provider packages resolve from its node_modules. Default: the current directory. */
  appRoot?: string;
  /** Where atrest reports; default silent. */
  logger?: Logger;
  /**
   * Default true: create what is missing (the SQLite file, atrest's tables, and on first boot, when
   * the database has no data key at all, a local provider's key). False for what only reads (the
   * CLI's status, secrets get…): the database, its atrest tables and the key must exist already
   * (ATREST_NOT_INITIALIZED, ATREST_KEY_MISSING), and nothing is created.
   */
  create?: boolean;
  /**
   * Called with every audit record (docs/OBSERVABILITY.md), synchronously, as the event happens;
   * `[security.encryption] audit_log` also writes them to a file. A hook that throws is logged.
   */
  onAudit?: (event: AuditEvent) => void;
  /** Who acts through this instance (a user, a job), recorded in every audit record. */
  actor?: string;
};

/** Options of encrypt/decrypt. */
export type CryptOptions = {
  /** Bound to the ciphertext: decrypting with another context fails. E.g. 'table.column:42'. */
  context?: string | Uint8Array;
  /** Data key scope (a data key per scope per day). Default 'default'. */
  scope?: string;
  /** A registered target (`table.column`): sets context and scope the way the migration commands expect. */
  target?: string;
  /** With `target` of a JSON column: the field whose value this is. */
  field?: string;
  /**
   * With a row-bound `target` (`table.column@key_column`), required: the row's key, as the database's
   * text cast writes it (a number is bound as its decimal text). A value copied to another row fails.
   */
  row?: string | number | bigint;
};

/** Options of decrypt. */
export type DecryptOptions = CryptOptions & {
  /** Return a value that is not atrest ciphertext as is (legacy plaintext) instead of throwing ATREST_NOT_ENCRYPTED. */
  allowPlaintext?: boolean;
};

/** One entry of `secrets.list()`. */
export type SecretInfo = {
  name: string;
  /** The value's size in bytes (not what the database stores, which adds the envelope's 44 bytes). */
  size: number;
  encrypted: boolean;
  createdAt: string;
  updatedAt: string;
};

/** The secrets key/value table. */
export type SecretsApi = {
  set(name: string, value: string | Uint8Array): Promise<void>;
  get(name: string): Promise<Buffer | undefined>;
  getText(name: string): Promise<string | undefined>;
  /**
   * The path of a new private file (0600, in a 0700 directory under $XDG_RUNTIME_DIR or the temporary
   * directory) holding the secret's value, for a driver that takes a path. Removed on close() and at
   * process exit. ATREST_SECRET_NOT_FOUND when there is no such secret.
   */
  file(name: string): Promise<string>;
  list(): Promise<SecretInfo[]>;
  /** True when the secret existed. */
  delete(name: string): Promise<boolean>;
};

/** An open atrest instance. */
export type Atrest = {
  readonly config: AtrestConfig;
  encrypt(plaintext: string | Uint8Array, options?: CryptOptions): Promise<Buffer>;
  decrypt(ciphertext: Uint8Array | string, options?: DecryptOptions): Promise<Buffer>;
  encryptText(plaintext: string | Uint8Array, options?: CryptOptions): Promise<string>;
  decryptText(text: string, options?: DecryptOptions): Promise<string>;
  readonly secrets: SecretsApi;
  /** Re-encryption and key rotation (what the `secrets-migration` and `rotate-encryption-key` commands run). */
  readonly migrations: MigrationsApi;
  status(): Promise<AtrestStatus>;
  /**
   * The cheap probe (what `status --check` exits with): cached for `health_check_interval`, each
   * provider's health check called at most once per interval however often this is called.
   */
  health(): Promise<AtrestHealth>;
  /** Every metric as a plain snapshot (`registerMetrics` serves the same figures to prom-client). */
  metrics(): Promise<MetricsSnapshot>;
  close(): Promise<void>;
};
