// The parallel re-encrypt (batches pipelined, their cryptography on worker threads) against the
// calling-thread path on copies of one database: the same per-target reports, the same provider
// calls (data keys unwrapped once, in the main thread, however many workers), one new data key per
// label, progress to the total, every value one encryption of its original, and a second run that
// changes nothing. A worker that fails is tested on the pool (packages/core crypto-pool.test.ts);
// kills during a parallel run are in migration-crash.test.ts (re-encrypt --workers 3).
import t from 'tap';
import { recordingLogger } from '@atrest/testkit';
import type { Progress, TargetReport } from '@atrest/core';
import {
  copyFixture,
  dataKeys,
  openFixture,
  provision,
  removeTempDirs,
  sizeViolations,
  storedValues,
  verifyAll,
} from './migration-fixture.js';
import type { Fixture } from './migration-fixture.js';

t.teardown(removeTempDirs);
const template = await provision('file', { secrets: 6_000, rows: 1_200, rotateEvery: 1_500 });

type Outcome = { reports: TargetReport[]; unwrapped: number; newKeys: number; progress: Progress[] };

async function reEncrypt(f: Fixture, workers: number): Promise<Outcome> {
  const logger = recordingLogger();
  const a = await openFixture(f, logger);
  const progress: Progress[] = [];
  try {
    const reports = await a.migrations.reEncrypt({ workers, batchSize: 500, onProgress: (p) => progress.push(p) });
    const count = (message: string): number => logger.records.filter((r) => r.message === message).length;
    return {
      reports,
      unwrapped: count('atrest: data key unwrapped'),
      newKeys: count('atrest: new data key'),
      progress,
    };
  } finally {
    await a.close();
  }
}

async function rotateKey(f: Fixture): Promise<void> {
  const a = await openFixture(f);
  try {
    await a.migrations.rotateEncryptionKey();
  } finally {
    await a.close();
  }
}

t.test('three workers do what one does', async (t) => {
  const one = await copyFixture(template.fixture);
  const three = await copyFixture(template.fixture);
  await rotateKey(one);
  await rotateKey(three);
  const r1 = await reEncrypt(one, 1);
  const r3 = await reEncrypt(three, 3);
  t.same(r3.reports, r1.reports, 'the same per-target reports');
  const moved = r3.reports.reduce((n, r) => n + r.reEncrypted, 0);
  const plain = r3.reports.reduce((n, r) => n + r.plaintextEncrypted, 0);
  t.equal(
    moved + plain,
    (await storedValues(three, template.originals)).length,
    `every value moved (${moved} + ${plain})`,
  );
  t.ok(plain > 0, 'legacy plaintext was encrypted too');
  t.equal(
    r3.reports.reduce((n, r) => n + r.failed, 0),
    0,
    'nothing failed',
  );
  t.ok(r3.unwrapped > 1, `${r3.unwrapped} data keys unwrapped`);
  t.equal(r3.unwrapped, r1.unwrapped, 'each data key unwrapped once, as with one thread');
  const labels = new Set((await dataKeys(three)).filter((k) => k.active === 1).map((k) => k.label));
  t.equal(r3.newKeys, labels.size, `one new data key per label (${labels.size})`);
  t.equal((await dataKeys(three)).filter((k) => k.active === 1).length, labels.size, 'one active data key per label');
  for (const report of r3.reports) {
    const seen = r3.progress.filter((p) => p.target === report.target);
    t.same(
      seen.map((p) => p.scanned),
      [...seen.map((p) => p.scanned)].sort((x, y) => x - y),
      `${report.target}: progress only grows`,
    );
    t.equal(seen.at(-1)?.scanned, report.scanned, `${report.target}: progress reaches the total`);
  }
  t.same(sizeViolations(await storedValues(three, template.originals)).slice(0, 10), [], 'each value encrypted once');
  t.same((await verifyAll(three, template.originals)).mismatches.slice(0, 10), [], 'and equal to its original');
  const again = await reEncrypt(three, 3);
  t.equal(
    again.reports.reduce((n, r) => n + r.reEncrypted + r.plaintextEncrypted + r.failed, 0),
    0,
    'a second run changes nothing',
  );
  t.equal(again.newKeys, 0, 'and makes no data key');
});

t.test('a bad number of workers is an invalid argument', async (t) => {
  const f = await copyFixture(template.fixture);
  const a = await openFixture(f);
  t.teardown(() => a.close());
  for (const workers of [0, 17, 1.5]) {
    await t.rejects(
      a.migrations.reEncrypt({ workers }),
      { code: 'ATREST_INVALID_ARGUMENT' },
      `workers ${workers} is refused`,
    );
  }
});
