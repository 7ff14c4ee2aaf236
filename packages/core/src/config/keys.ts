// The table of keys atrest owns: core's own keys (one row each in CORE_KEYS), the sections it owns
// or shares with the host, and what the built-in providers declare in `sharedConfig` (shared keys
// such as `[security] secret_key` or `<APP>_ENCRYPTION_KEY_PATH`, id aliases such as Grafana's
// `secretKey.v1`, default provider rules). Every later step asks this table; none knows a provider.
import { isAbsolute } from 'node:path';
import { errors } from '../errors.js';
import { STORE_TYPE_ALLOWED, checkStoreType } from './database.js';
import type { SharedConfigDeclaration } from '../providers/contract.js';
import { TARGETS_ALLOWED, keyFormat, parseDuration, parseProviderId, providerIdAllowed } from './formats.js';
import { parseTargets, splitList } from './formats.js';
import type { KeyFormat } from './formats.js';
import { envSegment, normalizeProviderName } from './sources.js';
import type { BuiltinProvider } from './types.js';

export const PROVIDER_SECTION_PREFIX = 'security.encryption.';
/** Variables of provider sections: `<APP>_SECURITY_ENCRYPTION_<TYPE>_<NAME>_<KEY>`. */
export const PROVIDER_VARIABLE_INFIX = 'SECURITY_ENCRYPTION_';
/** Under these (after `<APP>_`) every variable is atrest's: one that matches nothing is an error. */
export const OWNED_VARIABLE_PREFIXES = [PROVIDER_VARIABLE_INFIX, 'SECRETS_MIGRATION_', 'ENCRYPTION_'];
/** Sections whose every key is atrest's: an unknown key there is an error. */
export const OWNED_SECTIONS: ReadonlySet<string> = new Set(['security.encryption', 'secrets_migration']);
/** Sections atrest shares with the host application ('' is before the first section): only atrest's keys are read. */
export const SHARED_SECTIONS: ReadonlySet<string> = new Set(['', 'security', 'database', 'paths']);
/** A key core reads in every provider section, before the provider package is even loaded. */
export const MODULE_KEY = 'module';

const DEFAULT_TTL_MS = 15 * 60_000;
/** `[security.encryption] algorithm` as Grafana takes it; atrest reads it and keeps its one format. */
const GRAFANA_ALGORITHMS: readonly string[] = ['aes-gcm', 'aes-cfb'];
const DEFAULT_CLEANUP_MS = 60_000;
const DEFAULT_HEALTH_INTERVAL_MS = 30_000;
// Cache timers are plain setTimeout-style durations; a day is far beyond any useful TTL.
const MAX_TTL_MS = 24 * 3_600_000;

/** A key of a provider section, as the table addresses it. */
export type SectionKeyRef = { readonly type: string; readonly name: string; readonly key: string };

/** Where a value goes in the settings table, and how messages name it. */
export type KeyTarget = {
  /** The settings table's key: an owned key's dotted path, or `sectionTableKey` of a section key. */
  readonly tableKey: string;
  readonly displayKey: string;
  /** The provider section key it is (section keys and the shared keys that feed them). */
  readonly section?: SectionKeyRef;
};

/** A key of atrest's in a shared or owned section, listed by `config show` whatever is configured. */
export type OwnedKey = KeyTarget & {
  /** The variable `config show` names for it. */
  readonly variable: string;
  readonly doc: string;
  readonly format: KeyFormat;
  readonly defaultValue: string | number | boolean;
  readonly sensitive: boolean;
};

/** A provider section key that keys outside its section feed (declared by its provider). */
export type SharedKey = KeyTarget & {
  readonly section: SectionKeyRef;
  /** The variable messages name for it. */
  readonly variable: string;
  /** Every way to set it, for messages: `[security] secret_key`, its variables. */
  readonly places: readonly string[];
  /** The value when no source sets it, for this application. */
  readonly defaultValue: string | undefined;
};

/** A provider that is the encryption provider when `encryption_provider` is not set. */
export type DefaultRule = {
  readonly type: string;
  readonly section: string;
  readonly when: 'configured' | 'otherwise';
};

