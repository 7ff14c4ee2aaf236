// The file provider's key file across the nodes of one database (issue 8), on both stores (the
// test files key-files-across-nodes*.test.ts call it): nodes booting at once on an empty database
// create atrest's tables once and, with the same key file, all start; with a key file each, they
// end up with one key, the losers removing the key file they made; a node whose key file lacks the
// version another node rotated to fails closed, naming the key to copy. Real node processes.
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { STORE_SCHEMA_VERSION, openAtrest } from '@atrest/core';
import t from 'tap';
import { runCli } from '@atrest/cli';
import { type TestPostgres, memoryStreams, spawnNode, tempDir } from '@atrest/testkit';
import { readKeyFile } from '@atrest/provider-file';
import { repoRoot, runAtrest } from './helpers.js';
import { type FixtureStore, postgresStore, sqliteStore } from './migration-stores.js';

const nodeScript = fileURLToPath(new URL('./node-first-boot.js', import.meta.url));
const NODES = 4;

/** A store the nodes share, and the environment that names one of its databases to a node. */
export type NodesStore = { readonly store: FixtureStore; env(db: string): Record<string, string> };

export const sqliteNodes: NodesStore = { store: sqliteStore, env: (file) => ({ ATREST_DATABASE_PATH: file }) };

export const postgresNodes = (server: TestPostgres): NodesStore => ({
  store: postgresStore(server),
  env: (db) => ({ ATREST_DATABASE_TYPE: 'postgres', ATREST_DATABASE_URL: server.url(db) }),
});

type Outcome = { code: string; message: string };
type Rounds = { firstBoot: number; schema: number };

/** Boot a node process per key file at the same moment on `db`. */
async function bootAtOnce(nodes: NodesStore, dir: string, db: string, keys: readonly string[]): Promise<Outcome[]> {
  const go = join(dir, 'go');
  const runs = keys.map((key, i) =>
    spawnNode([nodeScript, go, `node${i}`], {
      cwd: repoRoot,
      env: { ...nodes.env(db), ATREST_ENCRYPTION_KEY_PATH: key },
    }),
  );
  while (!keys.every((_, i) => existsSync(`${go}.ready.node${i}`))) await sleep(10);
  writeFileSync(go, '');
  const done = await Promise.all(runs.map((r) => r.done));
  return done.map((r) => JSON.parse(r.stdout.toString('utf8') || '{}') as Outcome);
}

const nodeKeys = (dir: string) =>
  Array.from({ length: NODES }, (_, i) => join(dir, `node${i}`, 'atrest-encryption.key'));

