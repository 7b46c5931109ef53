import { describe, expect, it } from 'vitest';
import { type TraceEntry, TraceTable } from '../src/trace-table.js';
import { rng } from './helpers/rng.js';
import { InternalError } from '../src/errors.js';

interface Entry extends TraceEntry<Entry> {
  n: number;
  /** Where the test's pool holds it. */
  at: number;
}

const entry = (traceId: string, n: number): Entry => ({ traceId, n, at: -1, prev: undefined, next: undefined, hash: 0, listed: false });

describe('TraceTable', () => {
  it('finds, orders and forgets traces as a Map moved to its end on every touch does, through growth and shrinking', () => {
    const rand = rng(5);
    const table = new TraceTable<Entry>();
    // The reference: a Map whose order is the order of last touch (delete and set again).
    const ref = new Map<string, Entry>();
    let n = 0;
    // Ids that differ in one character, long and short, and 32-hex ones: collisions in the low bits are many.
    const idOf = (k: number): string => (k % 3 === 0 ? `${k}` : k % 3 === 1 ? k.toString(16).padStart(32, '0') : `trace-${k}-x`);
    const listed = (): Entry[] => [...ref.values()];
    // The listed entries in no order, for picking one at random (removed by swapping with the last).
    const pool: Entry[] = [];
    const pick = (): Entry => pool[Math.floor(rand() * pool.length)];
    const unpool = (e: Entry): void => {
      const last = pool.pop()!;
      if (last !== e) {
        pool[e.at] = last;
        last.at = e.at;
      }
    };
    /** Steps where a lookup or the size disagreed with the reference. */
    const wrong: number[] = [];
    for (let step = 0; step < 60_000; step++) {
      // Grow to ~3,000 open, then drain to a few, twice: the index resizes both ways.
      const phase = Math.floor(step / 15_000) % 2;
      const r = rand();
      if (ref.size === 0 || (phase === 0 ? r < 0.5 : r < 0.2)) {
        const id = idOf(Math.floor(rand() * 1_000_000));
        if (ref.has(id)) continue;
        const e = entry(id, n++);
        table.add(e);
        ref.set(id, e);
        e.at = pool.push(e) - 1;
      } else if (r < 0.75) {
        const e = pick();
        table.delete(e);
        ref.delete(e.traceId);
        unpool(e);
        if (e.listed || e.prev !== undefined || e.next !== undefined) wrong.push(step);
      } else {
        const e = pick();
        table.touch(e);
        ref.delete(e.traceId);
        ref.set(e.traceId, e);
      }
      const probe = idOf(Math.floor(rand() * 1_000_000));
      if (table.get(probe) !== ref.get(probe) || table.size !== ref.size) wrong.push(step);
      if (step % 997 === 0) {
        expect([...table.values()].map((e) => e.n)).toEqual(listed().map((e) => e.n));
        for (const e of ref.values()) if (table.get(e.traceId) !== e) wrong.push(step);
        expect(table.first()).toBe(ref.values().next().value);
      }
    }
    expect(wrong).toEqual([]);
    expect([...table.values()].map((e) => e.n)).toEqual(listed().map((e) => e.n));
  });

  it('lets the entry being visited be deleted, as the idle scan does', () => {
    const table = new TraceTable<Entry>();
    const all = Array.from({ length: 10 }, (_, i) => entry(`t${i}`, i));
    for (const e of all) table.add(e);
    table.touch(all[0]);
    const seen: number[] = [];
    for (const e of table.values()) {
      seen.push(e.n);
      if (e.n % 2 === 1) table.delete(e);
    }
    expect(seen).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 0]);
    expect([...table.values()].map((e) => e.n)).toEqual([2, 4, 6, 8, 0]);
    expect(table.get('t3')).toBeUndefined();
    expect(table.get('t4')).toBe(all[4]);
  });

  it('refuses an entry it holds already', () => {
    const table = new TraceTable<Entry>();
    const e = entry('a', 0);
    table.add(e);
    expect(() => table.add(e)).toThrow(/trace a is in the table already/);
    expect(() => table.add(e)).toThrow(InternalError);
  });
});
