/**
 * Batches in progress, so that a stage can stop taking batches and wait for the running ones
 * before its last commit: kafkajs's `stop()` leaves the group, after which it cannot commit. A
 * batch refused while closing is not resolved, so nothing of it is skipped.
 */
export class BatchDrain {
  private active = 0;
  private closing = false;

  /** Runs one batch unless closing. */
  readonly guard = async (run: () => Promise<void>): Promise<void> => {
    if (this.closing) return;
    this.active++;
    try {
      await run();
    } finally {
      this.active--;
    }
  };

  /** Take no more batches and wait (at most `ms`) for those still running. */
  async close(ms = 10_000): Promise<void> {
    this.closing = true;
    const end = Date.now() + ms;
    while (this.active > 0 && Date.now() < end) await new Promise((r) => setTimeout(r, 10));
  }
}
