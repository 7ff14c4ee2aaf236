// The `atrest` command: a table of commands, each with its options, help and run function.
// `runCli` is embeddable: an application mounts it under its own command name and app name.
import { parseArgs } from 'node:util';
import { isAtrestError, openAtrest } from '@atrest/core';
import type { Atrest, AtrestError, OpenAtrestOptions, Logger } from '@atrest/core';
import type { CliIo } from './io.js';
import { write } from './io.js';
import { commands } from './commands.js';

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

/** A parsed option value. */
export type OptionValues = Record<string, string | boolean | (string | boolean)[] | undefined>;

/** What a command's run function gets. */
export type CommandContext = {
  readonly io: CliIo;
  readonly values: OptionValues;
  readonly args: readonly string[];
  readonly name: string;
  /** Open atrest with the global options (closed by the runner). */
  open(extra?: Partial<OpenAtrestOptions>): Promise<Atrest>;
  readonly openOptions: OpenAtrestOptions;
  readonly logger: Logger;
};

/** One command of the table. */
export type Command = {
  readonly path: readonly string[];
  readonly summary: string;
  readonly usage: string;
  readonly help: string;
  readonly options?: Readonly<
    Record<string, { type: 'string' | 'boolean'; short?: string; multiple?: boolean; description: string }>
  >;
  readonly maxArgs?: number;
  readonly minArgs?: number;
  run(ctx: CommandContext): Promise<number>;
};

const globalOptions = {
  config: { type: 'string', description: 'the application INI file' },
  'env-file': { type: 'string', description: 'a .env file' },
  app: {
    type: 'string',
    description: 'application name: env prefix <APP>_ and default key path /srv/<app>-encryption.key',
  },
  db: { type: 'string', description: 'the database file (overrides [database] path)' },
  'key-path': { type: 'string', description: 'key file path of file.default (overrides <APP>_ENCRYPTION_KEY_PATH)' },
  help: { type: 'boolean', short: 'h', description: 'show help' },
} as const;

function globalHelp(name: string): string {
  const width = Math.max(...commands.map((c) => c.path.join(' ').length));
  return [
    `Usage: ${name} [--config FILE] [--env-file FILE] [--app NAME] [--db PATH] [--key-path PATH] <command> [options]`,
    '',
    "Encrypts an application's secrets at rest (envelope encryption: data keys wrapped by a key provider).",
    '',
    'Commands:',
    ...commands.map((c) => `  ${c.path.join(' ').padEnd(width)}  ${c.summary}`),
    '',
    'Global options:',
    ...Object.entries(globalOptions).map(([k, o]) => `  --${k.padEnd(10)} ${o.description}`),
    '',
    `Run '${name} <command> --help' for a command's options. Exit codes: 0 success, 1 operation failed, 2 usage, configuration or key error.`,
  ].join('\n');
}

function commandHelp(name: string, c: Command): string {
  const opts = Object.entries(c.options ?? {});
  return [
    `Usage: ${name} ${c.usage}`,
    '',
    c.help,
    ...(opts.length > 0 ? ['', 'Options:', ...opts.map(([k, o]) => `  --${k.padEnd(14)} ${o.description}`)] : []),
    '',
    'Global options: --config FILE, --env-file FILE, --app NAME, --db PATH, --key-path PATH',
  ].join('\n');
}

function findCommand(positionals: readonly string[]): { command: Command | undefined; rest: string[] } {
  let best: Command | undefined;
  for (const c of commands) {
    if (
      c.path.length <= positionals.length &&
      c.path.every((w, i) => positionals[i] === w) &&
      (best === undefined || c.path.length > best.path.length)
    )
      best = c;
  }
  return { command: best, rest: positionals.slice(best?.path.length ?? 0) };
}