export type KeyTable = {
  /** `<APP>_`. */
  readonly envPrefix: string;
  /** atrest's keys of the shared and owned sections, in the order `config show` lists them. */
  readonly owned: readonly OwnedKey[];
  readonly ownedByKey: ReadonlyMap<string, OwnedKey>;
  /** Fixed variable names (after `<APP>_`) and what they set. */
  readonly variables: ReadonlyMap<string, KeyTarget>;
  /** Section keys fed by shared keys, by table key. */
  readonly shared: ReadonlyMap<string, SharedKey>;
  readonly defaultRules: readonly DefaultRule[];
  /** Types whose variables are read even when no section or id names them. */
  readonly builtinTypes: readonly string[];
  /** A provider id split in two, declared aliases read as the ids they stand for; undefined when malformed. */
  parseId(id: string): { type: string; name: string } | undefined;
  /** What a provider id may be, for messages. */
  readonly idAllowed: string;
};

/** The settings table's key of a section key: names compare case-insensitively, '-' and '_' alike. */
export function sectionTableKey(type: string, name: string, key: string): string {
  return `${PROVIDER_SECTION_PREFIX}${type}.${normalizeProviderName(name)}.${key}`;
}

/** The target of a key written for a provider section: the shared key that is the same setting, if any. */
export function sectionTarget(keys: KeyTable, type: string, name: string, key: string): KeyTarget {
  const tableKey = sectionTableKey(type, name, key);
  const displayKey = `${PROVIDER_SECTION_PREFIX}${type}.${name}.${key}`;
  return keys.shared.get(tableKey) ?? { tableKey, displayKey, section: { type, name, key } };
}

type CoreKey = Omit<OwnedKey, 'tableKey' | 'displayKey' | 'variable'> & { readonly key: string };

function textFormat(allowed: string, check: (text: string) => void): KeyFormat {
  const convict = (value: unknown): void => {
    if (typeof value !== 'string') throw new Error('must be text');
    check(value);
  };
  return { convict, coerce: (text) => text, allowed, trusted: true };
}

/** A duration key of [security.encryption]: more than 0, at most 24h. */
function durationKey(key: string, doc: string, defaultValue: number): CoreKey {
  const convict = (value: unknown): void => {
    if (typeof value !== 'number' || !Number.isInteger(value)) throw new Error('must be a duration');
    if (value <= 0 || value > MAX_TTL_MS) throw new Error('must be more than 0 and at most 24h');
  };
  const allowed =
    'a duration such as 30s, 15m, 1h, 1h30m or a whole number of milliseconds, more than 0 and at most 24h';
  return {
    key,
    doc,
    format: { convict, coerce: parseDuration, allowed, trusted: true },
    defaultValue,
    sensitive: false,
  };
}

/** PostgreSQL's `[database]` keys, as Grafana names them, and what each is. */
const postgresKeys: readonly (readonly [string, string])[] = [
  ['host', 'host or host:port (default localhost:5432)'],
  ['name', "the database (default: the user's name)"],
  ['user', 'the user'],
  ['password', 'the password'],
  ['ssl_mode', 'disable, require, verify-ca or verify-full (recommended)'],
  ['ca_cert_path', "the CA file that verifies the server's certificate"],
  ['client_cert_path', 'client certificate file (mutual TLS)'],
  ['client_key_path', 'client key file (mutual TLS; 0600)'],
  ['server_cert_name', "the name the server's certificate must hold, when not the host"],
];

