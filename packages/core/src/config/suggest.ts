// "Did you mean" hints for unknown configuration keys.

/**
 * Edit distance (insertions, deletions, substitutions, and swaps of two adjacent characters, the
 * commonest typo: `lsit` is one edit from `list`) between two strings.
 */
export function levenshtein(a: string, b: string): number {
  if (a === b) return 0;
  if (a.length === 0) return b.length;
  if (b.length === 0) return a.length;
  let before: number[] = [];
  let previous = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const substitution = (previous[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1);
      let best = Math.min((previous[j] ?? 0) + 1, (current[j - 1] ?? 0) + 1, substitution);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1])
        best = Math.min(best, (before[j - 2] ?? 0) + 1);
      current[j] = best;
    }
    before = previous;
    previous = current;
  }
  return previous[b.length] ?? 0;
}

/**
 * Whether `candidate` is close enough to `input` to be the key meant. Names here share long
 * prefixes (ATREST_SECURITY_ENCRYPTION_…), so the allowance is measured on the part that differs
 * once their common start and end are set aside: a third of it, at least 2 edits.
 */
function isLikelyTypo(input: string, candidate: string, distance: number): boolean {
  // A name with something appended (ATREST_ENCRYPTION_SECRET_KEY_FILE) means the shorter one.
  if (input.startsWith(`${candidate}_`) || input.startsWith(`${candidate}.`)) return true;
  let start = 0;
  while (start < input.length && start < candidate.length && input[start] === candidate[start]) start++;
  let end = 0;
  while (
    end < input.length - start &&
    end < candidate.length - start &&
    input[input.length - 1 - end] === candidate[candidate.length - 1 - end]
  )
    end++;
  const differing = Math.max(input.length, candidate.length) - start - end;
  return distance <= Math.max(2, Math.floor(differing / 3));
}

/** Distance of `input` to its closest candidate (case-insensitive), or undefined when none is close. */
export function closest(
  input: string,
  candidates: Iterable<string>,
): { candidate: string; distance: number } | undefined {
  const needle = input.toLowerCase();
  let best: { candidate: string; distance: number } | undefined;
  for (const candidate of candidates) {
    const hay = candidate.toLowerCase();
    const distance = levenshtein(needle, hay);
    if (!isLikelyTypo(needle, hay, distance)) continue;
    if (best === undefined || distance < best.distance) best = { candidate, distance };
  }
  return best;
}

/** The end of an "unknown …" message: `: did you mean X?`, or nothing. */
export function meantHint(suggestion: string | undefined, quoted = false): string {
  if (suggestion === undefined) return '';
  return quoted ? `: did you mean "${suggestion}"?` : `: did you mean ${suggestion}?`;
}

/** The candidate closest to `input`, or undefined when none is close enough to be a likely typo. */
export function didYouMean(input: string, candidates: Iterable<string>): string | undefined {
  return closest(input, candidates)?.candidate;
}

/**
 * The atrest key that `input`, a key atrest does not own in a section it shares with the host
 * application, is one slip away from (at most 2 edits, keys of 8 characters or more): a near miss
 * that atrest refuses rather than ignore (`encrpytion_provider`). Anything further is the host's.
 */
export function nearMiss(input: string, candidates: Iterable<string>): string | undefined {
  if (input.length < 8) return undefined;
  const best = closest(
    input,
    [...candidates].filter((c) => c.length >= 8),
  );
  return best !== undefined && best.distance > 0 && best.distance <= 2 ? best.candidate : undefined;
}
