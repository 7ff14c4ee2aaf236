// A host application that embeds atrest: its own SQLite table `datasources` with an encrypted
// password column and an encrypted JSON column, both registered as targets in appliance.ini.
// Rows written before the appliance encrypted anything are legacy plaintext: it reads them
// (allowPlaintext) until `atrest secrets-migration re-encrypt` encrypts them.
import Database from 'better-sqlite3';
import { fileURLToPath } from 'node:url';
import { openAtrest } from '@atrest/core';

export const configFile = fileURLToPath(new URL('./appliance.ini', import.meta.url));
const PASSWORD = 'datasources.password';
const JSON_DATA = 'datasources.json_data';

/** Version 1 of the appliance predates encryption: it stored passwords in the clear. */
export function installVersion1(databasePath) {
  const db = new Database(databasePath);
  db.exec(
    'CREATE TABLE IF NOT EXISTS datasources ' +
      '(id INTEGER PRIMARY KEY, name TEXT NOT NULL, password TEXT, json_data TEXT)',
  );
  const insert = db.prepare('INSERT INTO datasources (name, password, json_data) VALUES (?, ?, ?)');
  insert.run('legacy-postgres', 'pg-password-from-2019', JSON.stringify({ user: 'grafana', tlsKey: 'legacy-tls-key' }));
  insert.run('legacy-mysql', 'mysql-password-from-2020', null);
  db.close();
}

/** Start the appliance: open its database and atrest (first boot creates the key). */
export async function startAppliance({ databasePath, env = process.env }) {
  const db = new Database(databasePath);
  db.pragma('journal_mode = WAL');
  const atrest = await openAtrest({ app: 'appliance', configFile, database: db, env });

  return {
    atrest,
    async addDatasource(name, password, jsonData) {
      const encrypted = {};
      for (const [field, value] of Object.entries(jsonData))
        encrypted[field] = await atrest.encryptText(value, { target: JSON_DATA, field });
      db.prepare('INSERT INTO datasources (name, password, json_data) VALUES (?, ?, ?)').run(
        name,
        await atrest.encryptText(password, { target: PASSWORD }),
        JSON.stringify(encrypted),
      );
    },
    async readDatasources() {
      const rows = db.prepare('SELECT id, name, password, json_data FROM datasources ORDER BY id').all();
      const out = [];
      for (const row of rows) {
        const json = {};
        for (const [field, value] of Object.entries(JSON.parse(row.json_data ?? '{}'))) {
          json[field] = await atrest.decryptText(value, { target: JSON_DATA, field, allowPlaintext: true });
        }
        out.push({
          name: row.name,
          password: await atrest.decryptText(row.password, { target: PASSWORD, allowPlaintext: true }),
          json,
          encrypted: row.password.startsWith('atrest:v1:'),
        });
      }
      return out;
    },
    async close() {
      await atrest.close();
      db.close();
    },
  };
}
