// The measured side of bench:reencrypt: open atrest and run re-encrypt, as the CLI does, in its own process.
// Provider calls are counted from atrest's log: a data key made (one wrap) or unwrapped (one unwrap).
// Peak RSS is taken when 100,000 rows (or a tenth of a smaller table) are done and at the end: flat
// memory means the two are the same however large the table.
import { SECRETS_TARGET, openAtrest, silentLogger } from '@atrest/core';

const { batchSize, workers, ...options } = JSON.parse(process.argv[2]);
let providerCalls = 0;
const count = (message) => {
  if (message === 'atrest: new data key' || message === 'atrest: data key unwrapped') providerCalls++;
};
const logger = { ...silentLogger, debug: count, info: count };
const a = await openAtrest({ ...options, logger });
const peakRssMb = () => Math.round(process.resourceUsage().maxRSS / 1024);
let early;
const onProgress = (p) => {
  if (early === undefined && p.scanned >= Math.min(100_000, p.total / 10)) early = { rows: p.scanned, mb: peakRssMb() };
};
const start = process.hrtime.bigint();
const [report] = await a.migrations.reEncrypt({
  batchSize,
  ...(workers === undefined ? {} : { workers }),
  targets: [SECRETS_TARGET],
  onProgress,
});
const seconds = Number(process.hrtime.bigint() - start) / 1e9;
await a.close();
console.log(
  JSON.stringify({
    reEncrypted: report.reEncrypted,
    rowsPerS: report.scanned / seconds,
    earlyRows: early?.rows,
    earlyRssMb: early?.mb,
    peakRssMb: peakRssMb(),
    providerCalls,
  }),
);
