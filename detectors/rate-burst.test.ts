import { describe, expect, it } from 'vitest';
import { rateBurst } from './rate-burst.js';
import { Harness, T0, MIN, mkCall, mkChain } from '../test/helpers/detector-harness.js';

describe('rate-burst', () => {
  it('flags a minute with far more calls than the agent ever makes, and keeps bursts out of its baseline', () => {
    const h = new Harness(rateBurst());
    for (let m = 0; m < 200; m++) h.learn(Array.from({ length: 2 + (m % 4) }, (_, i) => mkCall({ time: T0 + m * MIN + i * 1000 })));
    const t = T0 + 300 * MIN;
    const found = h.score(Array.from({ length: 120 }, (_, i) => mkCall({ time: t + i * 400 })), mkChain([]));
    const first = found.findIndex((f) => f !== undefined);
    expect(first).toBeGreaterThanOrEqual(29);
    expect(found[first]?.reason).toMatch(/made \d+ calls in one minute; it usually makes ~\d+ per active minute/);
    // The next quiet minute closes the burst minute without learning it.
    const before = h.state.stats.mean;
    h.score([mkCall({ time: t + 5 * MIN })], mkChain([]));
    expect(h.state.stats.mean).toBeCloseTo(before, 6);
  });

  it('does not count calls of a minute already closed into the current one (out-of-order arrival)', () => {
    const h = new Harness(rateBurst());
    for (let m = 0; m < 200; m++) h.learn(Array.from({ length: 2 + (m % 4) }, (_, i) => mkCall({ time: T0 + m * MIN + i * 1000 })));
    const t = T0 + 300 * MIN;
    // Three calls a minute over an hour, but each minute's calls arrive after the next minute began.
    const calls = [mkCall({ time: t + 60 * MIN })];
    for (let m = 0; m < 60; m++) for (let i = 0; i < 3; i++) calls.push(mkCall({ time: t + m * MIN + i * 1000 }));
    expect(h.score(calls, mkChain([])).every((f) => f === undefined)).toBe(true);
    // Nothing late was folded into the baseline either.
    expect(h.state.stats.n).toBe(200); // the 200 learned minutes, nothing of the late hour
  });

  it('takes the spikes of learned history as normal, so the same spike live is not a burst', () => {
    const h = new Harness(rateBurst());
    // Three calls a minute; after the first 100 minutes (a baseline by then), a batch of 60 every tenth.
    for (let m = 0; m < 300; m++) h.learn(Array.from({ length: m >= 100 && m % 10 === 9 ? 60 : 3 }, (_, i) => mkCall({ time: T0 + m * MIN + i * 900 })));
    const t = T0 + 400 * MIN;
    expect(h.score(Array.from({ length: 60 }, (_, i) => mkCall({ time: t + i * 900 })), mkChain([])).every((f) => f === undefined)).toBe(true);
    // A run far past its largest learned minute still is.
    expect(h.score(Array.from({ length: 500 }, (_, i) => mkCall({ time: t + 10 * MIN + i * 100 })), mkChain([])).some((f) => f !== undefined)).toBe(true);
  });

  it('does not fire on normal minutes', () => {
    const h = new Harness(rateBurst());
    for (let m = 0; m < 100; m++) h.learn([mkCall({ time: T0 + m * MIN }), mkCall({ time: T0 + m * MIN + 500 })]);
    expect(h.score([mkCall({ time: T0 + 200 * MIN }), mkCall({ time: T0 + 200 * MIN + 1 })], mkChain([])).every((f) => f === undefined)).toBe(true);
  });
});
