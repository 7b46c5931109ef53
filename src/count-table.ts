/**
 * A small, bounded table of decayed counts keyed by interned ids: the building block of every
 * per-agent baseline. Parallel typed arrays (12 bytes an entry) grow by doubling up to `maxSize`;
 * when full, the entry with the smallest decayed count is evicted. Counts halve every
 * `halfLifeMs` of event time (applied lazily, at most once an hour). Linear scans are fine:
 * tables hold at most a few dozen entries and scanning a Uint32Array is a few nanoseconds each.
 */
const HOUR = 3_600_000;

export class CountTable {
  keys: Uint32Array;
  counts: Float32Array;
  /** Last seen, in hours since the epoch (Float32 keeps ±1 h precision for millennia). */
  lastSeen: Float32Array;
  size = 0;
  total = 0;
  private decayedAt = 0;

  constructor(readonly maxSize: number, readonly halfLifeMs: number, initial = 4) {
    const cap = Math.min(initial, maxSize);
    this.keys = new Uint32Array(cap);
    this.counts = new Float32Array(cap);
    this.lastSeen = new Float32Array(cap);
  }

  indexOf(key: number): number {
    const keys = this.keys;
    for (let i = 0; i < this.size; i++) if (keys[i] === key) return i;
    return -1;
  }

  count(key: number): number {
    const i = this.indexOf(key);
    return i < 0 ? 0 : this.counts[i];
  }

  has(key: number): boolean {
    return this.indexOf(key) >= 0;
  }

  /** Last seen time in ms, or undefined. */
  seenAt(key: number): number | undefined {
    const i = this.indexOf(key);
    return i < 0 ? undefined : this.lastSeen[i] * HOUR;
  }

  /** Add weight at event time `t`; returns true when the key was new. */
  add(key: number, t: number, weight = 1): boolean {
    this.decay(t);
    let i = this.indexOf(key);
    const isNew = i < 0;
    if (isNew) i = this.slot();
    if (isNew) {
      this.keys[i] = key;
      this.counts[i] = 0;
    }
    this.counts[i] += weight;
    this.lastSeen[i] = Math.max(this.lastSeen[i], t / HOUR);
    this.total += weight;
    return isNew;
  }

  /** Halve counts per elapsed half-life; called with event time. */
  decay(t: number): void {
    if (this.decayedAt === 0) {
      this.decayedAt = t;
      return;
    }
    const dt = t - this.decayedAt;
    if (dt < HOUR) return;
    const f = Math.pow(0.5, dt / this.halfLifeMs);
    for (let i = 0; i < this.size; i++) this.counts[i] *= f;
    this.total *= f;
    this.decayedAt = t;
  }

  private slot(): number {
    if (this.size < this.keys.length) return this.size++;
    if (this.keys.length < this.maxSize) {
      const cap = Math.min(this.keys.length * 2, this.maxSize);
      this.keys = grow(this.keys, new Uint32Array(cap));
      this.counts = grow(this.counts, new Float32Array(cap));
      this.lastSeen = grow(this.lastSeen, new Float32Array(cap));
      return this.size++;
    }
    let min = 0;
    for (let i = 1; i < this.size; i++) if (this.counts[i] < this.counts[min]) min = i;
    this.total -= this.counts[min];
    this.lastSeen[min] = 0;
    return min;
  }

  /** Heap bytes held by the arrays. */
  bytes(): number {
    return this.keys.byteLength * 3 + 64;
  }

  /** Entries as [name, count, lastSeenMs], most frequent first. */
  entries(name: (key: number) => string): [string, number, number][] {
    const out: [string, number, number][] = [];
    for (let i = 0; i < this.size; i++) out.push([name(this.keys[i]), round(this.counts[i]), Math.round(this.lastSeen[i] * HOUR)]);
    return out.sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
  }

  toJSON(name: (key: number) => string): { d: number; e: [string, number, number][] } {
    return { d: this.decayedAt, e: this.entries(name) };
  }

  static fromJSON(json: { d: number; e: [string, number, number][] }, maxSize: number, halfLifeMs: number, key: (name: string) => number): CountTable {
    const t = new CountTable(maxSize, halfLifeMs, Math.max(4, json.e.length));
    for (const [name, count, seen] of json.e.slice(0, maxSize)) {
      const i = t.size++;
      t.keys[i] = key(name);
      t.counts[i] = count;
      t.lastSeen[i] = seen / HOUR;
      t.total += count;
    }
    t.decayedAt = json.d;
    return t;
  }
}

function grow<T extends Uint32Array | Float32Array>(old: T, next: T): T {
  next.set(old);
  return next;
}

function round(x: number): number {
  return Math.round(x * 1000) / 1000;
}
