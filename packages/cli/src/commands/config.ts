// `config show`: the effective configuration, every value with its origin, secrets redacted.
import { formatConfigEntries, loadAtrestConfig } from '@atrest/core';
import type { Command, CommandContext } from '../command.js';
import { jsonOption, printData, tell } from '../output.js';

const DEFAULT_PREFIX = 'ATREST_';

/**
 * Under another app name the default `ATREST_` variables are not read; an operator who set them
 * (the README's examples use them) would otherwise wonder why they have no effect.
 */
async function warnUnreadVariables(ctx: CommandContext, app: string, prefix: string): Promise<void> {
  if (prefix === DEFAULT_PREFIX) return;
  const unread = Object.keys(ctx.env)
    .filter((k) => k.startsWith(DEFAULT_PREFIX) && !k.startsWith(prefix) && ctx.env[k] !== undefined)
    .sort();
  if (unread.length === 0) return;
  await tell(
    ctx,
    `warning: the app is ${app}, so only ${prefix}* variables are read; ` +
      `${unread.join(', ')} ${unread.length === 1 ? 'is' : 'are'} set and not read.`,
  );
}

export const configShowCommand: Command = {
  path: ['config', 'show'],
  summary: 'effective configuration with origins, secrets redacted',
  usage: 'config show [--json]',
  help: [
    'Prints every effective configuration value and where it came from (default, ini file, .env,',
    'env, option). Passphrases, client secrets and secret access keys are redacted. Warns about',
    'ATREST_* variables that are not read because --app names another application.',
  ].join('\n'),
  options: { json: jsonOption },
  async run(ctx) {
    const config = await loadAtrestConfig(ctx.openOptions);
    await warnUnreadVariables(ctx, config.app, config.envPrefix);
    for (const warning of config.warnings) await tell(ctx, `warning: ${warning}`);
    // loadConfig has redacted the secrets already.
    await printData(ctx, config.entries, formatConfigEntries(config.entries));
    return 0;
  },
};
