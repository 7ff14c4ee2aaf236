// What commands print: data on stdout (JSON with --json), lines for the operator on stderr.
import type { CommandContext, OptionSpec } from './command.js';
import { write } from './io.js';

/** The `--json` option of every command whose output is data. */
export const jsonOption: OptionSpec = { type: 'boolean', description: 'print the result as JSON' };

/** Print a command's result: `data` as JSON with --json, else `text`. */
export function printData(ctx: CommandContext, data: unknown, text: string): Promise<void> {
  const out = ctx.json ? JSON.stringify(data, null, 2) : text;
  return write(ctx.io.stdout, out.endsWith('\n') || out === '' ? out : `${out}\n`);
}

/** A line for the operator (a confirmation, a warning) on stderr, apart from the data. */
export function tell(ctx: CommandContext, line: string): Promise<void> {
  return write(ctx.io.stderr, `${line}\n`);
}
