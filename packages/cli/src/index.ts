// @atrest/cli: the `atrest` command, embeddable with runCli.
export { runCli, formatError } from './cli.js';
export type { RunCliOptions, Command, CommandContext } from './cli.js';
export type { CliIo } from './io.js';
