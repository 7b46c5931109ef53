import { NO_WORDS, arena } from './arena.js';

/**
 * A small, bounded table of decayed counts keyed by 32-bit ids: the building block of every
 * per-agent baseline. A block of the shared arena holds the time of the last decay (a float64 in
 * two words: as a field of the object it was a boxed number of its own, 24 bytes a table with its
 * field, seven tables an agent) and then [key, count, lastSeen] per entry (12 bytes; no typed
 * array of its own, whose overhead would exceed the entries):
 * counts are fixed point (1/1024), lastSeen is whole hours since the epoch. The array grows by
 * doubling up to `maxSize`; when full, the entry with the smallest count is evicted. Counts halve
 * every `halfLifeMs` of event time, applied lazily at most once an hour. Linear scans are fine
 * for an agent's tables (a few dozen entries, a few nanoseconds each); a peer group's, of
 * hundreds, find keys through an index (see INDEXED_FROM).
 */
const HOUR = 3_600_000;
const ONE = 1024;
const MAX = 0xffffffff;
/** Words before the entries: the last decay's event time, as float64. */
const HEADER = 2;
/** One float64 seen as two words, to move a time in and out of a block. */
const time64 = new Float64Array(1);
const timeWords = new Uint32Array(time64.buffer);
/**
 * Tables that may hold this many entries or more look keys up through an index: a peer group's
 * tables (512 entries) were scanned whole for every key new to one of its agents — a research
 * agent's every new site, 50 entries scanned a span on the bench's fleet, more than all the
 * agents' own tables together.
 */
const INDEXED_FROM = 128;

/** Settings shared by every table of one kind, so each table does not carry them. */
interface Spec {
  maxSize: number;
  halfLifeMs: number;
}
const specs = new Map<string, Spec>();
function specOf(maxSize: number, halfLifeMs: number): Spec {
  const key = `${maxSize}/${halfLifeMs}`;
  let spec = specs.get(key);
  if (spec === undefined) specs.set(key, (spec = { maxSize, halfLifeMs }));
  return spec;
}

/** Orders [name, count, …] entries most frequent first, ties by name (a stable order). */
export function heaviestFirst(a: readonly [string, number, ...unknown[]], b: readonly [string, number, ...unknown[]]): number {
  return b[1] - a[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0);
}

/** Index slots for a table of `maxSize` entries: a power of two, at least twice as many. */
function slotsFor(maxSize: number): number {
  let n = 1;
  while (n < 2 * maxSize) n *= 2;
  return n;
}

/** Keys are intern ids (small, dense) or pair hashes: mixed so that neither clusters in the index. */
const hashKey = (key: number): number => {
  const h = Math.imul(key, 0x9e3779b1);
  return h ^ (h >>> 15);
};

export class CountTable {
  private readonly spec: Spec;
  private data: Uint32Array;
  /** Word index of the first entry in `data`; the header is the HEADER words before it. */
  private base: number;
  private cap: number;
  size = 0;
  /**
   * For tables of INDEXED_FROM entries or more: open addressing (linear probing) from a key's
   * hash to its entry's ordinal + 1 (0: empty), twice the entries' cap in slots. The entries stay
   * where they are, in the arena, so everything else reads them as before.
   */
  private index: Int32Array | undefined;

  constructor(maxSize: number, halfLifeMs: number, initial = 4) {
    this.spec = specOf(maxSize, halfLifeMs);
    this.cap = Math.min(initial, maxSize);
    const block = arena.alloc(HEADER + 3 * this.cap);
    this.data = block.data;
    this.base = block.base + HEADER;
    this.index = maxSize >= INDEXED_FROM ? new Int32Array(slotsFor(maxSize)) : undefined;
  }

  /** Event time of the last decay; 0 before the first add. (A released table reads 0 and keeps nothing.) */
  private get decayedAt(): number {
    timeWords[0] = this.data[this.base - HEADER] ?? 0;
    timeWords[1] = this.data[this.base - HEADER + 1] ?? 0;
    return time64[0];
  }

