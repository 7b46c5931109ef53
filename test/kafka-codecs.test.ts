/**
 * The compression codecs chainwatch registers with kafkajs, round-tripped without a broker
 * (test/kafka-broker.test.ts reads records the broker stored with each of them).
 */
import { describe, expect, it } from 'vitest';
import { CompressionCodecs, CompressionTypes } from 'kafkajs';
import { createRequire } from 'node:module';
import { type Lz4BlockCompressor, type Lz4Js, jsBlockCompressor, lz4Frame, nativeBlockCompressor, registerKafkaCodecs } from '../src/kafka-codecs.js';
import { zstdHasContentSize } from '../src/zstd.js';
import { rng } from './helpers/rng.js';

registerKafkaCodecs();

/** Compressible but not trivial: repeated JSON-ish text with a counter. */
function payload(bytes: number, seed: number): Buffer {
  const parts: string[] = [];
  let n = 0;
  for (let i = 0; n < bytes; i++) {
    const s = `{"t":"call","trace":"${(seed * 1e6 + i).toString(16).padStart(32, '0')}","sig":"GET api-${i % 17}.corp.internal/v1/items/{id}"}\n`;
    parts.push(s);
    n += s.length;
  }
  return Buffer.from(parts.join('')).subarray(0, bytes);
}

describe('LZ4 codec', () => {
  const codec = (CompressionCodecs[CompressionTypes.LZ4] as unknown as () => { compress(e: { buffer: Buffer }): Promise<Buffer>; decompress(b: Buffer): Promise<Buffer> })();
  const require = createRequire(import.meta.url);
  const lz4 = require('lz4js') as Lz4Js;
  const xxh32 = require('lz4js/xxh32.js') as { hash(seed: number, src: Uint8Array, index: number, length: number): number };

  it('compresses blocks natively here (lz4-napi loads on this platform)', () => {
    expect(nativeBlockCompressor()).toBeDefined();
  });

  // The registered codec takes the native compressor where it loads; the pure-JS one is the fallback elsewhere.
  const compressors: [string, () => Lz4BlockCompressor][] = [['lz4-napi', () => nativeBlockCompressor()!], ['lz4js', () => jsBlockCompressor(lz4)]];
  describe.each(compressors)('frames with blocks from %s', (_name, make) => {
    const compress = (src: Buffer): Buffer => lz4Frame(lz4, xxh32, make(), src);

    it('stores incompressible blocks raw, and round-trips them', async () => {
      const r = rng(3);
      const random = Buffer.from(Array.from({ length: 5_000_000 }, () => Math.floor(r() * 256)));
      const mixed = Buffer.concat([random, payload(4_000_000, 5)]);
      const compressed = compress(mixed);
      // Frame header (7 bytes), then the first block's size word: its top bit marks a raw block.
      expect(compressed.readUInt32LE(7) >>> 31).toBe(1);
      expect(compressed.length).toBeLessThan(mixed.length);
      expect((await codec.decompress(compressed)).equals(mixed)).toBe(true);
    });

    it('round-trips records of one block, several blocks, and a smaller one after a larger', async () => {
      for (const [bytes, seed] of [[1_000, 1], [9_500_000, 2], [70_000, 3], [0, 4]] as const) {
        const src = payload(bytes, seed);
        const compressed = compress(src);
        if (bytes > 10_000) expect(compressed.length).toBeLessThan(src.length / 2);
        const out = await codec.decompress(compressed);
        expect(out.length).toBe(src.length);
        expect(out.equals(src)).toBe(true);
      }
    });
  });

  it('the registered codec round-trips what it compresses', async () => {
    const src = payload(300_000, 9);
    expect((await codec.decompress(await codec.compress({ buffer: src }))).equals(src)).toBe(true);
  });
});

describe('zstd codec', () => {
  const codec = (CompressionCodecs[CompressionTypes.ZSTD] as unknown as () => { compress(e: { buffer: Buffer }): Promise<Buffer>; decompress(b: Buffer): Promise<Buffer> })();
  type Zstd = { Streaming: new () => { compress(b: Uint8Array): Uint8Array } };
  const { ZstdCodec } = createRequire(import.meta.url)('zstd-codec') as { ZstdCodec: { run(cb: (z: Zstd) => void): void } };
  const zstd = new Promise<Zstd>((resolve) => ZstdCodec.run(resolve));

  it('decodes frames with a content size (one-shot encoders), without one (streaming encoders), and several frames in one record', async () => {
    const src = payload(300_000, 6);
    const oneShot = await codec.compress({ buffer: src });
    const streamed = Buffer.from(new (await zstd).Streaming().compress(src));
    expect(zstdHasContentSize(oneShot)).toBe(true);
    expect(zstdHasContentSize(streamed)).toBe(false);
    for (const frame of [oneShot, streamed]) expect((await codec.decompress(frame)).equals(src)).toBe(true);
    const two = Buffer.concat([oneShot, await codec.compress({ buffer: payload(1_000, 7) })]);
    expect((await codec.decompress(two)).equals(Buffer.concat([src, payload(1_000, 7)]))).toBe(true);
  });

  it('reads the content-size flags from the frame header only', () => {
    const header = (descriptor: number): Buffer => Buffer.from([0x28, 0xb5, 0x2f, 0xfd, descriptor, 0, 0, 0]);
    expect(zstdHasContentSize(header(0x00))).toBe(false);
    expect(zstdHasContentSize(header(0x20))).toBe(true); // single segment: the size follows
    expect(zstdHasContentSize(header(0x40))).toBe(true);
    expect(zstdHasContentSize(header(0xc0))).toBe(true);
    expect(zstdHasContentSize(Buffer.from([0x28, 0xb5, 0x2f, 0xfe, 0xe0]))).toBe(false); // not a zstd frame
  });
});
