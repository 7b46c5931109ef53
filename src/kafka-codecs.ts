/**
 * Kafka record-batch codecs beyond gzip (which kafkajs has built in), as the Collector's kafka
 * exporter may use them: snappy (kafkajs-snappy, pure JS), lz4 (LZ4 frame format as Kafka uses
 * it: blocks compressed natively by lz4-napi where its binary loads, else by lz4js in pure JS;
 * read by lz4js) and zstd (zstd-codec, WebAssembly). Registered once per process.
 */
import { createRequire } from 'node:module';
import kafkajs from 'kafkajs';
import { zstdCompress, zstdDecompress } from './zstd.js';

// CommonJS: CompressionCodecs is not among the names Node's ESM loader can see, so take it from the default export.
const { CompressionCodecs, CompressionTypes } = kafkajs;

const require = createRequire(import.meta.url);
let registered = false;

interface Encoder { buffer: Buffer }
export interface Lz4Js {
  compressBound(n: number): number;
  compressBlock(src: Uint8Array, dst: Uint8Array, sIndex: number, sLength: number, hashTable: Uint32Array): number;
  decompressBound(b: Uint8Array): number;
  decompressFrame(src: Uint8Array, dst: Uint8Array): number;
}

/**
 * lz4js's own `decompress` allocates (and zero-fills) its bound, 4 MB per block, for every
 * record; a profile of the detect stage showed that at 10% of its CPU. One scratch buffer is
 * reused instead, and only the decompressed bytes are copied out.
 */
function lz4Decompressor(lz4: Lz4Js): (b: Buffer) => Buffer {
  let scratch = new Uint8Array(0);
  return (b) => {
    const bound = lz4.decompressBound(b);
    // A frame that claims more than the scratch may keep gets a buffer of its own, not kept.
    const dst = bound <= SCRATCH_MAX ? (scratch.length >= bound ? scratch : (scratch = new Uint8Array(bound))) : new Uint8Array(bound);
    const n = lz4.decompressFrame(b, dst);
    return Buffer.from(dst.subarray(0, n));
  };
}

/** Largest decompression bound the reused buffer grows to: 16 blocks of 4 MB. */
const SCRATCH_MAX = 64 << 20;

const LZ4_BLOCK = 4 << 20;

/**
 * Compresses src[from, to) into one raw LZ4 block at dst[pos…] (dst has room for the bound) and
 * returns its length; 0 or the input's length or more when it does not shrink.
 */
export type Lz4BlockCompressor = (src: Buffer, from: number, to: number, dst: Buffer, pos: number) => number;

/** lz4js in pure JavaScript, with its match table reused across blocks and frames (cleared for each: independent blocks). */
export function jsBlockCompressor(lz4: Lz4Js): Lz4BlockCompressor {
  const hashTable = new Uint32Array(1 << 16);
  return (src, from, to, dst, pos) => {
    hashTable.fill(0);
    return lz4.compressBlock(src, dst.subarray(pos), from, to - from, hashTable);
  };
}

/**
 * lz4-napi (lz4_flex, compiled): about twice as fast as lz4js on calls records (1.5 against
 * 3.3 ms a MB on this machine), which the ingest stage compresses at every send and the detect
 * stage at every changelog write. Its block comes with a 4-byte size in front, dropped here.
 * Undefined where its binary does not load (a platform it has no build for).
 */
export function nativeBlockCompressor(): Lz4BlockCompressor | undefined {
  let napi: { compressSync(data: Buffer): Buffer };
  try {
    napi = require('lz4-napi') as typeof napi;
  } catch {
    return undefined;
  }
  return (src, from, to, dst, pos) => {
    const block = napi.compressSync(src.subarray(from, to));
    const n = block.length - 4;
    if (n >= to - from) return n;
    block.copy(dst, pos, 4);
    return n;
  };
}

/**
 * An LZ4 frame with independent blocks: Kafka's brokers refuse dependent-block frames, which is
 * what lz4js's own frame writer produces (one hash table across blocks). Same format otherwise:
 * magic, FLG (version 01, block independence), BD (4 MB blocks), header checksum, blocks, end mark.
 */
export function lz4Frame(lz4: Lz4Js, xxh32: { hash(seed: number, src: Uint8Array, index: number, length: number): number }, compressBlock: Lz4BlockCompressor, src: Buffer): Buffer {
  // Not zero-filled: only the bytes written are returned. Blocks compress straight into it.
  const out = Buffer.allocUnsafe(7 + lz4.compressBound(src.length) + 4 * (Math.ceil(src.length / LZ4_BLOCK) + 2));
  out.writeUInt32LE(0x184d2204, 0);
  out[4] = 0x40 | 0x20;
  out[5] = 7 << 4;
  out[6] = (xxh32.hash(0, out, 4, 2) >> 8) & 0xff;
  let pos = 7;
  for (let i = 0; i < src.length; i += LZ4_BLOCK) {
    const size = Math.min(LZ4_BLOCK, src.length - i);
    const n = compressBlock(src, i, i + size, out, pos + 4);
    if (n <= 0 || n >= size) {
      out.writeUInt32LE((0x80000000 | size) >>> 0, pos);
      src.copy(out, pos + 4, i, i + size);
      pos += 4 + size;
    } else {
      out.writeUInt32LE(n, pos);
      pos += 4 + n;
    }
  }
  out.writeUInt32LE(0, pos);
  return out.subarray(0, pos + 4);
}

export function registerKafkaCodecs(): void {
  if (registered) return;
  registered = true;
  const snappy = require('kafkajs-snappy') as () => unknown;
  CompressionCodecs[CompressionTypes.Snappy] = snappy as never;
  const lz4 = require('lz4js') as Lz4Js;
  const decompress = lz4Decompressor(lz4);
  const xxh32 = require('lz4js/xxh32.js') as { hash(seed: number, src: Uint8Array, index: number, length: number): number };
  const blocks = nativeBlockCompressor() ?? jsBlockCompressor(lz4);
  CompressionCodecs[CompressionTypes.LZ4] = (() => ({
    compress: async (encoder: Encoder) => lz4Frame(lz4, xxh32, blocks, encoder.buffer),
    decompress: async (buffer: Buffer) => decompress(buffer),
  })) as never;
  CompressionCodecs[CompressionTypes.ZSTD] = (() => ({
    compress: async (encoder: Encoder) => zstdCompress(encoder.buffer),
    decompress: zstdDecompress,
  })) as never;
}
