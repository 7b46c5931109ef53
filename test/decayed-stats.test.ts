/**
 * DecayedStats keeps its four numbers in arena blocks shared with the count tables: each must
 * read what it learned whatever blocks lie beside it, survive JSON, and give its words back.
 */
import { describe, expect, it } from 'vitest';
import { mean, variance } from 'simple-statistics';
import { arena } from '../src/arena.js';
import { CountTable } from '../src/count-table.js';
import { DecayedStats } from '../src/decayed-stats.js';

describe('DecayedStats', () => {
  it('is the exact mean and (population) variance within its window', () => {
    const xs = [3, 1, 4, 1, 5, 9, 2, 6];
    const s = new DecayedStats(100);
    for (const x of xs) s.add(x);
    expect(s.n).toBe(xs.length);
    expect(s.mean).toBeCloseTo(mean(xs), 12);
    expect(s.variance).toBeCloseTo(variance(xs), 12);
    expect(s.max).toBeCloseTo(9 * (1 - 1 / 400) ** 2, 12); // the largest, decayed a little by each of the two adds since
    s.release();
  });

  it('keeps statistics apart from each other and from count tables of odd sizes allocated between them', () => {
    const made: DecayedStats[] = [];
    const tables: CountTable[] = [];
    for (let i = 0; i < 50; i++) {
      // 5 entries restored: 2 + 15 words asked, an odd number
      tables.push(CountTable.fromJSON({ d: 1, e: [['a', 1, 0], ['b', 2, 0], ['c', 3, 0], ['d', 4, 0], ['e', 5, 0]] }, 48, 1e9, (k) => k.charCodeAt(0)));
      const s = new DecayedStats(10);
      s.add(i);
      s.add(i + 2);
      made.push(s);
    }
    for (let i = 0; i < 50; i++) {
      expect(made[i].mean).toBe(i + 1);
      expect(made[i].variance).toBe(1);
      expect(tables[i].count('e'.charCodeAt(0))).toBe(5);
    }
    for (const t of tables) t.release();
    for (const s of made) s.release();
  });

  it('survives JSON unchanged', () => {
    const s = new DecayedStats(500);
    for (const x of [0.5, 1.25, 7, 2]) s.add(Math.log(x));
    const back = DecayedStats.fromJSON(JSON.parse(JSON.stringify(s)) as [number, number, number, number], 500);
    expect(back.toJSON()).toEqual(s.toJSON());
    expect(back.z(3, 0.3)).toBe(s.z(3, 0.3));
    s.release();
    back.release();
  });

  it('gives its words back on release, then reads zeros and learns nothing (twice is safe)', () => {
    const before = arena.liveWords;
    const s = new DecayedStats(500);
    expect(arena.liveWords - before).toBe(8); // four float64s
    s.add(4);
    s.release();
    s.release();
    expect(arena.liveWords).toBe(before);
    s.add(10);
    expect(s.toJSON()).toEqual([0, 0, 0, 0]);
    // Its block, lent again, is not written by the released statistic.
    const next = new DecayedStats(500);
    s.add(99);
    expect(next.n).toBe(0);
    // …and is whole: it learns and reads back like any other.
    next.add(5);
    expect(next.toJSON()).toEqual([1, 5, 0, 5]);
    next.release();
  });
});
