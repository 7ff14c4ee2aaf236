// The re-encrypt pass behind `secrets-migration re-encrypt` (and, decrypting, behind turning
// encryption off). Each source is read a batch at a time in key order, as a pipeline: the next
// batch is read while earlier ones are encrypted on worker threads (crypto-pool.ts) and the one
// before is written. A value is replaced by a compare-and-swap in its batch's one transaction, only
// with a ciphertext under a data key that is already committed. Rows already on an active data key
// of the current provider are skipped, so a run that was killed is finished by running it again; a
// row the application changed meanwhile is read again and redone, a few times. Data keys are
// unwrapped here, once each (the envelope's cache), and handed to the workers inside each job.
import { availableParallelism } from 'node:os';
import { readDataKeyId } from '../envelope/format.js';
import { errors, isAtrestError } from '../errors.js';
import { isReopened, plaintextSealed, sealAfterPass } from '../seals.js';
import type { MigrationLock, RowId } from '../store/types.js';
import { JobBuilder, JobOp, readResults } from './crypto-job.js';
import { inlineRunner, startWorkerPool } from './crypto-pool.js';
import type { CryptoRunner } from './crypto-pool.js';
import { codeOf, messageOf } from './failures.js';
import { selectSources } from './sources.js';
import type { Item, Replacement, Source } from './sources.js';
import type { MigrationContext, ReEncryptOptions, TargetReport } from './types.js';

const MAX_FAILURE_DETAILS = 100;
const CAS_RETRIES = 3;
/** More workers than this do not go faster: the main thread's reads and writes are the limit. */
const MAX_WORKERS = 16;

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

/** How many worker threads `options.workers` asks for (default: one per core). */
function workerCount(options: ReEncryptOptions): number {
  const n = options.workers ?? availableParallelism();
  if (!Number.isInteger(n) || n < 1 || n > MAX_WORKERS) {
    throw errors.invalidArgument(
      `workers must be a whole number from 1 to ${MAX_WORKERS} (got ${n}).`,
      'The default is one per core; 1 runs the cryptography on the calling thread.',
    );
  }
  return n;
}

/** Run the pass over the sources `options.targets` names (all by default), holding `lock`. */
export async function reEncryptPass(
  ctx: MigrationContext,
  mode: PassMode,
  options: ReEncryptOptions,
  lock: MigrationLock,
): Promise<TargetReport[]> {
  const batchSize = Math.max(1, Math.min(options.batchSize ?? 1000, 10_000));
  const workers = workerCount(options);
  const currentProvider = ctx.registry.currentId;
  // Values under these data keys are where they should be; the pass adds the keys it encrypts under.
  const current = new Set(
    (await ctx.store.listDataKeys()).filter((k) => k.active && k.provider === currentProvider).map((k) => k.id),
  );
  // Worker threads start with the first source of more than one batch: a small table does not wait for them.
  let pool: CryptoRunner | undefined;
  const inline = inlineRunner();
  const runnerFor = (total: number): CryptoRunner => {
    if (workers === 1 || total <= batchSize) return inline;
    pool ??= startWorkerPool(workers);
    return pool;
  };
  const reports: TargetReport[] = [];
  const dryRun = options.dryRun === true;
  // Plaintext at a sealed place is refused (reported), never encrypted: it was written behind atrest.
  const seals = await ctx.store.seals();
  try {
    for (const source of await selectSources(ctx.store, ctx.targets, options.targets)) {
      reports.push(
        await source.run(async (s) => {
          const sealedAt = seals.get(s.place);
          const refuse =
            mode === 'encrypt' && sealedAt !== undefined && !isReopened(ctx.seals, s.place)
              ? (row: string) => plaintextSealed(ctx.seals, s.place, sealedAt, `Row ${row} of ${s.name}`)
              : undefined;
          const settings = { mode, dryRun, batchSize, current, runnerFor, refuse };
          const report = await passOver(ctx, s, settings, lock, options);
          // A pass without a failure left no plaintext: the place is sealed (a dry run changes nothing).
          report.sealed =
            mode === 'encrypt' &&
            (dryRun || report.failed > 0
              ? sealedAt !== undefined
              : await sealAfterPass(ctx.store, s.place, sealedAt !== undefined, () => s.countPlaintext()));
          return report;
        }),
      );
    }
  } finally {
    await pool?.close();
  }
  return reports;
}

type PassSettings = {
  mode: PassMode;
  dryRun: boolean;
  batchSize: number;
  current: Set<string>;
  runnerFor: (total: number) => CryptoRunner;
  /** At a sealed place: the error for a plaintext value in `row`. */
  refuse: ((row: string) => unknown) | undefined;
};

