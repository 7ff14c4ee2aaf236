// From argv to what to run: the command found by its words, its options checked against what it
// declares (atrest's own messages, with a "did you mean"), and help asked for anywhere.
import { parseArgs } from 'node:util';
import { didYouMean, errors } from '@atrest/core';
import type { AtrestError } from '@atrest/core';
import type { Command, CommandGroup, OptionSpecs } from './command.js';

/** Options every command takes. */
export const globalOptions: OptionSpecs = {
  config: { type: 'string', placeholder: 'FILE', description: 'the application INI file' },
  'env-file': { type: 'string', placeholder: 'FILE', description: 'a .env file' },
  app: {
    type: 'string',
    placeholder: 'NAME',
    description: 'application name: env prefix <APP>_ and default key path /srv/<app>-encryption.key',
  },
  db: {
    type: 'string',
    placeholder: 'PATH|URL',
    description:
      'the database, over [database]: a SQLite file, or a URL (postgres://user@host:5432/db?sslmode=verify-full; ' +
      'the password from [database] password or <APP>_DATABASE_PASSWORD, never on the command line)',
  },
  'key-path': {
    type: 'string',
    placeholder: 'PATH',
    description: 'key file path of file.default (overrides <APP>_ENCRYPTION_KEY_PATH)',
  },
  help: { type: 'boolean', short: 'h', description: 'show help' },
};

/** Option values by name: `true` for a boolean, the text for a string, every text for a repeatable one. */
export type OptionValues = Readonly<Record<string, string | true | readonly string[]>>;

/** What the command line asks for. */
export type Invocation =
  /** Help on a command, a group, or everything (`topic` undefined); `asked` false when no command was given. */
  | { readonly kind: 'help'; readonly topic: Command | CommandGroup | undefined; readonly asked: boolean }
  | {
      readonly kind: 'run';
      readonly command: Command;
      readonly args: readonly string[];
      readonly options: OptionValues;
    };

/** The table the command line is read against. */
export type CommandTable = { readonly commands: readonly Command[]; readonly groups: readonly CommandGroup[] };

function tokenize(argv: readonly string[], specs: OptionSpecs) {
  const options = Object.fromEntries(
    Object.entries(specs).map(([k, o]) => [
      k,
      { type: o.type, ...(o.short !== undefined ? { short: o.short } : {}), multiple: o.multiple === true },
    ]),
  );
  return parseArgs({ args: [...argv], options, strict: false, allowPositionals: true, tokens: true }).tokens;
}

type Token = ReturnType<typeof tokenize>[number];

function positionals(tokens: readonly Token[]): string[] {
  return tokens.flatMap((t) => (t.kind === 'positional' ? [t.value] : []));
}

/** The command whose words start `words`, the longest one. */
function findCommand(words: readonly string[], commands: readonly Command[]): Command | undefined {
  let best: Command | undefined;
  for (const c of commands) {
    if (c.path.length > words.length || !c.path.every((w, i) => words[i] === w)) continue;
    if (best === undefined || c.path.length > best.path.length) best = c;
  }
  return best;
}

function hint(suggestion: string | undefined, then: string): string {
  return suggestion === undefined ? then : `Did you mean '${suggestion}'? ${then}`;
}

function unknownCommand(words: readonly string[], table: CommandTable, name: string): AtrestError {
  const [first = '', second] = words;
  const group = table.groups.find((g) => g.word === first);
  if (group === undefined) {
    const tops = [...new Set(table.commands.map((c) => c.path[0] ?? ''))];
    return errors.usage(`unknown command '${first}'.`, hint(didYouMean(first, tops), `Run '${name} --help'.`));
  }
  const inGroup = table.commands.filter((c) => c.path[0] === first).map((c) => c.path.slice(1).join(' '));
  if (second === undefined) {
    return errors.usage(
      `'${first}' needs a command: ${inGroup.join(', ')}.`,
      `Run '${name} ${first} --help' for what each does.`,
    );
  }
  const suggestion = didYouMean(second, inGroup);
  return errors.usage(
    `unknown command '${first} ${second}'.`,
    hint(suggestion === undefined ? undefined : `${first} ${suggestion}`, `Run '${name} ${first} --help'.`),
  );
}

