// `secrets-migration re-encrypt|re-encrypt-data-keys|rotate-data-keys|cleanup|unlock`: values and
// data keys moved onto the current provider, with progress and a report; data keys nothing uses
// deleted; a damaged or abandoned migration lock row cleared.
import { errors } from '@atrest/core';
import type { DataKeysCleanup, VacuumOutcome } from '@atrest/core';
import type { Command, CommandContext } from '../command.js';
import { jsonOption, printData, tell } from '../output.js';
import { rowProgress } from '../progress.js';
import { formatCleanup, formatDataKeys, formatReports, formatVacuum } from './reports.js';

function batchSize(ctx: CommandContext): number {
  const raw = ctx.value('batch-size');
  if (raw === undefined) return 1000;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1 || n > 10_000)
    throw errors.usage(`--batch-size must be a whole number from 1 to 10000 (got ${raw}).`, 'The default is 1000.');
  return n;
}

/** --workers; undefined: the engine's default, one per core. */
function workers(ctx: CommandContext): number | undefined {
  const raw = ctx.value('workers');
  if (raw === undefined) return undefined;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1 || n > 16)
    throw errors.usage(`--workers must be a whole number from 1 to 16 (got ${raw}).`, 'The default is one per core.');
  return n;
}

const reEncryptCommand: Command = {
  path: ['secrets-migration', 're-encrypt'],
  opens: 'database',
  summary: 'every value onto an active data key of the current provider; plaintext encrypted',
  usage:
    'secrets-migration re-encrypt [--dry-run] [--batch-size N] [--workers N] [--target T]... [--no-vacuum] [--json]',
  help: [
    "Re-encrypts every secret in atrest's own table (target atrest_secrets) and in every registered",
    'target ([secrets_migration] targets) that is not already under an active data key of the current',
    'provider, and encrypts legacy plaintext. Works in batches of short transactions; a row the',
    'application changed meanwhile is never overwritten (it is retried, or reported). Safe to',
    'interrupt and to run again: a second run changes nothing. Progress is shown on a terminal.',
    'The cryptography runs on worker threads, one per core (--workers), while the next batch is read.',
    'A complete run (every target, no failure) ends with what secrets-migration cleanup does.',
    'A run that encrypted legacy plaintext on SQLite then rebuilds the file (VACUUM, under the lock; it',
    "needs free space the size of the file) so no old copy is left in the free space the application's",
    'writes left. Not done (and said) when a table has neither an INTEGER PRIMARY KEY nor an index',
    '(VACUUM would renumber its rowids), nor with --no-vacuum. If VACUUM fails, the re-encryption stays',
    'committed: exit 1, with what to do.',
    'Exit 1 if any row failed.',
  ].join('\n'),
  options: {
    'dry-run': { type: 'boolean', description: 'count what would change; write nothing' },
    'no-vacuum': { type: 'boolean', description: 'do not rebuild the SQLite file after encrypting plaintext' },
    'batch-size': { type: 'string', placeholder: 'N', description: 'rows per transaction (default 1000)' },
    workers: {
      type: 'string',
      placeholder: 'N',
      description: 'threads for the cryptography, 1 to 16 (default one per core; 1: none)',
    },
    target: {
      type: 'string',
      placeholder: 'T',
      multiple: true,
      description: 'only this target: atrest_secrets or table.column',
    },
    json: jsonOption,
  },
  async run(ctx) {
    const size = batchSize(ctx);
    const threads = workers(ctx);
    const a = await ctx.open();
    const progress = rowProgress(ctx.io);
    const dryRun = ctx.flag('dry-run');
    let cleanup: DataKeysCleanup | undefined;
    let vacuum: VacuumOutcome | undefined;
    const reports = await a.migrations
      .reEncrypt({
        dryRun,
        batchSize: size,
        ...(threads === undefined ? {} : { workers: threads }),
        targets: ctx.values('target'),
        onProgress: progress.onProgress,
        onCleanup: (c) => {
          cleanup = c;
        },
        vacuum: !ctx.flag('no-vacuum'),
        onVacuum: (v) => {
          vacuum = v;
        },
      })
      .finally(progress.finish);
    if (vacuum !== undefined) await tell(ctx, formatVacuum(vacuum));
    const cleaned = cleanup === undefined ? '' : `\n${formatCleanup(cleanup, ctx.name)}`;
    await printData(ctx, reports, formatReports(reports, dryRun) + cleaned);
    return reports.some((r) => r.failed > 0) ? 1 : 0;
  },
};

