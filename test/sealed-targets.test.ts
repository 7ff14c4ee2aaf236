// Plaintext only during a transition (issue 9 §3b), on SQLite and on PostgreSQL: re-encrypt seals a
// target (and atrest's own secrets) once it leaves no plaintext there; from then on plaintext planted
// there is refused with allowPlaintext too (API and CLI `decrypt --allow-plaintext`), a secret row
// marked unencrypted is refused, and re-encrypt reports planted plaintext instead of encrypting it.
// `reopen_plaintext` (INI or environment) reopens the transition; turning encryption off unseals
// everything; `status` shows each place's state.
import { join } from 'node:path';
import t from 'tap';
import type { Test } from 'tap';
import { runCli } from '@atrest/cli';
import { openAtrest } from '@atrest/core';
import type { Atrest, AtrestStatus, TargetReport } from '@atrest/core';
import { memoryStreams, rejection, startPostgres, tempDir, writeIn } from '@atrest/testkit';
import { repoRoot } from './helpers.js';
import { type FixtureStore, postgresStore, sqliteStore } from './migration-stores.js';

const server = await startPostgres();
t.teardown(() => server.stop());

type Box = {
  store: FixtureStore;
  db: string;
  ini: string;
  open(extraEnv?: Record<string, string>): Promise<Atrest>;
  cli(argv: string[], stdin?: string): Promise<{ code: number; out: string; err: string }>;
  cell(id: number, column: 'password' | 'json_data'): Promise<string>;
};

async function box(store: FixtureStore, iniExtra: string[] = []): Promise<Box> {
  const dir = tempDir('atrest-sealed-');
  const db = await store.create(dir);
  await store.query(db, `CREATE TABLE ds (id INTEGER PRIMARY KEY, password TEXT, json_data ${store.jsonType})`);
  const ini = writeIn(
    dir,
    'app.ini',
    [
      '[database]',
      ...store.iniLines(db),
      '[security.encryption]',
      ...iniExtra,
      '[security.encryption.file.default]',
      `key_path = ${join(dir, 'app.key')}`,
      '[secrets_migration]',
      'targets = ds.password ds.json_data:json',
      '',
    ].join('\n'),
  );
  return {
    store,
    db,
    ini,
    open: (extraEnv = {}) => openAtrest({ configFile: ini, env: extraEnv, appRoot: repoRoot }),
    async cli(argv, stdin = '') {
      const m = memoryStreams(stdin);
      const code = await runCli(['--config', ini, ...argv], { env: {}, appRoot: repoRoot, io: m.io });
      return { code, out: m.out().toString('utf8'), err: m.err() };
    },
    async cell(id, column) {
      const rows = await store.query<{ v: string }>(db, `SELECT CAST(${column} AS TEXT) AS v FROM ds WHERE id = ?`, [
        id,
      ]);
      return rows[0]?.v ?? '';
    },
  };
}

const byTarget = (reports: readonly TargetReport[]) => new Map(reports.map((r) => [r.target, r]));
const seals = (s: AtrestStatus) =>
  Object.fromEntries([
    ['atrest_secrets', s.secrets.seal.state],
    ...s.targets.map((x) => [x.target, `${x.seal.state} ${x.seal.plaintext}`]),
  ]);

