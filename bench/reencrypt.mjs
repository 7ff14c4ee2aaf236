#!/usr/bin/env node
// bench:reencrypt — builds a database of N 200-byte secrets on the file provider, rotates the key
// (new key-file version, data keys re-wrapped and retired), then times `re-encrypt` in a fresh
// process and compares it with the same batched read-and-update loop using bare AES-256-GCM under
// fixed keys on one core (the limit, run before and after atrest: the two runs over their time) and
// with no cryptography at all (what the store alone costs).
// atrest pipelines the batches and runs the cryptography on worker threads (one per core, or
// --workers). On SQLite (default) or PostgreSQL (--store postgres: a server of its own, or --db
// URL). Prints, last, one JSON line, with the machine's load average before and after.
// Usage: pnpm run bench:reencrypt -- [--rows N] [--workers N] [--store sqlite|postgres] [--db URL] [--json]
import { execFileSync } from 'node:child_process';
import { createCipheriv, createDecipheriv, randomBytes, randomFillSync } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { openAtrest } from '@atrest/core';
import { postgresStore, sqliteStore } from './bench-stores.mjs';

// pnpm 10 passes the '--' of `pnpm run bench:… -- --json` through: drop it.
const { values: opts } = parseArgs({
  args: process.argv.slice(2).filter((a) => a !== '--'),
  options: {
    rows: { type: 'string', default: '200000' },
    json: { type: 'boolean' },
    'batch-size': { type: 'string', default: '1000' },
    workers: { type: 'string' },
    store: { type: 'string', default: 'sqlite' },
    db: { type: 'string' },
  },
  strict: true,
});
if (opts.store !== 'sqlite' && opts.store !== 'postgres') throw new Error('--store is sqlite or postgres');
if (opts.db !== undefined && opts.store !== 'postgres') throw new Error('--db URL goes with --store postgres');
const rows = Number(opts.rows);
const batch = Number(opts['batch-size']);
const workers = opts.workers === undefined ? undefined : Number(opts.workers);
const loadBefore = loadavg()[0];
const log = (...a) => {
  if (!opts.json) console.error(...a);
};
const dir = mkdtempSync(join(tmpdir(), 'atrest-bench-reencrypt-'));
const store = opts.store === 'postgres' ? await postgresStore(opts.db) : sqliteStore(dir);
const atrestOptions = {
  app: 'bench',
  env: {},
  database: store.database,
  options: { 'security.encryption.file.default.key_path': join(dir, 'bench.key') },
};
const plaintexts = (i) => Buffer.from(`secret-${String(i).padStart(12, '0')}-`.padEnd(200, 'x'));

try {
  // 1. Build: N secrets, then rotate the key. The values are what secrets.set stores (atrest.encrypt with
  // the secret's context, docs/FORMAT.md), written straight into the table in a few statements, as this
  // benchmark always built them (200,000 one-row commits leave a table that scans slower).
  const t0 = Date.now();
  const a = await openAtrest(atrestOptions);
  const names = [];
  const values = [];
  for (let i = 0; i < rows; i++) {
    names.push(`bench/${i}`);
    values.push(await a.encrypt(plaintexts(i), { context: `atrest_secrets:bench/${i}`, scope: 'secrets' }));
  }
  await store.fillSecrets(names, values);
  names.length = 0;
  values.length = 0;
  await a.migrations.rotateEncryptionKey();
  await a.close();
  log(`built ${rows} secrets on ${store.name} and rotated the key in ${Date.now() - t0} ms`);

  // 2. The same loop over as many rows with bare AES-256-GCM (the limit), run before and after atrest's
  // re-encrypt: the two bracket it, so a load that rises or falls while the benchmark runs (other
  // processes on the same cores) weighs on both sides alike. Then with no crypto (the store alone).
  const k1 = randomBytes(32);
  const k2 = randomBytes(32);
  // As lean as atrest's own path: nonces from a refilled random pool, one output buffer per value.
  const pool = Buffer.alloc(12 * 4096);
  let poolAt = pool.length;
  const seal = (key, pt) => {
    if (poolAt === pool.length) {
      randomFillSync(pool);
      poolAt = 0;
    }
    const out = Buffer.allocUnsafe(12 + pt.length + 16);
    pool.copy(out, 0, poolAt, poolAt + 12);
    poolAt += 12;
    const c = createCipheriv('aes-256-gcm', key, out.subarray(0, 12));
    const n = c.update(pt).copy(out, 12);
    c.final();
    c.getAuthTag().copy(out, 12 + n);
    return out;
  };
  const open = (key, ct) => {
    const d = createDecipheriv('aes-256-gcm', key, ct.subarray(0, 12));
    d.setAuthTag(ct.subarray(ct.length - 16));
    const pt = d.update(ct.subarray(12, ct.length - 16));
    d.final();
    return pt;
  };
  const seed = () => Array.from({ length: rows }, (_, i) => seal(k1, plaintexts(i)));
  const limitRun = async (name) => {
    const rate = await store.bareLoop(name, seed(), (v) => seal(k2, open(k1, v)), batch);
    log(`limit (bare AES-256-GCM, same loop, one core), ${name}: ${Math.round(rate)} rows/s`);
    return rate;
  };
  const limitBefore = await limitRun('bench_limit_before');

  // 3. atrest re-encrypt, in a fresh process (its own peak RSS and provider calls).
  const child = fileURLToPath(new URL('./reencrypt-child.mjs', import.meta.url));
  const result = JSON.parse(
    execFileSync(process.execPath, [child, JSON.stringify({ ...atrestOptions, batchSize: batch, workers })], {
      encoding: 'utf8',
    })
      .trim()
      .split('\n')
      .pop(),
  );
  if (result.reEncrypted !== rows) throw new Error(`re-encrypt changed ${result.reEncrypted} of ${rows} rows`);
  log(
    `atrest re-encrypt: ${Math.round(result.rowsPerS)} rows/s, peak RSS ${result.earlyRssMb} MB after ` +
      `${result.earlyRows} rows, ${result.peakRssMb} MB at the end, provider calls ${result.providerCalls}`,
  );

  const limitAfter = await limitRun('bench_limit_after');
  // Rows over the time of both runs.
  const limit = 2 / (1 / limitBefore + 1 / limitAfter);
  const baseline = await store.bareLoop('bench_baseline', seed(), (v) => Buffer.from(v), batch);
  log(`baseline (same loop, no crypto): ${Math.round(baseline)} rows/s`);

  const out = {
    store: store.name,
    rows,
    cores: availableParallelism(),
    workers: workers ?? availableParallelism(),
    atrest_rows_per_s: Math.round(result.rowsPerS),
    limit_rows_per_s: Math.round(limit),
    limit_before_rows_per_s: Math.round(limitBefore),
    limit_after_rows_per_s: Math.round(limitAfter),
    baseline_rows_per_s: Math.round(baseline),
    atrest_vs_limit: Number((result.rowsPerS / limit).toFixed(3)),
    peak_rss_mb_early: result.earlyRssMb,
    early_rows: result.earlyRows,
    peak_rss_mb: result.peakRssMb,
    provider_calls: result.providerCalls,
    load_before: Number(loadBefore.toFixed(2)),
    load_after: Number(loadavg()[0].toFixed(2)),
  };
  console.log(JSON.stringify(out));
} finally {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
}
