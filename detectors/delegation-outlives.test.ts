import { describe, expect, it } from 'vitest';
import { delegationOutlives } from './delegation-outlives.js';
import { Harness, T0, DAY_MS, HOUR, mkCall, mkChain, routine } from '../test/helpers/detector-harness.js';

describe('delegation-outlives', () => {
  it('flags a chain still acting hours after its task normally ends, once', () => {
    const h = new Harness(delegationOutlives());
    routine(h, 10, 10, (t) => [mkCall({ time: t }), mkCall({ time: t + 30_000 })]);
    const t = T0 + 11 * DAY_MS;
    const found = h.score([mkCall({ time: t }), mkCall({ time: t + 20_000 }), mkCall({ time: t + 6 * HOUR }), mkCall({ time: t + 7 * HOUR })], mkChain([]));
    expect(found.slice(0, 2).every((f) => f === undefined)).toBe(true);
    expect(found[2]?.reason).toMatch(/still acting 6\.0 h into a chain/);
    expect(found[3]).toBeUndefined();
  });

  it('learns long-running work as normal', () => {
    const h = new Harness(delegationOutlives());
    routine(h, 10, 10, (t) => [mkCall({ time: t }), mkCall({ time: t + 2 * HOUR })]);
    const t = T0 + 11 * DAY_MS;
    expect(h.score([mkCall({ time: t }), mkCall({ time: t + 3 * HOUR })], mkChain([])).every((f) => f === undefined)).toBe(true);
  });
});
