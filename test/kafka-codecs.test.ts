/**
 * The compression codecs chainwatch registers with kafkajs, round-tripped without a broker
 * (test/kafka-broker.test.ts reads records the broker stored with each of them).
 */
import { describe, expect, it } from 'vitest';
import { CompressionCodecs, CompressionTypes } from 'kafkajs';
import { registerKafkaCodecs } from '../src/kafka-codecs.js';
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

  it('stores incompressible blocks raw, and round-trips them', async () => {
    const r = rng(3);
    const random = Buffer.from(Array.from({ length: 5_000_000 }, () => Math.floor(r() * 256)));
    const mixed = Buffer.concat([random, payload(4_000_000, 5)]);
    const compressed = await codec.compress({ buffer: mixed });
    // Frame header (7 bytes), then the first block's size word: its top bit marks a raw block.
    expect(compressed.readUInt32LE(7) >>> 31).toBe(1);
    expect((await codec.decompress(compressed)).equals(mixed)).toBe(true);
  });

  it('round-trips records of one block, several blocks, and a smaller one after a larger', async () => {
    for (const [bytes, seed] of [[1_000, 1], [9_500_000, 2], [70_000, 3], [0, 4]] as const) {
      const src = payload(bytes, seed);
      const compressed = await codec.compress({ buffer: src });
      const out = await codec.decompress(compressed);
      expect(out.length).toBe(src.length);
      expect(out.equals(src)).toBe(true);
    }
  });
});
