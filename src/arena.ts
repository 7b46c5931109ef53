/**
 * Storage for per-agent tables: large shared Uint32Array chunks carved into blocks, with a free
 * list per block size (tables grow through a handful of sizes, so exact sizes recycle well). A table then costs one small object plus its words, instead of a
 * typed array, an ArrayBuffer and a backing-store allocation each (~200 bytes of overhead per
 * table, more than the entries of a typical agent). Blocks never span chunks.
 */
import { pushTo } from './multimap.js';

const CHUNK_WORDS = 1 << 18; // 1 MiB chunks

/**
 * What a released table or block points at: no words (or doubles). A holder that used it after
 * all reads nothing and writes nowhere (typed arrays ignore writes past their end), never into
 * words the arena has lent to another agent.
 */
export const NO_WORDS = new Uint32Array(0);
export const NO_DOUBLES = new Float64Array(0);
/** The smallest block handed out: a request for fewer words gets this many. */
const MIN_BLOCK = 4;

/**
 * Words a request gets: at least MIN_BLOCK, and even, so every block starts at an even word and
 * can hold float64s (DecayedStats) as well as words.
 */
const blockSize = (words: number): number => (Math.max(words, MIN_BLOCK) + 1) & ~1;

export interface Block {
  /** The chunk holding the block (shared with other blocks). */
  data: Uint32Array;
  /** First word of the block in `data`. */
  base: number;
  /** Block size in words. */
  words: number;
}

export class Arena {
  private readonly chunks: Uint32Array[] = [];
  private used = CHUNK_WORDS;
  private readonly free = new Map<number, Block[]>();
  /** Each chunk seen as float64s (blocks start at even words: see blockSize), and back. */
  private readonly doubles = new Map<Uint32Array, Float64Array>([[NO_WORDS, NO_DOUBLES]]);
  private readonly words = new Map<Float64Array, Uint32Array>([[NO_DOUBLES, NO_WORDS]]);
  /** Words in blocks handed out and not released. */
  liveWords = 0;

  /** A zeroed block of at least `words` words. */
  alloc(words: number): Block {
    const size = blockSize(words);
    const list = this.free.get(size);
    const reused = list?.pop();
    this.liveWords += size;
    if (reused) {
      reused.data.fill(0, reused.base, reused.base + size);
      return reused;
    }
    if (size > CHUNK_WORDS) throw new RangeError(`arena block of ${size} words exceeds the chunk size`);
    if (this.used + size > CHUNK_WORDS) {
      const chunk = new Uint32Array(CHUNK_WORDS);
      const doubles = new Float64Array(chunk.buffer);
      this.chunks.push(chunk);
      this.doubles.set(chunk, doubles);
      this.words.set(doubles, chunk);
      this.used = 0;
    }
    const block = { data: this.chunks[this.chunks.length - 1], base: this.used, words: size };
    this.used += size;
    return block;
  }

  /** The block's chunk as float64s; the block's first double is at index base / 2. */
  doublesOf(block: Block): Float64Array {
    return this.doubles.get(block.data) ?? NO_DOUBLES;
  }

  /** Give back a block held as float64s: `count` of them from index `at` of a chunk's doublesOf view. */
  releaseDoubles(doubles: Float64Array, at: number, count: number): void {
    this.release({ data: this.words.get(doubles) ?? NO_WORDS, base: 2 * at, words: 2 * count });
  }

  /** Give a block back; `words` as asked of alloc (a block is never smaller than alloc made it). */
  release(block: Block): void {
    const size = blockSize(block.words);
    this.liveWords -= size;
    pushTo(this.free, size, { data: block.data, base: block.base, words: size });
  }
}

/** The process-wide arena used by baselines. */
export const arena = new Arena();
