/**
 * Glob matching for hosts, tools and action signatures. Globs are compiled once to plain RegExps
 * (picomatch's matcher functions allocate a result object per test, which shows up as GC on the
 * hot path), answers are memoized for the first `max` distinct subjects, and the cache then stops
 * admitting: frequent subjects arrive early and stay cached, a stream of unique ones (a research
 * agent's new sites) is matched each time instead of filling memory.
 */
import picomatch from 'picomatch';

export type Matcher = (s: string) => boolean;

const OPTIONS = { nocase: true, dot: true } as const;

export function memo(fn: Matcher, max = 1024): Matcher {
  const cache = new Map<string, boolean>();
  return (s) => {
    let v = cache.get(s);
    if (v === undefined) {
      v = fn(s);
      // Long subjects (a signature of a path with hundreds of segments) are matched, not kept.
      if (cache.size < max && s.length <= MAX_KEPT) cache.set(s, v);
    }
    return v;
  };
}

/** Longest subject a memo keeps: hosts, tool names and action signatures are far shorter. */
const MAX_KEPT = 256;

/** One RegExp for a list of globs: a single test of an alternation, not one test per glob. */
function anyOf(globs: readonly string[]): RegExp {
  const res = globs.map((g) => picomatch.makeRe(g, OPTIONS));
  return res.length === 1 ? res[0] : new RegExp(res.map((r) => `(?:${r.source})`).join('|'), res[0].flags);
}

/** A matcher for any of `globs` (case-insensitive; `*` does not cross `/`). */
export function globMatcher(globs: string | readonly string[], max = 1024): Matcher {
  const re = anyOf(typeof globs === 'string' ? [globs] : globs);
  return memo((s) => re.test(s), max);
}

/** For action signatures ("POST api.stripe.com/{ver}/refunds"): `*` matches anything, slashes included. */
export function actionMatcher(globs: string | readonly string[], max = 1024): Matcher {
  const list = typeof globs === 'string' ? [globs] : globs;
  const re = anyOf(list.map((g) => g.replaceAll('/', '\u0001')));
  return memo((s) => re.test(s.replaceAll('/', '\u0001')), max);
}
