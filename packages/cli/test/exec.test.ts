// `atrest exec` as Metabase's users need it: psql reaches a real PostgreSQL over TLS with
// sslmode=verify-full, its root certificate and password taken from stored secrets; the files are
// private and gone when the command ends, also when atrest is interrupted; the exit code is psql's.
import { existsSync, mkdtempSync, readdirSync, readlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import t from 'tap';
import { createTestTls, spawnNode, startPostgres } from '@atrest/testkit';
import { box, cliBin, repoRoot, runInProcess } from './helpers.js';

// Where secret files are made (by this process, and by the atrest processes it starts).
const runtime = mkdtempSync(join(tmpdir(), 'atrest-runtime-'));
process.env['XDG_RUNTIME_DIR'] = runtime;
const env = { PATH: process.env['PATH'] ?? '', XDG_RUNTIME_DIR: runtime };

const pg = await startPostgres();
t.teardown(() => pg.stop());

const b = box();
const otherCa = (await createTestTls({ name: 'not the server CA' })).caPem;
// Stored before any test runs, without an assertion at the top level (tap would end the file early).
t.before(async () => {
  for (const [name, value] of [
    ['pg-ca', pg.tls.caPem],
    ['pg-password', pg.password],
    ['other-ca', otherCa],
  ] as const) {
    const stored = await runInProcess([...b.args, 'secrets', 'set', name], { env, input: value });
    if (stored.code !== 0) throw new Error(`cannot store ${name}: ${stored.stderr}`);
  }
});

const conninfo = `host=127.0.0.1 port=${pg.port} user=postgres dbname=postgres sslmode=verify-full`;
const psql = ['psql', conninfo, '-XAtc', 'SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()'];
// The command prints the file's path and the modes of the file and its directory, then runs psql.
const showThenPsql = [
  'sh',
  '-c',
  'echo "$PGSSLROOTCERT"; stat -c %a "$PGSSLROOTCERT" "$(dirname "$PGSSLROOTCERT")"; exec "$@"',
];

const exec = (ca: string) =>
  runInProcess(
    [...b.args, 'exec', '--file', `PGSSLROOTCERT=${ca}`, '--env', 'PGPASSWORD=pg-password', '--'].concat(
      showThenPsql,
      'sh',
      psql,
    ),
    { env },
  );

t.test('psql verifies the server with the root certificate stored as a secret', async (t) => {
  const run = await exec('pg-ca');
  t.equal(run.code, 0, run.stderr);
  const [path = '', fileMode, dirMode, ssl] = run.stdout.toString().trimEnd().split('\n');
  t.equal(dirname(dirname(path)), runtime, 'under $XDG_RUNTIME_DIR');
  t.same([fileMode, dirMode], ['600', '700'], 'a private file in a private directory');
  t.equal(ssl, 't', 'psql connected over TLS with verify-full');
  t.notOk(existsSync(dirname(path)), 'the file and its directory are gone when the command ended');
  t.notMatch(run.stdout.toString() + run.stderr, pg.password, 'the password is never shown');
});

t.test("the exit code is the command's: psql refuses a server another CA would vouch for", async (t) => {
  const run = await exec('other-ca');
  t.equal(run.code, 2, "psql's exit code for a connection it could not make");
  t.match(run.stderr, /certificate verify failed/, "psql's own reason");
  t.same(readdirSync(runtime), [], 'no file left');
  const seven = await runInProcess([...b.args, 'exec', '--', 'sh', '-c', 'exit 7'], { env });
  t.equal(seven.code, 7);
});

t.test('bad bindings, unknown secrets and commands are refused before anything runs', async (t) => {
  const marker = join(runtime, 'ran');
  const touch = ['--', 'sh', '-c', `touch ${marker}`];
  const cases: [string[], number, RegExp][] = [
    [['--file', 'PGSSLROOTCERT=nope', ...touch], 1, /ATREST_SECRET_NOT_FOUND.*"nope"/],
    [['--env', 'pg-password', ...touch], 2, /--env pg-password is not VAR=secret-name/],
    [['--env', '1X=pg-ca', ...touch], 2, /not VAR=secret-name/],
    [['--env', 'X=pg-ca'], 2, /'exec' needs the command to run after --/],
    [['--', 'no-such-command-atrest'], 2, /Cannot run no-such-command-atrest: no such command/],
  ];
  for (const [args, code, message] of cases) {
    const run = await runInProcess([...b.args, 'exec', ...args], { env });
    t.equal(run.code, code, args.join(' '));
    t.match(run.stderr, message);
  }
  t.notOk(existsSync(marker), 'nothing ran');
  t.same(readdirSync(runtime), [], 'no file left');
});

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  t.test(`${signal} to atrest reaches the command, and the files are removed`, async (t) => {
    const waiting = 'process.stdout.write(process.env.CA + "\\n"); setInterval(() => {}, 1000)';
    const atrest = spawnNode([cliBin, ...b.args, 'exec', '--file', 'CA=pg-ca', '--', process.execPath, '-e', waiting], {
      cwd: repoRoot,
      env,
    });
    const path = await new Promise<string>((resolve) => {
      let out = '';
      atrest.child.stdout?.on('data', (d: Buffer) => {
        out += d.toString();
        if (out.endsWith('\n')) resolve(out.trim());
      });
    });
    t.ok(existsSync(path), 'the file is there while the command runs');
    const open = readdirSync(`/proc/${atrest.child.pid}/fd`).map((fd) => {
      try {
        return readlinkSync(`/proc/${atrest.child.pid}/fd/${fd}`);
      } catch {
        return '';
      }
    });
    t.ok(open.length > 0, "atrest's open files are listed");
    t.same(
      open.filter((f) => f.startsWith(b.db)),
      [],
      'atrest holds no database file (nor its -wal, -shm) while the command runs',
    );
    atrest.child.kill(signal);
    const run = await atrest.done;
    t.equal(run.code, signal === 'SIGTERM' ? 143 : 130, '128 + the signal that ended the command');
    t.notOk(existsSync(dirname(path)), 'the file and its directory are gone');
  });
}
