// The migration commands as an operator runs them, on one store (migration-cli and
// migration-cli-postgres run this body on SQLite and on PostgreSQL): exit codes, --dry-run,
// --target, --batch-size, the --json report, failures reported per row or data key, --prune,
// turning encryption off and on, data keys made per run; and runCli mounted in a host program
// under its own app name.
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import t from 'tap';
import { armor, dearmor } from '@atrest/core';
import type { AtrestStatus, DataKeysReport, TargetReport } from '@atrest/core';
import { runCli } from '@atrest/cli';
import { memoryStreams } from '@atrest/testkit';
import { addKeyVersion, readKeyFile } from '@atrest/provider-file';
import { repoRoot } from './helpers.js';
import {
  JSON_TARGET,
  NEW_PASSPHRASE,
  OLD_PASSPHRASE,
  PASSWORD_TARGET,
  cli,
  configure,
  copyFixture,
  dataKeys,
  openError,
  openFixture,
  parseReports,
  provision,
  removeTempDirs,
  secretName,
  secretValue,
  since,
  sizeViolations,
  statusJson,
  storedValues,
  verifyAll,
} from './migration-fixture.js';
import type { Fixture, Originals } from './migration-fixture.js';
import type { FixtureStore } from './migration-stores.js';

/** A digest of everything stored (atrest's tables and the application's), to prove nothing was written. */
async function snapshot(f: Fixture): Promise<string> {
  const h = createHash('sha256');
  for (const sql of [
    'SELECT * FROM atrest_secrets ORDER BY name',
    'SELECT * FROM atrest_data_keys ORDER BY id',
    'SELECT * FROM atrest_meta ORDER BY key',
    'SELECT * FROM datasources ORDER BY id',
  ]) {
    for (const row of await f.store.query<Record<string, unknown>>(f.db, sql)) {
      for (const v of Object.values(row)) h.update(Buffer.isBuffer(v) ? v : Buffer.from(JSON.stringify(v) ?? ''));
      h.update('\n');
    }
  }
  return h.digest('hex');
}

/** One value of one row (a test's own SELECT). */
async function cell<T>(f: Fixture, sql: string, params: readonly unknown[]): Promise<T> {
  const [row] = await f.store.query<Record<string, T>>(f.db, sql, params);
  if (row === undefined) throw new Error(`no row: ${sql}`);
  return Object.values(row)[0] as T;
}

/** Counts of the fixture's values: encrypted and legacy plaintext, per target. */
function expectedCounts(o: Originals): Record<string, { encrypted: number; plaintext: number; rows: number }> {
  const c = {
    atrest_secrets: {
      encrypted: o.secrets.length - o.plainSecrets.size,
      plaintext: o.plainSecrets.size,
      rows: o.secrets.length,
    },
    [PASSWORD_TARGET]: { encrypted: 0, plaintext: 0, rows: o.rows.size },
    [`${JSON_TARGET}:json`]: { encrypted: 0, plaintext: 0, rows: o.rows.size },
  };
  for (const [id, r] of o.rows) {
    const pw = c[PASSWORD_TARGET];
    const js = c[`${JSON_TARGET}:json`];
    if (pw !== undefined && r.password !== null) {
      if (id % 3 === 0) pw.plaintext++;
      else pw.encrypted++;
    }
    if (js !== undefined && r.json !== null) {
      js.encrypted += 1; // token
      if (id % 4 === 0) js.plaintext++;
      else js.encrypted++; // user
    }
  }
  return c;
}

function tamperArmored(text: string): string {
  const bytes = dearmor(text);
  bytes[40] = (bytes[40] ?? 0) ^ 0x01;
  return armor(bytes);
}

