/** Attrs: the decoded attributes of a span, six pairs in fields and the rest in an overflow list. */
import { describe, expect, it } from 'vitest';
import { Attrs, FieldKeys } from '../src/span.js';

describe('Attrs', () => {
  it('keeps any number of pairs, the last value of a repeated key, and answers absent keys', () => {
    const a = new Attrs();
    const names = Array.from({ length: 70 }, (_, i) => `k${i}`);
    // Keys above 63 have no presence bit: they must still be found.
    const keys = [3, 40, 0, 63, 31, 32, 5, 66, 12, 69];
    keys.forEach((k, i) => a.set(k, `v${i}`));
    a.set(40, 'again'); // in a field
    a.set(66, 'again too'); // in the overflow
    for (const [i, k] of keys.entries()) expect(a.get(k)).toBe(k === 40 ? 'again' : k === 66 ? 'again too' : `v${i}`);
    for (const k of [1, 33, 64, 68]) expect(a.get(k)).toBeUndefined();
    expect(Object.keys(a.toObject(names))).toEqual(keys.map((k) => `k${k}`));
  });

  it('holds values of every attribute type, null included', () => {
    const a = new Attrs();
    const values = ['s', 7, 1.5, true, null, [1, 'x'], { nested: 1 }];
    values.forEach((v, i) => a.set(i, v));
    values.forEach((v, i) => expect(a.get(i)).toEqual(v));
  });

  it('says a field may be held exactly when one of its keys is, whichever word its bit is in', () => {
    const a = new Attrs();
    a.set(2, 'low');
    a.set(37, 'high');
    a.set(66, 'past the bits');
    expect(a.mayHold(new FieldKeys([5, 2]))).toBe(true);
    expect(a.mayHold(new FieldKeys([31, 37]))).toBe(true);
    expect(a.mayHold(new FieldKeys([31, 0, 63]))).toBe(false);
    expect(a.mayHold(new FieldKeys([]))).toBe(false);
    // A key with no presence bit cannot be ruled out by bits: it is looked up.
    expect(a.mayHold(new FieldKeys([66]))).toBe(true);
    expect(new Attrs().mayHold(new FieldKeys([64]))).toBe(true);
  });
});
