// `rotate-encryption-key`: a new key for the local provider (a new key-file version, or a new
// passphrase read from a file, stdin or a no-echo prompt), data keys re-wrapped; `--prune` removes
// old key versions; an empty new passphrase with --yes turns encryption off.
import { errors } from '@atrest/core';
import type { Atrest } from '@atrest/core';
import { secretInArgv } from '../arguments.js';
import type { Command, CommandContext } from '../command.js';
import { readAll, readOptionFile } from '../io.js';
import { jsonOption, printData, tell } from '../output.js';
import { rowProgress } from '../progress.js';
import { askNewPassphrase, isTerminal } from '../prompt.js';
import { formatDataKeys, formatReports, formatVacuum } from './reports.js';

async function readNewPassphrase(ctx: CommandContext): Promise<string> {
  const file = ctx.value('new-key-file');
  if (file === undefined && isTerminal(ctx.io)) return askNewPassphrase(ctx.io);
  const raw = file !== undefined ? readOptionFile('new-key-file', file) : await readAll(ctx.io.stdin);
  return raw.toString('utf8').replace(/\r?\n$/, '');
}

async function prune(ctx: CommandContext, a: Atrest): Promise<number> {
  const removed = await a.migrations.pruneKeys();
  await printData(
    ctx,
    { removed },
    removed.length > 0 ? `removed old key version(s) ${removed.join(', ')}` : 'no old key versions to remove',
  );
  return 0;
}

async function disableEncryption(ctx: CommandContext, a: Atrest): Promise<number> {
  if (!ctx.flag('yes')) {
    throw errors.usage(
      'An empty new passphrase turns encryption off: every value is decrypted back to plaintext.',
      'Add --yes to confirm.',
    );
  }
  const progress = rowProgress(ctx.io);
  const { reports, dataKeysDropped } = await a.migrations
    .disableEncryption({ onProgress: progress.onProgress })
    .finally(progress.finish);
  await printData(
    ctx,
    { reports, dataKeysDropped },
    `${formatReports(reports, false)}\nencryption is off: values are stored in plaintext, ${dataKeysDropped} ` +
      'data key(s) dropped. Remove the passphrase from the configuration; a later start with a key encrypts ' +
      'anew (secrets-migration re-encrypt picks up the plaintext).',
  );
  return reports.some((r) => r.failed > 0) ? 1 : 0;
}

