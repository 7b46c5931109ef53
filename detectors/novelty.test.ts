/**
 * Novelty rates, shared by the detectors that damp their scores by how often an agent's work is
 * new: the rate follows what is seen, a state read back continues where it was saved, and states
 * built fresh or read back hold their rates alike (arrays of doubles), so the code that reads
 * them is not made polymorphic by a mix of restored and new agents.
 */
import v8 from 'node:v8';
import { describe, expect, it } from 'vitest';
import { Novelty } from './types.js';

v8.setFlagsFromString('--allow-natives-syntax');
// Natives syntax is read when a function is compiled: a function made after the flag is set can use it.
const doubles = new Function('a', 'return %HasDoubleElements(a) && !%HasHoleyElements(a)') as (a: number[]) => boolean;

describe('Novelty', () => {
  it('follows the share of new observations and damps scores as novelty becomes routine', () => {
    const r = Novelty.create(2);
    expect(r).toEqual([0, 0, 0, 0]);
    expect(Novelty.damping(r)).toBe(1);
    for (let i = 0; i < 100; i++) Novelty.add(r, 0, i % 4 === 0);
    expect(Novelty.rate(r, 0)).toBeCloseTo(0.25, 1);
    expect(Novelty.rate(r, 1)).toBe(0);
    expect(Novelty.damping(r, 0)).toBe(0.1);
    // Novelty that stops is forgotten over the window (200 observations).
    for (let i = 0; i < 400; i++) Novelty.add(r, 0, false);
    expect(Novelty.damping(r, 0)).toBeGreaterThan(0.9);
  });

  it('reads a saved state back as it was, its missing kinds at 0 (a state saved before a kind was added)', () => {
    const r = Novelty.create(2);
    Novelty.add(r, 0, true);
    Novelty.add(r, 1, false);
    expect(Novelty.from([...r], 2)).toEqual(r);
    expect(Novelty.from([7, 0.25], 2)).toEqual([7, 0.25, 0, 0]);
    expect(Novelty.from([0, 0], 1)).toEqual([0, 0]);
  });

  it('holds rates as packed doubles whether built fresh or read back (from JSON, whole numbers included)', () => {
    const fresh = Novelty.create(6);
    const saved = JSON.parse(JSON.stringify(fresh)) as number[];
    expect(doubles(fresh)).toBe(true);
    expect(doubles(Novelty.create(1))).toBe(true);
    expect(doubles(Novelty.from(saved, 6))).toBe(true);
    expect(doubles(Novelty.from([3, 0.5], 1))).toBe(true);
    // What a new array of zeros and a copy of a JSON array are: the two kinds these used to mix.
    expect(doubles(new Array<number>(4).fill(0))).toBe(false);
    expect(doubles([...saved])).toBe(false);
  });
});
