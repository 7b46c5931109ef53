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
import { SqliteEventStore, callBlocks } from '../src/sqlite-store.js';

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
  const count = (): Promise<number> => store.count('calls');

  it('writes a large batch whole, serving the event loop between chunks', async () => {
    let turns = 0;
    const timer = setInterval(() => turns++, 0);
    try {
      const before = turns;
      await store.insert('calls', rows(12_000));
      // With one transaction for the batch, no timer could run before the insert resolved.
      expect(turns).toBeGreaterThan(before);
    } finally {
      clearInterval(timer);
    }
    expect(await count()).toBe(12_000);
  });

  // Listing an alert's calls once: test/event-store.test.ts, against ClickHouse.
  it('counts a batch written again once (a batch that failed part way is sent again whole)', async () => {
    await store.insert('calls', rows(12_000));
    await store.insert('calls', rows(100, 12_000));
    expect(await count()).toBe(12_100);
  });

  it('keeps an agent\'s calls of a batch as blocks of one hour, 500 calls at most', () => {
    const hour = 3_600_000;
    const t0 = Math.ceil(1_780_000_000_000 / hour) * hour;
    const calls = [...rows(1_200).map((r) => ({ ...r, agent_id: 'a', ts: t0 + (r.ts % 1000) })), { ...rows(1)[0], agent_id: 'a', ts: t0 + hour }, { ...rows(1)[0], agent_id: 'b', ts: t0 + 5 }];
    const blocks = callBlocks(calls);
    expect(blocks.map((b) => [b.agent_id, b.calls, b.first_ts - t0, b.last_ts - t0])).toEqual([
      ['a', 500, 0, 499], ['a', 500, 500, 999], ['a', 200, 0, 199], ['a', 1, hour, hour], ['b', 1, 5, 5],
    ]);
    expect(JSON.parse(blocks[4].body)).toEqual([[t0 + 5, calls[0].end_ts, calls[0].trace_id, calls[0].span_id, 'GET api.example/x', 'http', '', 'api.example', '', 1, 'r0', ['host:api.example'], '', '', 1, 200, 0, 0, 0]]);
  });
});

describe('SQLite event store inserts on a thread of their own', () => {
  const at = join(dir, 'thread');
  const db = openDatabase(at);
  const store = new SqliteEventStore(db, new SqliteInsertThread(at));
  const count = (): Promise<number> => store.count('calls');

  it('writes batches that this connection then reads, once each, in the order they were sent', async () => {
    await store.insert('calls', rows(2_500));
    expect(await count()).toBe(2_500);
    // Sent without waiting: the second overlaps the first's rows and adds 500.
    await Promise.all([store.insert('calls', rows(2_500)), store.insert('calls', rows(3_000))]);
    expect(await count()).toBe(3_000);
    // The view reads blocks as rows, every field in its place, for queries by hand.
    const last = db.prepare('SELECT * FROM calls WHERE trace_id = ?').get((2_999).toString(16).padStart(32, '0')) as CallRow & { destinations: string };
    expect({ ...last, destinations: JSON.parse(last.destinations) as string[] }).toEqual(rows(1, 2_999)[0]);
  });

  it('answers a batch it cannot write with an error naming why, and takes the next batch', async () => {
    const bad = rows(3, 10_000).map((r) => ({ ...r, agent_id: null }));
    await expect(store.insert('calls', bad)).rejects.toThrow(/SQLite insert failed: .*NOT NULL constraint failed: call_blocks.agent_id/);
    await expect(store.insert('calls', bad)).rejects.toBeInstanceOf(StoreError);
    await store.insert('calls', rows(10, 10_000));
    expect(await count()).toBe(3_010);
  });

  it('on close, writes what was sent before it, then ends the thread', async () => {
    const pending = store.insert('calls', rows(4_000, 20_000));
    await store.close();
    await pending;
    expect(await new SqliteEventStore(db).count('calls')).toBe(7_010);
    await expect(store.insert('calls', rows(1, 30_000))).rejects.toThrow(/insert thread stopped/);
    db.close();
  });
});

