// Several nodes on one PostgreSQL, data keys (docs/SEVERAL-NODES.md): four node processes using 50
// new labels at the same instant make exactly one active data key per label and use the winner's;
// the encryption budget of a data key holds across nodes; a rotation on one node reaches the
// others once data_keys_cache_ttl has passed; retired keys stay readable; the data key cleanup on
// one node never deletes a key another node may still use, nor one a value names. One server for
// the file; every node is a real process configured by its environment alone.
import { DATA_KEY_ID_LENGTH, DATA_KEY_ID_OFFSET, openAtrest } from '@atrest/core';
import { startPostgres, tempDir } from '@atrest/testkit';
import pg from 'pg';
import t from 'tap';
import type { Test } from 'tap';
import { type HaNode, type NodeAnswer, nodeEnv, sealedValue, startNodes } from './ha-fixture.js';
import { repoRoot } from './helpers.js';

const server = await startPostgres();
t.teardown(() => server.stop());

/** Data keys are reserved in blocks of this many encryptions (the envelope's RESERVATION_BLOCK). */
const BLOCK = 2 ** 16;
const CAP = 2 ** 30;
/** Short, so that the rotation test waits little; the other tests do not depend on it. */
const TTL_MS = 1500;

const database = await server.createDatabase();
const url = server.url(database);
const env = nodeEnv(url, tempDir('atrest-ha-keys-'), `${TTL_MS}ms`);
const app = new pg.Pool({ connectionString: url, max: 2 });
// The first node boots alone (it creates the key file); the others hold a copy of it.
const first = await openAtrest({ env, appRoot: repoRoot });
const nodes = await startNodes(4, env);

/** Send `command` to every node at once. */
const everyNode = (command: Parameters<HaNode['send']>[0]) => Promise.all(nodes.map((n) => n.send(command)));

/** Every value any node sealed in this file (name → context and text), and its plaintext: read back at the end. */
const sealed: Record<string, readonly [string, string]> = {};
const plaintexts: Record<string, string> = {};

/** Every answer's data key per scope (its values kept for the last test); fails on an error answer. */
function dataKeysOf(t: Test, answers: readonly NodeAnswer[], from: readonly HaNode[] = nodes) {
  answers.forEach((a, k) => {
    t.same(a.error, undefined, 'the node answered without error');
    for (const [scope, text] of Object.entries(a.texts ?? {})) {
      const name = `${scope} ${Object.keys(sealed).length}`;
      sealed[name] = [scope, text];
      plaintexts[name] = sealedValue(scope, from[k]?.pid ?? 0);
    }
  });
  return answers.map((a) => a.dataKeys ?? {});
}

type DataKeyCount = { label: string; keys: number; active: number; reserved: string };
async function keysPerLabel(prefix: string): Promise<DataKeyCount[]> {
  const { rows } = await app.query<DataKeyCount>(
    `SELECT label, count(*)::int AS keys, count(*) FILTER (WHERE active)::int AS active,
            max(encryptions_reserved)::text AS reserved
     FROM atrest_data_keys WHERE label LIKE $1 GROUP BY label ORDER BY label`,
    [`${prefix}%`],
  );
  return rows;
}

t.test('4 nodes using 50 new labels at the same instant: one active data key each, the winner used', async (t) => {
  const scopes = Array.from({ length: 50 }, (_, k) => `race-${String(k).padStart(2, '0')}`);
  const answers = await everyNode({ op: 'encrypt', scopes });
  const used = dataKeysOf(t, answers);
  const labels = await keysPerLabel('race-');
  t.equal(labels.length, 50, 'a data key for each of the 50 labels');
  t.same(
    labels.filter((l) => l.keys !== 1 || l.active !== 1).map((l) => l.label),
    [],
    'exactly one data key per label, and it is active: no loser left one behind',
  );
  const split = scopes.filter((s) => new Set(used.map((u) => u[s])).size !== 1);
  t.same(split, [], 'for every label, all 4 nodes sealed under the same data key');
});

t.test('the encryption budget of a data key holds across nodes', async (t) => {
  // A data key with room for exactly two more blocks: two nodes get one each, the others need a new key.
  await first.encrypt('opening', { scope: 'budget' });
  const [opened] = await keysPerLabel('budget/');
  await app.query('UPDATE atrest_data_keys SET encryptions_reserved = $1 WHERE label = $2', [
    CAP - 2 * BLOCK,
    opened?.label,
  ]);
  const { rows: before } = await app.query<{ id: string }>('SELECT id FROM atrest_data_keys WHERE label = $1', [
    opened?.label,
  ]);
  const old = before[0]?.id;
  const used = dataKeysOf(t, await everyNode({ op: 'encrypt', scopes: ['budget'] })).map((u) => u['budget']);
  t.equal(used.filter((id) => id === old).length, 2, 'two nodes sealed under the old data key: its last two blocks');
  const fresh = [...new Set(used.filter((id) => id !== old))];
  t.equal(fresh.length, 1, 'the two others sealed under one new data key');
  const { rows } = await app.query<{ id: string; active: boolean; reserved: string }>(
    'SELECT id, active, encryptions_reserved::text AS reserved FROM atrest_data_keys WHERE label = $1',
    [opened?.label],
  );
  const oldRow = rows.find((r) => r.id === old);
  t.equal(oldRow?.reserved, String(CAP), 'the old data key reserved exactly its cap, not one block more');
  t.equal(oldRow?.active, false, 'and was retired');
  t.equal(rows.length, 2, 'two data keys for the label');
  t.equal(rows.filter((r) => r.active).length, 1, 'one of them active');
  t.equal(rows.find((r) => r.id === fresh[0])?.reserved, String(2 * BLOCK), 'the new one: a block per node using it');
});