/** Every case of this file on `store`. */
export async function cliTests(store: FixtureStore): Promise<void> {
  t.teardown(removeTempDirs);
  const started = Date.now();
  const small = await provision('file', { secrets: 2_000, rows: 300, rotateEvery: 500 }, store);
  const smallPass = await provision('secret_key', { secrets: 2_000, rows: 300, rotateEvery: 500 }, store);
  t.comment(`${store.name}: provisioned in ${since(started)}`);

  t.test('exit codes: 0, and 2 for usage errors (nothing written)', async (t) => {
    const f = await copyFixture(small.fixture);
    const before = await snapshot(f);
    const help = await cli(f, ['secrets-migration', 're-encrypt', '--help']);
    t.equal(help.code, 0, '--help exits 0');
    t.match(help.stdout.toString('utf8'), /--dry-run[\s\S]*--batch-size[\s\S]*--target/, '--help lists the options');
    const usage: [string[], RegExp][] = [
      [['secrets-migration', 're-encrypt', '--bogus'], /ATREST_USAGE/],
      [
        ['secrets-migration', 're-encrypt', '--batch-size', '0'],
        /--batch-size must be a whole number from 1 to 10000 \(got 0\)/,
      ],
      [['secrets-migration', 're-encrypt', '--batch-size', 'lots'], /--batch-size must be a whole number/],
      [['secrets-migration', 're-encrypt', '--batch-size', '10001'], /--batch-size/],
      [
        ['secrets-migration', 're-encrypt', '--target', 'nosuch.column'],
        new RegExp(
          'Unknown target nosuch\\.column: the targets are ' +
            'atrest_secrets, datasources\\.password, datasources\\.json_data:json',
        ),
      ],
      [['secrets-migration', 're-encrypt', 'extra-argument'], /wrong number of arguments/],
      [['secrets-migration', 'frobnicate'], /unknown command 'secrets-migration frobnicate'/],
      [['rotate-encryption-key', '--new-key-file'], /ATREST_USAGE/],
    ];
    for (const [args, message] of usage) {
      const r = await cli(f, args);
      t.equal(r.code, 2, `${args.join(' ')}: exit 2`);
      t.match(r.stderr, message, `${args.join(' ')}: says what is wrong`);
    }
    t.equal(await snapshot(f), before, 'no usage error wrote anything');
    const ok = await cli(f, ['secrets-migration', 're-encrypt']);
    t.equal(ok.code, 0, 'a successful re-encrypt exits 0');
    t.match(
      ok.stdout.toString('utf8'),
      /atrest_secrets: scanned 2000 rows; values re-encrypted .*rows failed 0/,
      'and prints a line per target',
    );
  });

  t.test('--dry-run writes nothing and counts what would change', async (t) => {
    const f = await copyFixture(small.fixture);
    t.equal((await cli(f, ['secrets-migration', 'rotate-data-keys'])).code, 0, 'data keys retired');
    const before = await snapshot(f);
    const keysBefore = (await dataKeys(f)).length;
    const r = await cli(f, ['secrets-migration', 're-encrypt', '--dry-run', '--json']);
    t.equal(r.code, 0, 'exit 0');
    t.equal(await snapshot(f), before, 'every table is byte for byte unchanged');
    t.equal((await dataKeys(f)).length, keysBefore, 'no data key was made');
    const want = expectedCounts(small.originals);
    for (const rep of parseReports(r)) {
      const w = want[rep.target];
      t.match(
        rep,
        { scanned: w?.rows, reEncrypted: w?.encrypted, alreadyCurrent: 0, plaintextEncrypted: w?.plaintext, failed: 0 },
        `${rep.target}: counts what a real run would do`,
      );
    }
    const text = await cli(f, ['secrets-migration', 're-encrypt', '--dry-run']);
    t.match(text.stdout.toString('utf8'), /dry run: nothing was written/, 'the text report says it was a dry run');
    const real = await cli(f, ['secrets-migration', 're-encrypt', '--json']);
    t.same(
      parseReports(real).map((x) => [x.target, x.scanned, x.reEncrypted, x.plaintextEncrypted]),
      parseReports(r).map((x) => [x.target, x.scanned, x.reEncrypted, x.plaintextEncrypted]),
      'the real run does what the dry run counted',
    );
  });

  t.test('--json report shape, --target and --batch-size', async (t) => {
    const f = await copyFixture(small.fixture);
    t.equal((await cli(f, ['secrets-migration', 'rotate-data-keys'])).code, 0, 'data keys retired');
    const secretsBefore = await snapshot(await copyFixture(f));
    const only = await cli(f, ['secrets-migration', 're-encrypt', '--target', PASSWORD_TARGET, '--json']);
    t.equal(only.code, 0, '--target: exit 0');
    const reports = parseReports(only);
    t.equal(reports.length, 1, '--target: one report');
    const [rep] = reports;
    t.same(
      Object.keys(rep ?? {}).sort(),
      [
        'alreadyCurrent',
        'decrypted',
        'failed',
        'failures',
        'plaintextEncrypted',
        'reEncrypted',
        'scanned',
        'sealed',
        'target',
      ],
      'a report has exactly the documented fields',
    );
    t.match(
      rep,
      {
        target: PASSWORD_TARGET,
        scanned: 300,
        reEncrypted: Number,
        alreadyCurrent: Number,
        plaintextEncrypted: Number,
        failed: 0,
        failures: [],
      },
      'with numbers and a failures list',
    );
    const values = await storedValues(f, small.originals);
    t.same(
      values.filter((v) => v.where.endsWith('.password') && !v.encrypted).map((v) => v.where),
      [],
      'every password is encrypted now',
    );
    t.ok(
      values.some((v) => v.where.includes('json_data') && !v.encrypted),
      'the JSON target was not touched',
    );
    t.ok(
      values.some((v) => v.where.startsWith('secret-') && !v.encrypted),
      'nor atrest_secrets',
    );
    t.not(await snapshot(f), secretsBefore, 'something was written');
    const json = await cli(f, [
      'secrets-migration',
      're-encrypt',
      '--target',
      JSON_TARGET,
      '--target',
      'atrest_secrets',
      '--batch-size',
      '7',
      '--json',
    ]);
    t.equal(json.code, 0, '--target given twice (JSON target without :json), --batch-size 7: exit 0');
    t.same(
      parseReports(json)
        .map((x) => x.target)
        .sort(),
      ['atrest_secrets', `${JSON_TARGET}:json`],
      'one report per chosen target',
    );
    t.same(sizeViolations(await storedValues(f, small.originals)), [], 'everything is encrypted exactly once');
    const v = await verifyAll(f, small.originals);
    t.same(v.mismatches, [], 'every value decrypts to its original');
    const again = await cli(f, ['secrets-migration', 're-encrypt']);
    t.match(again.stdout.toString('utf8'), /nothing to do/, 'a run with nothing to do says so');
  });

  t.test('a row that does not decrypt: reported with its row key and code, exit 1, the others migrate', async (t) => {
    const f = await copyFixture(small.fixture);
    t.equal((await cli(f, ['secrets-migration', 'rotate-data-keys'])).code, 0, 'data keys retired');
    const badPassword = tamperArmored(await cell<string>(f, 'SELECT password FROM datasources WHERE id = ?', [7]));
    await store.query(f.db, 'UPDATE datasources SET password = ? WHERE id = ?', [badPassword, 7]);
    const js = JSON.parse(
      await cell<string>(f, 'SELECT CAST(json_data AS TEXT) AS json_data FROM datasources WHERE id = ?', [8]),
    ) as Record<string, unknown>;
    js['token'] = tamperArmored(String(js['token']));
    const badJson = JSON.stringify(js);
    await store.query(f.db, 'UPDATE datasources SET json_data = ? WHERE id = ?', [badJson, 8]);
    const badSecret = Buffer.from(
      await cell<Buffer>(f, 'SELECT value FROM atrest_secrets WHERE name = ?', [secretName(11)]),
    );
    badSecret[40] = (badSecret[40] ?? 0) ^ 0x01;
    await store.query(f.db, 'UPDATE atrest_secrets SET value = ? WHERE name = ?', [badSecret, secretName(11)]);

    const r = await cli(f, ['secrets-migration', 're-encrypt', '--json']);
    t.equal(r.code, 1, 'exit 1 when a row failed');
    const reports = new Map(parseReports(r).map((x) => [x.target, x]));
    t.match(
      reports.get(PASSWORD_TARGET),
      { failed: 1, failures: [{ row: '7', code: 'ATREST_DECRYPT_FAILED' }] },
      'the password row is reported by its row key and code',
    );
    t.match(
      reports.get(`${JSON_TARGET}:json`),
      { failed: 1, failures: [{ row: '8', code: 'ATREST_DECRYPT_FAILED' }] },
      'the JSON row is reported by its row key and code',
    );
    t.equal(reports.get(`${JSON_TARGET}:json`)?.failures[0]?.field, 'token', 'and the JSON field that failed');
    t.match(
      reports.get('atrest_secrets'),
      { failed: 1, failures: [{ row: secretName(11), code: 'ATREST_DECRYPT_FAILED' }] },
      'the secret is reported by its name',
    );
    const counts = expectedCounts(small.originals);
    t.equal(
      reports.get('atrest_secrets')?.reEncrypted,
      (counts['atrest_secrets']?.encrypted ?? 0) - 1,
      'every other secret was re-encrypted',
    );
    const text = await cli(f, ['secrets-migration', 're-encrypt']);
    t.equal(text.code, 1, 'a second run still exits 1');
    t.match(
      text.stdout.toString('utf8'),
      /failed row 7: ATREST_DECRYPT_FAILED/,
      'the text report names the row and code',
    );
    const out = text.stdout.toString('utf8') + text.stderr;
    t.notMatch(out, /pw-7-/, 'no secret value in the report');

    t.equal(
      await cell<string>(f, 'SELECT password FROM datasources WHERE id = ?', [7]),
      badPassword,
      'the failed password cell is left as it was',
    );
    t.same(
      JSON.parse(await cell<string>(f, 'SELECT CAST(json_data AS TEXT) AS j FROM datasources WHERE id = ?', [8])),
      js,
      'the failed JSON cell is left as it was',
    );
    t.same(
      await cell<Buffer>(f, 'SELECT value FROM atrest_secrets WHERE name = ?', [secretName(11)]),
      badSecret,
      'the failed secret is left as it was',
    );
    const active = new Set((await dataKeys(f)).filter((k) => k.active === 1).map((k) => k.id));
    const stale = (await storedValues(f, small.originals))
      .filter((v) => v.dataKeyId === undefined || !active.has(v.dataKeyId))
      .map((v) => v.where);
    // Row 8 failed as a whole: its other field (legacy plaintext `user`) waits with it.
    t.same(
      stale.sort(),
      [
        'datasources 7.password',
        'datasources 8.json_data.token',
        'datasources 8.json_data.user',
        secretName(11),
      ].sort(),
      'every value of every other row moved onto the active data keys',
    );
  });

  t.test(
    're-encrypt-data-keys: a data key that does not unwrap is reported, exit 1, the others re-wrapped',
    async (t) => {
      const f = await copyFixture(small.fixture);
      const keys = await dataKeys(f);
      const victim = keys[0];
      t.ok(victim !== undefined && keys.length > 3, `${keys.length} data keys`);
      // The oldest data key (not the canary's: that is the newest) gets a changed wrapped record.
      const wrapped = Buffer.from(
        await cell<Buffer>(f, 'SELECT wrapped FROM atrest_data_keys WHERE id = ?', [victim?.id]),
      );
      wrapped[wrapped.length - 1] = (wrapped[wrapped.length - 1] ?? 0) ^ 0x01;
      await store.query(f.db, 'UPDATE atrest_data_keys SET wrapped = ? WHERE id = ?', [wrapped, victim?.id]);
      configure(f, {
        current: 'secret_key.default',
        available: 'file.default secret_key.default',
        passphrase: NEW_PASSPHRASE,
      });
      const r = await cli(f, ['secrets-migration', 're-encrypt-data-keys', '--json']);
      t.equal(r.code, 1, 'exit 1');
      const report = JSON.parse(r.stdout.toString('utf8')) as DataKeysReport;
      t.match(
        report,
        {
          total: keys.length,
          rewrapped: keys.length - 1,
          failed: [{ id: victim?.id, provider: 'file.default', code: 'ATREST_DECRYPT_FAILED' }],
        },
        'the data key is reported by id, provider and code',
      );
      t.equal(report.failed.length, 1, 'only that one');
      const after = await dataKeys(f);
      t.same(
        after.filter((k) => k.provider !== 'secret_key.default').map((k) => k.id),
        [victim?.id],
        'every other data key moved to the passphrase',
      );
      const text = await cli(f, ['secrets-migration', 're-encrypt-data-keys']);
      t.equal(text.code, 1, `a second run reports it again and exits 1 (${text.stderr.trim()})`);
      t.match(
        text.stdout.toString('utf8'),
        new RegExp(`failed data key ${victim?.id} \\(file\\.default\\): ATREST_DECRYPT_FAILED`),
        'and names the data key',
      );
    },
  );

  t.test('rotate-encryption-key --prune refuses while an old key version is needed, succeeds after', async (t) => {
    const f = await copyFixture(small.fixture);
    const oldFingerprint = readKeyFile(f.keyPath).keys[0]?.fingerprint ?? '';
    // The state a rotation killed between writing the key file and re-wrapping the data keys leaves.
    addKeyVersion(f.keyPath);
    const ring = readKeyFile(f.keyPath);
    t.equal(ring.keys.length, 2, 'the key file has a new primary version');
    const v = await verifyAll(f, small.originals);
    t.same(v.mismatches, [], 'in that state every value still decrypts');
    const refused = await cli(f, ['rotate-encryption-key', '--prune']);
    t.equal(refused.code, 1, '--prune exits 1');
    t.match(
      refused.stderr,
      /ATREST_KEY_IN_USE: \d+ data key\(s\) unwrap only with an old key of file\.default \(first: [0-9a-f]{32}\)/,
      'ATREST_KEY_IN_USE naming a data key that needs the old key',
    );
    t.equal(readKeyFile(f.keyPath).keys.length, 2, 'nothing was pruned');
    const rewrap = await cli(f, ['secrets-migration', 're-encrypt-data-keys', '--json']);
    t.equal(rewrap.code, 0, 're-encrypt-data-keys finishes the rotation');
    t.match(
      JSON.parse(rewrap.stdout.toString('utf8')),
      { rewrapped: (await dataKeys(f)).length, failed: [] },
      'every data key re-wrapped to the new version',
    );
    const pruned = await cli(f, ['rotate-encryption-key', '--prune', '--json']);
    t.equal(pruned.code, 0, '--prune now succeeds');
    t.same(JSON.parse(pruned.stdout.toString('utf8')), { removed: [oldFingerprint] }, 'and removes the old version');
    t.same(
      readKeyFile(f.keyPath).keys.map((k) => k.version),
      [2],
      'only the new version is left',
    );
    const after = await verifyAll(f, small.originals);
    t.same(after.mismatches, [], 'every value decrypts with the pruned key file');
    const again = await cli(f, ['rotate-encryption-key', '--prune']);
    t.equal(again.code, 0, 'pruning again exits 0');
    t.match(again.stdout.toString('utf8'), /no old key versions to remove/, 'with nothing to remove');
  });

  t.test('a rotation killed after writing the key file: the same command again completes it', async (t) => {
    const f = await copyFixture(small.fixture);
    const v1 = readKeyFile(f.keyPath).keys[0]?.fingerprint ?? '';
    const orphan = addKeyVersion(f.keyPath).keys[1]?.fingerprint ?? '';
    const r = await cli(f, ['rotate-encryption-key', '--json']);
    t.equal(r.code, 0, `rotate-encryption-key exits 0: ${r.stderr}`);
    const ring = readKeyFile(f.keyPath);
    const primary = ring.keys.find((k) => k.version === ring.primary)?.fingerprint;
    t.same(
      ring.keys.map((k) => k.version),
      [1, 2, 3],
      'a third version was added',
    );
    t.same([...new Set((await dataKeys(f)).map((k) => k.key_ref))], [primary], 'every data key is on the new primary');
    const pruned = await cli(f, ['rotate-encryption-key', '--prune', '--json']);
    t.same(
      JSON.parse(pruned.stdout.toString('utf8')),
      { removed: [v1, orphan] },
      '--prune removes the old and the orphaned version',
    );
    t.same((await verifyAll(f, small.originals)).mismatches, [], 'every value decrypts');
  });

  t.test('turning encryption off needs --yes; on again with another passphrase encrypts anew', async (t) => {
    const f = await copyFixture(smallPass.fixture);
    configure(f, { current: 'secret_key.default', passphrase: OLD_PASSPHRASE });
    const before = await snapshot(f);
    const refused = await cli(f, ['rotate-encryption-key'], '');
    t.equal(refused.code, 2, 'an empty new passphrase without --yes: exit 2');
    t.match(
      refused.stderr,
      /ATREST_USAGE: An empty new passphrase turns encryption off.*Add --yes/,
      'says --yes is needed',
    );
    t.equal(await snapshot(f), before, 'nothing was written');
    const newline = await cli(f, ['rotate-encryption-key'], '\n');
    t.equal(newline.code, 2, 'a lone newline is an empty passphrase too');
    const short = await cli(f, ['rotate-encryption-key'], 'too short\n');
    t.equal(short.code, 2, 'a new passphrase under 16 characters is refused');
    t.equal(await snapshot(f), before, 'still nothing written');

    const off = await cli(f, ['rotate-encryption-key', '--yes'], '');
    t.equal(off.code, 0, `--yes turns encryption off: ${off.stdout.toString('utf8').split('\n').pop() ?? ''}`);
    t.match(off.stdout.toString('utf8'), /encryption is off/, 'and says so');
    const total = (await storedValues(f, smallPass.originals)).length;
    let s: AtrestStatus = await statusJson(f);
    t.match(
      s,
      { secrets: { total, encrypted: 0, plaintext: total }, dataKeys: { total: 0 } },
      'status: all plaintext, zero data keys',
    );
    t.same((await verifyAll(f, smallPass.originals)).mismatches, [], 'every value is its original plaintext');

    configure(f, { current: 'secret_key.default', passphrase: NEW_PASSPHRASE });
    const on = await cli(f, ['secrets-migration', 're-encrypt', '--json']);
    t.equal(on.code, 0, 're-encrypt with a different passphrase configured');
    const reports = parseReports(on);
    t.equal(
      reports.reduce((n, x) => n + x.plaintextEncrypted, 0),
      total,
      'every value was encrypted anew',
    );
    t.equal(
      reports.reduce((n, x) => n + x.reEncrypted, 0),
      0,
      'nothing was re-encrypted (there was no ciphertext)',
    );
    t.same(sizeViolations(await storedValues(f, smallPass.originals)), [], 'each value encrypted exactly once');
    t.same((await verifyAll(f, smallPass.originals)).mismatches, [], 'every value decrypts with the new passphrase');
    s = await statusJson(f);
    t.match(
      s,
      { secrets: { total, encrypted: total, plaintext: 0, byProvider: { 'secret_key.default': total } } },
      'status: everything under secret_key.default',
    );
    const old = await copyFixture(f);
    configure(old, { current: 'secret_key.default', passphrase: OLD_PASSPHRASE });
    t.equal(await openError(old), 'ATREST_WRONG_KEY', 'the old passphrase does not open the new data keys');
  });

  t.test('at most one new data key per label per run (70,000 secrets)', async (t) => {
    const { fixture: f, originals: base } = await provision('file', { secrets: 0, rows: 3_000 }, store);
    // A legacy import: 70,000 plaintext rows, more than one reservation block (65,536) of a data key.
    const n = 70_000;
    const secrets: Buffer[] = [];
    const plain = new Set<number>();
    const now = new Date().toISOString();
    const cells: [string, Buffer, string, string][] = [];
    for (let i = 0; i < n; i++) {
      const v = secretValue(i);
      secrets.push(v);
      plain.add(i);
      cells.push([secretName(i), v, now, now]);
    }
    await store.insertAll(
      f.db,
      'INSERT INTO atrest_secrets (name, value, encrypted, created_at, updated_at) VALUES (?, ?, FALSE, ?, ?)',
      cells,
    );
    // As a turn-off then on leaves it: atrest's secrets are in a transition, not sealed.
    await store.query(f.db, "DELETE FROM atrest_seals WHERE place = 'atrest_secrets'");
    const originals: Originals = { secrets, plainSecrets: plain, rows: base.rows };
    for (const round of ['legacy plaintext', 'after rotate-data-keys']) {
      if (round !== 'legacy plaintext')
        t.equal((await cli(f, ['secrets-migration', 'rotate-data-keys'])).code, 0, 'data keys retired');
      const before = new Set((await dataKeys(f)).map((k) => k.id));
      const t0 = Date.now();
      const r = await cli(f, ['secrets-migration', 're-encrypt', '--json']);
      t.equal(r.code, 0, `${round}: re-encrypt exits 0 (${Date.now() - t0} ms)`);
      const moved = parseReports(r).reduce((m, x) => m + x.reEncrypted + x.plaintextEncrypted, 0);
      t.ok(moved >= n, `${round}: ${moved} values encrypted`);
      const added = (await dataKeys(f)).filter((k) => !before.has(k.id));
      const perLabel = new Map<string, number>();
      for (const k of added) perLabel.set(k.label, (perLabel.get(k.label) ?? 0) + 1);
      const today = new Date().toISOString().slice(0, 10);
      t.same(
        [...perLabel].sort(),
        [
          [`datasources.json_data/${today}`, 1],
          [`datasources.password/${today}`, 1],
          [`secrets/${today}`, 1],
        ],
        `${round}: exactly one new data key per label (${added.length} in all)`,
      );
    }
    t.same(sizeViolations(await storedValues(f, originals)).slice(0, 5), [], 'every value encrypted exactly once');
    const v = await verifyAll(f, originals);
    t.same(
      v.mismatches.slice(0, 5),
      [],
      `all ${v.secrets} secrets and ${v.values} target values decrypt to their originals`,
    );
  });

  t.test('runCli embedded in a host program (app myapp, env prefix MYAPP_)', async (t) => {
    const f = await copyFixture(small.fixture);
    const env: Record<string, string> = {
      ...store.envVars('MYAPP_', f.db),
      MYAPP_ENCRYPTION_KEY_PATH: f.keyPath,
      MYAPP_SECRETS_MIGRATION_TARGETS: `${PASSWORD_TARGET} ${JSON_TARGET}:json`,
      // Another application's variables on the same box are not ours.
      ATREST_ENCRYPTION_KEY_PATH: join(f.dir, 'not-this-one.key'),
    };
    const host = (argv: string[], input = '') => {
      const m = memoryStreams(input);
      return { m, done: runCli(argv, { app: 'myapp', name: 'myapp admin', env, appRoot: repoRoot, io: m.io }) };
    };

    const help = host(['--help']);
    t.equal(await help.done, 0, '--help: 0');
    t.match(help.m.out().toString('utf8'), /^Usage: myapp admin /, "help uses the host's command name");
    t.match(help.m.out().toString('utf8'), /\/srv\/<app>-encryption\.key/, 'and describes the per-app key path');

    const status = host(['status', '--json']);
    t.equal(await status.done, 0, 'status: 0');
    const s = JSON.parse(status.m.out().toString('utf8')) as AtrestStatus;
    t.equal(s.app, 'myapp', 'the app name is myapp');
    t.equal(s.providers[0]?.details['key_path'], f.keyPath, 'the key file comes from MYAPP_ENCRYPTION_KEY_PATH');
    t.same(
      s.targets.map((x) => x.target),
      [PASSWORD_TARGET, `${JSON_TARGET}:json`],
      'the targets come from MYAPP_SECRETS_MIGRATION_TARGETS',
    );

    const rotate = host(['rotate-encryption-key', '--json']);
    t.equal(await rotate.done, 0, `rotate-encryption-key: 0 ${rotate.m.err()}`);
    const re = host(['secrets-migration', 're-encrypt', '--json', '--batch-size', '250']);
    t.equal(await re.done, 0, 're-encrypt: 0');
    const reports = JSON.parse(re.m.out().toString('utf8')) as TargetReport[];
    t.same(
      reports.map((x) => x.target),
      ['atrest_secrets', PASSWORD_TARGET, `${JSON_TARGET}:json`],
      'three targets re-encrypted',
    );
    t.match(re.m.err(), /atrest_secrets: 2,000\/2,000 rows/, "progress went to the host's stderr stream");

    const get = host(['secrets', 'get', secretName(3)]);
    t.equal(await get.done, 0, 'secrets get: 0');
    t.same(get.m.out(), small.originals.secrets[3], "the raw bytes reach the host's stdout stream");

    const bad = host(['secrets-migration', 're-encrypt', '--bogus']);
    t.equal(await bad.done, 2, 'a usage error returns 2 (the host process is not exited)');
    t.match(bad.m.err(), /ATREST_USAGE/, "with ATREST_USAGE on the host's stderr");

    const missing = memoryStreams();
    const code = await runCli(['status'], {
      app: 'myapp',
      env: { ...env, MYAPP_ENCRYPTION_KEY_PATH: join(f.dir, 'gone.key') },
      appRoot: repoRoot,
      io: missing.io,
    });
    t.equal(code, 2, 'a missing key file with data present: 2');
    t.match(
      missing.err(),
      new RegExp(`ATREST_KEY_MISSING: The key file ${join(f.dir, 'gone.key').replace(/[.]/g, '\\.')} is missing`),
      'naming the file',
    );

    const v = await verifyAll({ ...f }, small.originals);
    t.same(v.mismatches, [], 'every value decrypts after the embedded rotation and re-encrypt');
    t.same(sizeViolations(await storedValues(f, small.originals)), [], 'and is encrypted exactly once');
    const a = await openFixture(f);
    t.equal((await a.status()).secrets.plaintext, 0, 'no plaintext left');
    await a.close();
  });
}
