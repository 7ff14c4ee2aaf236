// Migrations next to a running application and next to each other, on one store
// (migration-concurrency and migration-concurrency-postgres run this body on SQLite and on
// PostgreSQL): application writes during re-encrypt are never lost or overwritten; one migration at
// a time per database (ATREST_LOCKED); a killed holder does not leave the lock stuck.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import t from 'tap';
import { runCli } from '@atrest/cli';
import { memoryStreams } from '@atrest/testkit';
import { repoRoot } from './helpers.js';
import {
  NEW_PASSPHRASE,
  OLD_PASSPHRASE,
  cli,
  configure,
  copyFixture,
  dataKeys,
  openFixture,
  parseReports,
  provision,
  removeTempDirs,
  since,
  spawnAtrest,
  storedValues,
  verifyAll,
} from './migration-fixture.js';
import type { Fixture, Originals } from './migration-fixture.js';
import type { WriterReport } from './migration-app-writer.js';
import type { FixtureStore } from './migration-stores.js';

/** The fixture's size: secrets and target rows, a data key per 5,000 secrets. */
export type ConcurrencySizes = { readonly secrets: number; readonly rows: number };

/** The migration lock's holder row (both stores write one; PostgreSQL's advisory lock decides beside it). */
async function lockRow(f: Fixture): Promise<{ host: string; pid: number; command: string } | undefined> {
  const [row] = await f.store.query<{ value: string }>(
    f.db,
    "SELECT value FROM atrest_meta WHERE key = 'migration_lock'",
  );
  return row === undefined ? undefined : (JSON.parse(row.value) as { host: string; pid: number; command: string });
}

/** A lock row as a process on another host writes it, with its heartbeat at `heartbeat`. */
async function setForeignLock(f: Fixture, heartbeat: number): Promise<void> {
  await f.store.query(
    f.db,
    "INSERT INTO atrest_meta (key, value) VALUES ('migration_lock', ?) " +
      'ON CONFLICT (key) DO UPDATE SET value = excluded.value',
    [
      JSON.stringify({
        host: 'other-node.example',
        pid: 4242,
        token: 'a process on the other host',
        lockId: 'its lock',
        command: 'secrets-migration re-encrypt',
        startedAt: new Date(heartbeat).toISOString(),
        heartbeat,
      }),
    ],
  );
}

/** Wait until the child's stderr contains `text`. */
function stderrSays(child: ReturnType<typeof spawnAtrest>['child'], text: string): Promise<void> {
  return new Promise((resolve, reject) => {
    let seen = '';
    const onData = (d: Buffer): void => {
      seen += d.toString('utf8');
      if (seen.includes(text)) {
        child.stderr?.off('data', onData);
        resolve();
      }
    };
    child.stderr?.on('data', onData);
    child.on('close', () => reject(new Error(`exited before printing ${JSON.stringify(text)}: ${seen}`)));
  });
}

/** The originals with the application's writes applied: what every row must hold afterwards. */
function afterWrites(o: Originals, w: WriterReport): Originals {
  const secrets = o.secrets.map((v, i) => (w.secrets[i] !== undefined ? Buffer.from(w.secrets[i], 'utf8') : v));
  const rows = new Map(o.rows);
  for (const id of w.inserted) rows.set(id, { password: null, json: null });
  for (const [id, pw] of Object.entries(w.passwords))
    rows.set(Number(id), { ...(rows.get(Number(id)) ?? { json: null }), password: pw });
  for (const [id, json] of Object.entries(w.json))
    rows.set(Number(id), { ...(rows.get(Number(id)) ?? { password: null }), json });
  for (const id of w.deleted) rows.delete(id);
  return { secrets, plainSecrets: o.plainSecrets, rows };
}

