/** A count table's arena words: the current block only while it lives, all of them back on release. */
import { describe, expect, it } from 'vitest';
import { arena } from '../src/arena.js';
import { CountTable } from '../src/count-table.js';

const DAY = 86_400_000;
const T = Date.UTC(2026, 5, 1, 10);

function filled(keys: number): CountTable {
  const t = new CountTable(48, DAY);
  for (let k = 0; k < keys; k++) t.add(k, T + k, k + 1);
  return t;
}

describe('CountTable arena words', () => {
  it('holds its current block only: growing gives the smaller one back, entries intact', () => {
    const before = arena.liveWords;
    const t = filled(20); // 4 → 8 → 16 → 32 entries
    expect(arena.liveWords - before).toBe(2 + 3 * 32); // its header (the last decay's time) and 32 entries
    for (let k = 0; k < 20; k++) expect(t.count(k)).toBe(k + 1);
  });

  it('gives every word back on release, once, and lends them to the next tables zeroed', () => {
    const before = arena.liveWords;
    const tables = Array.from({ length: 50 }, () => filled(40));
    expect(arena.liveWords - before).toBe(50 * (2 + 3 * 48));
    for (const t of tables) t.release();
    for (const t of tables) t.release(); // twice is harmless: a block is never on the free list twice
    expect(arena.liveWords).toBe(before);
    const next = Array.from({ length: 50 }, () => filled(40));
    expect(arena.liveWords - before).toBe(50 * (2 + 3 * 48));
    // No two live tables share words: each keeps its own counts.
    next.forEach((t, i) => t.add(0, T, i + 100));
    next.forEach((t, i) => expect(t.count(0)).toBe(1 + i + 100));
  });

  it('gives back every word of a table that started with no entries, and keeps its decay time as it grows', () => {
    const before = arena.liveWords;
    const t = new CountTable(48, DAY, 0);
    t.add(1, T);
    t.add(2, T + 3 * DAY); // decays the first from T: its count halves after a half-life (DAY)
    expect(t.count(1)).toBeCloseTo(0.125, 3);
    t.release();
    expect(arena.liveWords).toBe(before);
  });

  it('is empty after release and, used anyway, takes a block of its own', () => {
    const other = filled(10);
    const t = filled(10);
    t.release();
    expect([t.size, t.count(3), t.has(3)]).toEqual([0, 0, false]);
    expect(t.add(3, T)).toBe(true);
    expect(t.count(3)).toBe(1);
    for (let k = 0; k < 10; k++) expect(other.count(k)).toBe(k + 1);
  });
});
