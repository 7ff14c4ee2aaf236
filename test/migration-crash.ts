// Crash safety of every migration command, with real processes, on one store (the test files
// migration-crash and migration-crash-postgres run this body on SQLite and on PostgreSQL): the CLI
// is SIGKILLed at random moments while it works on atrest's secrets and an application target
// table (legacy plaintext, a JSON column); after each kill every value must still decrypt with the
// key file and configuration on disk, and running the same command again must finish the job (so
// the migration lock was released with the killed process). Every kill is followed by reading
// every value back, so the sizes are what each command needs: the commands that rewrite values get
// several batches to be killed in; those that only re-wrap or retire data keys get many data keys
// on fewer values.
import { renameSync } from 'node:fs';
import t from 'tap';
import type { Test } from 'tap';
import { readKeyFile } from '@atrest/provider-file';
import {
  NEW_PASSPHRASE,
  OLD_PASSPHRASE,
  cli,
  cliKilledAfter,
  configure,
  copyFixture,
  dataKeys,
  openError,
  parseReports,
  provision,
  removeTempDirs,
  since,
  sizeViolations,
  statusJson,
  storedValues,
  verifyAll,
} from './migration-fixture.js';
import type { Fixture, Originals } from './migration-fixture.js';
import type { FixtureStore } from './migration-stores.js';

/** Database sizes: `values` for the commands that rewrite values, `keys` for those that touch only data keys. */
export type CrashSizes = {
  readonly values: { readonly secrets: number; readonly rows: number; readonly rotateEvery: number };
  readonly keys: {
    readonly secrets: number;
    readonly rows: number;
    readonly rotateEvery: number;
    readonly passRotateEvery: number;
  };
  /** SIGKILLs per command at the most (each command has its own count, 3 or 4). */
  readonly maxKills?: number;
};

/** Values atrest counts in status: every secret plus every non-empty string of the targets. */
function valueCount(o: Originals): number {
  let n = o.secrets.length;
  for (const r of o.rows.values()) {
    if (r.password !== null) n++;
    for (const v of Object.values(r.json ?? {})) if (typeof v === 'string' && v !== '') n++;
  }
  return n;
}

type Job = {
  args: string[];
  input?: string;
  kills: number;
  /** After a kill: adapt the configuration to what is on disk (the passphrase case). */
  afterKill?: (f: Fixture) => Promise<string | undefined>;
};

/**
 * Measure the command's duration on a copy, then SIGKILL it at random moments until `kills` runs
 * were killed (checking every value after each), then run it to completion.
 */
async function killUntilDone(t: Test, f: Fixture, originals: Originals, job: Job): Promise<void> {
  const calibration = await copyFixture(f);
  calibration.env = { ...f.env };
  const t0 = Date.now();
  const cal = await cli(calibration, job.args, job.input);
  const typical = Date.now() - t0;
  t.equal(cal.code, 0, `an uninterrupted run exits 0 (${typical} ms): ${cal.stderr.trim().split('\n').pop() ?? ''}`);
  let killed = 0;
  // The kill lands anywhere in a run; a run that finished first shows how long what is left takes.
  let ceiling = typical;
  for (let attempt = 0; killed < job.kills && attempt < job.kills * 4; attempt++) {
    const delay = Math.round(20 + Math.random() * Math.max(1, ceiling - 20));
    const runStarted = Date.now();
    const run = await cliKilledAfter(f, job.args, delay, job.input);
    if (run.signal === 'SIGKILL') killed++;
    else {
      t.equal(run.code, 0, `the run not killed (delay ${delay} ms) finished: ${run.stderr.trim()}`);
      ceiling = Math.min(ceiling, Date.now() - runStarted);
    }
    const note = (await job.afterKill?.(f)) ?? '';
    const v = await verifyAll(f, originals);
    t.same(
      v.mismatches.slice(0, 10),
      [],
      `${run.signal === 'SIGKILL' ? 'killed' : 'finished'} after ${delay} ms${note}: ` +
        `all ${v.secrets} secrets and ${v.values} target values decrypt to their originals`,
    );
    t.equal(v.secrets, originals.secrets.length, 'every secret was read back');
  }
  t.ok(killed >= job.kills, `killed ${killed} times`);
  const last = await cli(f, job.args, job.input);
  t.equal(last.code, 0, `the run after the kills completes: ${last.stderr.trim().split('\n').pop() ?? ''}`);
  const note = (await job.afterKill?.(f)) ?? '';
  const v = await verifyAll(f, originals);
  t.same(
    v.mismatches.slice(0, 10),
    [],
    `after completion${note} every value equals its original (${v.secrets} secrets, ${v.values} target values)`,
  );
}

