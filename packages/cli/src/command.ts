// What a command is (its words, options, help and run function) and what its run function is
// given. The runner and the command table both depend on this module, never on each other.
import type { Atrest, OpenAtrestOptions } from '@atrest/core';
import type { CliIo } from './io.js';

/** One option of a command, as `--name` (and `-x` when it has a short form). */
export type OptionSpec = {
  readonly type: 'string' | 'boolean';
  readonly short?: string;
  /** Repeatable: every value is kept. */
  readonly multiple?: boolean;
  /** The value's placeholder in help (`FILE`, `N`) for a string option. */
  readonly placeholder?: string;
  readonly description: string;
};

/** Options by name (without the leading `--`). */
export type OptionSpecs = Readonly<Record<string, OptionSpec>>;

/** What a command's run function gets. */
export type CommandContext = {
  readonly io: CliIo;
  /** The command name shown in help and messages (`atrest`, or the host's, e.g. `grafana-server admin`). */
  readonly name: string;
  /** The positional arguments after the command's words. */
  readonly args: readonly string[];
  /** Whether `--json` was given: data as JSON on stdout, an error as one JSON object on stderr. */
  readonly json: boolean;
  /** A boolean option. */
  flag(option: string): boolean;
  /** A string option's value, when given. */
  value(option: string): string | undefined;
  /** Every value of a repeatable string option. */
  values(option: string): readonly string[];
  /** The environment the configuration is read from. */
  readonly env: Readonly<Record<string, string | undefined>>;
  /** What `open` passes to openAtrest (global options applied). */
  readonly openOptions: OpenAtrestOptions;
  /** Open atrest with the global options (and the command's `opens`); the runner closes it. */
  open(): Promise<Atrest>;
};

/** One command of the table. */
export type Command = {
  /** Its words: `['status']`, `['secrets', 'get']`. */
  readonly path: readonly string[];
  readonly summary: string;
  /** The usage line after the program name: `secrets get NAME [--out FILE]`. */
  readonly usage: string;
  readonly help: string;
  readonly options?: OptionSpecs;
  /**
   * What `open` may do. Default: create what is missing (the database, atrest's tables, on first
   * boot the key), as a first write does. `'existing'`: a command that creates nothing (it reads, or
   * deletes) opens only a database atrest set up already. `'database'`: a migration, on the
   * application's existing database (a SQLite file must exist: a mistyped --db is refused rather than
   * migrated as a new empty file); atrest's tables are made when missing (a legacy database).
   */
  readonly opens?: 'existing' | 'database';
  /** How many positional arguments it takes (default none). */
  readonly minArgs?: number;
  readonly maxArgs?: number;
  /** Replaces the count check when wrong arguments deserve their own explanation. */
  checkArgs?(args: readonly string[], name: string): void;
  /** Resolves to the exit code; failures are thrown as atrest errors. */
  run(ctx: CommandContext): Promise<number>;
};

/** A word that groups commands (`secrets`, `secrets-migration`, `config`). */
export type CommandGroup = { readonly word: string; readonly summary: string };
