/**
 * Storage for per-agent tables: large shared Uint32Array chunks carved into blocks, with a free
 * list per block size (tables grow through a handful of sizes, so exact sizes recycle well). A table then costs one small object plus its words, instead of a
 * typed array, an ArrayBuffer and a backing-store allocation each (~200 bytes of overhead per
 * table, more than the entries of a typical agent). Blocks never span chunks.
 */
import { pushTo } from './multimap.js';

const CHUNK_WORDS = 1 << 18; // 1 MiB chunks
/** The smallest block handed out: a request for fewer words gets this many. */
const MIN_BLOCK = 4;

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
  /** Words in blocks handed out and not released. */
  liveWords = 0;

  /** A zeroed block of at least `words` words. */
  alloc(words: number): Block {
    const size = Math.max(words, MIN_BLOCK);
    const list = this.free.get(size);
    const reused = list?.pop();
    this.liveWords += size;
    if (reused) {
      reused.data.fill(0, reused.base, reused.base + size);
      return reused;
    }
    if (size > CHUNK_WORDS) throw new RangeError(`arena block of ${size} words exceeds the chunk size`);
    if (this.used + size > CHUNK_WORDS) {
      this.chunks.push(new Uint32Array(CHUNK_WORDS));
      this.used = 0;
    }
    const block = { data: this.chunks[this.chunks.length - 1], base: this.used, words: size };
    this.used += size;
    return block;
  }

  /** Give a block back; `words` as asked of alloc (a block is never smaller than alloc made it). */
  release(block: Block): void {
    const size = Math.max(block.words, MIN_BLOCK);
    this.liveWords -= size;
    pushTo(this.free, size, { data: block.data, base: block.base, words: size });
  }
}

/**
 * What a released table or block points at: no words. A holder that used it after all reads
 * nothing and writes nowhere (typed arrays ignore writes past their end), never into words the
 * arena has lent to another agent.
 */
export const NO_WORDS = new Uint32Array(0);

/** The process-wide arena used by baselines. */
export const arena = new Arena();
