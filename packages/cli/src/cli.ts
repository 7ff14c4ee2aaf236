// The `atrest` command runner: reads the command line against the command table, opens atrest with
// the global options, runs the command, and reports any failure with its catalogue exit code.
// `runCli` is embeddable: an application mounts it under its own command name and app name.
import { existsSync } from 'node:fs';
import { userInfo } from 'node:os';
import { databaseOptions, errors, loadAtrestConfig, openAtrest, redactUrl } from '@atrest/core';
import type { Atrest, Logger, OpenAtrestOptions } from '@atrest/core';
import { readCommandLine } from './arguments.js';
import type { OptionValues } from './arguments.js';
import type { CommandContext } from './command.js';
import { commandTable } from './commands/index.js';
import { helpText } from './help.js';
import type { CliIo } from './io.js';
import { write } from './io.js';
import { asAtrestError, exitCodeOf, formatError } from './report.js';

/** Options of `runCli`. */
export type RunCliOptions = {
  /** Application name (env prefix, default key path); `--app` overrides it. Default `atrest`. */
  app?: string;
  /** Command name shown in help (e.g. `grafana-server admin`). Default `atrest`. */
  name?: string;
  /** Environment (default process.env). */
  env?: Readonly<Record<string, string | undefined>>;
  /** Default INI file when --config is not given. */
  configFile?: string;
  /** Application directory for provider packages (default: cwd). */
  appRoot?: string;
  io?: CliIo;
};

function stderrLogger(io: CliIo): Logger {
  const line = (level: string) => (message: string, fields?: Readonly<Record<string, unknown>>) => {
    if (level === 'debug' || level === 'info') return;
    const facts = fields && Object.keys(fields).length > 0 ? ` ${JSON.stringify(fields)}` : '';
    io.stderr.write(`${level}: ${message}${facts}\n`);
  };
  return { debug: line('debug'), info: line('info'), warn: line('warn'), error: line('error') };
}

/** Who runs the CLI, for the audit trail: `cli:<user>` (the uid when the user has no name). */
function cliActor(): string {
  try {
    return `cli:${userInfo().username}`;
  } catch {
    return `cli:uid ${process.getuid?.() ?? '?'}`;
  }
}

/** `--db`: a password there is visible to every user of the machine (ps, /proc, shell history). */
function checkedDbOption(db: string, app: string): string {
  if (redactUrl(db) === db) return db;
  const variable = `${app.toUpperCase().replaceAll('-', '_')}_DATABASE_PASSWORD`;
  throw errors.usage(
    `--db ${redactUrl(db)} holds a password, and argv is visible to every user of this machine (ps, /proc).`,
    `Give the URL without it, and the password in [database] password, ${variable} or ${variable}__FILE (a file).`,
  );
}

function openOptionsFor(options: OptionValues, run: RunCliOptions, logger: Logger): OpenAtrestOptions {
  const text = (key: string) => {
    const v = options[key];
    return typeof v === 'string' ? v : undefined;
  };
  const app = text('app') ?? run.app ?? 'atrest';
  const explicit: Record<string, string> = {};
  const db = text('db');
  const keyPath = text('key-path');
  if (db !== undefined) Object.assign(explicit, databaseOptions(checkedDbOption(db, app)));
  if (keyPath !== undefined) explicit['security.encryption.file.default.key_path'] = keyPath;
  const configFile = text('config') ?? run.configFile;
  const envFile = text('env-file');
  return {
    app,
    options: explicit,
    logger,
    actor: cliActor(),
    appRoot: run.appRoot ?? process.cwd(),
    ...(configFile !== undefined ? { configFile } : {}),
    ...(envFile !== undefined ? { envFile } : {}),
    ...(run.env !== undefined ? { env: run.env } : {}),
  };
}

/** Run the CLI with `argv` (without node and script); resolves to the exit code. */
export async function runCli(argv: readonly string[], options: RunCliOptions = {}): Promise<number> {
  const io: CliIo = options.io ?? { stdin: process.stdin, stdout: process.stdout, stderr: process.stderr };
  const name = options.name ?? 'atrest';
  // Known before the command line is read, so that even a usage error comes as JSON.
  const end = argv.indexOf('--');
  const json = (end === -1 ? argv : argv.slice(0, end)).includes('--json');
  const opened: Atrest[] = [];
  let database: string | undefined;
  try {
    const invocation = readCommandLine(argv, commandTable, name);
    if (invocation.kind === 'help') {
      const text = `${helpText(name, invocation.topic, commandTable)}\n`;
      await write(invocation.asked ? io.stdout : io.stderr, text);
      return invocation.asked ? 0 : 2;
    }
    const given = invocation.options;
    const openOptions = openOptionsFor(given, options, stderrLogger(io));
    database = openOptions.options?.['database.path'];
    const ctx: CommandContext = {
      io,
      name,
      args: invocation.args,
      json,
      flag: (option) => given[option] === true,
      value: (option) => {
        const v = given[option];
        return typeof v === 'string' ? v : undefined;
      },
      values: (option) => {
        const v = given[option];
        return Array.isArray(v) ? v : [];
      },
      env: options.env ?? process.env,
      openOptions,
      async open() {
        const { opens, path } = invocation.command;
        if (opens === 'database') await requireDatabase(openOptions, path.join(' '));
        const a = await openAtrest({ ...openOptions, create: opens !== 'existing' });
        opened.push(a);
        database = a.config.database.path ?? database;
        return a;
      },
    };
    return await invocation.command.run(ctx);
  } catch (thrown) {
    const err = asAtrestError(thrown, database);
    await write(io.stderr, `${formatError(err, json)}\n`);
    return exitCodeOf(err);
  } finally {
    for (const a of opened) await a.close().catch(() => undefined);
  }
}

/** A migration's database must exist: a SQLite path that names no file is a mistake, not a new database. */
async function requireDatabase(options: OpenAtrestOptions, command: string): Promise<void> {
  const { database } = await loadAtrestConfig(options);
  if (database.type === 'postgres' || database.path === undefined || existsSync(database.path)) return;
  throw errors.notInitialized(
    `The database ${database.path} does not exist.`,
    `'${command}' works on the application's existing database: check the database path (--db, [database] path).`,
    { details: { path: database.path, missing: 'database' } },
  );
}
