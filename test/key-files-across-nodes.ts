// The file provider's key file across the nodes of one database (issue 8): nodes booting at once on
// an empty database end up with one key, the losers removing the key file they made; a node whose
// key file lacks the version another node rotated to fails closed, naming the key to copy. Real
// node processes on one SQLite file.
import { copyFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import t from 'tap';
import { runCli } from '@atrest/cli';
import { memoryStreams, spawnNode, tempDir } from '@atrest/testkit';
import { readKeyFile } from '@atrest/provider-file';
import { repoRoot, runAtrest } from './helpers.js';

const nodeScript = fileURLToPath(new URL('./node-first-boot.js', import.meta.url));
const NODES = 4;
const ROUNDS = 2;

type Outcome = { code: string; message: string };

/** Boot `NODES` node processes at the same moment on `db`, each with its own key file. */
async function bootAtOnce(dir: string, db: string): Promise<{ keys: string[]; outcomes: Outcome[] }> {
  const go = join(dir, 'go');
  const keys = Array.from({ length: NODES }, (_, i) => join(dir, `node${i}`, 'atrest-encryption.key'));
  const runs = keys.map((key, i) =>
    spawnNode([nodeScript, go, `node${i}`], {
      cwd: repoRoot,
      env: { ATREST_DATABASE_PATH: db, ATREST_ENCRYPTION_KEY_PATH: key },
    }),
  );
  while (!keys.every((_, i) => existsSync(`${go}.ready.node${i}`))) await sleep(10);
  writeFileSync(go, '');
  const done = await Promise.all(runs.map((r) => r.done));
  return { keys, outcomes: done.map((r) => JSON.parse(r.stdout.toString('utf8') || '{}') as Outcome) };
}

t.test('nodes booting at once on an empty database: one key, the losers remove theirs', async (t) => {
  for (let round = 1; round <= ROUNDS; round++) {
    const dir = tempDir('atrest-nodes-');
    const db = join(dir, 'app.db');
    const { keys, outcomes } = await bootAtOnce(dir, db);
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
    const check = new Database(db, { readonly: true });
    t.same(
      check.prepare('SELECT DISTINCT key_ref FROM atrest_data_keys').pluck().all(),
      [fingerprint],
      'every data key is under that key',
    );
    t.equal(
      check.prepare("SELECT value FROM atrest_meta WHERE key = 'provider_key:file.default'").pluck().get(),
      fingerprint,
      'the database records it',
    );
    t.equal(check.prepare('SELECT count(*) FROM atrest_secrets').pluck().get(), 1, "only the winner's secret");
    check.close();
  }
});

async function cli(argv: readonly string[], env: Record<string, string>, input = '') {
  const m = memoryStreams(input);
  const code = await runCli(argv, { env, appRoot: repoRoot, io: m.io });
  return { code, out: m.out().toString('utf8'), err: m.err() };
}

t.test('a node whose key file lacks the version another node rotated to fails closed', async (t) => {
  const dir = tempDir('atrest-nodes-');
  const db = join(dir, 'app.db');
  const keyA = join(dir, 'a.key');
  const keyB = join(dir, 'b.key');
  const a = { ATREST_DATABASE_PATH: db, ATREST_ENCRYPTION_KEY_PATH: keyA };
  const b = { ATREST_DATABASE_PATH: db, ATREST_ENCRYPTION_KEY_PATH: keyB };
  t.equal((await cli(['secrets', 'set', 'smtp'], a, 'v1')).code, 0, 'node A: first boot');
  copyFileSync(keyA, keyB);
  t.equal((await runAtrest(['secrets', 'get', 'smtp'], { env: b })).code, 0, 'node B with a copy reads');
  t.equal((await cli(['rotate-encryption-key'], a)).code, 0, 'node A rotates');
  const rotatedTo = readKeyFile(keyA).keys.at(-1)?.fingerprint ?? '';
  const staleB = readFileSync(keyB);
  const count = () => {
    const check = new Database(db, { readonly: true });
    const n = check.prepare('SELECT count(*) FROM atrest_data_keys').pluck().get();
    check.close();
    return n;
  };
  const before = count();
  for (const args of [['secrets', 'get', 'smtp'], ['secrets', 'set', 'other'], ['status']]) {
    const r = await runAtrest(args, { env: b, input: 'v2' });
    t.equal(r.code, 2, `node B ${args.join(' ')}: exit 2`);
    t.match(r.stderr, 'error ATREST_KEY_MISMATCH', 'fails closed');
    t.match(r.stderr, `lacks ${rotatedTo}`, 'naming the key it lacks');
    t.match(r.stderr, `copy it from a node whose key is ${rotatedTo} to ${keyB}`, 'and what to copy where');
  }
  t.equal(count(), before, 'node B made no data key under its old key');
  t.same(readFileSync(keyB), staleB, "node B's key file is left as it was");
  copyFileSync(keyA, keyB);
  const after = await runAtrest(['secrets', 'get', 'smtp'], { env: b });
  t.same([after.code, after.stdout.toString()], [0, 'v1'], 'with the key file copied, node B reads');
});

t.test('a rotation stopped before it recorded the new key: the node that rotated goes on', async (t) => {
  const dir = tempDir('atrest-nodes-');
  const db = join(dir, 'app.db');
  const env = { ATREST_DATABASE_PATH: db, ATREST_ENCRYPTION_KEY_PATH: join(dir, 'a.key') };
  t.equal((await cli(['secrets', 'set', 'smtp'], env, 'v1')).code, 0, 'first boot');
  const first = readKeyFile(env.ATREST_ENCRYPTION_KEY_PATH).keys[0]?.fingerprint ?? '';
  t.equal((await cli(['rotate-encryption-key'], env)).code, 0, 'rotated');
  const app = new Database(db);
  app.prepare("UPDATE atrest_meta SET value = ? WHERE key = 'provider_key:file.default'").run(first);
  const got = await cli(['secrets', 'get', 'smtp'], env);
  t.same([got.code, got.out], [0, 'v1'], 'a key file that holds the recorded key as an older version reads');
  t.equal((await cli(['secrets', 'set', 'other'], env, 'v2')).code, 0, 'a write');
  t.equal(
    app.prepare("SELECT value FROM atrest_meta WHERE key = 'provider_key:file.default'").pluck().get(),
    readKeyFile(env.ATREST_ENCRYPTION_KEY_PATH).keys.at(-1)?.fingerprint,
    'and the record moved to the current key',
  );
  app.close();
});