  private set decayedAt(t: number) {
    time64[0] = t;
    this.data[this.base - HEADER] = timeWords[0];
    this.data[this.base - HEADER + 1] = timeWords[1];
  }

  get maxSize(): number {
    return this.spec.maxSize;
  }

  /** Word index of the key's entry in `data`, or -1. */
  indexOf(key: number): number {
    const d = this.data;
    const index = this.index;
    if (index !== undefined) {
      const mask = index.length - 1;
      for (let h = hashKey(key) & mask; ; h = (h + 1) & mask) {
        const e = index[h];
        if (e === 0) return -1;
        const i = this.base + 3 * (e - 1);
        if (d[i] === key) return i;
      }
    }
    const end = this.base + this.size * 3;
    for (let i = this.base; i < end; i += 3) if (d[i] === key) return i;
    return -1;
  }

  /** Index the entry at word `i` under its key (not indexed yet). */
  private indexAdd(i: number): void {
    const index = this.index!;
    const mask = index.length - 1;
    let h = hashKey(this.data[i]) & mask;
    while (index[h] !== 0) h = (h + 1) & mask;
    index[h] = (i - this.base) / 3 + 1;
  }

  /**
   * Take the entry at word `i` out of the index (its key is about to change): the slots after it
   * in its run move back where a lookup would still reach them, so no lookup stops short at the
   * hole (deletion without tombstones).
   */
  private indexDelete(i: number): void {
    const index = this.index!;
    const mask = index.length - 1;
    const d = this.data;
    const ordinal = (i - this.base) / 3 + 1;
    let hole = hashKey(d[i]) & mask;
    while (index[hole] !== ordinal) hole = (hole + 1) & mask;
    for (let h = (hole + 1) & mask; index[h] !== 0; h = (h + 1) & mask) {
      const home = hashKey(d[this.base + 3 * (index[h] - 1)]) & mask;
      // The entry at h may fill the hole when its home is not in (hole, h], cyclically.
      if (hole < h ? home <= hole || home > h : home <= hole && home > h) {
        index[hole] = index[h];
        hole = h;
      }
    }
    index[hole] = 0;
  }

  count(key: number): number {
    const i = this.indexOf(key);
    return i < 0 ? 0 : this.data[i + 1] / ONE;
  }

  has(key: number): boolean {
    return this.indexOf(key) >= 0;
  }

  /** Add weight at event time `t`; returns true when the key was new. */
  add(key: number, t: number, weight = 1): boolean {
    this.decay(t);
    let i = this.indexOf(key);
    const isNew = i < 0;
    if (isNew) {
      i = this.slot();
      this.data[i] = key;
      this.data[i + 1] = 0;
      this.data[i + 2] = 0;
      if (this.index !== undefined) this.indexAdd(i);
    }
    const w = Math.round(weight * ONE);
    this.data[i + 1] = Math.min(MAX, this.data[i + 1] + w);
    this.data[i + 2] = Math.max(this.data[i + 2], Math.floor(t / HOUR));
    return isNew;
  }

  /** Halve counts per elapsed half-life; called with event time. */
  decay(t: number): void {
    // The header read here, not through the decayedAt getter: left out of line, the getter
    // returned its number boxed, on nearly every add (about five numbers a call on the bench).
    const d = this.data;
    timeWords[0] = d[this.base - HEADER] ?? 0;
    timeWords[1] = d[this.base - HEADER + 1] ?? 0;
    const at = time64[0];
    if (at === 0) {
      this.decayedAt = t;
      return;
    }
    const dt = t - at;
    if (dt < HOUR) return;
    const f = Math.pow(0.5, dt / this.spec.halfLifeMs);
    const end = this.base + this.size * 3;
    for (let i = this.base; i < end; i += 3) d[i + 1] = Math.round(d[i + 1] * f);
    this.decayedAt = t;
  }

