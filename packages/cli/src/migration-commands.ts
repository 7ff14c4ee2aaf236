// The operator's side: secrets-migration and rotate-encryption-key, with progress and reports.
import { readFileSync } from 'node:fs';
import { AtrestError } from '@atrest/core';
import type { DataKeysReport, Progress, TargetReport } from '@atrest/core';
import type { Command, CommandContext } from './cli.js';
import { readAll, write } from './io.js';

const json = { type: 'boolean', description: 'print the report as JSON' } as const;

/** Progress on a TTY (one rewritten line with rows/s and ETA), plain lines every few seconds otherwise. */
function progressReporter(ctx: CommandContext): { onProgress: (p: Progress) => void; done: () => void } {
  const tty = ctx.io.stderr.isTTY === true;
  let lastPlain = 0;
  let shown = false;
  return {
    onProgress(p) {
      const rate = p.elapsedMs > 0 ? (p.scanned * 1000) / p.elapsedMs : 0;
      const eta = rate > 0 ? Math.max(0, Math.round((p.total - p.scanned) / rate)) : 0;
      const line = `${p.target}: ${p.scanned.toLocaleString('en')}/${p.total.toLocaleString('en')} rows, ${Math.round(rate).toLocaleString('en')} rows/s, ETA ${eta}s`;
      if (tty) {
        ctx.io.stderr.write(`\r\u001b[K${line}`);
        shown = true;
      } else if (Date.now() - lastPlain >= 2000 || p.scanned === p.total) {
        lastPlain = Date.now();
        ctx.io.stderr.write(`${line}\n`);
      }
    },
    done() {
      if (shown) ctx.io.stderr.write('\n');
    },
  };
}

function formatReports(reports: readonly TargetReport[], dryRun: boolean): string {
  const lines = [dryRun ? 'dry run: nothing was written' : ''];
  for (const r of reports) {
    lines.push(
      `${r.target}: scanned ${r.scanned}, re-encrypted ${r.reEncrypted}, already current ${r.alreadyCurrent}, plaintext encrypted ${r.plaintextEncrypted}` +
        (r.decrypted > 0 ? `, decrypted ${r.decrypted}` : '') +
        `, failed ${r.failed}`,
    );
    for (const f of r.failures)
      lines.push(`  failed row ${f.row}${f.field !== undefined ? ` field ${f.field}` : ''}: ${f.code} ${f.message}`);
    if (r.failed > r.failures.length) lines.push(`  … and ${r.failed - r.failures.length} more`);
  }
  const changed = reports.reduce((n, r) => n + r.reEncrypted + r.plaintextEncrypted + r.decrypted, 0);
  if (changed === 0 && reports.every((r) => r.failed === 0))
    lines.push('nothing to do: every value is already under an active data key of the current provider');
  return lines.filter((l) => l !== '').join('\n');
}

function formatDataKeys(r: DataKeysReport): string {
  return [
    `data keys: ${r.total}, re-wrapped ${r.rewrapped}, unchanged ${r.unchanged}${r.retired > 0 ? `, retired ${r.retired}` : ''}` +
      `${r.droppedLeft > 0 ? `, ${r.droppedLeft} dropped with encryption off left as they were (they do not unwrap with today's keys)` : ''}, failed ${r.failed.length}`,
    ...r.failed.map((f) => `  failed data key ${f.id} (${f.provider}): ${f.code} ${f.message}`),
  ].join('\n');
}

async function print(ctx: CommandContext, data: unknown, text: string): Promise<void> {
  await write(ctx.io.stdout, `${ctx.values['json'] === true ? JSON.stringify(data, null, 2) : text}\n`);
}

function batchSize(ctx: CommandContext): number {
  const raw = ctx.values['batch-size'];
  if (raw === undefined) return 1000;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1 || n > 10_000)
    throw new AtrestError('ATREST_USAGE', `--batch-size must be a whole number from 1 to 10000 (got ${String(raw)}).`);
  return n;
}

async function readNewPassphrase(ctx: CommandContext): Promise<string> {
  const file = ctx.values['new-key-file'];
  let raw: Buffer;
  if (typeof file === 'string') {
    try {
      raw = readFileSync(file);
    } catch (cause) {
      throw new AtrestError('ATREST_USAGE', `Cannot read --new-key-file ${file}: ${(cause as Error).message}`, {
        cause,
      });
    }
  } else {
    if (ctx.io.stdin.isTTY === true)
      await write(ctx.io.stderr, 'New passphrase (then Enter and Ctrl-D; empty turns encryption off): ');
    raw = await readAll(ctx.io.stdin);
  }
  return raw.toString('utf8').replace(/\r?\n$/, '');
}