const reEncryptDataKeysCommand: Command = {
  path: ['secrets-migration', 're-encrypt-data-keys'],
  opens: 'database',
  summary: 're-wrap every data key with the current provider',
  usage: 'secrets-migration re-encrypt-data-keys [--json]',
  help: [
    "Re-wraps every data key with the current provider's current key, in one transaction: after it,",
    'providers that are no longer current can be removed from available_encryption_providers.',
    'Values are untouched. A data key that cannot be unwrapped is reported and makes the exit code 1.',
  ].join('\n'),
  options: { json: jsonOption },
  async run(ctx) {
    const report = await (await ctx.open()).migrations.reEncryptDataKeys();
    await printData(ctx, report, formatDataKeys(report));
    return report.failed.length > 0 ? 1 : 0;
  },
};

const rotateDataKeysCommand: Command = {
  path: ['secrets-migration', 'rotate-data-keys'],
  opens: 'database',
  summary: 'retire the active data keys; new ones are made on the next encryption',
  usage: 'secrets-migration rotate-data-keys [--json]',
  help: [
    'Marks every active data key inactive. Existing values stay readable; new encryptions get fresh',
    'data keys. Run re-encrypt afterwards to move existing values onto them.',
  ].join('\n'),
  options: { json: jsonOption },
  async run(ctx) {
    const retired = await (await ctx.open()).migrations.rotateDataKeys();
    await printData(ctx, { retired }, `retired ${retired} active data key${retired === 1 ? '' : 's'}`);
    return 0;
  },
};

const cleanupCommand: Command = {
  path: ['secrets-migration', 'cleanup'],
  opens: 'database',
  summary: 'delete the data keys nothing uses (retired longer than data_keys_cache_ttl ago)',
  usage: 'secrets-migration cleanup [--json]',
  help: [
    'Retires the active data keys of providers that are not current, then deletes every data key that',
    'no secret and no value of a registered target names and that was retired longer than',
    'data_keys_cache_ttl ago (a running node may use a data key that long after it was retired).',
    'After it, a provider no data key needs can be removed from the configuration. A target that',
    'cannot be read stops it before anything is deleted. re-encrypt does the same at the end of a',
    'complete run.',
  ].join('\n'),
  options: { json: jsonOption },
  async run(ctx) {
    const report = await (await ctx.open()).migrations.cleanupDataKeys();
    await printData(ctx, report, formatCleanup(report, ctx.name));
    return 0;
  },
};

const unlockCommand: Command = {
  path: ['secrets-migration', 'unlock'],
  opens: 'database',
  summary: 'clear a damaged migration lock row, or one left by a holder that is gone',
  usage: 'secrets-migration unlock [--json]',
  help: [
    'One migration runs at a time: a lock whose holder is written in atrest_meta (key migration_lock;',
    'on PostgreSQL beside an advisory lock). A row that is damaged (not JSON, another shape) stops every',
    'migration with ATREST_LOCK_DAMAGED; this command deletes it, and also the row of a holder that is',
    'gone (a killed process, a stale heartbeat). While a live process holds the lock it is refused',
    'with ATREST_LOCKED, naming the holder, and changes nothing: a live holder is never broken.',
  ].join('\n'),
  options: { json: jsonOption },
  async run(ctx) {
    const result = await (await ctx.open()).migrations.unlock();
    const text =
      result.cleared === 'none'
        ? 'the migration lock is free: nothing to clear'
        : result.cleared === 'damaged'
          ? `cleared the damaged migration lock row (${result.problem})`
          : `cleared the lock row of '${result.holder.command}' (pid ${result.holder.pid} on ${result.holder.host}, ` +
            'no longer running)';
    await printData(ctx, result, text);
    return 0;
  },
};

export const secretsMigrationCommands: readonly Command[] = [
  reEncryptCommand,
  reEncryptDataKeysCommand,
  rotateDataKeysCommand,
  cleanupCommand,
  unlockCommand,
];
