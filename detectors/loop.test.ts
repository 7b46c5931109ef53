import { describe, expect, it } from 'vitest';
import { loop } from './loop.js';
import { Harness, T0, DAY_MS, mkCall, mkChain, routine } from '../test/helpers/detector-harness.js';

describe('loop', () => {
  it('flags one action repeated far beyond the agent’s longest normal run, once per chain', () => {
    const h = new Harness(loop());
    routine(h, 10, 10, (t) => [mkCall({ time: t, sig: 'GET a/x' }), mkCall({ time: t + 1, sig: 'GET a/x' }), mkCall({ time: t + 2, sig: 'POST a/y' })]);
    const found = h.score(Array.from({ length: 40 }, (_, i) => mkCall({ time: T0 + 11 * DAY_MS + i, sig: 'GET a/x' })), mkChain([]));
    const fired = found.filter((f) => f !== undefined);
    expect(fired).toHaveLength(1);
    expect(fired[0]?.reason).toMatch(/repeated GET a\/x 13 times in a row/);
  });

  it('detects A-B-A-B cycles', () => {
    const h = new Harness(loop());
    routine(h, 10, 10, (t) => [mkCall({ time: t, sig: 'A' }), mkCall({ time: t + 1, sig: 'B' })]);
    const found = h.score(Array.from({ length: 60 }, (_, i) => mkCall({ time: T0 + 11 * DAY_MS + i, sig: i % 2 ? 'B' : 'A' })), mkChain([]));
    expect(found.some((f) => f !== undefined)).toBe(true);
  });

  it('learns long pagination runs as normal', () => {
    const h = new Harness(loop());
    routine(h, 10, 10, (t) => Array.from({ length: 30 }, (_, i) => mkCall({ time: t + i, sig: 'GET a/page' })));
    expect(h.score(Array.from({ length: 40 }, (_, i) => mkCall({ time: T0 + 11 * DAY_MS + i, sig: 'GET a/page' })), mkChain([])).every((f) => f === undefined)).toBe(true);
  });
});