/** A promise that never rejects, so that one awaited later raises no unhandled rejection meanwhile. */
type Settled<T> = Promise<{ ok: true; value: T } | { ok: false; error: unknown }>;
function settle<T>(p: Promise<T>): Settled<T> {
  return p.then(
    (value) => ({ ok: true as const, value }),
    (error: unknown) => ({ ok: false as const, error }),
  );
}
async function unsettle<T>(s: Settled<T>): Promise<T> {
  const r = await s;
  if (!r.ok) throw r.error;
  return r.value;
}

/**
 * One value of a row as planned: legacy plaintext, a ciphertext already current, a ciphertext to
 * decrypt (its data key id), or a value that is not a valid ciphertext. `result`: its place among
 * the job's results (none in a dry run, or when its key or the batch's encryptions failed).
 */
type PlannedItem =
  | { kind: 'plain'; item: Item; result?: number }
  | { kind: 'current'; item: Item }
  | { kind: 'cipher'; item: Item; id: string; result?: number }
  | { kind: 'invalid'; item: Item; error: unknown };
/** A row as planned: its values, or what failed before any value (or `skip`: nothing to do). */
type PlannedRow<R> = { row: R; items: PlannedItem[] } | { row: R; error: unknown } | { row: R; skip: true };
/** A batch whose cryptography is done. */
type Crypted<R> = {
  rows: PlannedRow<R>[];
  results: (Buffer | undefined)[];
  /** Why a data key could not be had, by id. */
  keyErrors: Map<string, unknown>;
  /** Why no encryption could be had for the batch (no new data key). */
  sealError: unknown;
};

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
    sealed: false,
  };
  const total = await source.count();
  const runner = settings.runnerFor(total);
  const started = Date.now();
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

  /** Plan the rows' values, get their keys, and run their cryptography as one job. */
  const crypt = async (rows: readonly R[]): Promise<Crypted<R>> => {
    const planned: PlannedRow<R>[] = [];
    const ids = new Set<string>();
    let seals = 0;
    for (const row of rows) {
      let items: Item[];
      try {
        items = source.items(row);
      } catch (err) {
        // Turning encryption off: a :json cell that is not an object holds no ciphertext to decrypt.
        const notAnObject = isAtrestError(err, 'ATREST_FORMAT_INVALID') && err.details['notAnObject'] === true;
        planned.push(mode === 'decrypt' && notAnObject ? { row, skip: true } : { row, error: err });
        continue;
      }
      const values: PlannedItem[] = [];
      for (const item of items) {
        if (item.cipher === undefined) {
          if (mode === 'decrypt') continue;
          if (settings.refuse !== undefined) {
            values.push({ kind: 'invalid', item, error: settings.refuse(source.rowName(row)) });
            break; // the row fails here
          }
          if (!dryRun) seals++;
          values.push({ kind: 'plain', item });
          continue;
        }
        let id: string;
        try {
          id = readDataKeyId(item.cipher);
        } catch (error) {
          values.push({ kind: 'invalid', item, error });
          break; // the row fails here
        }
        if (mode === 'encrypt' && current.has(id)) {
          values.push({ kind: 'current', item });
          continue;
        }
        ids.add(id);
        if (mode === 'encrypt' && !dryRun) seals++;
        values.push({ kind: 'cipher', item, id });
      }
      planned.push({ row, items: values });
    }
    const job = new JobBuilder();
    const keyErrors = new Map<string, unknown>();
    const openKey = new Map<string, number>();
    for (const id of ids) {
      try {
        // Added (copied) in the step that got it: the cache may zero its own buffer at a later tick.
        openKey.set(id, job.addKey(envelope.cachedKey(id) ?? (await envelope.dataKey(id))));
      } catch (err) {
        keyErrors.set(id, err);
      }
    }
    let sealError: unknown;
    const sealKeys: { index: number; left: number }[] = [];
    if (seals > 0) {
      try {
        for (const share of await envelope.takeEncryptions(source.scope, seals)) {
          current.add(share.id);
          sealKeys.push({ index: job.addKey(share.key, share.header), left: share.count });
          share.key.fill(0);
        }
      } catch (err) {
        sealError = err;
      }
    }
    const sealKey = (): number => {
      const k = sealKeys.find((s) => s.left > 0);
      if (k === undefined) throw errors.internal('a re-encrypt batch ran out of the encryptions it reserved');
      k.left--;
      return k.index;
    };
    for (const p of planned) {
      if (!('items' in p)) continue;
      for (const v of p.items) {
        const { cipher, plain, context } = v.item;
        if (v.kind === 'plain') {
          if (!dryRun && sealError === undefined)
            v.result = job.add(JobOp.seal, plain ?? Buffer.alloc(0), context, { seal: sealKey() });
          continue;
        }
        if (v.kind !== 'cipher') continue;
        const open = openKey.get(v.id);
        if (cipher === undefined || open === undefined) continue; // its key failed
        if (mode === 'decrypt') v.result = job.add(dryRun ? JobOp.verify : JobOp.open, cipher, context, { open });
        else if (dryRun || sealError !== undefined) v.result = job.add(JobOp.verify, cipher, context, { open });
        else v.result = job.add(JobOp.reseal, cipher, context, { open, seal: sealKey() });
      }
    }
    const results = readResults(await runner.run(job.build()));
    return { rows: planned, results, keyErrors, sealError };
  };

  /** Why a value failed on a worker: decrypted again here, for the catalogue error. */
  const whyFailed = async (v: PlannedItem): Promise<unknown> => {
    try {
      if (v.kind !== 'cipher' || v.item.cipher === undefined) throw errors.internal('a plaintext failed to encrypt');
      envelope.decryptWith(envelope.cachedKey(v.id) ?? (await envelope.dataKey(v.id)), v.item.cipher, v.item.context);
      return errors.internal('a value failed to decrypt on a worker thread but decrypts on the main thread');
    } catch (err) {
      return err;
    }
  };

  /** The swaps of a crypted batch, in row order; failures are reported, counts go to `tally`. */
  const swapsOf = async (batch: Crypted<R>, tally: Tally): Promise<W[]> => {
    const swaps: W[] = [];
    for (const p of batch.rows) {
      if ('skip' in p) continue;
      if ('error' in p) {
        fail(p.row, p.error);
        continue;
      }
      try {
        const replaced = new Map<string | undefined, Replacement>();
        for (const v of p.items) {
          if (v.kind === 'invalid') throw v.error;
          if (v.kind === 'current') {
            tally.alreadyCurrent++;
            continue;
          }
          if (v.kind === 'plain') {
            tally.plaintextEncrypted++;
            if (dryRun) continue;
            if (batch.sealError !== undefined) throw batch.sealError;
            replaced.set(v.item.field, { cipher: await resultOf(batch, v) });
            continue;
          }
          if (batch.keyErrors.has(v.id)) throw new ItemError(v.item, batch.keyErrors.get(v.id));
          const out = await resultOf(batch, v);
          // A dry run decrypts (so keys that do not unwrap are reported) but builds nothing to write.
          if (mode === 'decrypt') {
            tally.decrypted++;
            if (!dryRun) replaced.set(v.item.field, { plain: out });
          } else {
            tally.reEncrypted++;
            if (dryRun) continue;
            if (batch.sealError !== undefined) throw batch.sealError;
            replaced.set(v.item.field, { cipher: out });
          }
        }
        if (replaced.size > 0) swaps.push(source.rebuild(p.row, replaced));
      } catch (err) {
        fail(p.row, err);
      }
    }
    return swaps;
  };
  const resultOf = async (batch: Crypted<R>, v: PlannedItem & { kind: 'plain' | 'cipher' }): Promise<Buffer> => {
    const out = v.result === undefined ? undefined : batch.results[v.result];
    if (out !== undefined) return out;
    throw new ItemError(v.item, await whyFailed(v));
  };

  /** Write a crypted batch: swap, redo the rows that changed meanwhile, heartbeat, progress. */
  const write = async (batch: Crypted<R>): Promise<void> => {
    report.scanned += batch.rows.length;
    let lost = await source.swap(await swapsOf(batch, report));
    // Rows the application changed meanwhile: read them again and redo them (counted once, above).
    for (let attempt = 0; attempt < CAS_RETRIES && lost.length > 0; attempt++) {
      const again = await crypt(await source.reread(lost.map((w) => w.row.id)));
      const uncounted: Tally = { reEncrypted: 0, alreadyCurrent: 0, plaintextEncrypted: 0, decrypted: 0 };
      lost = await source.swap(await swapsOf(again, uncounted));
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
  };

  // The pipeline: one read ahead, up to `parallelism` batches in the runner, the oldest written.
  const inflight: Settled<Crypted<R>>[] = [];
  let reading = settle(source.read(undefined, settings.batchSize));
  for (;;) {
    const rows = await unsettle(reading);
    const last = rows.at(-1);
    if (last === undefined) break;
    reading = settle(source.read(last.id, settings.batchSize));
    inflight.push(settle(crypt(rows)));
    const oldest = inflight.length > runner.parallelism ? inflight.shift() : undefined;
    if (oldest !== undefined) await write(await unsettle(oldest));
  }
  for (let next = inflight.shift(); next !== undefined; next = inflight.shift()) await write(await unsettle(next));
  return report;
}
