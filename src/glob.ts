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
      if (cache.size < max) cache.set(s, v);
    }
    return v;
  };
}

/** A matcher for any of `globs` (case-insensitive; `*` does not cross `/`). */
export function globMatcher(globs: string | readonly string[], max = 1024): Matcher {
  const res = (typeof globs === 'string' ? [globs] : globs).map((g) => picomatch.makeRe(g, OPTIONS));
  return memo(res.length === 1 ? (s) => res[0].test(s) : (s) => res.some((r) => r.test(s)), max);
}

/** For action signatures ("POST api.stripe.com/{ver}/refunds"): `*` matches anything, slashes included. */
export function actionMatcher(globs: string | readonly string[], max = 1024): Matcher {
  const list = typeof globs === 'string' ? [globs] : globs;
  const res = list.map((g) => picomatch.makeRe(g.replaceAll('/', '\u0001'), OPTIONS));
  return memo((s) => {
    const t = s.replaceAll('/', '\u0001');
    return res.some((r) => r.test(t));
  }, max);
}
