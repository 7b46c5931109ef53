/** zstd as chainwatch reads it (Kafka records, the Collector file exporter's files, request bodies): large frames, sizes declared or not, bombs. */
import { describe, expect, it } from 'vitest';
import { zstdCompress, zstdContentSize, zstdDecompress, zstdDecompressAtMost, ZstdTooLargeError } from '../src/zstd.js';
import { rleFrame } from './helpers/zstd-frames.js';

describe('zstd', () => {
  it('reads the content size a frame declares, in each of its widths', async () => {
    expect(zstdContentSize(rleFrame(3, true))).toBe(3 * 131_072);
    expect(zstdContentSize(rleFrame(3))).toBeUndefined();
    for (const n of [10, 300, 70_000]) expect(zstdContentSize(await zstdCompress(Buffer.alloc(n, 7))), String(n)).toBe(n); // 1, 2 and 4 bytes
  });

  it('decompresses frames past what the one-shot decoder can hold, declared or not, and keeps working after', async () => {
    // 16 MB: zstd-codec's one-shot decoder aborted its WebAssembly module on it ("OOM"), for good.
    for (const declared of [true, false]) {
      const out = await zstdDecompress(rleFrame(128, declared));
      expect(out.length, `declared ${declared}`).toBe(16 * 1024 * 1024);
      expect(out.every((b) => b === 0)).toBe(true);
    }
    const small = Buffer.from('a small record, one-shot');
    expect((await zstdDecompress(await zstdCompress(small))).equals(small)).toBe(true);
  });

  it('stops a body that expands past its limit, and passes one under it', async () => {
    const bomb = rleFrame(80); // 10 MB from 330 bytes
    await expect(zstdDecompressAtMost(bomb, 1024 * 1024)).rejects.toBeInstanceOf(ZstdTooLargeError);
    expect((await zstdDecompressAtMost(bomb, 16 * 1024 * 1024)).length).toBe(10 * 1024 * 1024);
    await expect(zstdDecompressAtMost(Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 9, 9, 9, 9]), 1024)).rejects.toThrow();
  });
});
