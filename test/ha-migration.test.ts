// Several nodes on one PostgreSQL, migrations (docs/SEVERAL-NODES.md), with real processes: one
// migration at a time across nodes, and a SIGKILLed holder's lock released by the database itself;
// 8 writers while another node re-encrypts and is SIGKILLed at random moments (no write lost, the
// lock released each time, a re-run completes); the PostgreSQL server restarted in the middle of
// writes and a re-encrypt (typed errors, reconnection, nothing lost). One server for the file.
import { hostname } from 'node:os';
import { type Atrest, DATA_KEY_ID_LENGTH, DATA_KEY_ID_OFFSET, openAtrest } from '@atrest/core';
import { type TestPostgres, spawnNode, startPostgres, tempDir } from '@atrest/testkit';
import pg from 'pg';
import t from 'tap';
import type { Test } from 'tap';
import {
  type Expected,
  HA_TARGET,
  LOCK_COMMAND,
  applyReports,
  lockReleased,
  migrationLockBackend,
  mismatches,
  nodeEnv,
  seedHa,
  startNodes,
  startWriters,
} from './ha-fixture.js';
import { cliBin, repoRoot, runAtrest } from './helpers.js';

const server: TestPostgres = await startPostgres();
// After every test's own teardown (their pools end first).
t.teardown(() => server.stop());

type Cluster = { env: Record<string, string>; app: pg.Pool; first: Atrest; expected: Expected };

/** A fresh database with the application's data, seeded by the first node (which made the key file). */
async function cluster(t: Test, counts: { secrets: number; rows: number }): Promise<Cluster> {
  const url = server.url(await server.createDatabase());
  const env = nodeEnv(url, tempDir('atrest-ha-mig-'));
  const app = new pg.Pool({ connectionString: url, max: 2 });
  app.on('error', () => undefined); // the restart test breaks its idle connections
  const first = await openAtrest({ env, appRoot: repoRoot });
  t.teardown(async () => {
    await first.close();
    await app.end();
  });
  return { env, app, first, expected: await seedHa(first, app, counts) };
}

