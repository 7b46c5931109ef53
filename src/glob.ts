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

/** `fn` answering from a memo of its first `max` distinct subjects; `fn` itself for a `max` of 0 (a caller with a memo of its own). */
export function memo(fn: Matcher, max = 1024): Matcher {
  if (max === 0) return fn;
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
  const re = anyOf(list.map(slashless));
  const all = (s: string): boolean => re.test(slashless(s));
  const tests = list.map(literalGlob);
  const literals = tests.filter((t) => t !== undefined);
  if (literals.length === 0) return memo(all, max);
  const others = list.filter((_, i) => tests[i] === undefined);
  const rest = others.length ? anyOf(others.map(slashless)) : undefined;
  return memo((s) => {
    // The literals answer for ASCII subjects (lower-casing one is then what the pattern's
    // case-insensitive flag does); "." and ".." are subjects picomatch's patterns refuse.
    if (NON_ASCII.test(s) || s === '.' || s === '..') return all(s);
    const lower = s.toLowerCase();
    for (let i = 0; i < literals.length; i++) if (literals[i](lower)) return true;
    return rest !== undefined && rest.test(slashless(s));
  }, max);
}

/** Slashes out of the way of picomatch's `*`, which stops at them, in globs and subjects alike. */
const slashless = (s: string): string => s.replaceAll('/', '\u0001');

const NON_ASCII = /[^\x00-\x7f]/;

/**
 * A test of a lower-cased ASCII subject for a glob that is an ASCII literal with `*` at one end,
 * both or neither (the sensitive-data globs: `*secret*`, `*payroll*`), or undefined for any other
 * glob. The pattern picomatch makes of one, tested on a signature each time the memo misses (a
 * research agent's every new site), was about 1.6 µs a signature; a substring test is a fraction.
 * test/glob.test.ts holds the two to the same answers.
 */
function literalGlob(glob: string): ((lower: string) => boolean) | undefined {
  // Dots only inside the literal: picomatch reads a dot beside a star in ways of its own (`*.*`
  // wants a character after the dot).
  const m = /^(\*?)([A-Za-z0-9_:-]+(?:\.[A-Za-z0-9_:-]+)*)(\*?)$/.exec(glob);
  if (m === null) return undefined;
  const text = m[2].toLowerCase();
  const before = m[1] === '*';
  const after = m[3] === '*';
  if (before && after) return (s) => s.includes(text);
  if (before) return (s) => s.endsWith(text);
  if (after) return (s) => s.startsWith(text);
  return (s) => s === text;
}
