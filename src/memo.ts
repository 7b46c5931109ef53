/**
 * Remember a string predicate's answers. For low-cardinality inputs (hosts, tools, action
 * signatures) a Map lookup is far cheaper than running a glob. The cache is small and stops
 * admitting keys when full: frequent subjects arrive early and stay cached, while a stream of
 * unique ones (a research agent's new sites) is computed each time instead of filling memory —
 * many large caches would make every GC slower than the globs they save.
 */
export function memo(fn: (s: string) => boolean, max = 1024): (s: string) => boolean {
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