/** Legacy plaintext values of the fixture (left alone by the commands that touch only data keys). */
function plaintextCount(o: Originals): number {
  let n = o.plainSecrets.size;
  for (const [id, r] of o.rows) {
    if (r.password !== null && id % 3 === 0) n++;
    if (r.json !== null && id % 4 === 0) n++;
  }
  return n;
}

/**
 * status --json: every encrypted value under `provider`; no plaintext, or (for commands that only
 * re-wrap or retire data keys) exactly the legacy plaintext the fixture started with.
 */
async function allUnder(
  t: Test,
  f: Fixture,
  originals: Originals,
  provider: string,
  plaintext: 'none' | 'legacy' = 'none',
): Promise<void> {
  const s = await statusJson(f);
  const total = valueCount(originals);
  const plain = plaintext === 'none' ? 0 : plaintextCount(originals);
  t.equal(s.currentProvider, provider, 'status: current provider');
  t.equal(s.secrets.total, total, 'status counts every secret and target value');
  t.equal(
    s.secrets.plaintext,
    plain,
    plaintext === 'none'
      ? 'status: no plaintext left'
      : `status: only the ${plain} legacy plaintext values are plaintext`,
  );
  t.same(s.secrets.byProvider, { [provider]: total - plain }, `status: every encrypted value is under ${provider}`);
  for (const target of s.targets) t.equal(target.error, undefined, `status: target ${target.target} readable`);
  if (plaintext === 'none')
    for (const target of s.targets) t.equal(target.plaintext, 0, `status: target ${target.target} has no plaintext`);
}

/** Every value sits under an active data key of `provider`, encrypted exactly once. */
async function allOnActiveKeys(t: Test, f: Fixture, originals: Originals, provider: string): Promise<void> {
  const active = new Set((await dataKeys(f)).filter((k) => k.active === 1 && k.provider === provider).map((k) => k.id));
  const values = await storedValues(f, originals);
  t.same(
    values
      .filter((v) => v.dataKeyId === undefined || !active.has(v.dataKeyId))
      .map((v) => v.where)
      .slice(0, 10),
    [],
    `all ${values.length} values are under active data keys of ${provider}`,
  );
  t.same(sizeViolations(values).slice(0, 10), [], 'every ciphertext is exactly one encryption of its plaintext');
}

async function reEncryptChangesNothing(t: Test, f: Fixture): Promise<void> {
  const again = await cli(f, ['secrets-migration', 're-encrypt', '--json']);
  t.equal(again.code, 0, 're-encrypt once more exits 0');
  const reports = parseReports(again);
  t.same(
    reports.map((r) => [r.target, r.reEncrypted, r.plaintextEncrypted, r.failed]),
    reports.map((r) => [r.target, 0, 0, 0]),
    'a second re-encrypt changes nothing',
  );
}

