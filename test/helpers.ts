// Helpers of the end-to-end tests: the repository's paths, the CLI as a real process, INI examples
// as operators edit them, and an application's data seeded and read back. The generic helpers
// (temporary directories, child processes) are @atrest/testkit's.
import Database from 'better-sqlite3';
import type { Atrest, AtrestStatus } from '@atrest/core';
import { spawnNode, writeIn } from '@atrest/testkit';
import type { Run, SpawnNodeOptions } from '@atrest/testkit';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root (test/dist/ is two levels below). */
export const repoRoot = resolve(fileURLToPath(import.meta.url), '..', '..', '..');
/** The built CLI entry. */
export const cliBin = join(repoRoot, 'packages', 'cli', 'dist', 'src', 'bin.js');

/** Run the atrest CLI as a real process with `env` only (no inherited ATREST_ variables). */
export function runAtrest(args: readonly string[], options: SpawnNodeOptions = {}): Promise<Run> {
  return spawnNode([cliBin, ...args], { cwd: repoRoot, ...options }).done;
}

// ----- cloud providers end to end (test/cloud-*.test.ts) ------------------------------------------

/** Environment every run with a cloud provider adds: the AWS SDK's Node 20 notice silenced, no metadata lookups. */
export const cloudEnv: Readonly<Record<string, string>> = {
  AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
  AWS_EC2_METADATA_DISABLED: 'true',
};

/** An INI example as documentation prints it, uncommented: `;key = value` and `;[section]` lines lose their `;`. */
export function uncommentIni(text: string): string {
  return text
    .split('\n')
    .map((line) => line.replace(/^(\s*);(?=\s*(?:\[|[A-Za-z_][\w.-]*\s*=))/, '$1'))
    .join('\n');
}

/**
 * Put `values` into INI text the way an operator edits a copied example: a `key = …` line present
 * gets the new value (comments and order kept); keys not present are added at the end.
 */
export function fillIni(text: string, values: Readonly<Record<string, string>>): string {
  const seen = new Set<string>();
  const lines = text.split('\n').map((line) => {
    const m = /^(\s*)([A-Za-z_][\w.-]*)(\s*=\s*).*$/.exec(line);
    const key = m?.[2];
    if (m === null || key === undefined || !(key in values) || seen.has(key)) return line;
    seen.add(key);
    return `${m[1] ?? ''}${key}${m[3] ?? ' = '}${values[key] ?? ''}`;
  });
  const added = Object.entries(values)
    .filter(([k]) => !seen.has(k))
    .map(([k, v]) => `${k} = ${v}`);
  return [...lines.filter((l, i, all) => !(i === all.length - 1 && l === '')), ...added, ''].join('\n');
}

/** The application's table of encrypted data source passwords (a `[secrets_migration] targets` entry). */
export const TARGET = 'datasources.password';

/** What an application stored: secret names → values, and target row ids → values (legacy plaintext included). */
export type Seeded = { secrets: Map<string, string>; rows: Map<number, string>; plaintextRows: number };

/**
 * Store like an application: `secrets` values in atrest's table, `encrypted` rows of `datasources`
 * with `encryptText(v, { target })`, and `plaintext` legacy rows written before encryption existed.
 */
export async function seedApplication(
  atrest: Atrest,
  dbPath: string,
  counts: { secrets: number; encrypted: number; plaintext: number; prefix?: string },
  into?: Seeded,
): Promise<Seeded> {
  const seeded = into ?? { secrets: new Map<string, string>(), rows: new Map<number, string>(), plaintextRows: 0 };
  const prefix = counts.prefix ?? 'v';
  const db = new Database(dbPath);
  try {
    db.pragma('busy_timeout = 5000');
    db.exec('CREATE TABLE IF NOT EXISTS datasources (id INTEGER PRIMARY KEY, name TEXT NOT NULL, password TEXT)');
    for (let i = 0; i < counts.secrets; i++) {
      const name = `${prefix}-secret-${i}`;
      const value = `${prefix} secret ${i} ${'x'.repeat(i % 7)}`;
      await atrest.secrets.set(name, value);
      seeded.secrets.set(name, value);
    }
    const insert = db.prepare('INSERT INTO datasources (name, password) VALUES (?, ?)');
    for (let i = 0; i < counts.encrypted; i++) {
      const value = `postgres://${prefix}-user-${i}:pw${i}@db/${prefix}`;
      const id = Number(
        insert.run(`${prefix}-ds-${i}`, await atrest.encryptText(value, { target: TARGET })).lastInsertRowid,
      );
      seeded.rows.set(id, value);
    }
    for (let i = 0; i < counts.plaintext; i++) {
      const value = `legacy-${prefix}-${i}`;
      seeded.rows.set(Number(insert.run(`${prefix}-legacy-${i}`, value).lastInsertRowid), value);
      seeded.plaintextRows++;
    }
  } finally {
    db.close();
  }
  return seeded;
}

/** Read back what `seedApplication` stored; returns the names and rows that did not decrypt to their value, and why. */
export async function unreadable(atrest: Atrest, dbPath: string, seeded: Seeded): Promise<string[]> {
  const bad: string[] = [];
  for (const [name, value] of seeded.secrets) {
    try {
      const got = await atrest.secrets.getText(name);
      if (got !== value) bad.push(`${name}: got ${String(got)}`);
    } catch (err) {
      bad.push(`${name}: ${(err as { code?: string }).code ?? String(err)}`);
    }
  }
  const db = new Database(dbPath, { readonly: true });
  try {
    const read = db.prepare('SELECT password FROM datasources WHERE id = ?');
    for (const [id, value] of seeded.rows) {
      const row = read.get(id) as { password: string } | undefined;
      try {
        const got =
          row === undefined
            ? undefined
            : await atrest.decryptText(row.password, { target: TARGET, allowPlaintext: true });
        if (got !== value) bad.push(`row ${id}: got ${String(got)}`);
      } catch (err) {
        bad.push(`row ${id}: ${(err as { code?: string }).code ?? String(err)}`);
      }
    }
  } finally {
    db.close();
  }
  return bad;
}

/** `atrest status --json` output, parsed (throws with stderr when it is not JSON). */
export function statusFrom(run: Run): AtrestStatus {
  try {
    return JSON.parse(run.stdout.toString('utf8')) as AtrestStatus;
  } catch {
    throw new Error(`status --json printed no JSON (exit ${String(run.code)}): ${run.stderr}`);
  }
}

/** Run an ES module (its source text) in a fresh Node process, with `env` only; cwd is the repository root. */
export function runNodeModule(dir: string, source: string, env: Record<string, string> = {}): Promise<Run> {
  const file = writeIn(dir, `child-${Date.now()}-${Math.random().toString(36).slice(2)}.mjs`, source);
  return spawnNode([file], { cwd: repoRoot, home: dir, env: { ...cloudEnv, ...env } }).done;
}
