import { describe, expect, it } from 'vitest';
import { DetectorTimes, MAX_MS, OUTLIER } from '../src/detector-time.js';

describe('DetectorTimes', () => {
  it('scales each sampled call by the sample rate', () => {
    const t = new DetectorTimes(256);
    for (let i = 0; i < 100; i++) t.add('a', 0.002);
    for (let i = 0; i < 100; i++) t.add('b', 0.004);
    expect(t.seconds.a).toBeCloseTo((100 * 0.002 * 256) / 1000, 9);
    expect(t.seconds.b).toBeCloseTo((100 * 0.004 * 256) / 1000, 9);
  });

  it('counts a stall in one sampled call for a bounded multiple of the detector’s usual time, not 256 times the stall', () => {
    const t = new DetectorTimes(256);
    for (let i = 0; i < 200; i++) t.add('idle', 0.0005);
    for (let i = 0; i < 200; i++) t.add('busy', 0.01);
    // A 3 ms GC pause inside one sampled call of the detector that does almost nothing.
    t.add('idle', 3);
    expect(t.seconds.idle).toBeLessThan(((200 * 0.0005 + OUTLIER * 0.0005) * 256) / 1000 + 1e-9);
    // Unbounded, it would read 0.77 s: three times the busy detector's 0.51 s.
    expect(t.seconds.idle).toBeLessThan(t.seconds.busy / 10);
  });

  it('follows a detector that really slows, and bounds a first sample taken while its code is cold', () => {
    const t = new DetectorTimes(1);
    t.add('a', 50);
    expect(t.seconds.a).toBeCloseTo(MAX_MS / 1000, 9);
    const slow = new DetectorTimes(1);
    for (let i = 0; i < 50; i++) slow.add('a', 0.001);
    // Ten times slower from here on (a table that grew): counted in full, each under the bound.
    const before = slow.seconds.a;
    for (let i = 0; i < 50; i++) slow.add('a', 0.01);
    expect(slow.seconds.a - before).toBeCloseTo((50 * 0.01) / 1000, 9);
  });
});
