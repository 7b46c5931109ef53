/**
 * Byte ranges compared four bytes at a time: the key filter's names and the decoder's caches of
 * recent strings and ids against the bytes of a request, which a DataView reads as words (a
 * request's fields sit at any offset). Going by word made decode alone 1.135× as fast as byte by
 * byte (docs/benchmarks.md, twenty-first session).
 */

/**
 * Whether `len` bytes of `buf` from `start` (read through `view`, a DataView of `buf`'s bytes)
 * equal the `len` bytes held from byte `base` of `bytes`, a multiple of 4, whose words `words` is:
 * four at a time, then the tail. The words are read little-endian, as a literal: with the byte
 * order in a variable instead, decode measured 0.93–0.96× (TurboFan's DataView reads are quicker
 * for an order it knows).
 */
export function sameWords(words: Uint32Array, bytes: Uint8Array, base: number, buf: Uint8Array, view: DataView, start: number, len: number): boolean {
  const n = len >> 2;
  const w = base >> 2;
  for (let i = 0; i < n; i++) if (words[w + i] !== view.getUint32(start + 4 * i, true)) return false;
  for (let i = n * 4; i < len; i++) if (bytes[base + i] !== buf[start + i]) return false;
  return true;
}

/** The same, byte by byte: for a machine whose Uint32Array words are big-endian. */
export function sameEachByte(_words: Uint32Array, bytes: Uint8Array, base: number, buf: Uint8Array, _view: DataView, start: number, len: number): boolean {
  for (let i = 0; i < len; i++) if (bytes[base + i] !== buf[start + i]) return false;
  return true;
}

/** sameWords where a Uint32Array holds its words little-endian (the machines Node runs on, but s390x), else sameEachByte. */
export const sameBytes = new Uint8Array(Uint32Array.of(1).buffer)[0] === 1 ? sameWords : sameEachByte;

/** A copy of `src` in a buffer of whole words, with its word view: what sameBytes compares against. */
export function wordAligned(src: Uint8Array): { bytes: Uint8Array; words: Uint32Array } {
  const bytes = new Uint8Array((src.length + 3) & ~3);
  bytes.set(src);
  return { bytes, words: new Uint32Array(bytes.buffer) };
}