/** Core's own keys; each one's variable is its path upper-cased: `database.path` → `<APP>_DATABASE_PATH`. */
function coreKeys(parseId: KeyTable['parseId'], idAllowed: string): CoreKey[] {
  const checkId = (id: string): void => {
    if (parseId(id) === undefined) throw new Error(`"${id}" is not <type>.<name>`);
  };
  return [
    {
      key: 'security.encryption_provider',
      doc: 'Provider that wraps new data keys, <type>.<name>',
      format: {
        ...textFormat(idAllowed, (value) => value === '' || checkId(value)),
        coerce: (text) => text.trim(),
      },
      defaultValue: '',
      sensitive: false,
    },
    {
      key: 'security.available_encryption_providers',
      doc: 'Providers usable for decryption, space or comma separated; always includes the current one',
      format: textFormat(`provider ids separated by spaces or commas, each ${idAllowed}`, (value) => {
        for (const id of splitList(value)) checkId(id);
      }),
      defaultValue: '',
      sensitive: false,
    },
    durationKey(
      'security.encryption.data_keys_cache_ttl',
      'How long unwrapped data keys stay in memory',
      DEFAULT_TTL_MS,
    ),
    durationKey(
      'security.encryption.data_keys_cache_cleanup_interval',
      "How often expired data keys are dropped from memory (Grafana's key of the same name)",
      DEFAULT_CLEANUP_MS,
    ),
    durationKey(
      'security.encryption.health_check_interval',
      "How long health() and status --check reuse a provider's last health check: one call per provider per " +
        'interval, however often probed',
      DEFAULT_HEALTH_INTERVAL_MS,
    ),
    {
      key: 'security.encryption.audit_log',
      doc: 'A JSON-lines audit trail of key use (created 0600, append-only); empty: none',
      format: textFormat('an absolute file path', (value) => {
        if (value !== '' && !isAbsolute(value)) throw new Error('must be an absolute file path');
      }),
      defaultValue: '',
      sensitive: false,
    },
    {
      key: 'security.encryption.audit_secret_reads',
      doc: "Also audit every read of atrest's own secrets, by name",
      format: keyFormat(Boolean, false),
      defaultValue: false,
      sensitive: false,
    },
    {
      key: 'security.encryption.reopen_plaintext',
      doc:
        'Sealed places whose plaintext transition is reopened (legacy plaintext readable with allowPlaintext ' +
        'and encrypted by re-encrypt): atrest_secrets, table.column of a target, or *; space or comma separated',
      format: textFormat('atrest_secrets, table.column or *, separated by spaces or commas', (value) => {
        for (const item of splitList(value)) {
          if (!/^(\*|atrest_secrets|[A-Za-z_][A-Za-z0-9_]*\.[A-Za-z_][A-Za-z0-9_]*)$/.test(item))
            throw new Error(`"${item}" is not atrest_secrets, table.column or *`);
        }
      }),
      defaultValue: '',
      sensitive: false,
    },
    {
      key: 'security.encryption.algorithm',
      doc: "Grafana's cipher choice, accepted from a Grafana file: atrest's format is fixed (AES-256-GCM)",
      format: textFormat(
        `${GRAFANA_ALGORITHMS.join(' or ')} (Grafana's values; atrest always uses AES-256-GCM)`,
        (v) => {
          if (v !== '' && !GRAFANA_ALGORITHMS.includes(v))
            throw new Error(`must be ${GRAFANA_ALGORITHMS.join(' or ')}`);
        },
      ),
      defaultValue: '',
      sensitive: false,
    },
    {
      key: 'database.type',
      doc: "The store of atrest's tables: sqlite3 or postgres (default: the url's, else sqlite3)",
      format: { convict: checkStoreType, coerce: (text) => text.trim(), allowed: STORE_TYPE_ALLOWED, trusted: true },
      defaultValue: '',
      sensitive: false,
    },
    {
      key: 'database.path',
      doc: 'SQLite: the database file (a relative path is in [paths] data when that is set)',
      format: keyFormat(String, ''),
      defaultValue: '',
      sensitive: false,
    },
    {
      key: 'database.url',
      doc: 'URL of the application database (wins over the other keys)',
      format: textFormat('an absolute URL such as postgres://user@host:5432/db?sslmode=verify-full', (value) => {
        if (value !== '' && !URL.canParse(value)) throw new Error('must be an absolute URL');
      }),
      defaultValue: '',
      // A database URL commonly carries a password: config show shows it with the password redacted.
      sensitive: true,
    },
    ...postgresKeys.map(([name, doc]) => ({
      key: `database.${name}`,
      doc: `PostgreSQL: ${doc}`,
      format: keyFormat(String, ''),
      defaultValue: '',
      sensitive: name === 'password',
    })),
    {
      key: 'paths.data',
      doc: "The host application's data directory (Grafana's [paths] data): a relative SQLite path is in it",
      format: keyFormat(String, ''),
      defaultValue: '',
      sensitive: false,
    },
    {
      key: 'secrets_migration.targets',
      doc: "The application's encrypted columns, table.column[:json]",
      format: textFormat(TARGETS_ALLOWED, (value) => void parseTargets(value)),
      defaultValue: '',
      sensitive: false,
    },
  ];
}