export const rotateEncryptionKeyCommand: Command = {
  path: ['rotate-encryption-key'],
  opens: 'database',
  summary: 'new key for the local provider (key-file version or passphrase); data keys re-wrapped',
  usage: 'rotate-encryption-key [--new-key-file F] [--yes] [--full] [--prune] [--json]',
  help: [
    'file provider: adds a new key version to the key file (atomically) and makes it primary; every',
    'data key is re-wrapped to it and the active ones retired, in one transaction. The old version',
    'stays in the file until --prune removes it (refused while anything still needs it).',
    '',
    'secret_key provider: the current passphrase comes from the configuration, the new one from',
    '--new-key-file, stdin, or (on a terminal) a prompt that does not echo and asks twice; never from',
    'the command line. Afterwards set the new passphrase in the configuration.',
    '',
    'An empty new passphrase with --yes turns encryption off: every value is decrypted back to',
    'plaintext and the data keys are dropped; a later start with any key simply encrypts anew.',
    '',
    '--full also re-encrypts every value onto fresh data keys (like running secrets-migration',
    're-encrypt afterwards). Safe to interrupt and run again.',
    '',
    '--prune removes the old key-file versions, after unwrapping every data key with the current',
    'key alone (the key_ref column is not trusted): refused while any data key needs an old version.',
    'Alone it only prunes; with --full it rotates, re-encrypts and then prunes, under one lock.',
  ].join('\n'),
  options: {
    'new-key-file': {
      type: 'string',
      placeholder: 'F',
      description: 'secret_key: read the new passphrase from this file',
    },
    yes: { type: 'boolean', description: 'confirm turning encryption off (empty new passphrase)' },
    full: {
      type: 'boolean',
      description:
        'also re-encrypt every value onto fresh data keys (legacy plaintext encrypted: the SQLite file rebuilt)',
    },
    prune: { type: 'boolean', description: 'remove old key-file versions nothing needs (with --full: after it)' },
    json: jsonOption,
  },
  checkArgs(args, name) {
    if (args.length === 0) return;
    // Metabase's habit is `rotate-encryption-key NEW`; say why not, and what works instead.
    throw secretInArgv(
      "'rotate-encryption-key' takes no new key as an argument; nothing was changed.",
      `Give a new passphrase on stdin (printf %s "$NEW_PASSPHRASE" | ${name} rotate-encryption-key), ` +
        `from a file (${name} rotate-encryption-key --new-key-file FILE), or type it when asked on a terminal. ` +
        'With the key file provider there is nothing to give: atrest makes the new key version itself. ' +
        `To turn encryption off (Metabase's rotate-encryption-key ""), give an empty passphrase with --yes.`,
    );
  },
  async run(ctx) {
    const a = await ctx.open();
    // --prune alone prunes; with --full it follows the rotation, under the same lock.
    if (ctx.flag('prune') && !ctx.flag('full')) return prune(ctx, a);
    const current = a.config.encryptionProvider;
    if (a.migrations.keyRotation !== 'passphrase' && ctx.value('new-key-file') !== undefined) {
      // A key file's own key put there would be silently replaced by a new random version.
      const own =
        a.migrations.keyRotation === 'generated-key'
          ? 'it makes its new key version itself'
          : 'its key is rotated in its own service';
      throw errors.usage(
        `--new-key-file gives a new passphrase, but the current provider ${current} takes none: ${own}; ` +
          'nothing was changed.',
        `Run '${ctx.name} rotate-encryption-key' without it. To bring your own key, put it at the key path ` +
          'before first start (README, "Bring your own key").',
      );
    }
    let newSecret: string | undefined;
    if (a.migrations.keyRotation === 'passphrase') {
      newSecret = await readNewPassphrase(ctx);
      if (newSecret === '') return disableEncryption(ctx, a);
    }
    const progress = rowProgress(ctx.io);
    const { reports, pruned, vacuum, ...report } = await a.migrations
      .rotateEncryptionKey({
        ...(newSecret !== undefined ? { newSecret } : {}),
        full: ctx.flag('full'),
        prune: ctx.flag('prune'),
        onProgress: progress.onProgress,
      })
      .finally(progress.finish);
    const after = (await a.status()).providers.find((p) => p.current);
    const facts = Object.entries(after?.details ?? {})
      .map(([k, v]) => `${k}=${v}`)
      .join(' ');
    const note =
      newSecret !== undefined
        ? `\nNow set the new passphrase in the configuration (${a.config.envPrefix}ENCRYPTION_SECRET_KEY or ` +
          '[security] secret_key): the old one no longer opens the data.'
        : '';
    const failed = report.failed.length > 0 || reports.some((r) => r.failed > 0);
    const prunedLine = !ctx.flag('prune')
      ? ''
      : pruned === undefined
        ? '\nold key versions kept: the rotation did not finish (see above); run it again'
        : pruned.length > 0
          ? `\nremoved old key version(s) ${pruned.join(', ')}`
          : '\nno old key versions to remove';
    await printData(
      ctx,
      {
        dataKeys: report,
        reports,
        provider: after?.details ?? {},
        ...(pruned !== undefined ? { removed: pruned } : {}),
        ...(vacuum !== undefined ? { vacuum } : {}),
      },
      `rotated ${current}: ${facts}\n${formatDataKeys(report)}` +
        `${reports.length > 0 ? `\n${formatReports(reports, false)}` : ''}${prunedLine}${note}`,
    );
    if (vacuum !== undefined) await tell(ctx, formatVacuum(vacuum));
    return failed ? 1 : 0;
  },
};
