// Invalid values, worded once: the key, where its value came from, why, and what is allowed. Every
// bad value found in one step is reported in one ATREST_CONFIG_INVALID error.
import type { AtrestError } from '../errors.js';
import { errors } from '../errors.js';
import { describeSetting, originDetails } from './origin.js';
import type { ConfigOrigin } from './types.js';

/** One invalid value. */
export type Problem = {
  readonly key: string;
  readonly origin: ConfigOrigin;
  readonly text: string;
  readonly allowed: string;
};

/** A problem with `key`, whose value came from `origin`; `reason` is left out when it might quote a secret. */
export function problem(key: string, origin: ConfigOrigin, reason: string | undefined, allowed: string): Problem {
  const why = reason === undefined ? '' : `: ${reason}`;
  return {
    key,
    origin,
    allowed,
    text: `Invalid value for ${key} (${describeSetting(key, origin)})${why}. Allowed: ${allowed}.`,
  };
}

/** The error for one or more problems; its details name the first one and list them all. */
export function invalidError(problems: readonly [Problem, ...Problem[]]): AtrestError {
  const [first] = problems;
  const message =
    problems.length === 1
      ? first.text
      : `${problems.length} configuration values are invalid:\n${problems.map((p) => `- ${p.text}`).join('\n')}`;
  return errors.configInvalid(message, '', {
    details: {
      key: first.key,
      ...originDetails(first.origin),
      allowed: first.allowed,
      problems: problems.map((p) => p.text),
    },
  });
}
