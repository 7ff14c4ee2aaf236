// "Did you mean" hints for unknown configuration keys.

/** Edit distance (insertions, deletions, substitutions) between two strings. */
export function levenshtein(a: string, b: string): number {
  if (a === b) return 0;
  if (a.length === 0) return b.length;
  if (b.length === 0) return a.length;
  let previous = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const substitution = (previous[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1);
      current[j] = Math.min((previous[j] ?? 0) + 1, (current[j - 1] ?? 0) + 1, substitution);
    }
    previous = current;
  }
  return previous[b.length] ?? 0;
}

/** How far a typo may be from the real key and still be suggested. */
function tolerance(candidate: string): number {
  return Math.max(2, Math.floor(candidate.length / 3));
}

/** Distance of `input` to its closest candidate (case-insensitive), or undefined when none is close. */
export function closest(input: string, candidates: Iterable<string>): { candidate: string; distance: number } | undefined {
  const needle = input.toLowerCase();
  let best: { candidate: string; distance: number } | undefined;
  for (const candidate of candidates) {
    const distance = levenshtein(needle, candidate.toLowerCase());
    if (distance > tolerance(candidate)) continue;
    if (best === undefined || distance < best.distance) best = { candidate, distance };
  }
  return best;
}

/** The candidate closest to `input`, or undefined when none is close enough to be a likely typo. */
export function didYouMean(input: string, candidates: Iterable<string>): string | undefined {
  return closest(input, candidates)?.candidate;
}
