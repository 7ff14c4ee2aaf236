// `secrets set|get|list|delete`: atrest's key/value table of secrets. Values come from stdin or a
// file and go to stdout or a private file, never through argv.
import { errors } from '@atrest/core';
import { secretInArgv } from '../arguments.js';
import type { Command, CommandContext } from '../command.js';
import { readAll, readOptionFile, write } from '../io.js';
import { jsonOption, printData, tell } from '../output.js';
import { writePrivateFile } from '../private-file.js';

const TEXT_CONTROLS = new Set([0x09, 0x0a, 0x0d]);

/** Not UTF-8 text, or with control bytes a terminal would act on (escape sequences among them). */
function isBinary(value: Uint8Array): boolean {
  if (value.some((b) => (b < 0x20 && !TEXT_CONTROLS.has(b)) || b === 0x7f)) return true;
  try {
    new TextDecoder('utf-8', { fatal: true }).decode(value);
    return false;
  } catch {
    return true;
  }
}

async function readValue(ctx: CommandContext, name: string): Promise<Buffer> {
  const file = ctx.value('value-file');
  let value: Buffer;
  if (file !== undefined) {
    value = readOptionFile('value-file', file);
  } else {
    if (ctx.io.stdin.isTTY === true) await tell(ctx, 'Reading the value from stdin (end with Ctrl-D)...');
    value = await readAll(ctx.io.stdin);
  }
  if (value.length === 0 && !ctx.flag('allow-empty')) {
    throw errors.usage(
      `The value for ${name} is empty (${file !== undefined ? `${file} is empty` : 'nothing on stdin'}); ` +
        'nothing was stored.',
      `Give the value on stdin (printf %s "$VALUE" | ${ctx.name} secrets set ${name}) or with --value-file FILE, ` +
        'or add --allow-empty to store an empty value.',
    );
  }
  return value;
}

const setCommand: Command = {
  path: ['secrets', 'set'],
  summary: 'store a secret (value from stdin or --value-file)',
  usage: 'secrets set NAME [--value-file FILE] [--allow-empty]',
  help: [
    'Encrypts and stores the value under NAME, replacing any previous value. The value is read from',
    '--value-file or stdin (binary-safe), never from the command line. An empty value is refused',
    'unless --allow-empty is given (an empty pipe is usually a mistake).',
  ].join('\n'),
  options: {
    'value-file': { type: 'string', placeholder: 'FILE', description: 'read the value from this file' },
    'allow-empty': { type: 'boolean', description: 'store an empty value' },
  },
  checkArgs(args, name) {
    if (args.length === 1) return;
    if (args.length === 0) throw errors.usage("'secrets set' needs the secret's NAME.", `Usage: ${name} ${this.usage}`);
    throw secretInArgv(
      "'secrets set' takes only the NAME; the value is read from stdin or --value-file.",
      `Use printf %s "$VALUE" | ${name} secrets set NAME, or ${name} secrets set NAME --value-file FILE.`,
    );
  },
  async run(ctx) {
    const name = ctx.args[0] ?? '';
    const value = await readValue(ctx, name);
    await (await ctx.open()).secrets.set(name, value);
    await tell(ctx, `stored ${name} (${value.length} bytes)`);
    return 0;
  },
};

const getCommand: Command = {
  path: ['secrets', 'get'],
  opens: 'existing',
  summary: "print a secret's raw bytes, or write them to a private file",
  usage: 'secrets get NAME [--out FILE] [--force]',
  help: [
    "Writes the secret's value, exactly as stored (raw bytes), to stdout, or with --out to a new",
    'file of mode 0600 (written in full, then put in place; its directory must not be writable by',
    'other users). A binary value is not printed to a terminal unless --force is given.',
  ].join('\n'),
  options: {
    out: { type: 'string', placeholder: 'FILE', description: 'write the value to FILE (created 0600)' },
    force: { type: 'boolean', description: 'replace an existing --out FILE; print a binary value to a terminal' },
  },
  minArgs: 1,
  maxArgs: 1,
  async run(ctx) {
    const name = ctx.args[0] ?? '';
    const value = await (await ctx.open()).secrets.get(name);
    if (value === undefined) throw errors.secretNotFound(name);
    const out = ctx.value('out');
    if (out !== undefined) {
      writePrivateFile(out, value, ctx.flag('force'));
      await tell(ctx, `wrote ${name} to ${out} (${value.length} bytes, mode 0600)`);
      return 0;
    }
    // As curl does: raw bytes would garble the terminal, and escape sequences could drive it.
    if (ctx.io.stdout.isTTY === true && !ctx.flag('force') && isBinary(value)) {
      throw errors.usage(
        `${name} is binary (${value.length} bytes) and stdout is a terminal; nothing was printed.`,
        `Write it to a file with --out FILE, redirect stdout (> FILE), or add --force to print it anyway.`,
      );
    }
    await write(ctx.io.stdout, value);
    return 0;
  },
};

const listCommand: Command = {
  path: ['secrets', 'list'],
  opens: 'existing',
  summary: 'list secret names',
  usage: 'secrets list [--json]',
  help: "Lists the secrets' names, sizes and whether each is encrypted; never values.",
  options: { json: jsonOption },
  async run(ctx) {
    const list = await (await ctx.open()).secrets.list();
    await printData(
      ctx,
      list,
      list
        .map((s) => `${s.name}\t${s.size} bytes\t${s.encrypted ? 'encrypted' : 'PLAINTEXT'}\t${s.updatedAt}`)
        .join('\n'),
    );
    return 0;
  },
};

const deleteCommand: Command = {
  path: ['secrets', 'delete'],
  opens: 'existing',
  summary: 'delete a secret',
  usage: 'secrets delete NAME',
  help: 'Deletes the secret NAME. Exit 1 if there is none.',
  minArgs: 1,
  maxArgs: 1,
  async run(ctx) {
    const name = ctx.args[0] ?? '';
    if (!(await (await ctx.open()).secrets.delete(name))) throw errors.secretNotFound(name);
    await tell(ctx, `deleted ${name}`);
    return 0;
  },
};

export const secretsCommands: readonly Command[] = [setCommand, getCommand, listCommand, deleteCommand];
