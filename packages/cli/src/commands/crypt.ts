// `encrypt` and `decrypt`: stdin to stdout, for scripts.
import { ARMOR_PREFIX, errors, looksLikeCiphertext } from '@atrest/core';
import type { Command } from '../command.js';
import { readAll, write } from '../io.js';

const context = {
  type: 'string',
  placeholder: 'C',
  description: 'context bound to the value (must be the same to decrypt)',
} as const;

const encryptCommand: Command = {
  path: ['encrypt'],
  summary: 'encrypt stdin to text armor on stdout',
  usage: 'encrypt [--context C] < plaintext > ciphertext',
  help: [
    'Encrypts stdin (any bytes) and prints the text armor ("atrest:v1:..."). The same --context must',
    'be given to decrypt.',
  ].join('\n'),
  options: { context },
  async run(ctx) {
    const data = await readAll(ctx.io.stdin);
    const a = await ctx.open();
    const c = ctx.value('context');
    const text = await a.encryptText(data, c !== undefined ? { context: c, scope: 'cli' } : { scope: 'cli' });
    await write(ctx.io.stdout, `${text}\n`);
    return 0;
  },
};

const decryptCommand: Command = {
  path: ['decrypt'],
  opens: 'existing',
  summary: 'decrypt text armor on stdin to the raw bytes on stdout',
  usage: 'decrypt [--context C] [--allow-plaintext] < ciphertext > plaintext',
  help: [
    'Decrypts the text armor read from stdin and writes the original bytes. A changed ciphertext or',
    'another context fails with exit 1 and prints nothing. Input that is not atrest ciphertext is',
    'refused (ATREST_NOT_ENCRYPTED) unless --allow-plaintext passes it through unchanged (legacy',
    'values written before encryption).',
  ].join('\n'),
  options: {
    context,
    'allow-plaintext': { type: 'boolean', description: 'write input that is not ciphertext unchanged' },
  },
  async run(ctx) {
    const input = await readAll(ctx.io.stdin);
    const text = input.toString('utf8').trim();
    // Damaged ciphertext is never passed through as plaintext: decrypting it says what is wrong.
    if (!looksLikeCiphertext(text)) {
      if (!ctx.flag('allow-plaintext')) {
        throw errors.notEncrypted(
          `stdin is not atrest ciphertext (it does not start with "${ARMOR_PREFIX}").`,
          'If it is a legacy plaintext value, add --allow-plaintext to pass it through unchanged.',
        );
      }
      await write(ctx.io.stdout, input);
      return 0;
    }
    const a = await ctx.open();
    const c = ctx.value('context');
    await write(ctx.io.stdout, await a.decrypt(text, c !== undefined ? { context: c } : {}));
    return 0;
  },
};

export const cryptCommands: readonly Command[] = [encryptCommand, decryptCommand];