t.test('a rotation on one node reaches the others within data_keys_cache_ttl', async (t) => {
  const before = dataKeysOf(t, await everyNode({ op: 'encrypt', scopes: ['rotated'] })).map((u) => u['rotated']);
  t.equal(new Set(before).size, 1, 'before: every node seals under one data key');
  const [rotator, ...others] = nodes;
  const retired = await rotator?.send({ op: 'rotate' });
  t.ok((retired?.retired ?? 0) >= 1, 'node 1 retired the active data keys');
  const rotatorAnswer = (await rotator?.send({ op: 'encrypt', scopes: ['rotated'] })) ?? {};
  const [afterRotation] = dataKeysOf(t, [rotatorAnswer], nodes.slice(0, 1));
  const next = afterRotation?.['rotated'];
  t.not(next, before[0], 'node 1 seals under a new data key at once');
  // The other nodes may go on with the key they hold, for at most the TTL; past it, they read the table again.
  await new Promise((resolve) => setTimeout(resolve, TTL_MS + 200));
  const later = await Promise.all(others.map((n) => n.send({ op: 'encrypt', scopes: ['rotated'] })));
  t.same(
    dataKeysOf(t, later, others).map((u) => u['rotated']),
    others.map(() => next),
    'past data_keys_cache_ttl, every other node seals under the new data key',
  );
  const [label] = await keysPerLabel('rotated/');
  t.equal(label?.active, 1, 'one active data key for the label');
});

t.test('no data key a value names is deleted: every value sealed above decrypts on every node', async (t) => {
  const names = Object.keys(sealed);
  t.ok(names.length >= 4 * 50 + 4 + 8, `${names.length} values sealed by the nodes, under active and retired keys`);
  const reads = await everyNode({ op: 'decrypt', sealed });
  for (const [k, r] of reads.entries()) {
    t.same(r.error, undefined, `node ${k + 1} read every value`);
    const wrong = names.filter((name) => r.values?.[name] !== plaintexts[name]);
    t.same(wrong, [], `node ${k + 1} decrypts every value, whichever node sealed it`);
  }
});

// The cleanup deletes what no value in the database names: from here on, the values above that the
// test holds only in memory may lose their data keys, as they should.
t.test('the data key cleanup on one node keeps a key another node may still use', async (t) => {
  // Nodes with the default TTL: the key a node holds stays usable to it for 15 minutes.
  const [holder, cleaner] = await startNodes(2, { ...env, ATREST_SECURITY_ENCRYPTION_DATA_KEYS_CACHE_TTL: '15m' });
  if (holder === undefined || cleaner === undefined) throw new Error('no nodes');
  const held = dataKeysOf(t, [await holder.send({ op: 'encrypt', scopes: ['held'] })], [holder])[0]?.['held'];
  t.ok((await cleaner.send({ op: 'rotate' })).retired, 'another node retires every active data key');
  const cleanup = await cleaner.send({ op: 'cleanup' });
  t.ok((cleanup.cleanup?.waiting ?? 0) >= 1, 'and runs the cleanup at once: the key just retired waits');
  const { rows } = await app.query<{ active: boolean }>('SELECT active FROM atrest_data_keys WHERE id = $1', [held]);
  t.same(rows, [{ active: false }], 'the retired key no value names yet is kept');
  const again = await holder.send({ op: 'encrypt', scopes: ['held'] });
  t.equal(dataKeysOf(t, [again], [holder])[0]?.['held'], held, 'the node holding it goes on sealing under it');
  const name = Object.keys(sealed).at(-1) ?? '';
  const read = await cleaner.send({ op: 'decrypt', sealed: { [name]: sealed[name] ?? ['', ''] } });
  t.equal(read.values?.[name], plaintexts[name], 'and what it sealed decrypts on the other node');
  t.same([await holder.stop(), await cleaner.stop()], [0, 0], 'both nodes exit cleanly');
});

t.test('past data_keys_cache_ttl, the cleanup deletes retired keys no value names, never a named one', async (t) => {
  const [a, b] = nodes;
  if (a === undefined || b === undefined) throw new Error('no nodes');
  t.same(await a.send({ op: 'set', name: 'kept' }), {}, 'node 1 stores a secret');
  const { rows: kept } = await app.query<{ id: string }>(
    `SELECT encode(substring(value from ${DATA_KEY_ID_OFFSET + 1} for ${DATA_KEY_ID_LENGTH}), 'hex') AS id
     FROM atrest_secrets WHERE name = 'kept'`,
  );
  t.ok((await b.send({ op: 'rotate' })).retired, 'node 2 retires every active data key');
  await new Promise((resolve) => setTimeout(resolve, TTL_MS + 200));
  const cleanup = await b.send({ op: 'cleanup' });
  t.ok((cleanup.cleanup?.deleted ?? 0) >= 1, `the cleanup deleted ${cleanup.cleanup?.deleted} unnamed retired keys`);
  t.ok((cleanup.cleanup?.inUse ?? 0) >= 1, 'and kept the ones values name');
  const { rows } = await app.query('SELECT 1 FROM atrest_data_keys WHERE id = $1', [kept[0]?.id]);
  t.equal(rows.length, 1, "the stored secret's data key is there");
  t.equal(await first.secrets.getText('kept'), sealedValue('kept', a.pid), 'and the secret reads back');
});

t.test('the nodes close atrest and exit cleanly', async (t) => {
  t.same(await Promise.all(nodes.map((n) => n.stop())), [0, 0, 0, 0], 'every node exits 0');
  await first.close();
  await app.end();
});
