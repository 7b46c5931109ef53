/**
 * Interns strings (destinations, action signatures, principals) to small integers shared by all
 * agents, so per-agent baselines hold 4-byte keys in typed arrays instead of strings in Maps.
 * Ids are assigned in first-seen order, so the same input gives the same ids.
 */
export class Interner {
  private readonly ids = new Map<string, number>();
  private readonly strings: string[] = [];
  /** hashString of each string, by id: computed once, not per call that needs it. */
  private readonly hashes: number[] = [];

  id(s: string): number {
    let id = this.ids.get(s);
    if (id === undefined) {
      id = this.strings.length;
      this.strings.push(s);
      this.hashes.push(hashString(s));
      this.ids.set(s, id);
    }
    return id;
  }

  /** hashString(this.str(id)), kept from when the id was assigned. */
  hashOf(id: number): number {
    return this.hashes[id];
  }

  /** The id if the string was ever seen, else -1 (no insertion: for lookups of unknown values). */
  peek(s: string): number {
    return this.ids.get(s) ?? -1;
  }

  private readonly byKind = new Map<string, Map<string, number>>();

  /** Id of `${kind}:${value}` without building that string on every lookup (hot path). */
  kindId(kind: string, value: string): number {
    let m = this.byKind.get(kind);
    if (m === undefined) this.byKind.set(kind, (m = new Map()));
    let id = m.get(value);
    if (id === undefined) {
      id = this.id(`${kind}:${value}`);
      m.set(value, id);
    }
    return id;
  }

  kindPeek(kind: string, value: string): number {
    const id = this.byKind.get(kind)?.get(value);
    return id ?? this.peek(`${kind}:${value}`);
  }

  str(id: number): string {
    return this.strings[id];
  }

  get size(): number {
    return this.strings.length;
  }
}

/** FNV-1a of a string: a key that, unlike an intern id, survives a snapshot and restore. */
export function hashString(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/** A 32-bit key for an ordered pair of string hashes (transitions); collisions within one agent's table are negligible. */
export function pairKey(a: number, b: number): number {
  let h = Math.imul(a + 0x9e3779b9, 0x85ebca6b) ^ b;
  h = Math.imul(h ^ (h >>> 16), 0xc2b2ae35);
  return (h ^ (h >>> 13)) >>> 0;
}