export async function keyFilesAcrossNodes(nodes: NodesStore, rounds: Rounds): Promise<void> {
  const { store } = nodes;
  const count = async (db: string, table: string) =>
    (await store.query<{ n: number }>(db, `SELECT CAST(count(*) AS integer) AS n FROM ${table}`))[0]?.n;
  const recorded = async (db: string) =>
    (
      await store.query<{ value: string }>(db, "SELECT value FROM atrest_meta WHERE key = 'provider_key:file.default'")
    )[0]?.value;

  t.test(`${NODES} nodes at once on an empty database, one key file copied to each: tables made once`, async (t) => {
    // The key file of the first node (made on a database of its own), copied to every node.
    const keys = nodeKeys(tempDir('atrest-nodes-'));
    for (const key of keys) mkdirSync(dirname(key), { recursive: true });
    const made = await openAtrest({
      env: { ...sqliteNodes.env(join(tempDir('atrest-nodes-'), 'seed.db')), ATREST_ENCRYPTION_KEY_PATH: keys[0] ?? '' },
      appRoot: repoRoot,
    });
    await made.secrets.set('seed', 'seed');
    await made.close();
    for (const key of keys.slice(1)) copyFileSync(keys[0] ?? '', key);
    const fingerprint = readKeyFile(keys[0] ?? '').keys[0]?.fingerprint;
    for (let round = 1; round <= rounds.schema; round++) {
      const dir = tempDir('atrest-nodes-');
      const db = await store.create(dir);
      const outcomes = await bootAtOnce(nodes, dir, db, keys);
      t.same(
        outcomes.filter((o) => o.code !== 'OK'),
        [],
        `round ${round}: every node started and wrote (no unique violation, no "tuple concurrently updated")`,
      );
      const versions = await store.query<{ version: number }>(db, 'SELECT version FROM atrest_schema ORDER BY version');
      t.same(
        versions.map((v) => v.version),
        Array.from({ length: STORE_SCHEMA_VERSION }, (_, v) => v + 1),
        `round ${round}: each schema version applied once`,
      );
      t.equal(await count(db, 'atrest_secrets'), NODES, `round ${round}: every node's secret is there`);
      t.equal(await count(db, 'atrest_data_keys'), 1, `round ${round}: one data key, shared by the nodes`);
      t.equal(await recorded(db), fingerprint, `round ${round}: the database records the key file's key`);
    }
  });

  t.test('nodes booting at once on an empty database: one key, the losers remove theirs', async (t) => {
    for (let round = 1; round <= rounds.firstBoot; round++) {
      const dir = tempDir('atrest-nodes-');
      const db = await store.create(dir);
      const keys = nodeKeys(dir);
      const outcomes = await bootAtOnce(nodes, dir, db, keys);
      const winners = outcomes.flatMap((o, i) => (o.code === 'OK' ? [i] : []));
      t.equal(winners.length, 1, `round ${round}: exactly one node wrote`);
      const left = keys.filter((k) => existsSync(k));
      t.equal(left.length, 1, `round ${round}: one key file is left`);
      const winner = left[0] ?? '';
      t.equal(winner, keys[winners[0] ?? -1], "and it is the writer's");
      const fingerprint = readKeyFile(winner).keys[0]?.fingerprint ?? '';
      for (const o of outcomes.filter((x) => x.code !== 'OK')) {
        t.match(o.code, /^ATREST_KEY_(MISMATCH|MISSING)$/, `round ${round}: a loser fails closed (${o.code})`);
        t.match(o.message, fingerprint, "naming the database's key");
      }
      const refs = await store.query<{ key_ref: string }>(db, 'SELECT DISTINCT key_ref FROM atrest_data_keys');
      t.same(
        refs.map((r) => r.key_ref),
        [fingerprint],
        'every data key is under that key',
      );
      t.equal(await recorded(db), fingerprint, 'the database records it');
      t.equal(await count(db, 'atrest_secrets'), 1, "only the winner's secret");
    }
  });

  async function cli(argv: readonly string[], env: Record<string, string>, input = '') {
    const m = memoryStreams(input);
    const code = await runCli(argv, { env, appRoot: repoRoot, io: m.io });
    return { code, out: m.out().toString('utf8'), err: m.err() };
  }

  t.test('a node whose key file lacks the version another node rotated to fails closed', async (t) => {
    const dir = tempDir('atrest-nodes-');
    const db = await store.create(dir);
    const keyA = join(dir, 'a.key');
    const keyB = join(dir, 'b.key');
    const a = { ...nodes.env(db), ATREST_ENCRYPTION_KEY_PATH: keyA };
    const b = { ...nodes.env(db), ATREST_ENCRYPTION_KEY_PATH: keyB };
    t.equal((await cli(['secrets', 'set', 'smtp'], a, 'v1')).code, 0, 'node A: first boot');
    copyFileSync(keyA, keyB);
    t.equal((await runAtrest(['secrets', 'get', 'smtp'], { env: b })).code, 0, 'node B with a copy reads');
    t.equal((await cli(['rotate-encryption-key'], a)).code, 0, 'node A rotates');
    const rotatedTo = readKeyFile(keyA).keys.at(-1)?.fingerprint ?? '';
    const staleB = readFileSync(keyB);
    const before = await count(db, 'atrest_data_keys');
    for (const args of [['secrets', 'get', 'smtp'], ['secrets', 'set', 'other'], ['status']]) {
      const r = await runAtrest(args, { env: b, input: 'v2' });
      t.equal(r.code, 2, `node B ${args.join(' ')}: exit 2`);
      t.match(r.stderr, 'error ATREST_KEY_MISMATCH', 'fails closed');
      t.match(r.stderr, `lacks ${rotatedTo}`, 'naming the key it lacks');
      t.match(r.stderr, `copy it from a node whose key is ${rotatedTo} to ${keyB}`, 'and what to copy where');
    }
    t.equal(await count(db, 'atrest_data_keys'), before, 'node B made no data key under its old key');
    t.same(readFileSync(keyB), staleB, "node B's key file is left as it was");
    copyFileSync(keyA, keyB);
    const after = await runAtrest(['secrets', 'get', 'smtp'], { env: b });
    t.same([after.code, after.stdout.toString()], [0, 'v1'], 'with the key file copied, node B reads');
  });

  t.test('a rotation stopped before it recorded the new key: the node that rotated goes on', async (t) => {
    const dir = tempDir('atrest-nodes-');
    const db = await store.create(dir);
    const env = { ...nodes.env(db), ATREST_ENCRYPTION_KEY_PATH: join(dir, 'a.key') };
    t.equal((await cli(['secrets', 'set', 'smtp'], env, 'v1')).code, 0, 'first boot');
    const first = readKeyFile(env.ATREST_ENCRYPTION_KEY_PATH).keys[0]?.fingerprint ?? '';
    t.equal((await cli(['rotate-encryption-key'], env)).code, 0, 'rotated');
    await store.query(db, "UPDATE atrest_meta SET value = ? WHERE key = 'provider_key:file.default'", [first]);
    const got = await cli(['secrets', 'get', 'smtp'], env);
    t.same([got.code, got.out], [0, 'v1'], 'a key file that holds the recorded key as an older version reads');
    t.equal((await cli(['secrets', 'set', 'other'], env, 'v2')).code, 0, 'a write');
    t.equal(
      await recorded(db),
      readKeyFile(env.ATREST_ENCRYPTION_KEY_PATH).keys.at(-1)?.fingerprint,
      'and the record moved to the current key',
    );
  });
}
