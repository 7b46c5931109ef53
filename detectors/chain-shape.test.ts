import { describe, expect, it } from 'vitest';
import { defaultDetectorSettings } from './types.js';
import { chainShape, shapeOf } from './chain-shape.js';
import { Harness, T0, DAY_MS, mkCall, mkChain, routine } from '../test/helpers/detector-harness.js';

const sigs = ['GET a.internal/x', 'GET b.internal/y', 'POST a.internal/z'];
const chain = (t: number, n: number, list = sigs) => Array.from({ length: n }, (_, i) => mkCall({ time: t + i * 1000, sig: list[i % list.length] }));

describe('chain-shape', () => {
  it('flags a chain far longer than this agent ever runs', () => {
    const h = new Harness(chainShape(defaultDetectorSettings));
    routine(h, 10, 10, (t, i) => chain(t, 3 + (i % 3)));
    const f = h.scoreChain(chain(T0 + 11 * DAY_MS, 80));
    expect(f?.signature).toBe('chain-length');
    expect(f?.reason).toMatch(/chain of 80 calls; support-agent-01's chains have ~\d/);
    expect(h.scoreChain(chain(T0 + 11 * DAY_MS, 4))).toBeUndefined();
  });

  it('gives a chain the shape of its distinct actions in first-use order, however long and repetitive', () => {
    const shape = (list: string[]): number => shapeOf(mkChain(list.map((sig, i) => mkCall({ time: T0 + i, sig }))));
    const [a, b, c] = sigs;
    expect(shape([a, b, a, c, b])).toBe(shape([a, b, c]));
    // Past 16 calls repeats are found another way; the shape must not change with length.
    expect(shape(Array.from({ length: 40 }, (_, i) => [a, b, a, c][i % 4]))).toBe(shape([a, b, c]));
    expect(shape([a, c, b])).not.toBe(shape([a, b, c]));
    expect(shape(Array.from({ length: 40 }, (_, i) => [a, c, b][i % 3]))).not.toBe(shape([a, b, c]));
  });

  it('flags a never-seen sequence of actions from an agent with few shapes', () => {
    const h = new Harness(chainShape(defaultDetectorSettings));
    routine(h, 10, 10, (t) => chain(t, 3));
    const f = h.scoreChain(chain(T0 + 11 * DAY_MS, 3, ['GET a.internal/x', 'DELETE c.internal/all', 'POST a.internal/z']));
    expect(f?.title).toBe('New kind of chain');
  });

  it('is silent before it has seen enough chains', () => {
    const h = new Harness(chainShape(defaultDetectorSettings));
    routine(h, 1, 5, (t) => chain(t, 3));
    expect(h.scoreChain(chain(T0, 80))).toBeUndefined();
  });
});
