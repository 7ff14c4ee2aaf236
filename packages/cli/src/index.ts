// @atrest/cli: the `atrest` command, embeddable with runCli.
export { runCli } from './cli.js';
export type { RunCliOptions } from './cli.js';
export type { CliIo } from './io.js';
