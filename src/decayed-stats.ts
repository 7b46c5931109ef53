/**
 * Running mean and variance that forget: exponentially weighted, with weight 1/n for the first
 * `window` observations (an exact mean and variance) and 1/window after, so a baseline follows
 * slow drift. Used on log scale for lengths,
 * durations, counts and rates, whose distributions are heavy-tailed.
 */
export class DecayedStats {
  n = 0;
  mean = 0;
  var = 0;
  max = 0;

  constructor(readonly window = 500) {}

  add(x: number): void {
    this.n = Math.min(this.n + 1, this.window);
    const a = 1 / this.n;
    const d = x - this.mean;
    this.mean += a * d;
    this.var = (1 - a) * (this.var + a * d * d);
    // The max decays slowly so one old outlier does not raise the bar for ever.
    this.max = Math.max(x, this.max * (1 - 1 / (4 * this.window)));
  }

  get variance(): number {
    return this.var;
  }

  get sd(): number {
    return Math.sqrt(this.variance);
  }

  /** Standard score of x, with a floor on the spread so tiny variances do not explode. */
  z(x: number, minSd: number): number {
    return (x - this.mean) / Math.max(this.sd, minSd);
  }

  toJSON(): [number, number, number, number] {
    return [this.n, this.mean, this.var, this.max];
  }

  static fromJSON(j: [number, number, number, number], window = 500): DecayedStats {
    const s = new DecayedStats(window);
    [s.n, s.mean, s.var, s.max] = j;
    return s;
  }
}