/** Every case of this file on `store`. */
export async function concurrencyTests(store: FixtureStore, sizes: ConcurrencySizes): Promise<void> {
  t.teardown(removeTempDirs);
  const started = Date.now();
  const template = await provision('file', sizes, store);
  t.comment(`${store.name}: provisioned ${sizes.secrets} secrets and ${sizes.rows} target rows in ${since(started)}`);
  const values = (await storedValues(template.fixture, template.originals)).length;

  t.test('application writes during re-encrypt are never lost', async (t) => {
    const f = await copyFixture(template.fixture);
    // An older application version writes plaintext all along: the transition stays open (a target
    // re-encrypt seals refuses plaintext written after it).
    f.env = { ...f.env, ATREST_SECURITY_ENCRYPTION_REOPEN_PLAINTEXT: '*' };
    t.equal(
      (await cli(f, ['secrets-migration', 'rotate-data-keys'])).code,
      0,
      'data keys retired: every value has to move',
    );
    const writer = spawn(
      process.execPath,
      [
        join(repoRoot, 'test', 'dist', 'migration-app-writer.js'),
        f.configFile,
        store.address(f.db),
        String(sizes.rows),
        String(sizes.secrets),
      ],
      {
        cwd: repoRoot,
        env: { PATH: process.env['PATH'] ?? '', HOME: f.dir, ...f.env },
        stdio: ['pipe', 'pipe', 'pipe'],
      },
    );
    const out: Buffer[] = [];
    let errText = '';
    writer.stdout.on('data', (d: Buffer) => out.push(d));
    writer.stderr.on('data', (d: Buffer) => (errText += d.toString('utf8')));
    const writerDone = new Promise<number | null>((resolve) => writer.on('close', resolve));
    await new Promise<void>((resolve, reject) => {
      const check = setInterval(() => {
        if (errText.includes('ready')) {
          clearInterval(check);
          resolve();
        }
      }, 5);
      writer.on('close', () => {
        clearInterval(check);
        reject(new Error(`the writer exited early: ${errText}`));
      });
    });
    const failures: string[] = [];
    let conflicts = 0;
    // Two full rounds while the application writes: re-encrypt in small batches, retire, again.
    for (const round of [1, 2]) {
      const r = await cli(f, ['secrets-migration', 're-encrypt', '--batch-size', '50', '--json']);
      t.ok(
        r.code === 0 || r.code === 1,
        `round ${round}: re-encrypt ran to its end (exit ${r.code}) ${r.code === 0 || r.code === 1 ? '' : r.stderr}`,
      );
      for (const rep of parseReports(r)) {
        for (const fl of rep.failures) {
          if (fl.code === 'ATREST_CONFLICT') conflicts++;
          else failures.push(`${rep.target} ${fl.row}: ${fl.code} ${fl.message}`);
        }
        t.ok(
          rep.scanned > 0,
          `round ${round}: ${rep.target} scanned ${rep.scanned}, re-encrypted ${rep.reEncrypted}, ` +
            `plaintext encrypted ${rep.plaintextEncrypted}, failed ${rep.failed}`,
        );
      }
      if (round === 1)
        t.equal(
          (await cli(f, ['secrets-migration', 'rotate-data-keys'])).code,
          0,
          'data keys retired again while the application writes',
        );
    }
    writer.stdin.end();
    t.equal(await writerDone, 0, `the application exited cleanly ${errText.replace('ready\n', '')}`);
    const w = JSON.parse(Buffer.concat(out).toString('utf8')) as WriterReport;
    t.ok(
      w.ops > 500,
      `the application wrote ${w.ops} times during the migration (${Object.keys(w.secrets).length} secrets, ` +
        `${Object.keys(w.passwords).length} passwords, ${Object.keys(w.json).length} JSON cells, ` +
        `${w.inserted.length} inserts, ${w.deleted.length} deletes)`,
    );
    t.same(failures, [], 'no row failed for any reason but a reported conflict');
    t.comment(`rows re-encrypt reported as conflicts (left to the application's value): ${conflicts}`);
    const expected = afterWrites(template.originals, w);
    const v = await verifyAll(f, expected);
    t.same(
      v.mismatches.slice(0, 10),
      [],
      `every row holds the application's last write or its original (${v.secrets} secrets, ${v.values} target values)`,
    );
    const last = await cli(f, ['secrets-migration', 're-encrypt', '--json']);
    t.equal(last.code, 0, 'a re-encrypt after the application stopped completes without failures');
    const again = await verifyAll(f, expected);
    t.same(again.mismatches.slice(0, 10), [], "and every value is still the application's last write");
  });

  t.test("a row the application rewrites between re-encrypt's read and its write is never overwritten", async (t) => {
    // Deterministic: with the passphrase provider, re-encrypt's first batch waits on scrypt (a real
    // thread-pool job) after reading its rows and before writing them; the application writes then.
    const f = await copyFixture(template.fixture);
    configure(f, {
      current: 'secret_key.default',
      available: 'secret_key.default file.default',
      passphrase: OLD_PASSPHRASE,
    });
    const app = await openFixture(f);
    await app.secrets.set('warm-up', 'the application holds an active data key');
    const expected = {
      ...template.originals,
      secrets: [...template.originals.secrets],
      rows: new Map(template.originals.rows),
    };
    for (const target of ['atrest_secrets', 'datasources.password', 'datasources.json_data']) {
      const m = await openFixture(f);
      await m.migrations.rotateDataKeys();
      const migration = m.migrations.reEncrypt({ targets: [target], batchSize: 500 });
      await new Promise((resolve) => setImmediate(resolve));
      // The application rewrites rows of the batch re-encrypt has read and not yet written.
      for (let i = 1; i <= 60; i++) {
        if (target === 'atrest_secrets') {
          const value = `rewritten by the application during re-encrypt ${i}`;
          await app.secrets.set(`secret-${String(i).padStart(6, '0')}`, value);
          expected.secrets[i] = Buffer.from(value, 'utf8');
        } else if (target === 'datasources.password') {
          const value = `plaintext written by an old application version ${i}`;
          await store.query(f.db, 'UPDATE datasources SET password = ? WHERE id = ?', [value, i]);
          expected.rows.set(i, { ...(expected.rows.get(i) ?? { json: null }), password: value });
        } else {
          const json = {
            user: `new-user-${i}`,
            token: await app.encryptText(`new-token-${i}`, { target: 'datasources.json_data', field: 'token' }),
          };
          await store.query(f.db, 'UPDATE datasources SET json_data = ? WHERE id = ?', [JSON.stringify(json), i]);
          expected.rows.set(i, {
            ...(expected.rows.get(i) ?? { password: null }),
            json: { user: `new-user-${i}`, token: `new-token-${i}` },
          });
        }
      }
      const [report] = await migration;
      await m.close();
      t.equal(
        report?.failed,
        0,
        `${target}: no row failed (${report?.scanned} scanned, ${report?.reEncrypted} re-encrypted, ` +
          `${report?.plaintextEncrypted} plaintext encrypted)`,
      );
    }
    await app.close();
    const v = await verifyAll(f, expected);
    t.same(
      v.mismatches.slice(0, 10),
      [],
      "every rewritten row holds the application's value; every other row its original",
    );
    // Rows re-encrypt had to rewrite (all but the NULL passwords, id % 10 = 0) failed their
    // compare-and-swap and were redone from the application's value: its plaintext is encrypted.
    const plainLeft = async (): Promise<number[]> =>
      (
        await store.query<{ id: number }>(
          f.db,
          "SELECT id FROM datasources WHERE id <= 60 AND password NOT LIKE 'atrest:v1:%' ORDER BY id",
        )
      ).map((r) => r.id);
    t.same(
      (await plainLeft()).filter((id) => id % 10 !== 0),
      [],
      'the plaintext the application wrote meanwhile was encrypted on the retry',
    );
    t.same(
      await plainLeft(),
      [10, 20, 30, 40, 50, 60],
      'rows that held nothing when read are left to the next run (nothing was swapped there)',
    );
    t.equal((await cli(f, ['secrets-migration', 're-encrypt'])).code, 0, 'the next run');
    t.same(await plainLeft(), [], 'encrypts them');
  });

  t.test('one migration at a time: ATREST_LOCKED, and a killed holder does not leave the lock stuck', async (t) => {
    const f = await copyFixture(template.fixture);
    t.equal(
      (await cli(f, ['secrets-migration', 'rotate-data-keys'])).code,
      0,
      `data keys retired: re-encrypt has ${values} values to move`,
    );
    // Batches of one row: the first instance runs for seconds, holding the lock.
    const first = spawnAtrest(['--config', f.configFile, 'secrets-migration', 're-encrypt', '--batch-size', '1'], {
      env: f.env,
    });
    let firstExited = false;
    void first.done.then(() => (firstExited = true));
    // Its first progress line (off a TTY, after a couple of seconds): it holds the lock and works.
    await stderrSays(first.child, 'atrest_secrets: ');
    const holder = await lockRow(f);
    t.match(
      holder,
      { pid: first.child.pid, command: 'secrets-migration re-encrypt' },
      'the lock names the running instance',
    );
    const others: string[][] = [
      ['secrets-migration', 're-encrypt'],
      ['secrets-migration', 're-encrypt-data-keys'],
      ['secrets-migration', 'rotate-data-keys'],
      ['rotate-encryption-key'],
      ['rotate-encryption-key', '--prune'],
    ];
    const runs = await Promise.all(others.map((args) => cli(f, args)));
    t.notOk(firstExited, 'the first instance was still running while the others tried');
    runs.forEach((r, i) => {
      const cmd = (others[i] ?? []).join(' ');
      t.equal(r.code, 1, `${cmd}: exit 1 while another migration runs`);
      t.match(r.stderr, /ATREST_LOCKED/, `${cmd}: ATREST_LOCKED`);
      t.match(r.stderr, new RegExp(`pid ${first.child.pid}`), `${cmd}: names the holder's pid`);
    });
    first.child.kill('SIGKILL');
    const killed = await first.done;
    t.equal(killed.signal, 'SIGKILL', 'the holder was killed mid-run');
    t.match(await lockRow(f), { pid: first.child.pid }, 'its lock row is still there');
    const next = await cli(f, ['secrets-migration', 're-encrypt', '--json']);
    t.equal(next.code, 0, `the next run proceeds past the dead holder's lock: ${next.stderr.split('\n')[0] ?? ''}`);
    t.ok(
      parseReports(next).some((r) => r.reEncrypted > 0),
      'and finishes the job',
    );
    t.equal(await lockRow(f), undefined, 'the lock is released at the end');
    const v = await verifyAll(f, template.originals);
    t.same(v.mismatches.slice(0, 10), [], 'every value decrypts to its original');
  });

  // SQLite has only the row: a holder on another host is honoured until its heartbeat is stale.
  // PostgreSQL's session advisory lock decides: a row whose holder holds no advisory lock is left
  // over from a dead holder (its session ended) and is taken over at once.
  t.test(`a lock row written on another host (${store.name})`, async (t) => {
    const f = await copyFixture(template.fixture);
    t.equal(
      (await cli(f, ['secrets', 'set', 'fresh'], 'a value under a new active data key')).code,
      0,
      'an active data key to retire',
    );
    await setForeignLock(f, Date.now() - 60_000);
    if (store.name === 'SQLite') {
      const refused = await cli(f, ['secrets-migration', 'rotate-data-keys']);
      t.equal(refused.code, 1, 'exit 1 while another host holds a fresh lock');
      t.match(refused.stderr, /ATREST_LOCKED.*pid 4242 on other-node\.example/, 'names the other host and its pid');
      t.ok(
        (await dataKeys(f)).some((k) => k.active === 1),
        'nothing was retired',
      );
      await setForeignLock(f, Date.now() - 11 * 60_000);
    }
    const taken = await cli(f, ['secrets-migration', 'rotate-data-keys']);
    t.equal(
      taken.code,
      0,
      store.name === 'SQLite'
        ? 'a lock whose heartbeat is older than 10 minutes is taken over'
        : 'a row without the advisory lock behind it is taken over, fresh heartbeat or not',
    );
    t.notOk(
      (await dataKeys(f)).some((k) => k.active === 1),
      'and the command did its work',
    );
    t.equal(await lockRow(f), undefined, 'then released');
  });

  t.test('two migrations run by one embedding process (runCli) do not both proceed', async (t) => {
    // A passphrase database whose data keys were wrapped by eight processes (eight scrypt salts): a
    // rotation unwraps them one by one, holding the lock for a good half second of real async work.
    const f = await copyFixture(template.fixture);
    configure(f, {
      current: 'secret_key.default',
      available: 'secret_key.default file.default',
      passphrase: OLD_PASSPHRASE,
    });
    for (let i = 0; i < 8; i++) {
      const a = await openFixture(f);
      await a.migrations.rotateDataKeys();
      await a.secrets.set(`salted-${i}`, `value-${i}`);
      await a.close();
    }
    t.equal(
      (await cli(f, ['secrets-migration', 're-encrypt-data-keys'])).code,
      0,
      'every data key under the passphrase',
    );
    const env = { ...f.env };
    const one = memoryStreams(NEW_PASSPHRASE);
    let firstDone = false;
    const rotation = runCli(['--config', f.configFile, 'rotate-encryption-key'], {
      env,
      appRoot: repoRoot,
      io: one.io,
    }).finally(() => (firstDone = true));
    // Start the second command once the first holds the lock.
    while ((await lockRow(f)) === undefined && !firstDone) await new Promise((resolve) => setTimeout(resolve, 2));
    t.notOk(firstDone, 'the rotation holds the lock');
    const two = memoryStreams();
    const second = await runCli(['--config', f.configFile, 'secrets-migration', 'rotate-data-keys'], {
      env,
      appRoot: repoRoot,
      io: two.io,
    });
    t.notOk(firstDone, 'the rotation was still running when the second command returned');
    t.equal(second, 1, `the second command of the same process is refused (exit 1): ${two.err().trim()}`);
    t.match(two.err(), /ATREST_LOCKED/, 'with ATREST_LOCKED');
    t.equal(await rotation, 0, `the rotation completes: ${one.err().trim()}`);
  });

  t.test('an application still running when encryption is turned off loses no write', async (t) => {
    const f = await copyFixture(template.fixture);
    configure(f, {
      current: 'secret_key.default',
      available: 'secret_key.default file.default',
      passphrase: OLD_PASSPHRASE,
    });
    t.equal(
      (await cli(f, ['secrets-migration', 're-encrypt-data-keys'])).code,
      0,
      'every data key under the passphrase',
    );
    // The application is up: it has written a secret, so it holds an active data key in memory.
    const app = await openFixture(f);
    await app.secrets.set('written-before', 'before the operator turned encryption off');
    const off = await cli(f, ['rotate-encryption-key', '--yes'], '');
    t.equal(
      off.code,
      0,
      `encryption turned off while the application runs: ${off.stderr.trim().split('\n').pop() ?? ''}`,
    );
    // The application, not restarted yet, writes another secret and reads it back.
    await app.secrets.set('written-after', 'written by the running application after the turn-off');
    t.equal(
      await app.secrets.getText('written-after'),
      'written by the running application after the turn-off',
      'the running application reads its write',
    );
    await app.close();
    // After a restart (same configuration), the write must still be readable.
    const restarted = await openFixture(f);
    const got = await restarted.secrets
      .getText('written-after')
      .catch((err: unknown) => `error ${(err as { code?: string }).code ?? String(err)}`);
    t.equal(
      got,
      'written by the running application after the turn-off',
      'after a restart the value written after the turn-off still decrypts',
    );
    t.equal(
      await restarted.secrets.getText('written-before'),
      'before the operator turned encryption off',
      'the value written before was turned into plaintext',
    );
    await restarted.close();
  });
}
