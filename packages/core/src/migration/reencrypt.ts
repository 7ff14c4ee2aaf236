// The re-encrypt pass behind `secrets-migration re-encrypt` (and, decrypting, behind turning
// encryption off). Each source is read a batch at a time in key order; a value is replaced by a
// compare-and-swap in the batch's one transaction, only with a ciphertext under a data key that is
// already committed. Rows already on an active data key of the current provider are skipped, so a
// run that was killed is finished by running it again; a row the application changed meanwhile is
// read again and redone, a few times.
import type { ActiveKey } from '../envelope/envelope.js';
import { readDataKeyId } from '../envelope/format.js';
import { errors, isAtrestError } from '../errors.js';
import type { MigrationLock, RowId } from '../store/types.js';
import { codeOf, messageOf } from './failures.js';
import { selectSources } from './sources.js';
import type { Item, Replacement, Source } from './sources.js';
import type { MigrationContext, ReEncryptOptions, TargetReport } from './types.js';

const MAX_FAILURE_DETAILS = 100;
const CAS_RETRIES = 3;

/** 'encrypt': onto the current provider (plaintext encrypted too); 'decrypt': back to plaintext. */
type PassMode = 'encrypt' | 'decrypt';

/** A failure of one value of a row (a JSON field names itself in the report). */
class ItemError extends Error {
  constructor(
    readonly item: Item,
    override readonly cause: unknown,
  ) {
    super(messageOf(cause));
  }
}

type Tally = Pick<TargetReport, 'reEncrypted' | 'alreadyCurrent' | 'plaintextEncrypted' | 'decrypted'>;

/** Run the pass over the sources `options.targets` names (all by default), holding `lock`. */
export async function reEncryptPass(
  ctx: MigrationContext,
  mode: PassMode,
  options: ReEncryptOptions,
  lock: MigrationLock,
): Promise<TargetReport[]> {
  const batchSize = Math.max(1, Math.min(options.batchSize ?? 1000, 10_000));
  const currentProvider = ctx.registry.currentId;
  // Values under these data keys are where they should be; the pass adds the keys it encrypts under.
  const current = new Set(
    (await ctx.store.listDataKeys()).filter((k) => k.active && k.provider === currentProvider).map((k) => k.id),
  );
  const reports: TargetReport[] = [];
  for (const source of await selectSources(ctx.store, ctx.targets, options.targets)) {
    reports.push(
      await source.run((s) =>
        passOver(ctx, s, { mode, dryRun: options.dryRun === true, batchSize, current }, lock, options),
      ),
    );
  }
  return reports;
}

type PassSettings = { mode: PassMode; dryRun: boolean; batchSize: number; current: Set<string> };

async function passOver<R extends { id: RowId }, W extends { row: R }>(
  ctx: MigrationContext,
  source: Source<R, W>,
  settings: PassSettings,
  lock: MigrationLock,
  options: ReEncryptOptions,
): Promise<TargetReport> {
  const { mode, dryRun, current } = settings;
  const { envelope } = ctx;
  const report: TargetReport = {
    target: source.name,
    scanned: 0,
    reEncrypted: 0,
    alreadyCurrent: 0,
    plaintextEncrypted: 0,
    decrypted: 0,
    failed: 0,
    failures: [],
  };
  const total = await source.count();
  const started = Date.now();
  let active: ActiveKey | undefined;
  const seal = async (plain: Buffer, context: Buffer): Promise<Buffer> => {
    if (active === undefined || !envelope.usable(active)) {
      active = await envelope.activeKeyFor(source.scope);
      current.add(active.id);
    }
    return envelope.seal(active, plain, context);
  };
  const fail = (row: R, error: unknown): void => {
    const item = error instanceof ItemError ? error.item : undefined;
    const err = error instanceof ItemError ? error.cause : error;
    report.failed++;
    if (report.failures.length < MAX_FAILURE_DETAILS) {
      report.failures.push({
        row: source.rowName(row),
        ...(item?.field !== undefined ? { field: item.field } : {}),
        code: codeOf(err),
        message: messageOf(err),
      });
    }
  };
  /** The swap for `row`, or undefined when nothing changes; counts into `tally`. */
  const transform = async (row: R, tally: Tally): Promise<W | undefined> => {
    const replaced = new Map<string | undefined, Replacement>();
    let items: Item[];
    try {
      items = source.items(row);
    } catch (err) {
      // Turning encryption off: a :json cell that is not an object holds no ciphertext to decrypt.
      if (mode === 'decrypt' && isAtrestError(err, 'ATREST_FORMAT_INVALID') && err.details['notAnObject'] === true) {
        return undefined;
      }
      throw err;
    }
    for (const item of items) {
      if (item.cipher === undefined) {
        if (mode === 'decrypt') continue;
        tally.plaintextEncrypted++;
        if (!dryRun) replaced.set(item.field, { cipher: await seal(item.plain ?? Buffer.alloc(0), item.context) });
        continue;
      }
      const id = readDataKeyId(item.cipher);
      if (mode === 'encrypt' && current.has(id)) {
        tally.alreadyCurrent++;
        continue;
      }
      let plain: Buffer;
      try {
        plain = envelope.decryptWith(envelope.cachedKey(id) ?? (await envelope.dataKey(id)), item.cipher, item.context);
      } catch (err) {
        throw new ItemError(item, err);
      }
      // A dry run decrypts (so keys that do not unwrap are reported) but builds nothing to write.
      if (mode === 'decrypt') {
        tally.decrypted++;
        if (!dryRun) replaced.set(item.field, { plain });
      } else {
        tally.reEncrypted++;
        if (!dryRun) replaced.set(item.field, { cipher: await seal(plain, item.context) });
      }
    }
    return replaced.size === 0 ? undefined : source.rebuild(row, replaced);
  };
  /** Transform every row; the swaps to write. Failures are reported, counts go to `tally`. */
  const transformAll = async (rows: readonly R[], tally: Tally): Promise<W[]> => {
    const swaps: W[] = [];
    for (const row of rows) {
      try {
        const swap = await transform(row, tally);
        if (swap !== undefined) swaps.push(swap);
      } catch (err) {
        fail(row, err);
      }
    }
    return swaps;
  };

  for (let after: RowId | undefined; ; ) {
    const rows = await source.read(after, settings.batchSize);
    const last = rows.at(-1);
    if (last === undefined) break;
    after = last.id;
    report.scanned += rows.length;
    let lost = await source.swap(await transformAll(rows, report));
    // Rows the application changed meanwhile: read them again and redo them (counted once, above).
    for (let attempt = 0; attempt < CAS_RETRIES && lost.length > 0; attempt++) {
      const again = await source.reread(lost.map((w) => w.row.id));
      const uncounted: Tally = { reEncrypted: 0, alreadyCurrent: 0, plaintextEncrypted: 0, decrypted: 0 };
      lost = await source.swap(await transformAll(again, uncounted));
    }
    for (const w of lost) {
      fail(
        w.row,
        errors.conflict(
          `Row ${source.rowName(w.row)} of ${source.name} kept changing while it was being rewritten.`,
          'Run the command again.',
        ),
      );
    }
    await lock.heartbeat();
    const elapsedMs = Date.now() - started;
    options.onProgress?.({ target: source.name, scanned: report.scanned, total, failed: report.failed, elapsedMs });
  }
  return report;
}
