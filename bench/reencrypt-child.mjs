// The measured side of bench:reencrypt: open atrest and run re-encrypt, as the CLI does, in its own process.
import { openAtrest } from '@atrest/core';

const options = JSON.parse(process.argv[2]);
const a = await openAtrest(options);
const start = process.hrtime.bigint();
const [report] = await a.migrations.reEncrypt({
  batchSize: options.batchSize,
  targets: ['atrest_secrets'],
});
const seconds = Number(process.hrtime.bigint() - start) / 1e9;
const stats = a.internals.envelope.stats;
await a.close();
console.log(
  JSON.stringify({
    reEncrypted: report.reEncrypted,
    rowsPerS: report.scanned / seconds,
    peakRssMb: Math.round(process.resourceUsage().maxRSS / 1024),
    providerCalls: stats.wraps + stats.unwraps,
  }),
);
