/**
 * Writes events to the event store off the hot path: rows are buffered per table and sent in
 * batches (by size or every `flushMs`), one batch in flight at a time. When the store fails, the
 * batch goes to the disk spill and the writer keeps accepting rows; a retry loop replays the
 * spill, oldest first, once the store answers again. Memory is bounded: past `maxBufferRows`
 * waiting rows, whole batches go straight to the spill.
 */
import type { EventStore, Table } from './event-store.js';
import { Spill } from './spill.js';

export interface StoreWriterConfig {
  batchRows: number;
  flushMs: number;
  maxBufferRows: number;
  spillDir: string;
  maxSpillBytes: number;
  /** How often a failed store is tried again (schema init and spill replay). */
  retryMs: number;
}

export const defaultStoreWriterConfig: Omit<StoreWriterConfig, 'spillDir'> = {
  batchRows: 100_000, flushMs: 1_000, maxBufferRows: 400_000, maxSpillBytes: 1 << 30, retryMs: 2_000,
};

export interface StoreWriterCounters {
  rowsWritten: Record<Table, number>;
  rowsSpilled: number;
  rowsReplayed: number;
  rowsDropped: number;
  failedBatches: number;
  spillBytes: number;
  storeUp: boolean;
  lastError?: string;
}

export interface StoreWriterLog {
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
}

const TABLES: Table[] = ['alerts', 'chains', 'calls'];

export class StoreWriter {
  private readonly buffers: Record<Table, object[]> = { calls: [], chains: [], alerts: [] };
  private buffered = 0;
  private readonly spill: Spill;
  private busy: Promise<void> = Promise.resolve();
  private flushing = false;
  private initialized = false;
  private timers: NodeJS.Timeout[] = [];
  private inflight: { table: Table; rows: object[] } | undefined;
  readonly counters: StoreWriterCounters = {
    rowsWritten: { calls: 0, chains: 0, alerts: 0 }, rowsSpilled: 0, rowsReplayed: 0, rowsDropped: 0, failedBatches: 0, spillBytes: 0, storeUp: false,
  };

  constructor(readonly store: EventStore, readonly config: StoreWriterConfig, private readonly log?: StoreWriterLog) {
    this.spill = new Spill(config.spillDir, config.maxSpillBytes);
    this.counters.spillBytes = this.spill.bytes;
  }

  start(): void {
    this.timers.push(setInterval(() => void this.flush(), this.config.flushMs));
    this.timers.push(setInterval(() => void this.replay(), this.config.retryMs));
    for (const t of this.timers) t.unref();
    void this.replay();
  }

  add(table: Table, row: object): void {
    const buf = this.buffers[table];
    buf.push(row);
    this.buffered++;
    if (buf.length >= this.config.batchRows && !this.flushing) void this.flush();
    else if (this.buffered > this.config.maxBufferRows) this.overflow();
  }

  /** Rows waiting in memory, batches waiting on disk. */
  get pending(): { rows: number; spillFiles: number } {
    return { rows: this.buffered, spillFiles: this.spill.files };
  }

  /** The store is slower than the input: move the largest buffer to the spill at once. */
  private overflow(): void {
    const table = TABLES.reduce((a, b) => (this.buffers[a].length >= this.buffers[b].length ? a : b));
    this.toSpill(table, this.take(table));
  }

  private take(table: Table): object[] {
    const rows = this.buffers[table];
    this.buffers[table] = [];
    this.buffered -= rows.length;
    return rows;
  }

  private toSpill(table: Table, rows: object[]): void {
    if (rows.length === 0) return;
    let spilled: boolean;
    try {
      spilled = this.spill.append(table, rows);
    } catch (err) {
      // A disk that is full or a spill directory gone: these rows are lost, not the writer — thrown
      // from here, the error reached the engine through add() and stopped every later flush.
      this.counters.rowsDropped += rows.length;
      this.counters.lastError = (err as Error).message;
      this.log?.error({ table, rows: rows.length, err: (err as Error).message }, 'cannot write the event store spill: rows dropped');
      return;
    }
    if (spilled) this.counters.rowsSpilled += rows.length;
    else {
      this.counters.rowsDropped += rows.length;
      this.log?.error({ table, rows: rows.length, spillBytes: this.spill.bytes }, 'event store spill is full: rows dropped; raise store.max_spill_bytes or bring the store back');
    }
    this.counters.spillBytes = this.spill.bytes;
  }

