/**
 * zstd frames written by hand (RFC 8878): `blocks` RLE blocks of 128 KB of zeros, 4 bytes a block —
 * 10 MB from 330 bytes with 80. `declared`: the frame header carries the content size (4 bytes),
 * as one-shot encoders write it; without it, as streaming encoders do and as a bomb would.
 */
export function rleFrame(blocks: number, declared = false): Buffer {
  const size = Buffer.alloc(declared ? 4 : 0);
  if (declared) size.writeUInt32LE(blocks * 131_072);
  // Magic; frame header descriptor (content size in 4 bytes, or none; no checksum); window 128 KB.
  const header = Buffer.concat([Buffer.from([0x28, 0xb5, 0x2f, 0xfd, declared ? 0x80 : 0x00, 0x38]), size]);
  const block = (last: boolean): Buffer => {
    const h = (last ? 1 : 0) | (1 << 1) | (131_072 << 3); // last flag, RLE, 128 KB
    return Buffer.from([h & 0xff, (h >> 8) & 0xff, (h >> 16) & 0xff, 0x00]);
  };
  return Buffer.concat([header, ...Array.from({ length: blocks }, (_, i) => block(i === blocks - 1))]);
}
