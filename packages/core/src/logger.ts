// Libraries never print: atrest reports through the logger the embedding application passes in.

/** Structured fields of a log record; never secret values. */
export type LogFields = Readonly<Record<string, unknown>>;

/** The logger atrest writes to; pass your application's (pino, winston and console fit). */
export type Logger = {
  debug(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
};

/** A logger that drops everything: the default. */
export const silentLogger: Logger = { debug() {}, info() {}, warn() {}, error() {} };
