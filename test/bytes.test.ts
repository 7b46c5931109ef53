/**
 * The word-at-a-time compare the decoder's caches and key filter use, and its byte-by-byte twin
 * for big-endian machines, against a plain compare: every length up to 64, the request's bytes at
 * every alignment, equal ranges and ranges that differ in one byte anywhere.
 */
import { describe, expect, it } from 'vitest';
import { sameEachByte, sameWords, wordAligned } from '../src/bytes.js';
import { rng } from './helpers/rng.js';

describe('sameWords and sameEachByte', () => {
  it('agree with a plain compare at every length, offset and differing byte', () => {
    const r = rng(23);
    let checked = 0;
    for (let len = 0; len <= 64; len++) {
      const held = Uint8Array.from({ length: len }, () => Math.floor(r() * 256));
      // Held from byte 8 of a longer block, as a cache slot is.
      const { bytes, words } = wordAligned(Uint8Array.from([...new Array(8).fill(7), ...held]));
      for (let offset = 0; offset < 4; offset++) {
        for (let at = -1; at < len; at++) {
          const buf = new Uint8Array(offset + len + 3);
          buf.set(held, offset);
          if (at >= 0) buf[offset + at] ^= 1 << Math.floor(r() * 8);
          const view = new DataView(buf.buffer);
          const want = at < 0;
          expect(sameWords(words, bytes, 8, buf, view, offset, len), `len ${len} offset ${offset} at ${at}`).toBe(want);
          expect(sameEachByte(words, bytes, 8, buf, view, offset, len)).toBe(want);
          checked++;
        }
      }
    }
    expect(checked).toBe((4 * 65 * 66) / 2);
  });

  it('copies into whole words, the bytes first', () => {
    const { bytes, words } = wordAligned(Uint8Array.from([1, 2, 3, 4, 5]));
    expect([...bytes]).toEqual([1, 2, 3, 4, 5, 0, 0, 0]);
    expect(words).toHaveLength(2);
    expect(words.buffer).toBe(bytes.buffer);
  });
});
