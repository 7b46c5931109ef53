/**
 * A peer group's tables (512 entries) find keys through an index; every table must answer as a
 * plain scan of its entries would — the same counts, the same entry evicted when full, the same
 * entries in the same order saved — whatever its keys, through evictions, decay and a restore.
 */
import { describe, expect, it } from 'vitest';
import { CountTable } from '../src/count-table.js';
import { rng } from './helpers/rng.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const T = Date.UTC(2026, 5, 1, 10);

/** The table's rules written out plainly: entries in slot order, counts in 1/1024, the least count (first of equals) evicted. */
class Model {
  entries: [number, number, number][] = [];
  private decayedAt = 0;
  constructor(private readonly max: number, private readonly halfLife: number) {}
  add(key: number, t: number): boolean {
    if (this.decayedAt === 0) this.decayedAt = t;
    else if (t - this.decayedAt >= HOUR) {
      const f = Math.pow(0.5, (t - this.decayedAt) / this.halfLife);
      for (const e of this.entries) e[1] = Math.round(e[1] * f);
      this.decayedAt = t;
    }
    let e = this.entries.find((x) => x[0] === key);
    const isNew = e === undefined;
    if (e === undefined) {
      e = [key, 0, 0];
      if (this.entries.length < this.max) this.entries.push(e);
      else {
        let min = 0;
        for (let i = 1; i < this.entries.length; i++) if (this.entries[i][1] < this.entries[min][1]) min = i;
        this.entries[min] = e;
      }
    }
    e[1] += 1024;
    e[2] = Math.max(e[2], Math.floor(t / HOUR));
    return isNew;
  }
  count(key: number): number {
    return (this.entries.find((x) => x[0] === key)?.[1] ?? 0) / 1024;
  }
}

/** Keys as the detectors give them: intern ids (small, dense, in runs) or pair hashes (any 32 bits). */
function keysFrom(random: () => number, kind: 'ids' | 'hashes', n: number): number[] {
  return Array.from({ length: n }, (_, i) => (kind === 'ids' ? i * (1 + Math.floor(random() * 3)) : Math.floor(random() * 2 ** 32)));
}

describe('CountTable of a peer group (indexed)', () => {
  for (const kind of ['ids', 'hashes'] as const) {
    it(`answers as a scan of its entries would, through evictions and decay (${kind})`, () => {
      const random = rng(kind === 'ids' ? 7 : 11);
      const keys = keysFrom(random, kind, 2_000);
      const table = new CountTable(512, DAY, 16);
      const model = new Model(512, DAY);
      let t = T;
      for (let step = 0; step < 20_000; step++) {
        t += Math.floor(random() * 20 * 60_000);
        // Mostly a few hundred familiar keys, now and then one of the long tail: the table fills and evicts.
        const key = keys[random() < 0.8 ? Math.floor(random() * 300) : Math.floor(random() * keys.length)];
        expect(table.add(key, t)).toBe(model.add(key, t));
        if (step % 97 === 0) {
          const probe = keys[Math.floor(random() * keys.length)];
          expect(table.count(probe)).toBe(model.count(probe));
          expect(table.has(probe)).toBe(model.count(probe) > 0 || model.entries.some((e) => e[0] === probe));
        }
      }
      expect(table.size).toBe(512);
      expect(table.toJSON(String).e.map(([k, c]) => [Number(k), c])).toEqual(model.entries.map(([k, c]) => [k, c / 1024]));
    });
  }

  it('finds every key after a restore, and keeps evicting the same entries as the table it was saved from', () => {
    const random = rng(3);
    const keys = keysFrom(random, 'hashes', 1_500);
    const table = new CountTable(512, DAY, 16);
    let t = T;
    for (let i = 0; i < 5_000; i++) table.add(keys[Math.floor(random() * keys.length)], (t += 60_000));
    const restored = CountTable.fromJSON(JSON.parse(JSON.stringify(table.toJSON(String))), 512, DAY, Number);
    for (const k of keys) expect(restored.count(k)).toBe(table.count(k));
    for (let i = 0; i < 2_000; i++) {
      const key = keys[Math.floor(random() * keys.length)];
      t += 60_000;
      expect(restored.add(key, t)).toBe(table.add(key, t));
    }
    expect(restored.toJSON(String)).toEqual(table.toJSON(String));
  });

  it('forgets its index with its words on release, and works on as an empty table', () => {
    const table = new CountTable(512, DAY, 16);
    for (let k = 0; k < 600; k++) table.add(k, T + k);
    const bytes = table.bytes();
    table.release();
    expect(table.bytes()).toBeLessThan(bytes - 4_096);
    expect([table.size, table.has(599), table.count(599)]).toEqual([0, false, 0]);
    expect(table.add(599, T + 600)).toBe(true);
    expect(table.count(599)).toBe(1);
  });
});
