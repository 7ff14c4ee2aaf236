// Help text: everything, a command group, or one command with its options.
import { globalOptions } from './arguments.js';
import type { CommandTable } from './arguments.js';
import type { Command, CommandGroup, OptionSpecs } from './command.js';

function optionLines(specs: OptionSpecs): string[] {
  const rows = Object.entries(specs).map(([k, o]) => [
    `${o.short !== undefined ? `-${o.short}, ` : ''}--${k}${o.placeholder !== undefined ? ` ${o.placeholder}` : ''}`,
    `${o.description}${o.multiple === true ? ' (repeatable)' : ''}`,
  ]);
  const width = Math.max(0, ...rows.map(([left = '']) => left.length));
  return rows.map(([left = '', right = '']) => `  ${left.padEnd(width)}  ${right}`);
}

function commandLines(commands: readonly Command[], drop: number): string[] {
  const words = commands.map((c) => c.path.slice(drop).join(' '));
  const width = Math.max(0, ...words.map((w) => w.length));
  return commands.map((c, i) => `  ${(words[i] ?? '').padEnd(width)}  ${c.summary}`);
}

const GLOBALS = '[--config FILE] [--env-file FILE] [--app NAME] [--db PATH|URL] [--key-path PATH]';
const EXIT_CODES = 'Exit codes: 0 success, 1 operation failed, 2 usage, configuration or key error.';

function globalHelp(name: string, table: CommandTable): string {
  return [
    `Usage: ${name} ${GLOBALS} <command> [options]`,
    '',
    "Encrypts an application's secrets at rest (envelope encryption: data keys wrapped by a key provider).",
    '',
    'Commands:',
    ...commandLines(table.commands, 0),
    '',
    'Global options:',
    ...optionLines(globalOptions),
    '',
    `Run '${name} <command> --help' for a command's options. ${EXIT_CODES}`,
  ].join('\n');
}

function groupHelp(name: string, group: CommandGroup, table: CommandTable): string {
  return [
    `Usage: ${name} ${group.word} <command> [options]`,
    '',
    `${group.summary}.`,
    '',
    'Commands:',
    ...commandLines(
      table.commands.filter((c) => c.path[0] === group.word),
      1,
    ),
    '',
    `Run '${name} ${group.word} <command> --help' for a command's options.`,
  ].join('\n');
}

function commandHelp(name: string, command: Command): string {
  const own = command.options ?? {};
  return [
    `Usage: ${name} ${command.usage}`,
    '',
    command.help,
    ...(Object.keys(own).length > 0 ? ['', 'Options:', ...optionLines(own)] : []),
    '',
    `Global options: ${GLOBALS}`,
    EXIT_CODES,
  ].join('\n');
}

/** The help on `topic`: a command, a group, or (undefined) everything. */
export function helpText(name: string, topic: Command | CommandGroup | undefined, table: CommandTable): string {
  if (topic === undefined) return globalHelp(name, table);
  return 'word' in topic ? groupHelp(name, topic, table) : commandHelp(name, topic);
}
