// `init`: atrest's tables and the first-boot key, then what was set up.
import { errors } from '@atrest/core';
import type { Command } from '../command.js';
import { jsonOption, printData } from '../output.js';

export const initCommand: Command = {
  path: ['init'],
  summary: "create atrest's tables and the first-boot key (idempotent)",
  usage: 'init [--json]',
  help: [
    "Creates atrest's tables in the database and, on first boot with the file provider, the key file",
    '(0600, never overwritten). Prints the database, the provider and its key facts (key path and',
    'fingerprint). Running it again changes nothing. Then checks the health of the current provider',
    '(a KMS key that does not exist, is disabled or is of the wrong kind): exit 1 when it is unusable.',
  ].join('\n'),
  options: { json: jsonOption },
  async run(ctx) {
    const a = await ctx.open();
    const s = await a.status();
    const details = s.providers.find((p) => p.current)?.details ?? {};
    const { database } = s;
    await printData(
      ctx,
      { database, provider: s.currentProvider, details },
      [
        `database: ${database}`,
        `provider: ${s.currentProvider}`,
        ...Object.entries(details).map(([k, v]) => `${k}: ${v}`),
      ].join('\n'),
    );
    const current = s.providers.find((p) => p.current);
    if (current !== undefined && !current.healthy) {
      throw errors.providerFailed(
        `init: the current provider ${current.id} is unusable: ${current.reason ?? 'its health check failed'}`,
        'Fix it (the key, its permissions, the service), then run init again.',
        { details: { provider: current.id } },
      );
    }
    return 0;
  },
};
