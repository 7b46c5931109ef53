/**
 * A Map of at most `capacity` entries that forgets the earliest inserted first (setting a key it
 * holds keeps the key's place, as in a Map). The insertion order is kept beside the Map in a ring:
 * taking the oldest key through `map.keys().next()` walks over every entry deleted since V8 last
 * rebuilt the Map's table, and those pile up at the front — 6.4–6.8 µs an eviction at 10,000
 * entries on this machine, against 0.15–0.18 µs with the ring.
 */
export class FifoMap<K, V> implements Iterable<[K, V]> {
  private readonly map = new Map<K, V>();
  private readonly ring: K[];
  /** Slot of the oldest key; the keys follow it in insertion order, `size` of them. */
  private head = 0;
  /** Counts sets and deletes: equal versions, equal contents (what a state save need not write again). */
  version = 0;

  constructor(readonly capacity: number) {
    if (!(capacity >= 1)) throw new RangeError(`FifoMap capacity must be at least 1, got ${capacity}`);
    this.ring = new Array<K>(capacity);
  }

  get size(): number {
    return this.map.size;
  }

  get(key: K): V | undefined {
    return this.map.get(key);
  }

  has(key: K): boolean {
    return this.map.has(key);
  }

  set(key: K, value: V): void {
    this.version++;
    if (!this.map.has(key)) {
      if (this.map.size >= this.capacity) {
        this.map.delete(this.ring[this.head]);
        this.head = (this.head + 1) % this.capacity;
      }
      this.ring[(this.head + this.map.size) % this.capacity] = key;
    }
    this.map.set(key, value);
  }

  /** Delete the entries `drop` picks; the rest keep their order (rare: O(size)). */
  deleteWhere(drop: (value: V, key: K) => boolean): void {
    this.version++;
    for (const [k, v] of this.map) if (drop(v, k)) this.map.delete(k);
    let i = 0;
    for (const k of this.map.keys()) this.ring[i++] = k;
    this.head = 0;
  }

  [Symbol.iterator](): IterableIterator<[K, V]> {
    return this.map.entries();
  }
}