describe('SQLite event store schema', () => {
  it('expires calls and chains by a time index, and finds an alert\'s calls and an agent\'s chains by agent and time, not by reading the whole table', () => {
    const db = openDatabase(join(dir, 'plan'));
    const plan = (sql: string, ...args: unknown[]): string => (db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(...(args.length ? args : [0])) as { detail: string }[]).map((r) => r.detail).join('; ');
    expect(plan('DELETE FROM call_blocks WHERE last_ts < ?')).toMatch(/USING (COVERING )?INDEX call_blocks_last \(last_ts<\?\)/);
    // The unique key leads with the time: retention reads it from its start.
    expect(plan('DELETE FROM chains WHERE start_ts < ?')).toMatch(/USING (COVERING )?INDEX sqlite_autoindex_chains_1 \(start_ts<\?\)/);
    // A reopened trace's earlier summary is found by its key, not by reading the table.
    expect(plan('DELETE FROM chains WHERE start_ts = ? AND trace_id = ? AND agent_id = ?', 0, 't', 'a')).toMatch(/USING INDEX sqlite_autoindex_chains_1 \(start_ts=\? AND trace_id=\? AND agent_id=\?\)/);
    expect(plan('SELECT * FROM chains WHERE agent_id = ? ORDER BY start_ts DESC, trace_id DESC LIMIT ?', 'a', 5)).toMatch(/USING INDEX chains_agent_start \(agent_id=\?\)/);
    expect(plan('SELECT body FROM call_blocks WHERE agent_id = ? AND last_ts >= ? AND instr(body, ?) > 0 ORDER BY first_ts', 'a', 0, 't')).toMatch(/USING INDEX call_blocks_agent \(agent_id=\? AND last_ts>\?\)/);
    db.close();
  });

  /** Chain summaries, as the engine writes them (`chainRow`). */
  function chains(n: number): ChainRow[] {
    return Array.from({ length: n }, (_, i) => ({
      trace_id: i.toString(16).padStart(32, '0'), agent_id: `agent-${i % 7}`, start_ts: 1_780_000_000_000 + i * 1000, end_ts: 1_780_000_000_500 + i * 1000,
      calls: 2, hosts: ['api.example'], actions: ['GET api.example/x'], resources: 1, principal: '', conversation_id: '', flagged: 0,
    }));
  }

  /** Calls as a release before schema 6 wrote them: a row each. */
  function oldCalls(db: Database.Database, calls: CallRow[]): void {
    const cols = Object.keys(calls[0]);
    const stmt = db.prepare(`INSERT OR IGNORE INTO calls (${cols.join(', ')}) VALUES (${cols.map(() => '?').join(', ')})`);
    for (const c of calls) stmt.run(cols.map((k) => (k === 'destinations' ? JSON.stringify(c.destinations) : (c as unknown as Record<string, unknown>)[k])));
  }

  for (const version of [3, 4, 5]) {
    it(`brings the calls of a file of schema ${version} up to date, kept once`, async () => {
      const at = join(dir, `v${version}`);
      // As that release left it: its migrations (calls keyed by trace and span before 4, a row each before 6), its version.
      mkdirSync(at, { recursive: true });
      const old = new Database(join(at, 'state.db'));
      for (const m of MIGRATIONS.slice(0, version)) old.exec(m);
      old.pragma(`user_version = ${version}`);
      oldCalls(old, rows(30));
      old.close();
      const db = openDatabase(at);
      const indexes = (db.prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name IN ('call_blocks', 'chains') AND sql IS NOT NULL").all() as { name: string }[]).map((r) => r.name).sort();
      expect(indexes).toEqual(['call_blocks_agent', 'call_blocks_last', 'chains_agent_start']);
      expect(db.pragma('user_version', { simple: true })).toBe(MIGRATIONS.length);
      const store = new SqliteEventStore(db);
      // Every call, as it was: the view reads the blocks the migration made.
      const stored = db.prepare('SELECT * FROM calls ORDER BY ts').all() as (CallRow & { destinations: string })[];
      expect(stored.map((c) => ({ ...c, destinations: JSON.parse(c.destinations) as string[] }))).toEqual(rows(30));
      // The same rows again (a replay after a crash) are still counted once.
      await store.insert('calls', rows(30));
      expect(await store.count('calls')).toBe(30);
      db.close();
    });
  }

  for (const version of [3, 4]) {
    it(`brings the chains of a file of schema ${version} up to date, written once`, async () => {
      // Chains were keyed by trace and agent before 5.
      const at = join(dir, `chains-v${version}`);
      mkdirSync(at, { recursive: true });
      const old = new Database(join(at, 'state.db'));
      for (const m of MIGRATIONS.slice(0, version)) old.exec(m);
      old.pragma(`user_version = ${version}`);
      const insert = old.prepare('INSERT INTO chains (trace_id, agent_id, start_ts, end_ts, calls, hosts, actions, resources, principal, conversation_id, flagged) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)');
      for (const c of chains(20)) insert.run(c.trace_id, c.agent_id, c.start_ts, c.end_ts, c.calls, JSON.stringify(c.hosts), JSON.stringify(c.actions), c.resources, c.principal, c.conversation_id, c.flagged);
      old.close();
      const db = openDatabase(at);
      const store = new SqliteEventStore(db);
      await store.insert('chains', chains(20));
      expect(await store.count('chains')).toBe(20);
      expect(await store.recentChains('agent-0', 1)).toEqual([chains(20)[14]]);
      db.close();
    });
  }
});