export const migrationCommands: Command[] = [
  {
    path: ['secrets-migration', 're-encrypt'],
    summary: 'every value onto an active data key of the current provider; plaintext encrypted',
    usage: 'secrets-migration re-encrypt [--dry-run] [--batch-size N] [--target T]... [--json]',
    help: "Re-encrypts every secret in atrest's own table (target atrest_secrets) and in every registered target ([secrets_migration] targets) that is not already under an active data key of the current provider, and encrypts legacy plaintext. Works in batches of short transactions; a row the application changed meanwhile is never overwritten (it is retried, or reported). Safe to interrupt and to run again: a second run changes nothing. Exit 1 if any row failed.",
    options: {
      'dry-run': { type: 'boolean', description: 'count what would change; write nothing' },
      'batch-size': { type: 'string', description: 'rows per transaction (default 1000)' },
      target: {
        type: 'string',
        multiple: true,
        description: 'only this target (repeatable): atrest_secrets or table.column',
      },
      json,
    },
    async run(ctx) {
      const a = await ctx.open();
      const progress = progressReporter(ctx);
      const targets = (ctx.values['target'] as string[] | undefined) ?? [];
      const dryRun = ctx.values['dry-run'] === true;
      const reports = await a.migrations
        .reEncrypt({ dryRun, batchSize: batchSize(ctx), targets, onProgress: progress.onProgress })
        .finally(progress.done);
      await print(ctx, reports, formatReports(reports, dryRun));
      return reports.some((r) => r.failed > 0) ? 1 : 0;
    },
  },
  {
    path: ['secrets-migration', 're-encrypt-data-keys'],
    summary: 're-wrap every data key with the current provider',
    usage: 'secrets-migration re-encrypt-data-keys [--json]',
    help: "Re-wraps every data key with the current provider's current key, in one transaction: after it, providers that are no longer current can be removed from available_encryption_providers. Values are untouched. A data key that cannot be unwrapped is reported and makes the exit code 1.",
    options: { json },
    async run(ctx) {
      const report = await (await ctx.open()).migrations.reEncryptDataKeys();
      await print(ctx, report, formatDataKeys(report));
      return report.failed.length > 0 ? 1 : 0;
    },
  },
  {
    path: ['secrets-migration', 'rotate-data-keys'],
    summary: 'retire the active data keys; new ones are made on the next encryption',
    usage: 'secrets-migration rotate-data-keys [--json]',
    help: 'Marks every active data key inactive. Existing values stay readable; new encryptions get fresh data keys. Run re-encrypt afterwards to move existing values onto them.',
    options: { json },
    async run(ctx) {
      const retired = await (await ctx.open()).migrations.rotateDataKeys();
      await print(ctx, { retired }, `retired ${retired} active data key${retired === 1 ? '' : 's'}`);
      return 0;
    },
  },
  {
    path: ['rotate-encryption-key'],
    summary: 'new key for the local provider (key-file version or passphrase); data keys re-wrapped',
    usage: 'rotate-encryption-key [--new-key-file F] [--yes] [--full] [--prune] [--json]',
    help: [
      'file provider: adds a new key version to the key file (atomically) and makes it primary; every data key is re-wrapped to it and the active ones retired, in one transaction. The old version stays in the file until --prune removes it (refused while anything still needs it).',
      'secret_key provider: the current passphrase comes from the configuration, the new one from --new-key-file or stdin (never argv). Afterwards set the new passphrase in the configuration.',
      'An empty new passphrase with --yes turns encryption off: every value is decrypted back to plaintext and the data keys are dropped; a later start with any key simply encrypts anew.',
      '--full also re-encrypts every value onto fresh data keys (like running secrets-migration re-encrypt afterwards). Safe to interrupt and run again.',
    ].join('\n'),
    options: {
      'new-key-file': { type: 'string', description: 'secret_key: read the new passphrase from this file' },
      yes: { type: 'boolean', description: 'confirm turning encryption off (empty new passphrase)' },
      full: { type: 'boolean', description: 'also re-encrypt every value onto fresh data keys' },
      prune: { type: 'boolean', description: 'only remove old key-file versions nothing needs' },
      json,
    },
    async run(ctx) {
      const a = await ctx.open();
      const migrator = a.migrations;
      const current = a.config.encryptionProvider;
      if (ctx.values['prune'] === true) {
        const removed = await migrator.pruneKeys();
        await print(
          ctx,
          { removed },
          removed.length > 0 ? `removed old key version(s) ${removed.join(', ')}` : 'no old key versions to remove',
        );
        return 0;
      }
      let newSecret: string | undefined;
      if (current.startsWith('secret_key.')) {
        newSecret = await readNewPassphrase(ctx);
        if (newSecret === '') {
          if (ctx.values['yes'] !== true) {
            throw new AtrestError(
              'ATREST_USAGE',
              'An empty new passphrase turns encryption off: every value is decrypted back to plaintext. Add --yes to confirm.',
            );
          }
          const progress = progressReporter(ctx);
          const { reports, dataKeysDropped } = await migrator
            .disableEncryption({ onProgress: progress.onProgress })
            .finally(progress.done);
          await print(
            ctx,
            { reports, dataKeysDropped },
            `${formatReports(reports, false)}\nencryption is off: values are stored in plaintext, ${dataKeysDropped} data key(s) dropped. Remove the passphrase from the configuration; a later start with a key encrypts anew (secrets-migration re-encrypt picks up the plaintext).`,
          );
          return reports.some((r) => r.failed > 0) ? 1 : 0;
        }
      }
      const progress = progressReporter(ctx);
      const { reports, ...report } = await migrator
        .rotateEncryptionKey({
          ...(newSecret !== undefined ? { newSecret } : {}),
          full: ctx.values['full'] === true,
          onProgress: progress.onProgress,
        })
        .finally(progress.done);
      const after = (await a.status()).providers.find((p) => p.current);
      const facts = Object.entries(after?.details ?? {})
        .map(([k, v]) => `${k}=${v}`)
        .join(' ');
      const note =
        newSecret !== undefined
          ? `\nNow set the new passphrase in the configuration (${a.config.envPrefix}ENCRYPTION_SECRET_KEY or [security] secret_key): the old one no longer opens the data.`
          : '';
      await print(
        ctx,
        { dataKeys: report, reports, provider: after?.details ?? {} },
        `rotated ${current}: ${facts}\n${formatDataKeys(report)}${reports.length > 0 ? `\n${formatReports(reports, false)}` : ''}${note}`,
      );
      return report.failed.length > 0 || reports.some((r) => r.failed > 0) ? 1 : 0;
    },
  },
];
