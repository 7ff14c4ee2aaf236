// Validation: every leaf into one convict schema (the only module that imports convict), values
// coerced strictly first (convict's own coercion reads '12abc' as 12), and convict's messages
// reworded with the key, where its value came from and what is allowed; every bad value at once.
import convict from 'convict';
import { errors } from '../errors.js';
import type { Leaf } from './leaves.js';
import type { Problem } from './problems.js';
import { invalidError, problem } from './problems.js';
import { shownReason } from './redact.js';
import type { ConfigOrigin } from './types.js';

type ConvictTree = { [key: string]: ConvictTree | unknown };

function setPath(tree: ConvictTree, path: string, value: unknown): void {
  const segments = path.split('.');
  let node: ConvictTree = tree;
  for (const segment of segments.slice(0, -1)) {
    const next = node[segment];
    if (typeof next === 'object' && next !== null) {
      node = next as ConvictTree;
    } else {
      const created: ConvictTree = {};
      node[segment] = created;
      node = created;
    }
  }
  node[segments[segments.length - 1] ?? ''] = value;
}

function leafProblem(leaf: Leaf, origin: ConfigOrigin, reason: string | undefined): Problem {
  return problem(leaf.key, origin, shownReason(reason, leaf.sensitive, leaf.format.trusted), leaf.format.allowed);
}

const DEFAULT_ORIGIN: ConfigOrigin = { source: 'default' };

/** Convict's "path: message: value was …" lines, reworded; a line of no leaf continues the one before. */
function convictProblems(message: string, leaves: readonly Leaf[]): Problem[] {
  const byLength = [...leaves].sort((a, b) => b.convictPath.length - a.convictPath.length);
  const problems: Problem[] = [];
  for (const line of message.split('\n')) {
    const leaf = byLength.find((l) => line.startsWith(`${l.convictPath}: `));
    if (leaf === undefined) continue; // a continuation of a provider's multi-line message: not repeated
    let reason = line.slice(leaf.convictPath.length + 2);
    const cut = reason.indexOf(': value was ');
    if (cut >= 0) reason = reason.slice(0, cut);
    problems.push(leafProblem(leaf, leaf.effective?.origin ?? DEFAULT_ORIGIN, reason.trim()));
  }
  if (problems.length === 0) {
    problems.push({
      key: '(configuration)',
      origin: DEFAULT_ORIGIN,
      text: 'The configuration was rejected by its schema.',
      allowed: '',
    });
  }
  return problems;
}

function faultyPackage(problemText: string, key: string | undefined, cause?: unknown) {
  return errors.providerInvalid(problemText, 'the provider package is faulty; update or replace it.', {
    cause,
    details: { key },
  });
}

/** Validates every leaf's effective value (or default); returns the values by dotted key. */
export function validateLeaves(leaves: readonly Leaf[]): ReadonlyMap<string, unknown> {
  const schema: ConvictTree = {};
  const values: ConvictTree = {};
  const problems: Problem[] = [];
  for (const leaf of leaves) {
    const item: Record<string, unknown> = { doc: leaf.doc, format: leaf.format.convict, default: leaf.defaultValue };
    if (leaf.sensitive) item['sensitive'] = true;
    setPath(schema, leaf.convictPath, item);
    if (leaf.effective === undefined) continue;
    const coerced = leaf.format.coerce(leaf.effective.value);
    if (coerced === undefined) problems.push(leafProblem(leaf, leaf.effective.origin, undefined));
    else setPath(values, leaf.convictPath, coerced);
  }

  let config: convict.Config<Record<string, unknown>>;
  try {
    // No env or argv: atrest has read every source itself, with origins.
    config = convict<Record<string, unknown>>(schema as convict.Schema<Record<string, unknown>>, { env: {}, args: [] });
  } catch (cause) {
    const message = (cause as Error).message;
    const leaf = leaves.find((l) => message.includes(`'${l.convictPath}'`));
    const why = message.replace(/'[^']*'\s*/, '');
    throw faultyPackage(
      `The config schema for ${leaf?.key ?? 'a provider section'} is not usable (${why}):`,
      leaf?.key,
      cause,
    );
  }
  config.load(values);
  try {
    config.validate({ allowed: 'strict' });
  } catch (cause) {
    problems.push(...convictProblems((cause as Error).message, leaves));
  }
  const fromDefault = problems.find((p) => p.origin.source === 'default');
  if (fromDefault !== undefined) {
    throw faultyPackage(
      `The default of ${fromDefault.key} in its provider's config schema is not valid:`,
      fromDefault.key,
    );
  }
  const [first, ...rest] = problems;
  if (first !== undefined) throw invalidError([first, ...rest]);
  return new Map(leaves.map((leaf) => [leaf.key, config.get(leaf.convictPath)]));
}
