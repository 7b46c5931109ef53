import { NO_DOUBLES, arena } from './arena.js';

/** Float64s a statistic keeps: n, mean, variance, max. */
const FIELDS = 4;

/**
 * Running mean and variance that forget: exponentially weighted, with weight 1/n for the first
 * `window` observations (an exact mean and variance) and 1/window after, so a baseline follows
 * slow drift. Used on log scale for lengths,
 * durations, counts and rates, whose distributions are heavy-tailed.
 *
 * The four numbers live in a block of the shared arena, not in fields: a double field is a boxed
 * number of its own (16 bytes each, four a statistic, five statistics an agent — 320 bytes and
 * twenty objects for every GC to visit; in the arena, 160 bytes and none: ~160 bytes less a typical
 * agent, measured). The statistic keeps only the chunk's float64 view and its index; the arena
 * finds the chunk's words again when the block is given back. Give the block back with `release` when the statistic's agent is dropped.
 */
export class DecayedStats {
  /** The block's chunk, as float64s. */
  private f: Float64Array;
  /** Index of `n` in `f`; mean, variance and max follow. */
  private at: number;

  constructor(readonly window = 500) {
    const block = arena.alloc(2 * FIELDS);
    this.f = arena.doublesOf(block);
    this.at = block.base / 2;
  }

  get n(): number {
    return this.f[this.at] ?? 0;
  }

  get mean(): number {
    return this.f[this.at + 1] ?? 0;
  }

  get variance(): number {
    return this.f[this.at + 2] ?? 0;
  }

  get max(): number {
    return this.f[this.at + 3] ?? 0;
  }

  add(x: number): void {
    // Released: reads are undefined and writes past a typed array's end go nowhere.
    const f = this.f;
    const at = this.at;
    const n = Math.min(f[at] + 1, this.window);
    const a = 1 / n;
    const d = x - f[at + 1];
    f[at] = n;
    f[at + 1] += a * d;
    f[at + 2] = (1 - a) * (f[at + 2] + a * d * d);
    // The max decays slowly so one old outlier does not raise the bar for ever.
    f[at + 3] = Math.max(x, f[at + 3] * (1 - 1 / (4 * this.window)));
  }

  get sd(): number {
    return Math.sqrt(this.variance);
  }

  /** Standard score of x, with a floor on the spread so tiny variances do not explode. */
  z(x: number, minSd: number): number {
    return (x - this.mean) / Math.max(this.sd, minSd);
  }

  /** Give the block back (the agent or group was dropped); the statistic then reads zeros and learns nothing. Safe to call twice. */
  release(): void {
    if (this.f === NO_DOUBLES) return;
    arena.releaseDoubles(this.f, this.at, FIELDS);
    this.f = NO_DOUBLES;
    this.at = 0;
  }

  toJSON(): [number, number, number, number] {
    return [this.n, this.mean, this.variance, this.max];
  }

  static fromJSON(j: [number, number, number, number], window = 500): DecayedStats {
    const s = new DecayedStats(window);
    for (let i = 0; i < FIELDS; i++) s.f[s.at + i] = j[i];
    return s;
  }
}
