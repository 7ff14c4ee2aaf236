// The re-encrypt worker pool with real worker threads: jobs spread over several workers give what
// the calling thread gives, keys travel inside the job and are gone from it afterwards, and a
// worker that throws, exits or cannot start fails the run with ATREST_MIGRATION_FAILED for its job
// and every queued one (the pass then writes nothing more: migration-workers.test.ts).
import { randomBytes } from 'node:crypto';
import t from 'tap';
import type { Test } from 'tap';
import { rejection } from '@atrest/testkit';
import { HEADER_LENGTH, TAG_LENGTH } from '../src/envelope/format.js';
import { NoncePool, SEAL_PREFIX_LENGTH, openEnvelope, sealEnvelope } from '../src/envelope/gcm.js';
import { JobBuilder, JobOp, readResults } from '../src/migration/crypto-job.js';
import { inlineRunner, startWorkerPool } from '../src/migration/crypto-pool.js';
import type { CryptoRunner } from '../src/migration/crypto-pool.js';

const oldKey = randomBytes(32);
const newKey = randomBytes(32);
const oldPrefix = Buffer.alloc(SEAL_PREFIX_LENGTH, 1);
const newPrefix = Buffer.alloc(SEAL_PREFIX_LENGTH, 2);
const nonces = new NoncePool();
const plain = (i: number): Buffer => Buffer.from(`value ${i} `.repeat(1 + (i % 7)));
const context = (i: number): Buffer => Buffer.from(`atrest_secrets:job/${i}`);

/** A job of `n` values: reseal (old key to new), seal (legacy plaintext), and one tampered value. */
function job(n: number, tampered: number): { buffer: ArrayBuffer; kept: Buffer[] } {
  const b = new JobBuilder();
  const open = b.addKey(oldKey);
  const seal = b.addKey(newKey, newPrefix);
  const kept: Buffer[] = [];
  for (let i = 0; i < n; i++) {
    if (i % 5 === 4) {
      b.add(JobOp.seal, plain(i), context(i), { seal });
      continue;
    }
    const cipher = sealEnvelope(oldKey, oldPrefix, nonces, plain(i), context(i));
    if (i === tampered) cipher[HEADER_LENGTH] = (cipher[HEADER_LENGTH] ?? 0) ^ 1;
    kept.push(cipher);
    b.add(JobOp.reseal, cipher, context(i), { open, seal });
  }
  return { buffer: b.build(), kept };
}

async function runAll(t: Test, runner: CryptoRunner, jobs: number, n: number): Promise<void> {
  // Job j has its value j * 5 tampered (a reseal: values 4, 9, … are plaintext to seal).
  const built = Array.from({ length: jobs }, (_, j) => job(n, j * 5));
  const results = await Promise.all(built.map((b) => runner.run(b.buffer)));
  t.ok(
    built.every((b) => b.buffer.byteLength === 0 || new Uint8Array(b.buffer).every((x) => x === 0)),
    'every job buffer, keys included, is detached or zeroed once run',
  );
  let resealed = 0;
  const failed: string[] = [];
  const wrong: string[] = [];
  for (const [j, r] of results.entries()) {
    for (const [i, out] of readResults(r).entries()) {
      if (out === undefined) failed.push(`${j}:${i}`);
      else if (
        out.subarray(0, SEAL_PREFIX_LENGTH).equals(newPrefix) &&
        out.length === HEADER_LENGTH + plain(i).length + TAG_LENGTH &&
        openEnvelope(newKey, out, context(i)).equals(plain(i))
      )
        resealed++;
      else wrong.push(`${j}:${i}`);
    }
  }
  t.same(wrong, [], 'every result is one encryption of its plaintext under the sealing key');
  t.equal(resealed, jobs * (n - 1), `all ${jobs * (n - 1)} good values sealed under the new key`);
  t.same(
    failed,
    built.map((_, j) => `${j}:${j * 5}`),
    'one failure per job, the tampered value',
  );
}

t.test('several workers give what the calling thread gives', async (t) => {
  const pool = startWorkerPool(3);
  t.teardown(() => pool.close());
  t.equal(pool.parallelism, 3, 'three jobs at once');
  await runAll(t, pool, 12, 200);
  await runAll(t, inlineRunner(), 4, 200);
});

for (const [name, entry] of [
  ['throws', new URL('./crypto-worker-throws.js', import.meta.url)],
  ['exits', new URL('./crypto-worker-exits.js', import.meta.url)],
  ['cannot start', new URL('./no-such-worker.js', import.meta.url)],
] as const) {
  t.test(`a worker that ${name} fails its job and every queued one`, async (t) => {
    const pool = startWorkerPool(2, entry);
    t.teardown(() => pool.close());
    const jobs = Array.from({ length: 5 }, (_, j) => job(10, j).buffer);
    const runs = jobs.map((b) => rejection(pool.run(b)));
    for (const [j, run] of runs.entries()) {
      const err = await run;
      t.match(err, { code: 'ATREST_MIGRATION_FAILED' }, `job ${j} rejects with ATREST_MIGRATION_FAILED`);
      t.match(
        err.message,
        /worker thread failed.*Run the command again/s,
        'the message says what happened and what next',
      );
    }
    t.ok(
      jobs.every((b) => b.byteLength === 0 || new Uint8Array(b).every((x) => x === 0)),
      'no job keeps its keys after the failure',
    );
    t.match(await rejection(pool.run(job(1, 0).buffer)), { code: 'ATREST_MIGRATION_FAILED' }, 'and so do later jobs');
  });
}