/** Values sealed under an active data key: what a re-encrypt run has rewritten since the last rotation. */
async function onActiveKeys(app: pg.Pool): Promise<number> {
  const { rows } = await app.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM atrest_secrets s JOIN atrest_data_keys k
       ON k.active AND k.id = encode(substring(s.value from $1 for $2), 'hex')`,
    [DATA_KEY_ID_OFFSET + 1, DATA_KEY_ID_LENGTH],
  );
  return rows[0]?.n ?? 0;
}

/** Start `secrets-migration re-encrypt` as a real process; resolves once it has written its first batches. */
async function reEncryptUnderway(c: Cluster, batchSize: number) {
  const run = spawnNode([cliBin, 'secrets-migration', 're-encrypt', '--batch-size', String(batchSize)], {
    env: c.env,
    cwd: repoRoot,
  });
  let exited = false;
  void run.done.then(() => {
    exited = true;
  });
  // Bounded: the run may finish (or fail) before a look sees a batch.
  for (let look = 0; look < 2000 && !exited && (await onActiveKeys(c.app)) < batchSize; look++) {
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return run;
}

t.test("one migration at a time across nodes; a killed holder's lock is released by the database", async (t) => {
  const c = await cluster(t, { secrets: 20, rows: 10 });
  const [holder] = await startNodes(1, c.env);
  if (holder === undefined) throw new Error('no node');
  t.equal((await holder.send({ op: 'lock' })).locked, holder.pid, 'node 1 holds the migration lock');
  const commands = [['re-encrypt'], ['rotate-data-keys'], ['re-encrypt-data-keys']];
  const refused = await Promise.all(commands.map((args) => runAtrest(['secrets-migration', ...args], { env: c.env })));
  for (const [k, run] of refused.entries()) {
    const what = `secrets-migration ${commands[k]?.join(' ')} on node ${k + 2}`;
    t.equal(run.code, 1, `${what}: exit 1`);
    t.match(run.stderr, /ATREST_LOCKED/, `${what}: ATREST_LOCKED`);
    t.match(
      run.stderr,
      `'${LOCK_COMMAND}' (pid ${holder.pid} on ${hostname()}`,
      `${what}: names the holding command, process and host`,
    );
  }
  t.ok((await migrationLockBackend(c.app)) !== undefined, 'the lock is a session lock of the server');
  await holder.kill();
  t.ok(await lockReleased(c.app), 'SIGKILL of the holder: the database released its lock');
  const after = await runAtrest(['secrets-migration', 're-encrypt'], { env: c.env });
  t.equal(after.code, 0, `the next re-encrypt runs: ${after.stderr.trim().split('\n').pop() ?? ''}`);
  t.same(await mismatches(c.first, c.app, c.expected), [], 'every value reads back');
});

t.test('8 writers while another node re-encrypts and is SIGKILLed at random moments: 0 values lost', async (t) => {
  const sizes = { secrets: 600, rows: 200 };
  const started = Date.now();
  const c = await cluster(t, sizes);
  const writers = startWriters(8, c.env, sizes);
  await Promise.all(writers.map((w) => w.reach(25)));
  t.comment(`seeded, 8 writers writing: ${Date.now() - started} ms`);
  let killed = 0;
  for (let round = 0; round < 3; round++) {
    // Every value onto retired data keys: the run has all of them to rewrite.
    await c.first.migrations.rotateDataKeys();
    const run = await reEncryptUnderway(c, 50);
    await new Promise((resolve) => setTimeout(resolve, Math.random() * 150));
    run.child.kill('SIGKILL');
    const { signal, code } = await run.done;
    if (signal === 'SIGKILL') killed++;
    else t.equal(code, 0, `round ${round + 1}: the run finished before the kill`);
    t.ok(await lockReleased(c.app), `round ${round + 1}: the lock is released (${signal ?? `exit ${code}`})`);
  }
  t.ok(killed >= 1, `${killed} of 3 runs were killed in the middle of their work`);
  t.comment(`3 rounds: ${Date.now() - started} ms`);
  const last = await runAtrest(['secrets-migration', 're-encrypt', '--batch-size', '50'], { env: c.env });
  t.equal(last.code, 0, `a re-run completes while the writers go on: ${last.stderr.trim().split('\n').pop() ?? ''}`);
  const reports = await Promise.all(writers.map((w) => w.stop()));
  t.comment(`last run, writers stopped: ${Date.now() - started} ms`);
  t.same(
    reports.flatMap((r) => r.unexpected),
    [],
    'no writer met an error',
  );
  t.same(
    reports.map((r) => r.errors),
    writers.map(() => ({})),
    'nor a failed write',
  );
  const writes = reports.reduce((n, r) => n + r.ops, 0);
  applyReports(c.expected, reports);
  t.same(
    await mismatches(c.first, c.app, c.expected),
    [],
    `0 values lost: every secret and row holds its last write (${writes} writes by 8 writers)`,
  );
  const { rows } = await c.app.query<{ n: number }>('SELECT count(*)::int AS n FROM atrest_secrets');
  t.equal(rows[0]?.n, sizes.secrets, 'every secret is still there');
});

t.test('the PostgreSQL server restarted in the middle of work: typed errors, reconnection, nothing lost', async (t) => {
  const sizes = { secrets: 400, rows: 100 };
  const c = await cluster(t, sizes);
  const writers = startWriters(4, c.env, sizes);
  await Promise.all(writers.map((w) => w.reach(25)));
  await c.first.migrations.rotateDataKeys();
  const run = await reEncryptUnderway(c, 20);
  await server.restart();
  const interrupted = await run.done;
  if (interrupted.code !== 0) {
    t.equal(interrupted.code, 1, 're-encrypt cut off by the restart: exit 1');
    t.match(interrupted.stderr, /ATREST_STORE/, 'with a typed error');
  }
  // Every writer goes on after the restart, on new connections.
  await Promise.all(writers.map((w) => w.reach(w.ops + 50)));
  const again = await runAtrest(['secrets-migration', 're-encrypt'], { env: c.env });
  t.equal(again.code, 0, `re-encrypt run again completes: ${again.stderr.trim().split('\n').pop() ?? ''}`);
  const reports = await Promise.all(writers.map((w) => w.stop()));
  t.same(
    reports.flatMap((r) => r.unexpected),
    [],
    'every error a writer met was typed (ATREST_STORE, or a lost connection on its own pool)',
  );
  const failed = reports.reduce((n, r) => n + Object.values(r.errors).reduce((a, b) => a + b, 0), 0);
  t.ok(failed >= 1, `the writers met the restart: ${failed} writes failed and were retried`);
  applyReports(c.expected, reports);
  t.same(await mismatches(c.first, c.app, c.expected), [], 'nothing lost: every value holds its last write');
  const { rows } = await c.app.query<{ n: number }>('SELECT count(*)::int AS n FROM datasources');
  t.equal(rows[0]?.n, sizes.rows, `every ${HA_TARGET} row is there`);
});