function optionHelp(command: Command, name: string): string {
  return `Run '${name} ${command.path.join(' ')} --help' for its options.`;
}

/** Options as the command declares them: known, with a value when they take one, none otherwise. */
function readOptions(tokens: readonly Token[], specs: OptionSpecs, command: Command, name: string): OptionValues {
  const values: Record<string, string | true | string[]> = {};
  for (const token of tokens) {
    if (token.kind !== 'option') continue;
    const spec = specs[token.name];
    const raw = token.rawName;
    if (spec === undefined) {
      const known = Object.keys(specs).map((k) => `--${k}`);
      throw errors.usage(
        `unknown option ${raw} for '${command.path.join(' ')}'.`,
        hint(didYouMean(raw, known), optionHelp(command, name)),
      );
    }
    if (spec.type === 'boolean') {
      if (token.value !== undefined) throw errors.usage(`${raw} takes no value.`, optionHelp(command, name));
      values[token.name] = true;
      continue;
    }
    const value = token.value;
    if (value === undefined) {
      throw errors.usage(`${raw} needs a value: ${raw} ${spec.placeholder ?? 'VALUE'}.`, optionHelp(command, name));
    }
    if (token.inlineValue !== true && value.startsWith('-') && value !== '-') {
      throw errors.usage(
        `${raw} needs a value, and the next argument ${value} looks like an option.`,
        `Write ${raw}=${value} if it is the value.`,
      );
    }
    const before = values[token.name];
    values[token.name] = spec.multiple === true ? [...(Array.isArray(before) ? before : []), value] : value;
  }
  return values;
}

function checkArgCount(command: Command, args: readonly string[], name: string): void {
  const min = command.minArgs ?? 0;
  const max = command.maxArgs ?? 0;
  if (args.length >= min && args.length <= max) return;
  const takes = max === 0 ? 'none' : min === max ? `${min}` : `${min} to ${max}`;
  throw errors.usage(
    `'${command.path.join(' ')}' was given the wrong number of arguments: it takes ${takes}, not ${args.length}.`,
    `Usage: ${name} ${command.usage}`,
  );
}

/** Read `argv` (without node and script) against the command table; usage errors are thrown. */
export function readCommandLine(argv: readonly string[], table: CommandTable, name: string): Invocation {
  // First pass: every option any command knows, so that a string option's value is not taken for a word.
  const everyOption: Record<string, OptionSpecs[string]> = { ...globalOptions };
  for (const c of table.commands) Object.assign(everyOption, c.options);
  const first = tokenize(argv, everyOption);
  const help = first.some((t) => t.kind === 'option' && t.name === 'help');
  const words = positionals(first);
  const command = findCommand(words, table.commands);
  if (command === undefined) {
    if (words.length === 0) return { kind: 'help', topic: undefined, asked: help };
    const group = table.groups.find((g) => g.word === words[0]);
    if (help && group !== undefined && words.length === 1) return { kind: 'help', topic: group, asked: true };
    // `--cofig app.ini status`: the misspelt option took no value, so its value looks like a command.
    const unknown = first.find((t) => t.kind === 'option' && everyOption[t.name] === undefined);
    if (unknown?.kind === 'option') {
      const known = Object.keys(everyOption).map((k) => `--${k}`);
      throw errors.usage(
        `unknown option ${unknown.rawName}.`,
        hint(didYouMean(unknown.rawName, known), `Run '${name} --help' for the options.`),
      );
    }
    throw unknownCommand(words, table, name);
  }
  if (help) return { kind: 'help', topic: command, asked: true };
  const specs = { ...globalOptions, ...command.options };
  const tokens = tokenize(argv, specs);
  const options = readOptions(tokens, specs, command, name);
  const args = positionals(tokens).slice(command.path.length);
  if (command.checkArgs !== undefined) command.checkArgs(args, name);
  else checkArgCount(command, args, name);
  return { kind: 'run', command, args, options };
}

/**
 * The refusal of a secret given on the command line, with the forms that work: arguments are seen
 * by every user of the machine and kept in shell history. The secret itself is never repeated.
 */
export function secretInArgv(problem: string, forms: string): AtrestError {
  return errors.usage(
    `${problem} A secret is never taken from the command line: arguments are visible to every user ` +
      "of the machine (ps, /proc) and stay in the shell's history.",
    forms,
  );
}
