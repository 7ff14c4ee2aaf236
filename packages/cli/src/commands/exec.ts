// `exec` (SOPS's exec-env and exec-file): run a command with secrets in its environment or as
// private files whose paths are in named variables. The secrets are read and atrest is closed (its
// database connection and any lock released) before the command starts; the files go when the
// command ends, also when atrest is interrupted (SIGINT, SIGTERM and SIGHUP are passed on to the
// command, and atrest waits for it); the command's exit code is atrest's.
import { spawn } from 'node:child_process';
import { constants } from 'node:os';
import { createSecretFiles, errors } from '@atrest/core';
import type { Atrest, SecretFiles } from '@atrest/core';
import type { Command, CommandContext } from '../command.js';

const FORWARDED = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

/** `VAR=secret-name` of `--env` or `--file`: a variable name, then the secret's name. */
function readBinding(option: string, text: string, name: string): { variable: string; secret: string } {
  const at = text.indexOf('=');
  const variable = text.slice(0, at);
  if (at <= 0 || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(variable) || at === text.length - 1) {
    throw errors.usage(
      `--${option} ${text} is not VAR=secret-name.`,
      `Write --${option} PGSSLROOTCERT=pg-ca (a variable name, =, a secret's name; see '${name} secrets list').`,
    );
  }
  return { variable, secret: text.slice(at + 1) };
}

/** Every --env and --file secret's value, read while atrest is open. */
async function secretValues(ctx: CommandContext, atrest: Atrest) {
  const read = async (option: 'env' | 'file') => {
    const out: { variable: string; secret: string; value: Buffer }[] = [];
    for (const text of ctx.values(option)) {
      const { variable, secret } = readBinding(option, text, ctx.name);
      const value = await atrest.secrets.get(secret);
      if (value === undefined) throw errors.secretNotFound(secret);
      out.push({ variable, secret, value });
    }
    return out;
  };
  return { env: await read('env'), file: await read('file') };
}

/** The variables the command gets: each --env secret's text, each --file secret's file path. */
function secretVariables(values: Awaited<ReturnType<typeof secretValues>>, files: SecretFiles): Record<string, string> {
  const vars: Record<string, string> = {};
  for (const { variable, secret, value } of values.env) {
    if (value.includes(0)) {
      throw errors.usage(
        `The secret ${secret} holds a NUL byte, which an environment variable cannot carry; nothing was run.`,
        `Pass it as a file: --file ${variable}=${secret}.`,
      );
    }
    vars[variable] = value.toString('utf8');
  }
  for (const { variable, secret, value } of values.file) vars[variable] = files.write(secret, value);
  return vars;
}

/** Run the command to its end: its exit code, or 128 + the signal's number when a signal ended it. */
function runChild(ctx: CommandContext, command: string, args: readonly string[], env: NodeJS.ProcessEnv) {
  const own = ctx.io.stdin === process.stdin && ctx.io.stdout === process.stdout && ctx.io.stderr === process.stderr;
  const child = spawn(command, args, { env, stdio: own ? 'inherit' : 'pipe' });
  if (!own && child.stdin !== null) {
    // A command that exits without reading its input closes the pipe: not atrest's failure.
    child.stdin.on('error', () => undefined);
    ctx.io.stdin.pipe(child.stdin);
    child.stdout?.pipe(ctx.io.stdout, { end: false });
    child.stderr?.pipe(ctx.io.stderr, { end: false });
  }
  const forward = (signal: NodeJS.Signals) => child.kill(signal);
  for (const s of FORWARDED) process.on(s, forward);
  return new Promise<number>((resolve, reject) => {
    child.on('error', (cause) => {
      const missing = (cause as NodeJS.ErrnoException).code === 'ENOENT';
      reject(
        errors.usage(
          `Cannot run ${command}: ${missing ? 'no such command' : cause.message}.`,
          missing ? 'Check the command name and PATH.' : 'Check the command and its permissions.',
          { cause, details: { command } },
        ),
      );
    });
    child.on('close', (code, signal) => {
      resolve(code ?? 128 + (signal === null ? 0 : constants.signals[signal]));
    });
  }).finally(() => {
    for (const s of FORWARDED) process.off(s, forward);
  });
}

export const execCommand: Command = {
  path: ['exec'],
  opens: 'existing',
  summary: 'run a command with secrets in its environment or as private files',
  usage: 'exec [--env VAR=NAME]... [--file VAR=NAME]... -- COMMAND [ARG...]',
  help: [
    'Runs COMMAND with each --env secret as the value of VAR, and each --file secret written to a',
    'private file (0600, in a 0700 directory under $XDG_RUNTIME_DIR or the temporary directory)',
    'whose path is the value of VAR. The files are removed when COMMAND ends, also when atrest gets',
    "SIGINT, SIGTERM or SIGHUP (passed on to COMMAND). The exit code is COMMAND's (128 + the signal's",
    'number when a signal ended it). A SIGKILL of atrest leaves the files in their private directory.',
    'atrest reads the secrets, then closes its database connection before COMMAND starts.',
    '  e.g. exec --file PGSSLROOTCERT=pg-ca --env PGPASSWORD=pg-password -- psql "sslmode=verify-full"',
  ].join('\n'),
  options: {
    env: { type: 'string', multiple: true, placeholder: 'VAR=NAME', description: 'the secret NAME as $VAR' },
    file: {
      type: 'string',
      multiple: true,
      placeholder: 'VAR=NAME',
      description: 'the secret NAME in a private file whose path is $VAR',
    },
  },
  checkArgs(args, name) {
    if (args.length > 0) return;
    throw errors.usage("'exec' needs the command to run after --.", `Usage: ${name} ${this.usage}`);
  },
  async run(ctx) {
    const [command = '', ...args] = ctx.args;
    const atrest = await ctx.open();
    const values = await secretValues(ctx, atrest);
    // The command may run for hours: it holds no database connection, lock or key of atrest's.
    await atrest.close();
    const files = createSecretFiles();
    try {
      return await runChild(ctx, command, args, { ...ctx.env, ...secretVariables(values, files) });
    } finally {
      files.removeAll();
    }
  },
};