async function sealedOnStore(t: Test, store: FixtureStore): Promise<void> {
  const b = await box(store);
  let a = await b.open();
  t.teardown(() => a.close());
  // Legacy plaintext in row 1, ciphertext in row 2.
  const encrypted = await a.encryptText('pw-2', { target: 'ds.password' });
  const token = await a.encryptText('tok-2', { target: 'ds.json_data:json', field: 'token' });
  await store.insertAll(b.db, 'INSERT INTO ds (id, password, json_data) VALUES (?, ?, ?)', [
    [1, 'legacy-1', JSON.stringify({ token: 'tok-1', port: 1 })],
    [2, encrypted, JSON.stringify({ token })],
  ]);
  await a.secrets.set('smtp', 'the smtp password');

  t.same(
    seals(await a.status()),
    { atrest_secrets: 'sealed', 'ds.password': 'transition 1', 'ds.json_data:json': 'transition 1' },
    "before re-encrypt: atrest's secrets sealed (atrest writes them encrypted), the targets in transition",
  );
  t.equal(
    await a.decryptText('legacy-1', { target: 'ds.password', allowPlaintext: true }),
    'legacy-1',
    'in transition, legacy plaintext reads with allowPlaintext',
  );

  const first = byTarget(await a.migrations.reEncrypt({ workers: 1 }));
  t.match(first.get('ds.password'), { plaintextEncrypted: 1, failed: 0, sealed: true }, 'ds.password sealed');
  t.match(first.get('ds.json_data:json'), { plaintextEncrypted: 1, failed: 0, sealed: true }, 'the JSON target sealed');
  t.match(first.get('atrest_secrets'), { failed: 0, sealed: true });
  const sealedStatus = await a.status();
  t.same(
    seals(sealedStatus),
    { atrest_secrets: 'sealed', 'ds.password': 'sealed 0', 'ds.json_data:json': 'sealed 0' },
    'status: every place sealed, no plaintext',
  );
  t.match(sealedStatus.targets[0]?.seal.sealedAt, /^\d{4}-\d\d-\d\dT/, 'with the time it was sealed');

  // An attacker with write access to the database plants plaintext.
  await store.query(b.db, 'UPDATE ds SET password = ?, json_data = ? WHERE id = 1', [
    'planted',
    JSON.stringify({ token: 'planted-token', port: 1 }),
  ]);
  await store.query(b.db, "UPDATE atrest_secrets SET value = ?, encrypted = FALSE WHERE name = 'smtp'", [
    Buffer.from('attacker value'),
  ]);
  const refusals = [
    () => a.decryptText('planted', { target: 'ds.password', allowPlaintext: true }),
    () => a.decryptText('planted', { context: 'ds.password', allowPlaintext: true }),
    () => a.decrypt(Buffer.from('planted'), { target: 'ds.password', allowPlaintext: true }),
    () => a.decryptText('planted-token', { target: 'ds.json_data:json', field: 'token', allowPlaintext: true }),
    () => a.decryptText('planted-token', { target: 'ds.json_data', field: 'token', allowPlaintext: true }),
    () => a.secrets.get('smtp'),
  ];
  const codes = [];
  for (const r of refusals) codes.push((await rejection(r())).code);
  t.same(codes, Array(6).fill('ATREST_PLAINTEXT_SEALED'), 'API: every planted plaintext refused (targets, secret)');
  t.match(
    await rejection(a.secrets.get('smtp')),
    { message: /The secret smtp is plaintext, but atrest_secrets is sealed.*reopen_plaintext = atrest_secrets/s },
    'the error names the place and what to do',
  );
  t.equal(
    await a.decryptText('not a target value', { allowPlaintext: true }),
    'not a target value',
    'a value of no named place still reads with allowPlaintext',
  );

  const cliRefused = await b.cli(['decrypt', '--allow-plaintext', '--target', 'ds.password'], 'planted\n');
  t.equal(cliRefused.code, 1, 'CLI decrypt --allow-plaintext --target: exit 1');
  t.match(cliRefused.err, /ATREST_PLAINTEXT_SEALED.*ds\.password is sealed/s, 'naming the target');
  t.equal(cliRefused.out, '', 'and nothing on stdout');
  const byContext = await b.cli(['decrypt', '--allow-plaintext', '--context', 'ds.password'], 'planted\n');
  t.match(byContext, { code: 1, out: '' }, 'CLI decrypt --allow-plaintext --context of a sealed target: exit 1');
  const secretGet = await b.cli(['secrets', 'get', 'smtp']);
  t.match(secretGet, { code: 1, out: '' }, 'CLI secrets get of a row marked unencrypted: exit 1, no value');
  t.match(secretGet.err, /ATREST_PLAINTEXT_SEALED/);
  t.match(
    await b.cli(['decrypt', '--allow-plaintext'], 'planted\n'),
    { code: 0, out: 'planted\n' },
    'CLI decrypt --allow-plaintext naming no place passes plaintext through, as before',
  );

  const second = byTarget(await a.migrations.reEncrypt({ workers: 1 }));
  t.match(
    second.get('ds.password'),
    { failed: 1, plaintextEncrypted: 0, sealed: true, failures: [{ row: '1', code: 'ATREST_PLAINTEXT_SEALED' }] },
    're-encrypt reports planted plaintext in a sealed target, does not encrypt it',
  );
  t.match(second.get('ds.json_data:json'), { failed: 1, failures: [{ row: '1', code: 'ATREST_PLAINTEXT_SEALED' }] });
  t.match(second.get('atrest_secrets'), { failed: 1, failures: [{ row: 'smtp', code: 'ATREST_PLAINTEXT_SEALED' }] });
  t.equal(await b.cell(1, 'password'), 'planted', 'the cell is left as it was');
  t.match(
    (await b.cli(['secrets-migration', 're-encrypt', '--target', 'ds.password'])).out,
    /ds\.password: .*failed 1; sealed \(plaintext refused\)\n {2}failed row 1: ATREST_PLAINTEXT_SEALED/,
    'the CLI report: failed, still sealed',
  );
  const cliStatus = await b.cli(['status']);
  t.match(cliStatus.out, /ds\.password: sealed since \S+, 1 PLAINTEXT VALUE REFUSED/, 'status text says so');
  t.match(cliStatus.out, /atrest_secrets: sealed since \S+, 1 PLAINTEXT VALUE REFUSED/);
  t.equal(cliStatus.code, 1, 'status exits 1: plaintext where it is refused');
  t.match(cliStatus.out, /health: degraded: .*ds\.password is sealed but holds 1 plaintext value/, 'named');
  await a.close();

  // Reopened by the environment variable: plaintext reads again, re-encrypt encrypts it.
  a = await b.open({ ATREST_SECURITY_ENCRYPTION_REOPEN_PLAINTEXT: 'ds.password,atrest_secrets' });
  t.equal(await a.secrets.getText('smtp'), 'attacker value', 'reopened: the plaintext secret reads');
  t.equal(await a.decryptText('planted', { target: 'ds.password', allowPlaintext: true }), 'planted');
  t.equal(
    (
      await rejection(
        a.decryptText('planted-token', { target: 'ds.json_data:json', field: 'token', allowPlaintext: true }),
      )
    ).code,
    'ATREST_PLAINTEXT_SEALED',
    'a place it does not name stays sealed',
  );
  t.same(
    seals(await a.status()),
    { atrest_secrets: 'reopened', 'ds.password': 'reopened 1', 'ds.json_data:json': 'sealed 1' },
    'status: reopened',
  );
  const third = byTarget(await a.migrations.reEncrypt({ workers: 1, targets: ['ds.password', 'atrest_secrets'] }));
  t.match(third.get('ds.password'), { plaintextEncrypted: 1, failed: 0, sealed: true }, 'reopened: encrypted');
  t.match(third.get('atrest_secrets'), { plaintextEncrypted: 1, failed: 0, sealed: true });
  await a.close();
  a = await b.open();
  t.equal(await a.decryptText(await b.cell(1, 'password'), { target: 'ds.password' }), 'planted', 'now ciphertext');
  await a.close();

  // Reopened by the INI key, every place (*).
  const reopened = await box(store, ['reopen_plaintext = *']);
  a = await reopened.open();
  await a.secrets.set('x', 'y');
  await store.query(reopened.db, "UPDATE atrest_secrets SET value = ?, encrypted = FALSE WHERE name = 'x'", [
    Buffer.from('plain'),
  ]);
  t.equal(await a.secrets.getText('x'), 'plain', 'reopen_plaintext = * in [security.encryption]');
  await a.close();

  // Turning encryption off writes plaintext on purpose: every seal is lifted first, values read.
  a = await b.open();
  const off = await a.migrations.disableEncryption({ workers: 1 });
  t.ok(
    off.reports.every((r) => r.failed === 0 && !r.sealed),
    'turned off: no failure, nothing sealed',
  );
  t.same(
    seals(await a.status()),
    { atrest_secrets: 'transition', 'ds.password': 'transition 2', 'ds.json_data:json': 'transition 2' },
    'status: every place back in transition',
  );
  t.equal(await a.secrets.getText('smtp'), 'attacker value', 'a secret turned off reads');
  t.equal(await a.decryptText(await b.cell(2, 'password'), { target: 'ds.password', allowPlaintext: true }), 'pw-2');
  const on = byTarget(await a.migrations.reEncrypt({ workers: 1 }));
  t.ok(
    [...on.values()].every((r) => r.sealed && r.failed === 0),
    'turned on again: re-encrypt seals every place',
  );
}

t.test('SQLite', (t) => sealedOnStore(t, sqliteStore));
t.test('PostgreSQL', (t) => sealedOnStore(t, postgresStore(server)));