/** SIGKILL every migration command on `store`, then check every value and a complete re-run. */
export async function crashTests(store: FixtureStore, sizes: CrashSizes): Promise<void> {
  t.teardown(removeTempDirs);
  const kills = (n: number): number => Math.min(n, sizes.maxKills ?? n);
  const started = Date.now();
  /** For the commands that rewrite values. */
  const fileTemplate = await provision('file', sizes.values, store);
  const passTemplate = await provision('secret_key', sizes.values, store);
  /** For the commands that only touch data keys: many data keys, fewer values. */
  const keysTemplate = await provision('file', sizes.keys, store);
  const keysPassTemplate = await provision(
    'secret_key',
    { ...sizes.keys, rotateEvery: sizes.keys.passRotateEvery },
    store,
  );
  t.comment(`provisioned four ${store.name} databases in ${since(started)}`);

  t.test('secrets-migration re-encrypt', async (t) => {
    const f = await copyFixture(fileTemplate.fixture);
    t.equal(
      (await cli(f, ['secrets-migration', 'rotate-data-keys'])).code,
      0,
      'data keys retired first, so every value has to move',
    );
    await killUntilDone(t, f, fileTemplate.originals, {
      args: ['secrets-migration', 're-encrypt', '--workers', '3'],
      kills: kills(4),
    });
    await allOnActiveKeys(t, f, fileTemplate.originals, 'file.default');
    await reEncryptChangesNothing(t, f);
    await allUnder(t, f, fileTemplate.originals, 'file.default');
  });

  t.test('secrets-migration re-encrypt-data-keys (file.default to secret_key.default)', async (t) => {
    const f = await copyFixture(keysTemplate.fixture);
    configure(f, {
      current: 'secret_key.default',
      available: 'file.default secret_key.default',
      passphrase: NEW_PASSPHRASE,
    });
    const before = (await dataKeys(f)).length;
    await killUntilDone(t, f, keysTemplate.originals, {
      args: ['secrets-migration', 're-encrypt-data-keys'],
      kills: kills(3),
    });
    const keys = await dataKeys(f);
    t.equal(keys.length, before, 'no data key was added or lost');
    t.same(
      [...new Set(keys.map((k) => k.provider))],
      ['secret_key.default'],
      'every data key is wrapped by the passphrase now',
    );
    const again = await cli(f, ['secrets-migration', 're-encrypt-data-keys', '--json']);
    t.match(
      JSON.parse(again.stdout.toString('utf8')),
      { total: before, rewrapped: 0, failed: [] },
      'a second run has nothing to re-wrap',
    );
    // The key file is not needed any more: move it away and read everything with the passphrase alone.
    renameSync(f.keyPath, `${f.keyPath}.retired`);
    configure(f, { current: 'secret_key.default', passphrase: NEW_PASSPHRASE });
    const v = await verifyAll(f, keysTemplate.originals);
    t.same(v.mismatches.slice(0, 10), [], 'without the key file, every value decrypts with the passphrase');
    await allUnder(t, f, keysTemplate.originals, 'secret_key.default', 'legacy');
  });

  t.test('secrets-migration rotate-data-keys', async (t) => {
    const f = await copyFixture(keysTemplate.fixture);
    // Some active data keys to retire: one per scope.
    t.equal((await cli(f, ['secrets-migration', 're-encrypt'])).code, 0, 're-encrypt makes active data keys');
    const activeBefore = (await dataKeys(f)).filter((k) => k.active === 1).length;
    t.ok(activeBefore >= 3, `${activeBefore} active data keys before`);
    await killUntilDone(t, f, keysTemplate.originals, {
      args: ['secrets-migration', 'rotate-data-keys'],
      kills: kills(3),
    });
    t.equal((await dataKeys(f)).filter((k) => k.active === 1).length, 0, 'no active data key is left');
    const again = await cli(f, ['secrets-migration', 'rotate-data-keys', '--json']);
    t.same(JSON.parse(again.stdout.toString('utf8')), { retired: 0 }, 'a second run retires nothing');
    await allUnder(t, f, keysTemplate.originals, 'file.default');
  });

  t.test('rotate-encryption-key (file provider)', async (t) => {
    const f = await copyFixture(keysTemplate.fixture);
    await killUntilDone(t, f, keysTemplate.originals, { args: ['rotate-encryption-key'], kills: kills(3) });
    const ring = readKeyFile(f.keyPath);
    const primary = ring.keys.find((k) => k.version === ring.primary)?.fingerprint;
    t.ok(ring.keys.length >= 2, `the key file holds ${ring.keys.length} versions`);
    t.same(
      [...new Set((await dataKeys(f)).map((k) => k.key_ref))],
      [primary],
      'every data key is wrapped by the new primary key',
    );
    const prune = await cli(f, ['rotate-encryption-key', '--prune', '--json']);
    t.equal(prune.code, 0, `--prune succeeds once the rotation is complete: ${prune.stderr}`);
    t.equal(readKeyFile(f.keyPath).keys.length, 1, 'only the primary key is left in the key file');
    const v = await verifyAll(f, keysTemplate.originals);
    t.same(v.mismatches.slice(0, 10), [], 'with the old versions pruned, every value still decrypts');
    await allUnder(t, f, keysTemplate.originals, 'file.default', 'legacy');
  });

  t.test('rotate-encryption-key (secret_key: new passphrase from stdin)', async (t) => {
    const f = await copyFixture(keysPassTemplate.fixture);
    configure(f, { current: 'secret_key.default', passphrase: OLD_PASSPHRASE });
    let rotatedWhileKilled = 0;
    let oldStillWorked = 0;
    await killUntilDone(t, f, keysPassTemplate.originals, {
      args: ['rotate-encryption-key'],
      input: `${NEW_PASSPHRASE}\n`,
      kills: kills(3),
      async afterKill(f) {
        const code = await openError(f);
        if (code === undefined) {
          if (f.env['ATREST_ENCRYPTION_SECRET_KEY'] === OLD_PASSPHRASE) oldStillWorked++;
          const which = f.env['ATREST_ENCRYPTION_SECRET_KEY'] === OLD_PASSPHRASE ? 'old' : 'new';
          return `, ${which} passphrase in the configuration opens it`;
        }
        // The rotation committed before the kill: the configuration must switch to the new passphrase.
        t.equal(code, 'ATREST_WRONG_KEY', 'the old passphrase is refused only because the rotation completed');
        t.equal(f.env['ATREST_ENCRYPTION_SECRET_KEY'], OLD_PASSPHRASE, 'only the old passphrase can stop working');
        configure(f, { current: 'secret_key.default', passphrase: NEW_PASSPHRASE });
        rotatedWhileKilled++;
        return ', rotation completed: configuration switched to the new passphrase';
      },
    });
    t.comment(
      `kills that left the old passphrase valid: ${oldStillWorked}; ` +
        `rotations completed before a kill or without one: ${rotatedWhileKilled}`,
    );
    t.equal(
      f.env['ATREST_ENCRYPTION_SECRET_KEY'],
      NEW_PASSPHRASE,
      'the completed rotation needed the configuration switched to the new passphrase',
    );
    const v = await verifyAll(f, keysPassTemplate.originals);
    t.same(v.mismatches.slice(0, 10), [], 'every value decrypts with the new passphrase');
    const old = await copyFixture(f);
    configure(old, { current: 'secret_key.default', passphrase: OLD_PASSPHRASE });
    t.equal(await openError(old), 'ATREST_WRONG_KEY', 'the old passphrase no longer opens the data');
    await allUnder(t, f, keysPassTemplate.originals, 'secret_key.default', 'legacy');
  });

  t.test('rotate-encryption-key --full (file provider)', async (t) => {
    const f = await copyFixture(fileTemplate.fixture);
    await killUntilDone(t, f, fileTemplate.originals, { args: ['rotate-encryption-key', '--full'], kills: kills(4) });
    const ring = readKeyFile(f.keyPath);
    const primary = ring.keys.find((k) => k.version === ring.primary)?.fingerprint;
    t.same(
      [...new Set((await dataKeys(f)).filter((k) => k.active === 1).map((k) => k.key_ref))],
      [primary],
      'the active data keys are wrapped by the new primary key',
    );
    await allOnActiveKeys(t, f, fileTemplate.originals, 'file.default');
    await reEncryptChangesNothing(t, f);
    await allUnder(t, f, fileTemplate.originals, 'file.default');
  });

  t.test('turning encryption off (empty new passphrase, --yes)', async (t) => {
    const f = await copyFixture(passTemplate.fixture);
    configure(f, { current: 'secret_key.default', passphrase: OLD_PASSPHRASE });
    await killUntilDone(t, f, passTemplate.originals, {
      args: ['rotate-encryption-key', '--yes'],
      input: '',
      kills: kills(4),
    });
    const s = await statusJson(f);
    t.equal(s.secrets.total, valueCount(passTemplate.originals), 'status counts every value');
    t.equal(s.secrets.encrypted, 0, 'status: nothing is encrypted');
    t.equal(s.secrets.plaintext, valueCount(passTemplate.originals), 'status: everything is plaintext');
    t.equal(s.dataKeys.total, 0, 'status: zero data keys');
    const values = await storedValues(f, passTemplate.originals);
    t.same(
      values
        .filter((v) => v.encrypted)
        .map((v) => v.where)
        .slice(0, 10),
      [],
      'no stored value is ciphertext',
    );
    const again = await cli(f, ['rotate-encryption-key', '--yes', '--json'], '');
    t.equal(again.code, 0, 'running it again exits 0');
    t.match(JSON.parse(again.stdout.toString('utf8')), { dataKeysDropped: 0 }, 'and has nothing left to do');
  });
}
