/**
 * How far back the Kafka ingest stage lets an open trace hold a partition's commit: never past
 * what had already been read `maxHoldMs` ago, so a delegation open for hours does not make a
 * successor read hours of records again. (The hold itself runs against a broker in
 * test/kafka-failover.test.ts.)
 */
import { describe, expect, it } from 'vitest';
import { HoldLimit } from '../src/kafka-ingest.js';

describe('HoldLimit', () => {
  it('lets a commit hold back to 0 until the limit has passed, then to what was read that long ago', () => {
    const hold = new HoldLimit(10_000);
    // Commits every second; partition 0 reads 100 records a second.
    const floors: number[] = [];
    for (let t = 0; t <= 15_000; t += 1_000) floors.push(hold.floor(0, t / 10, t));
    expect(floors.slice(0, 10)).toEqual(Array(10).fill(0));
    // At 10 s the read position of 0 s (offset 0) is the floor; at 15 s, that of 5 s (offset 500).
    expect(floors[10]).toBe(0);
    expect(floors[15]).toBe(500);
  });

  it('keeps partitions apart and forgets the ones that moved away', () => {
    const hold = new HoldLimit(1_000);
    hold.floor(0, 10, 0);
    hold.floor(1, 70, 0);
    expect(hold.floor(0, 20, 5_000)).toBe(10);
    expect(hold.floor(1, 90, 5_000)).toBe(70);
    hold.keepOnly(new Set([0]));
    // Partition 1 comes back later: nothing it read before counts.
    expect(hold.floor(1, 95, 6_000)).toBe(0);
    expect(hold.floor(0, 30, 6_000)).toBe(20);
  });
});
