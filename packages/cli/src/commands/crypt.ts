// `encrypt` and `decrypt`: stdin to stdout, for scripts.
import { ARMOR_PREFIX, errors, looksLikeCiphertext } from '@atrest/core';
import type { CryptOptions } from '@atrest/core';
import type { Command, CommandContext } from '../command.js';
import { readAll, write } from '../io.js';

const context = {
  type: 'string',
  placeholder: 'C',
  description: 'context bound to the value (must be the same to decrypt)',
} as const;

/** A registered target's value instead of a context: --target, and --row / --field where it has them. */
const targetOptions = {
  target: {
    type: 'string',
    placeholder: 'T',
    description: 'a value of this target (table.column) instead of --context',
  },
  row: { type: 'string', placeholder: 'R', description: "the row's key, for a target bound to its rows (@column)" },
  field: { type: 'string', placeholder: 'F', description: 'the JSON field, for a :json target' },
} as const;

/** The API options the command line names: a target (with row and field), or a context. */
function placeOptions(ctx: CommandContext): CryptOptions {
  const target = ctx.value('target');
  const context = ctx.value('context');
  if (target === undefined) {
    if (ctx.value('row') !== undefined || ctx.value('field') !== undefined) {
      throw errors.usage('--row and --field go with --target.');
    }
    return context !== undefined ? { context } : {};
  }
  if (context !== undefined) throw errors.usage('Give --target or --context, not both.');
  const row = ctx.value('row');
  const field = ctx.value('field');
  return { target, ...(row !== undefined ? { row } : {}), ...(field !== undefined ? { field } : {}) };
}

const encryptCommand: Command = {
  path: ['encrypt'],
  summary: 'encrypt stdin to text armor on stdout',
  usage: 'encrypt [--context C | --target T [--row R] [--field F]] < plaintext > ciphertext',
  help: [
    'Encrypts stdin (any bytes) and prints the text armor ("atrest:v1:..."). The same --context must',
    'be given to decrypt. --target encrypts a value of a registered target (its context, its data keys).',
  ].join('\n'),
  options: { context, ...targetOptions },
  async run(ctx) {
    const data = await readAll(ctx.io.stdin);
    const place = placeOptions(ctx);
    const a = await ctx.open();
    const text = await a.encryptText(data, place.target !== undefined ? place : { ...place, scope: 'cli' });
    await write(ctx.io.stdout, `${text}\n`);
    return 0;
  },
};

const decryptCommand: Command = {
  path: ['decrypt'],
  opens: 'existing',
  summary: 'decrypt text armor on stdin to the raw bytes on stdout',
  usage: 'decrypt [--context C | --target T [--row R] [--field F]] [--allow-plaintext] < ciphertext > plaintext',
  help: [
    'Decrypts the text armor read from stdin and writes the original bytes. A changed ciphertext or',
    'another context fails with exit 1 and prints nothing. Input that is not atrest ciphertext is',
    'refused (ATREST_NOT_ENCRYPTED) unless --allow-plaintext passes it through unchanged (legacy',
    'values written before encryption); not where a context or --target names a sealed place (re-encrypt',
    'left no plaintext there: ATREST_PLAINTEXT_SEALED, see reopen_plaintext).',
  ].join('\n'),
  options: {
    context,
    ...targetOptions,
    'allow-plaintext': { type: 'boolean', description: 'write input that is not ciphertext unchanged' },
  },
  async run(ctx) {
    const input = await readAll(ctx.io.stdin);
    const text = input.toString('utf8').trim();
    const place = placeOptions(ctx);
    // Damaged ciphertext is never passed through as plaintext: decrypting it says what is wrong.
    if (!looksLikeCiphertext(text)) {
      if (!ctx.flag('allow-plaintext')) {
        throw errors.notEncrypted(
          `stdin is not atrest ciphertext (it does not start with "${ARMOR_PREFIX}").`,
          'If it is a legacy plaintext value, add --allow-plaintext to pass it through unchanged.',
        );
      }
      // A value of a named place: atrest says whether plaintext is still allowed there (not once sealed).
      if (place.context !== undefined || place.target !== undefined) {
        await (await ctx.open()).decrypt(text, { ...place, allowPlaintext: true });
      }
      await write(ctx.io.stdout, input);
      return 0;
    }
    const a = await ctx.open();
    await write(ctx.io.stdout, await a.decrypt(text, place));
    return 0;
  },
};

export const cryptCommands: readonly Command[] = [encryptCommand, decryptCommand];