function stderrLogger(io: CliIo): Logger {
  const line = (level: string) => (message: string, fields?: Readonly<Record<string, unknown>>) => {
    if (level === 'debug' || level === 'info') return;
    io.stderr.write(
      `${level}: ${message}${fields && Object.keys(fields).length ? ` ${JSON.stringify(fields)}` : ''}\n`,
    );
  };
  return { debug: line('debug'), info: line('info'), warn: line('warn'), error: line('error') };
}

/** Run the CLI with `argv` (without node and script); resolves to the exit code. */
export async function runCli(argv: readonly string[], options: RunCliOptions = {}): Promise<number> {
  const io: CliIo = options.io ?? { stdin: process.stdin, stdout: process.stdout, stderr: process.stderr };
  const name = options.name ?? 'atrest';
  // First pass, lenient: find the command so its own options can be parsed strictly.
  const loose = parseArgs({ args: [...argv], options: { ...globalOptions }, strict: false, allowPositionals: true });
  const { command } = findCommand(loose.positionals);
  if (command === undefined) {
    if (loose.positionals.length === 0) {
      await write(loose.values['help'] === true ? io.stdout : io.stderr, `${globalHelp(name)}\n`);
      return loose.values['help'] === true ? 0 : 2;
    }
    await write(
      io.stderr,
      `error ATREST_USAGE: unknown command '${loose.positionals.join(' ')}'.\n\n${globalHelp(name)}\n`,
    );
    return 2;
  }
  let values: OptionValues;
  let rest: string[];
  try {
    const parsed = parseArgs({
      args: [...argv],
      options: { ...globalOptions, ...(command.options ?? {}) },
      strict: true,
      allowPositionals: true,
    });
    values = parsed.values as OptionValues;
    rest = findCommand(parsed.positionals).rest;
  } catch (err) {
    await write(io.stderr, `error ATREST_USAGE: ${(err as Error).message}\n\n${commandHelp(name, command)}\n`);
    return 2;
  }
  if (values['help'] === true) {
    await write(io.stdout, `${commandHelp(name, command)}\n`);
    return 0;
  }
  if (rest.length > (command.maxArgs ?? 0) || rest.length < (command.minArgs ?? 0)) {
    await write(io.stderr, `error ATREST_USAGE: wrong number of arguments.\n\n${commandHelp(name, command)}\n`);
    return 2;
  }
  const logger = stderrLogger(io);
  const explicit: Record<string, string> = {};
  if (typeof values['db'] === 'string') explicit['database.path'] = values['db'];
  if (typeof values['key-path'] === 'string')
    explicit['security.encryption.file.default.key_path'] = values['key-path'];
  const configFile = typeof values['config'] === 'string' ? values['config'] : options.configFile;
  const openOptions: OpenAtrestOptions = {
    app: typeof values['app'] === 'string' ? values['app'] : (options.app ?? 'atrest'),
    options: explicit,
    logger,
    appRoot: options.appRoot ?? process.cwd(),
    ...(configFile !== undefined ? { configFile } : {}),
    ...(typeof values['env-file'] === 'string' ? { envFile: values['env-file'] } : {}),
    ...(options.env !== undefined ? { env: options.env } : {}),
  };
  const opened: Atrest[] = [];
  try {
    return await command.run({
      io,
      values,
      args: rest,
      name,
      openOptions,
      logger,
      async open(extra) {
        const a = await openAtrest({ ...openOptions, ...extra });
        opened.push(a);
        return a;
      },
    });
  } catch (err) {
    await write(io.stderr, `${formatError(err)}\n`);
    return isAtrestError(err) ? (err as AtrestError).exitCode : 1;
  } finally {
    for (const a of opened) await a.close().catch(() => undefined);
  }
}

/** `error CODE: message` plus the cause chain; never a stack for expected errors. */
export function formatError(err: unknown): string {
  if (isAtrestError(err)) {
    const e = err as AtrestError;
    return `error ${e.code}: ${e.message}`;
  }
  const e = err as Error;
  return `error: ${e?.message ?? String(err)}${e?.stack ? `\n${e.stack}` : ''}`;
}