  private slot(): number {
    if (this.size < this.cap) return this.base + 3 * this.size++;
    if (this.cap < this.spec.maxSize) {
      const cap = Math.min(Math.max(this.cap * 2, 4), this.spec.maxSize);
      const next = arena.alloc(HEADER + 3 * cap);
      if (this.data !== NO_WORDS) {
        next.data.set(this.data.subarray(this.base - HEADER, this.base + 3 * this.size), next.base);
        arena.release({ data: this.data, base: this.base - HEADER, words: HEADER + 3 * this.cap });
      }
      this.data = next.data;
      this.base = next.base + HEADER;
      this.cap = cap;
      return this.base + 3 * this.size++;
    }
    // The smallest count, the first of equals: a full table takes each new key this way (a peer
    // group's 512 entries for a research agent's every new site), so the least is kept in a local.
    const d = this.data;
    let min = this.base;
    let least = d[min + 1];
    const end = this.base + this.size * 3;
    for (let i = this.base + 3; i < end; i += 3) {
      const c = d[i + 1];
      if (c < least) {
        min = i;
        least = c;
      }
    }
    if (this.index !== undefined) this.indexDelete(min);
    return min;
  }

  /**
   * Give the table's words back to the arena (its agent was dropped). The table is then empty and
   * holds no block: a holder that used it after all would start a block of its own, never write
   * into words lent to another table. Safe to call twice.
   */
  release(): void {
    if (this.data === NO_WORDS) return;
    arena.release({ data: this.data, base: this.base - HEADER, words: HEADER + 3 * this.cap });
    this.data = NO_WORDS;
    this.base = 0;
    this.cap = 0;
    this.size = 0;
    this.index = undefined;
  }

  /** Heap bytes: the block's words, the index, this object. */
  bytes(): number {
    return HEADER * 4 + this.cap * 12 + 64 + (this.index === undefined ? 0 : this.index.byteLength + 96);
  }

  /** Keys of the `n` most frequent entries, most frequent first, without naming the rest. */
  topKeys(n: number): number[] {
    const best: number[] = [];
    const end = this.base + this.size * 3;
    for (let i = this.base; i < end; i += 3) {
      let j = best.length;
      while (j > 0 && this.data[best[j - 1] + 1] < this.data[i + 1]) j--;
      if (j < n) {
        best.splice(j, 0, i);
        if (best.length > n) best.pop();
      }
    }
    return best.map((i) => this.data[i]);
  }

  /** Entries as [name, count, lastSeenMs], most frequent first (ties by name, so order is stable). */
  entries(name: (key: number) => string): [string, number, number][] {
    return this.toJSON(name).e.sort(heaviestFirst);
  }

  /** Exact: counts are multiples of 1/1024 and survive JSON unchanged. */
  toJSON(name: (key: number) => string): { d: number; e: [string, number, number][] } {
    const e: [string, number, number][] = [];
    const end = this.base + this.size * 3;
    for (let i = this.base; i < end; i += 3) e.push([name(this.data[i]), this.data[i + 1] / ONE, this.data[i + 2] * HOUR]);
    return { d: this.decayedAt, e };
  }

  static fromJSON(json: { d: number; e: [string, number, number][] }, maxSize: number, halfLifeMs: number, key: (name: string) => number): CountTable {
    const t = new CountTable(maxSize, halfLifeMs, Math.max(4, Math.min(json.e.length, maxSize)));
    for (const [name, count, seen] of json.e.slice(0, maxSize)) {
      const i = t.base + 3 * t.size++;
      t.data[i] = key(name);
      t.data[i + 1] = Math.round(count * ONE);
      t.data[i + 2] = Math.round(seen / HOUR);
      if (t.index !== undefined) t.indexAdd(i);
    }
    t.decayedAt = json.d;
    return t;
  }
}
