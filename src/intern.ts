/** Ids of one kind's values, with the last one asked for. */
interface KindIds {
  ids: Map<string, number>;
  lastValue: string | undefined;
  lastId: number;
}

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

  /**
   * The last string asked for and its id: the detectors look up the same call's signature, host
   * and tool one after another, each through its own method, so each keeps one entry (ids only:
   * an unknown string is not remembered, since it may be interned next).
   */
  private lastS: string | undefined;
  private lastId = -1;

  id(s: string): number {
    if (s === this.lastS) return this.lastId;
    let id = this.ids.get(s);
    if (id === undefined) {
      id = this.strings.length;
      this.strings.push(s);
      this.hashes.push(hashString(s));
      this.ids.set(s, id);
    }
    this.lastS = s;
    this.lastId = id;
    return id;
  }

  /** hashString(this.str(id)), kept from when the id was assigned. */
  hashOf(id: number): number {
    return this.hashes[id];
  }

  /** The id if the string was ever seen, else -1 (no insertion: for lookups of unknown values). */
  peek(s: string): number {
    if (s === this.lastS) return this.lastId;
    const id = this.ids.get(s);
    if (id === undefined) return -1;
    this.lastS = s;
    this.lastId = id;
    return id;
  }

  /**
   * Kinds (a handful: host, tool, cred, principal, the argument destinations' kinds) in a list
   * scanned by identity: the detectors ask for a kind eight or nine times a call, and a Map
   * lookup each time was the hot path's most frequent one.
   */
  private readonly kindNames: string[] = [];
  private readonly kinds: KindIds[] = [];

  private kind(kind: string): KindIds {
    const names = this.kindNames;
    for (let i = 0; i < names.length; i++) if (names[i] === kind) return this.kinds[i];
    const k: KindIds = { ids: new Map(), lastValue: undefined, lastId: -1 };
    names.push(kind);
    this.kinds.push(k);
    return k;
  }

  /** Id of `${kind}:${value}` without building that string on every lookup (hot path). */
  kindId(kind: string, value: string): number {
    const k = this.kind(kind);
    if (value === k.lastValue) return k.lastId;
    let id = k.ids.get(value);
    if (id === undefined) {
      id = this.id(`${kind}:${value}`);
      k.ids.set(value, id);
    }
    k.lastValue = value;
    k.lastId = id;
    return id;
  }

  kindPeek(kind: string, value: string): number {
    const k = this.kind(kind);
    if (value === k.lastValue) return k.lastId;
    let id = k.ids.get(value);
    if (id === undefined) {
      // Known only by its full name (restored state): remember it under its value from now on.
      id = this.peek(`${kind}:${value}`);
      if (id < 0) return id;
      k.ids.set(value, id);
    }
    k.lastValue = value;
    k.lastId = id;
    return id;
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
