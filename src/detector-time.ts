/**
 * Seconds spent scoring calls, per detector, estimated from sampled calls: one call in `sample`
 * is timed, and its time counts for all of them. Now and then a GC pause, a compilation or the OS
 * descheduling the process lands inside a sampled call, and scaled up by the sample rate one such
 * stall made a detector that does nothing read as the costliest (revocation-enforced at 0.44 s of
 * a bench run of 0.39 s, whose twelve detectors took about 0.3 s in all). So a sample counts for at
 * most MAX_MS, and, once the detector has a running mean, for at most OUTLIER times it. The price:
 * a detector whose calls really take longer than MAX_MS reads as taking MAX_MS — still far above
 * the others (they take about a microsecond) — and one whose rare calls are that much slower than
 * its usual ones reads low.
 */

/** The most one sampled call counts for, ms. */
export const MAX_MS = 0.1;
/** How many times its running mean one sample may count for. */
export const OUTLIER = 50;
/** Weight of a new sample in the running mean. */
const ALPHA = 1 / 16;

export class DetectorTimes {
  /** Estimated seconds by detector id. */
  readonly seconds: Record<string, number> = {};
  private readonly meanMs = new Map<string, number>();

  constructor(readonly sample: number) {}

  /** A sampled call's time for detector `id`, ms. */
  add(id: string, ms: number): void {
    const mean = this.meanMs.get(id);
    const counted = Math.min(ms, MAX_MS, mean === undefined ? MAX_MS : OUTLIER * mean);
    this.meanMs.set(id, mean === undefined ? counted : mean + ALPHA * (counted - mean));
    this.seconds[id] = (this.seconds[id] ?? 0) + (counted / 1000) * this.sample;
  }
}
