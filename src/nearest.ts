/** Which known name a mistyped one most likely meant: for "did you mean" in error messages. */
import { closest, distance } from 'fastest-levenshtein';

/**
 * The known name a mistyped one most likely meant, if any is near enough to say so: one that
 * begins with what was written or the other way round ("splunk" for "splunk_hec", "max_body" for
 * "max_body_bytes"), else the closest within two edits or a third of its length ("prot", "retry_afer_seconds").
 */
export function nearest(written: string, known: readonly string[]): string | undefined {
  if (written === '' || known.length === 0) return undefined;
  const w = written.toLowerCase();
  const lower = known.map((k) => k.toLowerCase());
  const prefix = lower.findIndex((k) => k.startsWith(w) || w.startsWith(k));
  if (prefix >= 0) return known[prefix];
  const best = closest(w, lower);
  return distance(w, best) <= Math.max(2, Math.floor(best.length / 3)) ? known[lower.indexOf(best)] : undefined;
}

/**
 * Up to `n` of the known names, those most like the one written first: the ones it begins, or
 * that begin it, then by edit distance (ties in the order given).
 */
export function mostLike(written: string, known: readonly string[], n: number): string[] {
  const w = written.toLowerCase();
  const rank = (k: string): number => {
    const l = k.toLowerCase();
    return l.startsWith(w) || w.startsWith(l) ? -1 : distance(w, l);
  };
  return known.map((k, i) => ({ k, i, r: rank(k) })).sort((a, b) => a.r - b.r || a.i - b.i).slice(0, n).map((x) => x.k);
}
