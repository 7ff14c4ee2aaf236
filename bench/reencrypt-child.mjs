// The measured side of bench:reencrypt: open atrest and run re-encrypt, as the CLI does, in its own process.
// Provider calls are counted from atrest's log: a data key made (one wrap) or unwrapped (one unwrap).
import { SECRETS_TARGET, openAtrest, silentLogger } from '@atrest/core';

const { batchSize, ...options } = JSON.parse(process.argv[2]);
let providerCalls = 0;
const count = (message) => {
  if (message === 'atrest: new data key' || message === 'atrest: data key unwrapped') providerCalls++;
};
const logger = { ...silentLogger, debug: count, info: count };
const a = await openAtrest({ ...options, logger });
const start = process.hrtime.bigint();
const [report] = await a.migrations.reEncrypt({ batchSize, targets: [SECRETS_TARGET] });
const seconds = Number(process.hrtime.bigint() - start) / 1e9;
await a.close();
console.log(
  JSON.stringify({
    reEncrypted: report.reEncrypted,
    rowsPerS: report.scanned / seconds,
    peakRssMb: Math.round(process.resourceUsage().maxRSS / 1024),
    providerCalls,
  }),
);
