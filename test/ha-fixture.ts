// The several-nodes tests' fixture: node and writer processes on one PostgreSQL database (started
// in parallel, each configured by its environment alone), an application's data seeded and read
// back, and the database's own view of the migration lock.
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { Atrest } from '@atrest/core';
import type pg from 'pg';
import { cloudEnv } from './helpers.js';

/** The application's encrypted column, registered as a target. */
export const HA_TARGET = 'datasources.password';
export const haSecretName = (k: number) => `ha-secret-${k}`;

/** What a node answers to one command. */
export type NodeAnswer = {
  readonly dataKeys?: Record<string, string>;
  readonly texts?: Record<string, string>;
  readonly values?: Record<string, string>;
  readonly retired?: number;
  /** The node's pid, once it holds the migration lock. */
  readonly locked?: number;
  readonly cleanup?: { readonly deleted: number; readonly inUse: number; readonly waiting: number };
  readonly error?: { readonly code: string; readonly message: string };
};

/** A command the test sends. */
export type NodeCommand =
  | { readonly op: 'encrypt'; readonly scopes: readonly string[] }
  /** `sealed`: name → the context and the text of a value sealed by `encrypt`. */
  | { readonly op: 'decrypt'; readonly sealed: Readonly<Record<string, readonly [string, string]>> }
  | { readonly op: 'rotate' }
  /** The data key cleanup (secrets-migration cleanup). */
  | { readonly op: 'cleanup' }
  /** Store the secret `name` with the value sealedValue(name, pid). */
  | { readonly op: 'set'; readonly name: string }
  | { readonly op: 'lock' };

/** The command a node holding the lock (`lock`) says it runs. */
export const LOCK_COMMAND = 'secrets-migration re-encrypt';

/** The value a node seals for `scope`: tells which node wrote it. */
export const sealedValue = (scope: string, pid: number) => `value of ${scope} from ${pid}`;

/** What a writer prints when its stdin closes. */
export type WriterReport = {
  ops: number;
  errors: Record<string, number>;
  /** Errors that are neither atrest's nor a connection's: each one a defect. */
  unexpected: string[];
  secrets: Record<string, string>;
  rows: Record<string, string>;
};

/** The environment of every node: the database, the shared key file, the target, the cache TTL. */
export function nodeEnv(url: string, dir: string, ttl = '15m'): Record<string, string> {
  return {
    ...cloudEnv,
    HOME: dir,
    PATH: process.env['PATH'] ?? '',
    ATREST_DATABASE_TYPE: 'postgres',
    ATREST_DATABASE_URL: url,
    // Every node holds the same key file (copied from the first node; here, the same path).
    ATREST_ENCRYPTION_KEY_PATH: join(dir, 'atrest-encryption.key'),
    ATREST_SECRETS_MIGRATION_TARGETS: HA_TARGET,
    ATREST_SECURITY_ENCRYPTION_DATA_KEYS_CACHE_TTL: ttl,
  };
}

/** A child's stdout as JSON lines, read one at a time. */
function jsonLines(child: ChildProcess, what: string): () => Promise<Record<string, unknown>> {
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => {
    stderr += d.toString('utf8');
  });
  const pending: Record<string, unknown>[] = [];
  const waiting: ((line: Record<string, unknown>) => void)[] = [];
  let ended = false;
  const failAll = () => {
    ended = true;
    for (const w of waiting.splice(0)) w({ exited: `${what} exited: ${stderr.trim()}` });
  };
  createInterface({ input: child.stdout ?? process.stdin })
    .on('line', (line) => {
      const parsed = JSON.parse(line) as Record<string, unknown>;
      const w = waiting.shift();
      if (w) w(parsed);
      else pending.push(parsed);
    })
    .on('close', failAll);
  return () => {
    const next = pending.shift();
    if (next) return Promise.resolve(next);
    if (ended) return Promise.resolve({ exited: `${what} exited: ${stderr.trim()}` });
    return new Promise((resolve) => waiting.push(resolve));
  };
}

/** Fail loudly on a line that says its process is gone. */
function checked(line: Record<string, unknown>): Record<string, unknown> {
  if (typeof line['exited'] === 'string') throw new Error(line['exited']);
  return line;
}

const script = (name: string) => fileURLToPath(new URL(`./${name}.js`, import.meta.url));

/** A node process (test/ha-node.ts). */
export type HaNode = {
  readonly pid: number;
  send(command: NodeCommand): Promise<NodeAnswer>;
  /** Close its stdin: it closes atrest and exits; its exit code. */
  stop(): Promise<number | null>;
  /** SIGKILL, as a node that dies. */
  kill(): Promise<void>;
};

/** Start `count` nodes in parallel; resolves when every one has opened atrest. */
export async function startNodes(count: number, env: Record<string, string>): Promise<HaNode[]> {
  return Promise.all(
    Array.from({ length: count }, async () => {
      const child = spawn(process.execPath, [script('ha-node')], { env, stdio: ['pipe', 'pipe', 'pipe'] });
      const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
      const next = jsonLines(child, `node ${child.pid}`);
      checked(await next());
      return {
        pid: child.pid ?? 0,
        async send(command) {
          child.stdin.write(`${JSON.stringify(command)}\n`);
          return checked(await next()) as NodeAnswer;
        },
        stop() {
          child.stdin.end();
          return exited;
        },
        async kill() {
          child.kill('SIGKILL');
          await exited;
        },
      };
    }),
  );
}

