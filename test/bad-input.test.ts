// Every bad input gets a typed error, nothing lost (issue 9 §6), through the real CLI: a database
// that is not SQLite or is truncated, one this user may not write, a full disk (RLIMIT_FSIZE, as
// `ulimit -f` sets it, on the database and on the key file), a key path that is a dangling symbolic
// link, atrest's tables or columns dropped, a root-owned key file read by another user, and value
// files that are a FIFO, a device or too large. Each prints `error ATREST_…` with what to do, no
// stack, and every stored value still reads back afterwards.
import { spawn } from 'node:child_process';
import {
  chmodSync,
  mkdirSync,
  copyFileSync,
  existsSync,
  readFileSync,
  statSync,
  symlinkSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import t from 'tap';
import type { Test } from 'tap';
import { openAtrest } from '@atrest/core';
import { tempDir } from '@atrest/testkit';
import { cliBin, repoRoot, runAtrest } from './helpers.js';

const SECRETS = 20;
const NOBODY = 65534;

/** A database with SECRETS secrets under a key file, in a directory of its own (0755, so others may enter). */
async function seeded(): Promise<{ dir: string; db: string; key: string; env: Record<string, string> }> {
  const dir = tempDir('atrest-bad-input-');
  chmodSync(dir, 0o755);
  const db = join(dir, 'app.db');
  const key = join(dir, 'k.key');
  const env = { ATREST_ENCRYPTION_KEY_PATH: key };
  const a = await openAtrest({ appRoot: repoRoot, database: db, env });
  for (let i = 1; i <= SECRETS; i++) await a.secrets.set(`s${i}`, `value ${i}`);
  await a.close();
  return { dir, db, key, env };
}

/** Every secret reads back with its value (and nothing else was stored). */
async function allRead(t: Test, db: string, env: Record<string, string>, what: string): Promise<void> {
  const a = await openAtrest({ appRoot: repoRoot, database: db, env, create: false });
  let read = 0;
  for (let i = 1; i <= SECRETS; i++) if ((await a.secrets.getText(`s${i}`)) === `value ${i}`) read++;
  const stored = (await a.secrets.list()).length;
  await a.close();
  t.equal(read, SECRETS, `${what}: all ${SECRETS} secrets read back`);
  t.equal(stored, SECRETS, `${what}: no other secret was stored`);
}

/** A typed error line with advice, and no stack. */
function typed(t: Test, r: { code: number | null; stderr: string }, code: RegExp, what: string): void {
  t.not(r.code, 0, `${what}: fails`);
  t.match(
    r.stderr,
    new RegExp(`^error ${code.source}`, 'm'),
    `${what}: error ATREST_… (${r.stderr.trim().slice(0, 160)})`,
  );
  t.notMatch(r.stderr, /^\s+at /m, `${what}: no stack`, { stderr: r.stderr });
}

/** The CLI run by `prefix` (setpriv as another user, a shell with a limit), with `env` only. */
function runVia(prefix: readonly string[], args: readonly string[], env: Record<string, string>, input?: string) {
  return new Promise<{ code: number | null; stderr: string; stdout: string }>((resolve) => {
    const child = spawn(prefix[0] ?? '', [...prefix.slice(1), process.execPath, cliBin, ...args], {
      cwd: repoRoot,
      env: { PATH: process.env['PATH'] ?? '', HOME: tempDir('atrest-home-'), ...env },
    });
    let stderr = '';
    let stdout = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stdin.end(input ?? '');
    child.on('close', (code) => resolve({ code, stderr, stdout }));
  });
}
// `env -u NODE_OPTIONS`: the CLI alone, without the test runner's hooks (they write files of their own).
// Another user: this uid (root here) without any capability, so the permission bits decide as for
// any user, while the checkout (maybe in a private 0700 directory, as a fresh clone in mktemp) stays
// reachable; the files at stake belong to nobody.
const asOther = ['setpriv', '--inh-caps=-all', '--bounding-set=-all', 'env', '-u', 'NODE_OPTIONS'];
/** Files this process may write limited to `blocks` KiB (RLIMIT_FSIZE): writes past it fail with EFBIG. */
const limited = (blocks: number) => ['bash', '-c', `unset NODE_OPTIONS; ulimit -f ${blocks} && exec "$@"`, 'limited'];

t.test('a file that is not SQLite, and a truncated database', async (t) => {
  const { dir, db, env } = await seeded();
  const text = join(dir, 'notes.txt');
  writeFileSync(text, 'this is a text file an operator passed as --db by mistake\n'.repeat(40));
  for (const args of [['status'], ['secrets', 'get', 's1'], ['secrets', 'list']]) {
    const r = await runAtrest(['--db', text, ...args], { env });
    typed(t, r, /ATREST_STORE: .*is not a SQLite database/, `not SQLite: ${args.join(' ')}`);
  }
  t.match(readFileSync(text, 'utf8'), /^this is a text file/, 'the text file was not changed');
  const cut = join(dir, 'cut.db');
  copyFileSync(db, cut);
  truncateSync(cut, Math.floor(statSync(cut).size / 3));
  for (const args of [['status'], ['secrets', 'list']]) {
    const r = await runAtrest(['--db', cut, ...args], { env });
    typed(t, r, /ATREST_STORE: .*(damaged|not a SQLite)/, `truncated: ${args.join(' ')}`);
  }
  await allRead(t, db, env, 'the original');
});

t.test('a database this user may not write, a key file another user may not read', async (t) => {
  const { dir, db, key, env } = await seeded();
  const { chownSync } = await import('node:fs');
  // Another user's key file (0600): reading it is a permissions problem, not a damaged file.
  const theirs = join(dir, 'theirs.key');
  copyFileSync(key, theirs);
  chownSync(theirs, NOBODY, NOBODY);
  const r = await runVia(asOther, ['--db', db, 'secrets', 'get', 's1'], { ATREST_ENCRYPTION_KEY_PATH: theirs });
  typed(t, r, /ATREST_KEY_FILE_PERMISSIONS: .*cannot be read by this user/, "another user's key file");
  t.notMatch(r.stderr, /damaged|KEY_FILE_INVALID/, 'not told as a damaged key file');
  // Its own key, on another user's database in that user's directory (0644 file, 0755 directory): read-only.
  const ro = tempDir('atrest-ro-db-');
  const theirDb = join(ro, 'app.db');
  copyFileSync(db, theirDb);
  chmodSync(theirDb, 0o644);
  chownSync(theirDb, NOBODY, NOBODY);
  chownSync(ro, NOBODY, NOBODY);
  chmodSync(ro, 0o755);
  const w = await runVia(asOther, ['--db', theirDb, 'secrets', 'set', 'new'], env, 'v');
  typed(t, w, /ATREST_STORE: .*cannot be written by this user/, 'read-only database: secrets set');
  t.match(w.stderr, /Run as the database owner/, 'says what to do');
  await allRead(t, db, env, 'after the refused writes');
});

t.test('a full disk: the database and the key file past the file size limit', async (t) => {
  const { dir, db, env } = await seeded();
  const size = statSync(db).size;
  const big = join(dir, 'big.bin');
  writeFileSync(big, Buffer.alloc(4 * 1024 * 1024, 7));
  // The WAL may grow only up to the limit: a 4 MiB value does not fit.
  const r = await runVia(
    limited(Math.ceil(size / 1024) + 64),
    ['--db', db, 'secrets', 'set', 'big', '--value-file', big],
    env,
  );
  typed(t, r, /ATREST_STORE: .*(disk is full|may not grow)/, 'database write past the limit');
  await allRead(t, db, env, 'after the failed write');
  const fresh = join(dir, 'fresh.db');
  const newKey = join(dir, 'new.key');
  const k = await runVia(limited(0), ['--db', fresh, 'init'], { ATREST_ENCRYPTION_KEY_PATH: newKey });
  typed(t, k, /ATREST_(KEY_FILE_WRITE|STORE): /, 'first boot with no room for the key file');
  t.notOk(existsSync(newKey), 'no key file, not even a partial one');
});

t.test('a key path that is a dangling symbolic link', async (t) => {
  const { dir, db, key } = await seeded();
  const moved = join(dir, 'elsewhere.key');
  const link = join(dir, 'link.key');
  symlinkSync(moved, link);
  const linkEnv = { ATREST_ENCRYPTION_KEY_PATH: link };
  const r = await runAtrest(['--db', db, 'secrets', 'get', 's1'], { env: linkEnv });
  typed(t, r, /ATREST_KEY_MISSING: .*symbolic link to .*elsewhere\.key, which does not exist/, 'existing data');
  const fresh = await runAtrest(['--db', join(dir, 'fresh.db'), 'init'], { env: linkEnv });
  typed(t, fresh, /ATREST_KEY_MISSING: .*symbolic link/, 'first boot');
  t.match(fresh.stderr, /remove the link/, 'first boot: says what to do');
  t.notOk(existsSync(moved), 'no key was made behind the link');
  copyFileSync(key, moved);
  chmodSync(moved, 0o600);
  await allRead(t, db, linkEnv, 'the key restored behind the link');
});

t.test("atrest's tables or columns missing", async (t) => {
  const { dir, db, env } = await seeded();
  for (const [what, sql] of [
    ['table atrest_secrets', 'DROP TABLE atrest_secrets'],
    ['column dropped_at', 'ALTER TABLE atrest_data_keys DROP COLUMN dropped_at'],
  ] as const) {
    const copy = join(dir, `${what.replace(/\W/g, '_')}.db`);
    copyFileSync(db, copy);
    const h = new Database(copy);
    h.exec(sql);
    h.close();
    for (const args of [['status'], ['secrets', 'get', 's1'], ['secrets', 'set', 'x']]) {
      const r = await runAtrest(['--db', copy, ...args], { env, input: 'v' });
      typed(t, r, /ATREST_STORE: .*lacks/, `${what}: ${args.join(' ')}`);
      t.match(r.stderr, new RegExp(what.split(' ')[1] ?? ''), 'names what is missing');
    }
  }
  await allRead(t, db, env, 'the original');
});

t.test('value files: a FIFO, a device and a file over the limit are refused, never read', async (t) => {
  const { dir, db, env } = await seeded();
  const fifo = join(dir, 'fifo');
  await new Promise((resolve) => spawn('mkfifo', [fifo]).on('close', resolve));
  const large = join(dir, 'large');
  writeFileSync(large, Buffer.alloc(2 * 1024 * 1024, 0x61));
  for (const [file, why] of [
    [fifo, /FIFO, not a regular file/],
    ['/dev/zero', /character device, not a regular file/],
    [large, /larger than 1048576 bytes/],
  ] as const) {
    const r = await runAtrest(['--db', db, 'status'], { env: { ...env, ATREST_ENCRYPTION_SECRET_KEY__FILE: file } });
    typed(t, r, new RegExp(`ATREST_CONFIG_FILE: .*${why.source}`), `__FILE ${file}`);
    const ini = join(dir, 'app.ini');
    writeFileSync(ini, `[security]\nsecret_key = $__file{${file}}\n`);
    const i = await runAtrest(['--config', ini, '--db', db, 'status'], { env });
    typed(t, i, new RegExp(`ATREST_CONFIG_FILE: .*${why.source}`), `$__file{${file}}`);
  }
  for (const file of [fifo, '/dev/zero']) {
    const r = await runAtrest(['--db', db, 'secrets', 'set', 'dev', '--value-file', file], { env });
    typed(t, r, /ATREST_USAGE: Cannot read --value-file .*not a regular file/, `secrets set --value-file ${file}`);
  }
  await allRead(t, db, env, 'after the refused files');
});

t.test(
  'a key file in a directory every user may write is refused (sticky directories like /tmp are not)',
  async (t) => {
    const { dir, db, key } = await seeded();
    const open = join(dir, 'open');
    mkdirSync(open);
    chmodSync(open, 0o777);
    const moved = join(open, 'k.key');
    copyFileSync(key, moved);
    chmodSync(moved, 0o600);
    const env = { ATREST_ENCRYPTION_KEY_PATH: moved };
    const r = await runAtrest(['--db', db, 'secrets', 'get', 's1'], { env });
    typed(
      t,
      r,
      /ATREST_KEY_FILE_PERMISSIONS: The key file's directory .* is writable by every user \(mode 0777\)/,
      '0777',
    );
    t.match(r.stderr, /chmod o-w/, 'says what to do');
    chmodSync(open, 0o1777);
    await allRead(t, db, env, 'the sticky directory (mode 1777)');
  },
);
