// atrest's own tables in a SQLite application database, created and upgraded by forward
// migrations. Table names carry an `atrest_` prefix so they never collide with the host's (Grafana
// has a `data_keys` table of its own).

/**
 * Forward migrations; index + 1 is the schema version, so there are STORE_SCHEMA_VERSION of them.
 * Never edit a released step: add one.
 */
export const sqliteMigrations: readonly string[] = [
  `CREATE TABLE atrest_data_keys (
     id TEXT PRIMARY KEY,                -- 32 lower-case hex digits; 16 bytes in ciphertexts
     label TEXT NOT NULL,                -- '<scope>/<YYYY-MM-DD>'
     provider TEXT NOT NULL,             -- '<type>.<name>' that wrapped it
     key_ref TEXT NOT NULL,              -- the provider key (version) that wrapped it; public
     wrapped BLOB NOT NULL,              -- the provider's wrapped bytes
     active INTEGER NOT NULL DEFAULT 1,  -- 1: used for new encryptions
     encryptions_reserved INTEGER NOT NULL DEFAULT 0, -- encryption budget handed out (cap per data key)
     created_at TEXT NOT NULL,
     updated_at TEXT NOT NULL
   ) STRICT;
   CREATE UNIQUE INDEX atrest_data_keys_one_active ON atrest_data_keys(label, provider) WHERE active = 1;
   CREATE INDEX atrest_data_keys_provider ON atrest_data_keys(provider);
   CREATE TABLE atrest_secrets (
     name TEXT PRIMARY KEY,
     value BLOB NOT NULL,                -- binary envelope (encrypted = 1) or the plain bytes (encrypted = 0)
     encrypted INTEGER NOT NULL,
     created_at TEXT NOT NULL,
     updated_at TEXT NOT NULL
   ) STRICT;
   CREATE TABLE atrest_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) STRICT;`,
  // 2: data keys dropped when encryption was turned off are kept (a process still running may have
  // used one) but no longer count: not checked at start, not a reason to keep a key file.
  `ALTER TABLE atrest_data_keys ADD COLUMN dropped_at TEXT;`,
  // 3: seals. A place (atrest_secrets, or a target's table.column) is sealed once re-encrypt left no
  // plaintext there: plaintext there is refused from then on. atrest's own secrets are sealed from
  // the start (atrest writes them encrypted) unless plaintext rows are there (encryption was turned off).
  `CREATE TABLE atrest_seals (place TEXT PRIMARY KEY, sealed_at TEXT NOT NULL) STRICT;
   INSERT INTO atrest_seals (place, sealed_at)
     SELECT 'atrest_secrets', strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
     WHERE NOT EXISTS (SELECT 1 FROM atrest_secrets WHERE encrypted = 0);`,
];