  private async ensureInit(): Promise<void> {
    if (this.initialized) return;
    await this.store.init();
    this.initialized = true;
  }

  /** Send every buffered row (serialized with replay: one batch in flight at a time). */
  flush(): Promise<void> {
    return this.serial(async () => {
      this.flushing = true;
      try {
        for (const table of TABLES) {
          while (this.buffers[table].length) {
            const rows = this.buffers[table].splice(0, this.config.batchRows);
            this.buffered -= rows.length;
            // While the spill holds older rows or the store is down, keep order: spill behind them.
            if (this.spill.files > 0 && !this.counters.storeUp) this.toSpill(table, rows);
            else await this.send(table, rows);
          }
        }
      } finally {
        this.flushing = false;
      }
    });
  }

  /**
   * Run `step` after the steps before it. A step that fails is logged and counted, and the ones
   * after it still run: a rejected chain would skip every later flush and replay for good.
   */
  private serial(step: () => Promise<void>): Promise<void> {
    this.busy = this.busy.then(step).catch((err: Error) => {
      this.counters.lastError = err.message;
      this.log?.error({ err: err.message }, 'event store writer step failed; the next one runs as usual');
    });
    return this.busy;
  }

  private async send(table: Table, rows: object[]): Promise<void> {
    this.inflight = { table, rows };
    try {
      await this.ensureInit();
      await this.store.insert(table, rows);
      this.counters.rowsWritten[table] += rows.length;
      this.up();
    } catch (err) {
      this.down(err);
      this.toSpill(table, rows);
    } finally {
      this.inflight = undefined;
    }
  }

  /** Replay the spill, oldest batch first, while the store takes it. */
  replay(): Promise<void> {
    return this.serial(async () => {
      for (let batch = this.spill.oldest(); batch !== undefined; batch = this.spill.oldest()) {
        try {
          await this.ensureInit();
          await this.store.insert(batch.table, batch.rows);
        } catch (err) {
          this.down(err);
          return;
        }
        this.spill.remove(batch.file);
        this.counters.rowsReplayed += batch.rows.length;
        this.counters.rowsWritten[batch.table] += batch.rows.length;
        this.counters.spillBytes = this.spill.bytes;
        this.up();
      }
      if (!this.initialized) {
        try {
          await this.ensureInit();
          this.up();
        } catch (err) {
          this.down(err);
        }
      }
    });
  }

  private up(): void {
    if (!this.counters.storeUp) this.log?.info({ store: this.store.kind, spillFiles: this.spill.files }, 'event store reachable');
    this.counters.storeUp = true;
  }

  private down(err: unknown): void {
    this.counters.failedBatches++;
    this.counters.lastError = (err as Error).message;
    if (this.counters.storeUp || this.counters.failedBatches === 1) this.log?.warn({ store: this.store.kind, err: (err as Error).message }, 'event store unreachable: spilling to disk until it is back');
    this.counters.storeUp = false;
  }

  /** Flush what is buffered (spilling what the store will not take) and stop the timers. */
  async close(): Promise<void> {
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    await this.flush();
  }

  /**
   * Out of time (shutdown deadline): put everything not yet confirmed written — buffers and the
   * batch in flight — into the spill. The in-flight batch may land too; the stores ignore the
   * duplicate (natural keys), so nothing is lost and nothing counts twice.
   */
  spillPending(): void {
    if (this.inflight !== undefined) {
      this.toSpill(this.inflight.table, this.inflight.rows);
      this.inflight = undefined;
    }
    for (const table of TABLES) this.toSpill(table, this.take(table));
  }
}
