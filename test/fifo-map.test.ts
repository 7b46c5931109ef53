import { describe, expect, it } from 'vitest';
import { FifoMap } from '../src/fifo-map.js';

describe('FifoMap', () => {
  it('keeps at most its capacity, forgetting the earliest inserted first', () => {
    const m = new FifoMap<string, number>(3);
    for (const [i, k] of ['a', 'b', 'c', 'd', 'e'].entries()) m.set(k, i);
    expect([...m]).toEqual([['c', 2], ['d', 3], ['e', 4]]);
    expect(m.get('a')).toBeUndefined();
    expect(m.size).toBe(3);
  });

  it('keeps a key’s place when it is set again, as a Map does', () => {
    const m = new FifoMap<string, number>(3);
    m.set('a', 1);
    m.set('b', 2);
    m.set('c', 3);
    m.set('a', 10);
    m.set('d', 4);
    expect([...m]).toEqual([['b', 2], ['c', 3], ['d', 4]]);
  });

  it('goes on forgetting in order after entries are deleted, through many turns of its ring', () => {
    const m = new FifoMap<number, number>(5);
    const model: number[] = [];
    for (let i = 0; i < 200; i++) {
      m.set(i, i);
      model.push(i);
      if (model.length > 5) model.shift();
      if (i % 17 === 0) {
        m.deleteWhere((v) => v % 3 === 0);
        model.splice(0, model.length, ...model.filter((v) => v % 3 !== 0));
      }
      expect([...m].map(([k]) => k)).toEqual(model);
    }
  });

  it('refuses a capacity below one', () => {
    expect(() => new FifoMap(0)).toThrow(/capacity must be at least 1/);
  });
});
