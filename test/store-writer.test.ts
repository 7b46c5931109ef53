/**
 * The StoreWriter's guarantees without a server: a failing store sends batches to the disk spill
 * (counted), a full spill drops and counts instead of growing, and once the store answers the
 * spill is replayed oldest first, every spilled row exactly once. (The same path against a real
 * ClickHouse taken down and brought back: test/clickhouse-outage.test.ts.)
 */
import { afterAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { EventStore, Table } from '../src/event-store.js';
import { StoreWriter, defaultStoreWriterConfig } from '../src/store-writer.js';

const dir = mkdtempSync(join(tmpdir(), 'chainwatch-writer-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A store that refuses writes until told otherwise and records what it took. */
function flakyStore(): EventStore & { up: boolean; got: { table: Table; rows: object[] }[] } {
  const s = {
    kind: 'sqlite' as const, up: false, got: [] as { table: Table; rows: object[] }[],
    init: async () => {},
    insert: async (table: Table, rows: object[]) => {
      if (!s.up) throw new Error('connect ECONNREFUSED 127.0.0.1:8123');
      s.got.push({ table, rows });
    },
  };
  return s as unknown as EventStore & typeof s;
}

describe('StoreWriter', () => {
  it('spills while the store is down, drops past the spill limit, and replays the rest once', async () => {
    const store = flakyStore();
    const w = new StoreWriter(store, { ...defaultStoreWriterConfig, batchRows: 10, maxSpillBytes: 1500, spillDir: join(dir, 'spill') });
    const row = (i: number): object => ({ ts: i, trace_id: 't'.repeat(32), span_id: String(i).padStart(16, '0') });
    for (let i = 0; i < 60; i++) w.add('calls', row(i));
    await w.flush();
    const c = w.counters;
    expect(c.storeUp).toBe(false);
    expect(c.rowsSpilled).toBeGreaterThan(0);
    expect(c.rowsDropped).toBeGreaterThan(0);
    expect(c.rowsSpilled + c.rowsDropped).toBe(60);
    expect(c.spillBytes).toBeLessThanOrEqual(1500);
    expect(readdirSync(join(dir, 'spill')).length).toBe(w.pending.spillFiles);

    store.up = true;
    await w.replay();
    expect(w.pending.spillFiles).toBe(0);
    expect(c).toMatchObject({ storeUp: true, rowsReplayed: c.rowsSpilled, spillBytes: 0 });
    const replayed = store.got.flatMap((g) => g.rows.map((r) => (r as { ts: number }).ts));
    expect(replayed).toEqual([...replayed].sort((a, b) => a - b));
    expect(new Set(replayed).size).toBe(c.rowsSpilled);
    await w.close();
  });

  it('drops and counts what it cannot spill (disk full, directory gone), and goes on writing once the store answers', async () => {
    const store = flakyStore();
    const spillDir = join(dir, 'gone');
    const logged: string[] = [];
    const log = { info: () => {}, warn: () => {}, error: (_o: object, msg: string) => logged.push(msg) };
    const w = new StoreWriter(store, { ...defaultStoreWriterConfig, batchRows: 5, spillDir }, log);
    // The spill directory replaced by a file: every write to it fails (as on a full disk).
    rmSync(spillDir, { recursive: true, force: true });
    writeFileSync(spillDir, 'not a directory');
    const row = (i: number): object => ({ ts: i, trace_id: 't'.repeat(32), span_id: String(i).padStart(16, '0') });
    // Adding rows never throws into the caller (the engine's recorder), whatever the disk does.
    expect(() => { for (let i = 0; i < 20; i++) w.add('calls', row(i)); }).not.toThrow();
    await w.flush();
    expect(w.counters).toMatchObject({ rowsSpilled: 0, rowsDropped: 20, storeUp: false });
    expect(logged).toContain('cannot write the event store spill: rows dropped');
    // The store comes back: later rows are written, by flushes that still run.
    store.up = true;
    for (let i = 20; i < 30; i++) w.add('calls', row(i));
    await w.flush();
    expect(store.got.flatMap((g) => g.rows.map((r) => (r as { ts: number }).ts))).toEqual(Array.from({ length: 10 }, (_, i) => 20 + i));
    expect(w.counters).toMatchObject({ rowsDropped: 20, storeUp: true });
    await w.close();
  });
});