/** The section of a dotted key: `security` for `security.secret_key`, '' for a root key. */
export function sectionOf(key: string): string {
  return key.slice(0, Math.max(0, key.lastIndexOf('.')));
}

function faulty(type: string, why: string): Error {
  return errors.providerInvalid(
    `The shared configuration of provider type "${type}" ${why}`,
    'The provider package is faulty; update or replace it.',
    { details: { type } },
  );
}

/** What one built-in provider's shared keys add to the table: a SharedKey each, an OwnedKey if it has an INI path. */
function sharedKeys(type: string, declaration: SharedConfigDeclaration, app: string, envPrefix: string) {
  return (declaration.keys ?? []).map((declared) => {
    const section = { type, name: declared.section, key: declared.key };
    const tableKey = sectionTableKey(type, declared.section, declared.key);
    const displayKey = declared.ini ?? `${PROVIDER_SECTION_PREFIX}${type}.${declared.section}.${declared.key}`;
    const iniSection = declared.ini === undefined ? undefined : sectionOf(declared.ini);
    if (iniSection !== undefined && (iniSection === '' || !SHARED_SECTIONS.has(iniSection))) {
      throw faulty(type, `puts ${declared.ini} outside the sections atrest shares with the application`);
    }
    const [env] = declared.env;
    if (env === undefined) throw faulty(type, `gives no variable for ${declared.section}.${declared.key}`);
    const variable = `${envPrefix}${env}`;
    const places = [`${variable}`, `${variable}__FILE`];
    if (declared.ini !== undefined) places.unshift(`[${iniSection}] ${declared.ini.slice(`${iniSection}.`.length)}`);
    const key: SharedKey = { tableKey, displayKey, section, variable, places, defaultValue: declared.default?.(app) };
    const listed: OwnedKey | undefined =
      declared.ini === undefined
        ? undefined
        : {
            ...key,
            doc: declared.doc,
            format: keyFormat(String, ''),
            defaultValue: key.defaultValue ?? '',
            sensitive: declared.sensitive === true,
          };
    return { key, listed, variables: declared.env };
  });
}

/** The key table of one configuration load: core's keys and what the built-in providers declare. */
export function keyTable(builtins: readonly BuiltinProvider[], app: string): KeyTable {
  const envPrefix = `${envSegment(app)}_`;
  const aliases = new Map<string, { type: string; name: string }>();
  const parseId = (id: string) => aliases.get(id) ?? parseProviderId(id);
  const idAllowed = providerIdAllowed(builtins.map((builtin) => builtin.type));
  const owned: OwnedKey[] = [];
  const variables = new Map<string, KeyTarget>();
  for (const key of coreKeys(parseId, idAllowed)) {
    const env = envSegment(key.key);
    const row = { ...key, tableKey: key.key, displayKey: key.key, variable: `${envPrefix}${env}` };
    owned.push(row);
    variables.set(env, row);
  }
  const shared = new Map<string, SharedKey>();
  const defaultRules: DefaultRule[] = [];
  for (const { type, sharedConfig } of builtins) {
    if (sharedConfig === undefined) continue;
    for (const { key, listed, variables: names } of sharedKeys(type, sharedConfig, app, envPrefix)) {
      shared.set(key.tableKey, key);
      if (listed !== undefined) owned.push(listed);
      for (const name of names) {
        if (variables.has(name)) throw faulty(type, `declares ${envPrefix}${name}, which is already atrest's`);
        variables.set(name, key);
      }
    }
    for (const [alias, name] of Object.entries(sharedConfig.idAliases ?? {})) aliases.set(alias, { type, name });
    if (sharedConfig.defaultProvider !== undefined) defaultRules.push({ type, ...sharedConfig.defaultProvider });
  }
  // Listed section by section, in the order of core's keys: a shared [security] key after core's [security] keys.
  const sections = owned.map((key) => sectionOf(key.displayKey));
  owned.sort((a, b) => sections.indexOf(sectionOf(a.displayKey)) - sections.indexOf(sectionOf(b.displayKey)));
  return {
    envPrefix,
    owned,
    ownedByKey: new Map(owned.map((key) => [key.displayKey, key])),
    variables,
    shared,
    defaultRules,
    builtinTypes: builtins.map((builtin) => builtin.type),
    parseId,
    idAllowed,
  };
}