/** A writer process (test/ha-writer.ts). */
export type HaWriter = {
  /** Resolves once the writer has made `ops` writes in all. */
  reach(ops: number): Promise<void>;
  /** How many writes it had reported by now. */
  readonly ops: number;
  /** Close its stdin; its report. */
  stop(): Promise<WriterReport>;
};

/** Start `count` writers in parallel over `secrets` secrets and `rows` target rows. */
export function startWriters(
  count: number,
  env: Record<string, string>,
  sizes: { secrets: number; rows: number },
): HaWriter[] {
  return Array.from({ length: count }, (_, i) => {
    const args = [script('ha-writer'), String(i), String(count), String(sizes.secrets), String(sizes.rows)];
    const child = spawn(process.execPath, args, { env, stdio: ['pipe', 'pipe', 'pipe'] });
    const next = jsonLines(child, `writer ${i}`);
    let ops = 0;
    let report: Promise<WriterReport> | undefined;
    const untilReport = async (): Promise<WriterReport> => {
      for (;;) {
        const line = checked(await next());
        if (typeof line['secrets'] === 'object') return line as WriterReport;
        ops = Number(line['ops']);
      }
    };
    return {
      get ops() {
        return ops;
      },
      async reach(target) {
        while (ops < target) {
          const line = checked(await next());
          if (typeof line['secrets'] === 'object')
            throw new Error(`writer ${i} stopped early: ${JSON.stringify(line)}`);
          ops = Number(line['ops']);
        }
      },
      stop() {
        child.stdin.end();
        report ??= untilReport();
        return report;
      },
    };
  });
}

/** What the application stored: secret names and target row ids to their plaintext. */
export type Expected = { secrets: Map<string, string>; rows: Map<number, string> };

/** The `datasources` table with `rows` encrypted rows, and `secrets` secrets. */
export async function seedHa(atrest: Atrest, app: pg.Pool, counts: { secrets: number; rows: number }) {
  const expected: Expected = { secrets: new Map(), rows: new Map() };
  await app.query('CREATE TABLE datasources (id integer PRIMARY KEY, name text NOT NULL, password text)');
  const names = Array.from({ length: counts.secrets }, (_, k) => haSecretName(k));
  for (let k = 0; k < names.length; k += 50) {
    await Promise.all(
      names.slice(k, k + 50).map(async (name) => {
        const value = `seeded ${name}`;
        await atrest.secrets.set(name, value);
        expected.secrets.set(name, value);
      }),
    );
  }
  const ids = Array.from({ length: counts.rows }, (_, k) => k + 1);
  const texts = await Promise.all(ids.map((id) => atrest.encryptText(`seeded row ${id}`, { target: HA_TARGET })));
  await app.query(
    `INSERT INTO datasources (id, name, password)
     SELECT id, $3 || id, pw FROM unnest($1::int[], $2::text[]) AS v(id, pw)`,
    [ids, texts, 'ds-'],
  );
  for (const id of ids) expected.rows.set(id, `seeded row ${id}`);
  return expected;
}

/** Put what the writers last wrote over what was seeded. */
export function applyReports(expected: Expected, reports: readonly WriterReport[]): void {
  for (const r of reports) {
    for (const [name, value] of Object.entries(r.secrets)) expected.secrets.set(name, value);
    for (const [id, value] of Object.entries(r.rows)) expected.rows.set(Number(id), value);
  }
}

/** Every secret and row that does not read back as expected, and why (at most `limit`). */
export async function mismatches(atrest: Atrest, app: pg.Pool, expected: Expected, limit = 10): Promise<string[]> {
  const bad: string[] = [];
  for (const [name, value] of expected.secrets) {
    const got = await atrest.secrets.getText(name).catch((err: { code?: string }) => `error ${err.code}`);
    if (got !== value) bad.push(`${name}: ${String(got)} instead of ${value}`);
  }
  const { rows } = await app.query<{ id: number; password: string }>('SELECT id, password FROM datasources');
  const stored = new Map(rows.map((r) => [r.id, r.password]));
  for (const [id, value] of expected.rows) {
    const text = stored.get(id);
    const got =
      text === undefined
        ? 'missing'
        : await atrest.decryptText(text, { target: HA_TARGET }).catch((err: { code?: string }) => `error ${err.code}`);
    if (got !== value) bad.push(`row ${id}: ${got} instead of ${value}`);
  }
  return bad.slice(0, limit);
}

/** The server process holding atrest's migration lock (an advisory lock in atrest's space), if any. */
export async function migrationLockBackend(app: pg.Pool): Promise<number | undefined> {
  const { rows } = await app.query<{ pid: number }>(
    `SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted
       AND classid = x'61747273'::bigint::oid AND objid = 2 AND objsubid = 2`,
  );
  return rows[0]?.pid;
}

/** Wait (a bounded number of looks) until no session holds the migration lock; true when none does. */
export async function lockReleased(app: pg.Pool): Promise<boolean> {
  for (let look = 0; look < 400; look++) {
    if ((await migrationLockBackend(app)) === undefined) return true;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  return false;
}
