/** The embedded event store's writes: large batches in chunks that leave the event loop free between them, or on a thread of their own. */
import Database from 'better-sqlite3';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { type CallRow, type ChainRow } from '../src/event-store.js';
import { MIGRATIONS, openDatabase } from '../src/sqlite-db.js';
import { StoreError } from '../src/errors.js';
import { SqliteInsertThread } from '../src/sqlite-insert-thread.js';
import { SqliteEventStore } from '../src/sqlite-store.js';

const dir = mkdtempSync(join(tmpdir(), 'chainwatch-sqlite-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function rows(n: number, from = 0): CallRow[] {
  return Array.from({ length: n }, (_, k) => {
    const i = from + k;
    return {
      ts: 1_780_000_000_000 + i, end_ts: 1_780_000_000_010 + i, trace_id: i.toString(16).padStart(32, '0'), span_id: (i + 1).toString(16).padStart(16, '0'),
      agent_id: `agent-${i % 7}`, action: 'GET api.example/x', kind: 'http', tool: '', host: 'api.example', url: '', external: 1, resource: `r${i}`,
      destinations: ['host:api.example'], principal: '', credential: '', ok: 1, status: 200, retries: 0, sensitive: 0, bytes_out: 0,
    };
  });
}

describe('SQLite event store inserts', () => {
  const db = openDatabase(dir);
  const store = new SqliteEventStore(db);
  const count = (): number => (db.prepare('SELECT count(*) AS n FROM calls').get() as { n: number }).n;

  it('writes a large batch whole, serving the event loop between chunks', async () => {
    let turns = 0;
    const timer = setInterval(() => turns++, 0);
    try {
      const before = turns;
      await store.insert('calls', rows(5_500));
      // With one transaction for the batch, no timer could run before the insert resolved.
      expect(turns).toBeGreaterThan(before);
    } finally {
      clearInterval(timer);
    }
    expect(count()).toBe(5_500);
  });

  it('writes a batch again without doubling it (a batch that failed part way is sent again whole)', async () => {
    await store.insert('calls', rows(5_500));
    await store.insert('calls', rows(100, 5_500));
    expect(count()).toBe(5_600);
  });
});

describe('SQLite event store inserts on a thread of their own', () => {
  const at = join(dir, 'thread');
  const db = openDatabase(at);
  const store = new SqliteEventStore(db, new SqliteInsertThread(at));
  const count = (): number => (db.prepare('SELECT count(*) AS n FROM calls').get() as { n: number }).n;

  it('writes batches that this connection then reads, once each, in the order they were sent', async () => {
    await store.insert('calls', rows(2_500));
    expect(count()).toBe(2_500);
    // Sent without waiting: the second overlaps the first's rows and adds 500.
    await Promise.all([store.insert('calls', rows(2_500)), store.insert('calls', rows(3_000))]);
    expect(count()).toBe(3_000);
    const last = db.prepare('SELECT resource, destinations FROM calls WHERE trace_id = ?').get((2_999).toString(16).padStart(32, '0'));
    expect(last).toEqual({ resource: 'r2999', destinations: '["host:api.example"]' });
  });

  it('answers a batch it cannot write with an error naming why, and takes the next batch', async () => {
    const bad = rows(3, 10_000).map((r) => ({ ...r, resource: { not: 'a string' } }));
    await expect(store.insert('calls', bad)).rejects.toThrow(/SQLite insert failed: .*bind/);
    await expect(store.insert('calls', bad)).rejects.toBeInstanceOf(StoreError);
    await store.insert('calls', rows(10, 10_000));
    expect(count()).toBe(3_010);
  });

  it('on close, writes what was sent before it, then ends the thread', async () => {
    const pending = store.insert('calls', rows(4_000, 20_000));
    await store.close();
    await pending;
    expect(count()).toBe(7_010);
    await expect(store.insert('calls', rows(1, 30_000))).rejects.toThrow(/insert thread stopped/);
    db.close();
  });
});

describe('SQLite event store schema', () => {
  it('expires calls and chains by a time index, and finds an alert\'s calls and an agent\'s chains by agent and time, not by reading the whole table', () => {
    const db = openDatabase(join(dir, 'plan'));
    const plan = (sql: string, ...args: unknown[]): string => (db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(...(args.length ? args : [0])) as { detail: string }[]).map((r) => r.detail).join('; ');
    // The unique key leads with the time: retention reads it from its start.
    expect(plan('DELETE FROM calls WHERE ts < ?')).toMatch(/USING (COVERING )?INDEX sqlite_autoindex_calls_1 \(ts<\?\)/);
    expect(plan('DELETE FROM chains WHERE start_ts < ?')).toMatch(/USING (COVERING )?INDEX sqlite_autoindex_chains_1 \(start_ts<\?\)/);
    // A reopened trace's earlier summary is found by its key, not by reading the table.
    expect(plan('DELETE FROM chains WHERE start_ts = ? AND trace_id = ? AND agent_id = ?', 0, 't', 'a')).toMatch(/USING INDEX sqlite_autoindex_chains_1 \(start_ts=\? AND trace_id=\? AND agent_id=\?\)/);
    expect(plan('SELECT * FROM chains WHERE agent_id = ? ORDER BY start_ts DESC, trace_id DESC LIMIT ?', 'a', 5)).toMatch(/USING INDEX chains_agent_start \(agent_id=\?\)/);
    expect(plan('SELECT * FROM calls WHERE agent_id = ? AND ts >= ? AND trace_id = ?', 'a', 0, 't')).toMatch(/USING INDEX calls_agent_ts \(agent_id=\? AND ts>\?\)/);
    db.close();
  });

  /** Chain summaries, as the engine writes them (`chainRow`). */
  function chains(n: number): ChainRow[] {
    return Array.from({ length: n }, (_, i) => ({
      trace_id: i.toString(16).padStart(32, '0'), agent_id: `agent-${i % 7}`, start_ts: 1_780_000_000_000 + i * 1000, end_ts: 1_780_000_000_500 + i * 1000,
      calls: 2, hosts: ['api.example'], actions: ['GET api.example/x'], resources: 1, principal: '', conversation_id: '', flagged: 0,
    }));
  }

  for (const version of [3, 4]) {
    it(`brings a file of schema ${version} up to date, keeping its calls and chains written once`, async () => {
      const at = join(dir, `v${version}`);
      // As that release left it: its migrations (calls keyed by trace and span before 4, chains before 5), its version.
      mkdirSync(at, { recursive: true });
      const old = new Database(join(at, 'state.db'));
      for (const m of MIGRATIONS.slice(0, version)) old.exec(m);
      old.pragma(`user_version = ${version}`);
      await new SqliteEventStore(old).insert('calls', rows(30));
      await new SqliteEventStore(old).insert('chains', chains(20));
      old.close();
      const db = openDatabase(at);
      const indexes = (db.prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name IN ('calls', 'chains') AND sql IS NOT NULL").all() as { name: string }[]).map((r) => r.name).sort();
      expect(indexes).toEqual(['calls_agent_ts', 'chains_agent_start']);
      expect(db.pragma('user_version', { simple: true })).toBe(MIGRATIONS.length);
      const count = (table: string): number => (db.prepare(`SELECT count(*) AS n FROM ${table}`).get() as { n: number }).n;
      expect([count('calls'), count('chains')]).toEqual([30, 20]);
      // The same rows again (a replay after a crash) are still stored once.
      await new SqliteEventStore(db).insert('calls', rows(30));
      await new SqliteEventStore(db).insert('chains', chains(20));
      expect([count('calls'), count('chains')]).toEqual([30, 20]);
      expect(await new SqliteEventStore(db).recentChains('agent-0', 1)).toEqual([chains(20)[14]]);
      db.close();
    });
  }
});
