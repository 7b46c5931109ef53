/**
 * The open traces, found by trace id and kept in the order they were last touched (oldest
 * first: the idle scan stops at the first trace not idle). Not a Map: a Map with a set and a
 * delete per trace rehashes every few traces, and V8 links each obsolete table to the next, so
 * once one table sits in the old generation — always, in a service with a thousand traces open —
 * every table since and every buffer they held stay alive until a full GC (docs/benchmarks.md,
 * "What a young engine hid"). Here the order is a list threaded through the entries, the index an
 * open-addressed array of the entries themselves that is emptied when it is replaced, and a
 * removed entry keeps no link to the ones still open.
 *
 * The hash is seeded per process, so that trace ids chosen to collide cannot make every lookup a
 * long probe; nothing that is observable depends on it (order is the list's).
 */
import { randomInt } from 'node:crypto';
import { InternalError } from './errors.js';

export interface TraceEntry<T> {
  readonly traceId: string;
  /** Links of the touch-order list and the id's hash: the table's to set. */
  prev: T | undefined;
  next: T | undefined;
  hash: number;
  /** Whether the entry is in the table now. */
  listed: boolean;
}

const MIN_SLOTS = 64;
const SEED = randomInt(0x7fffffff);

function hashOf(id: string): number {
  let h = SEED;
  for (let i = 0; i < id.length; i++) h = Math.imul(h ^ id.charCodeAt(i), 0x01000193);
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  return (h ^ (h >>> 13)) >>> 0;
}

export class TraceTable<T extends TraceEntry<T>> {
  private slots: (T | undefined)[] = new Array<T | undefined>(MIN_SLOTS).fill(undefined);
  private mask = MIN_SLOTS - 1;
  private head: T | undefined;
  private tail: T | undefined;
  /** The id last hashed: a trace's spans come together, with one id string between them. */
  private lastId = '';
  private lastHash = 0;
  size = 0;

  private hash(id: string): number {
    if (id !== this.lastId) {
      this.lastId = id;
      this.lastHash = hashOf(id);
    }
    return this.lastHash;
  }

  get(traceId: string): T | undefined {
    const slots = this.slots;
    const mask = this.mask;
    const h = this.hash(traceId);
    for (let i = h & mask; ; i = (i + 1) & mask) {
      const e = slots[i];
      if (e === undefined) return undefined;
      if (e.hash === h && e.traceId === traceId) return e;
    }
  }

  /** The entry touched longest ago. */
  first(): T | undefined {
    return this.head;
  }

  /** Add an entry whose id the table does not hold, as the most recently touched. */
  add(entry: T): void {
    if (entry.listed) throw new InternalError(`TraceTable.add: trace ${entry.traceId} is in the table already`);
    if (2 * (this.size + 1) > this.slots.length) this.resize(2 * this.slots.length);
    entry.hash = this.hash(entry.traceId);
    this.place(entry);
    entry.listed = true;
    this.size++;
    this.append(entry);
  }

  /** Make an entry the most recently touched. */
  touch(entry: T): void {
    if (this.tail === entry) return;
    this.unlink(entry);
    this.append(entry);
  }

  delete(entry: T): void {
    if (!entry.listed) return;
    const slots = this.slots;
    const mask = this.mask;
    let i = entry.hash & mask;
    while (slots[i] !== entry) i = (i + 1) & mask;
    // Backward-shift deletion: entries after the hole that would not be found past it move in.
    slots[i] = undefined;
    for (let j = (i + 1) & mask; slots[j] !== undefined; j = (j + 1) & mask) {
      const e = slots[j]!;
      const home = e.hash & mask;
      const between = i <= j ? home > i && home <= j : home > i || home <= j;
      if (!between) {
        slots[i] = e;
        slots[j] = undefined;
        i = j;
      }
    }
    this.unlink(entry);
    entry.listed = false;
    this.size--;
    if (this.slots.length > MIN_SLOTS && 8 * this.size < this.slots.length) this.resize(this.slots.length / 2);
  }

  /** Oldest first. The entry being visited may be deleted; others may not. */
  *values(): IterableIterator<T> {
    for (let e = this.head; e !== undefined; ) {
      const next = e.next;
      yield e;
      e = next;
    }
  }

  private place(entry: T): void {
    const slots = this.slots;
    const mask = this.mask;
    let i = entry.hash & mask;
    while (slots[i] !== undefined) i = (i + 1) & mask;
    slots[i] = entry;
  }

  private resize(length: number): void {
    const old = this.slots;
    this.slots = new Array<T | undefined>(length).fill(undefined);
    this.mask = length - 1;
    for (let e = this.head; e !== undefined; e = e.next) this.place(e);
    // The old array may be in the old generation: left holding entries, it would keep them alive.
    old.fill(undefined);
  }

  private append(entry: T): void {
    entry.prev = this.tail;
    entry.next = undefined;
    if (this.tail !== undefined) this.tail.next = entry;
    else this.head = entry;
    this.tail = entry;
  }

  private unlink(entry: T): void {
    const { prev, next } = entry;
    if (prev !== undefined) prev.next = next;
    else this.head = next;
    if (next !== undefined) next.prev = prev;
    else this.tail = prev;
    entry.prev = undefined;
    entry.next = undefined;
  }
}
