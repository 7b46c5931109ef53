import { describe, expect, it } from 'vitest';
import { bulkAccess } from './bulk-access.js';
import { Harness, T0, DAY_MS, mkCall, mkChain, routine } from '../test/helpers/detector-harness.js';

describe('bulk-access', () => {
  it('flags a chain touching many more distinct resources than normal, once', () => {
    const h = new Harness(bulkAccess());
    routine(h, 10, 10, (t, i) => [1, 2, 3].map((k) => mkCall({ time: t + k, resource: `crm/customers/${i * 10 + k}` })));
    const found = h.score(Array.from({ length: 100 }, (_, k) => mkCall({ time: T0 + 11 * DAY_MS + k, resource: `crm/customers/${k}` })), mkChain([]));
    const fired = found.filter((f) => f !== undefined);
    expect(fired).toHaveLength(1);
    expect(fired[0]?.reason).toMatch(/touched 26 distinct resources; its largest normal chain touched ~3/);
  });

  it('learns how many distinct resources its chains touch, short chains and long ones, repeats counted once', () => {
    // Normal chains: 60 calls over 30 records (each read twice), so the bar is e^(ln 30 + 4 x 0.3) = 100.
    const h = new Harness(bulkAccess());
    routine(h, 10, 10, (t, i) => Array.from({ length: 60 }, (_, k) => mkCall({ time: t + k, resource: `crm/customers/${i * 100 + (k % 30)}` })));
    const burst = (n: number): (ReturnType<typeof h.score>[number])[] =>
      h.score(Array.from({ length: n }, (_, k) => mkCall({ time: T0 + 11 * DAY_MS + k, resource: `crm/customers/${k}` })), mkChain([]));
    expect(burst(100).every((f) => f === undefined)).toBe(true);
    const fired = burst(101).filter((f) => f !== undefined);
    expect(fired).toHaveLength(1);
    expect(fired[0]?.reason).toMatch(/touched 101 distinct resources; its largest normal chain touched ~30/);
    // Short normal chains with repeats: 8 calls over 2 records each leave the floor of 25.
    const short = new Harness(bulkAccess());
    routine(short, 10, 10, (t, i) => Array.from({ length: 8 }, (_, k) => mkCall({ time: t + k, resource: `r/${i}/${k % 2}` })));
    const found = short.score(Array.from({ length: 26 }, (_, k) => mkCall({ time: T0 + 11 * DAY_MS + k, resource: `r/${k}` })), mkChain([]));
    expect(found.slice(0, 25).every((f) => f === undefined)).toBe(true);
    expect(found[25]?.reason).toMatch(/touched 26 distinct resources; its largest normal chain touched ~2\b/);
  });

  it('does not count the same resource twice', () => {
    const h = new Harness(bulkAccess());
    routine(h, 10, 10, (t) => [mkCall({ time: t, resource: 'r/1' })]);
    expect(h.score(Array.from({ length: 100 }, (_, k) => mkCall({ time: T0 + 11 * DAY_MS + k, resource: 'r/1' })), mkChain([])).every((f) => f === undefined)).toBe(true);
  });
});
