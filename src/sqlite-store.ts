/**
 * The embedded event store: alerts, chain summaries and calls in the state dir's SQLite file
 * (src/sqlite-db.ts). Writes are one transaction per 1,000 rows, yielding to the event loop between;
 * every query is a prepared statement with bound parameters, so no input ever becomes SQL.
 */
import type { Db } from './sqlite-db.js';
import {
  type AgentRank, type AlertFilter, type AlertPage, type CallRow, type ChainRow, type EventStore, type StatusChange, type StoredAlert, type Table,
  encodeCursor, maxSeverity, severitiesOf, toStored,
} from './event-store.js';

const COLUMNS: Record<Table, string[]> = {
  calls: ['ts', 'end_ts', 'trace_id', 'span_id', 'agent_id', 'action', 'kind', 'tool', 'host', 'url', 'external', 'resource', 'destinations', 'principal', 'credential', 'ok', 'status', 'retries', 'sensitive', 'bytes_out'],
  chains: ['trace_id', 'agent_id', 'start_ts', 'end_ts', 'calls', 'hosts', 'actions', 'resources', 'principal', 'conversation_id', 'flagged'],
  alerts: ['id', 'ts', 'severity', 'severity_rank', 'score', 'agent_id', 'kind', 'title', 'trace_id', 'count', 'last_seen', 'body'],
};

/** How a row that is already stored is met: calls are written once, a chain's summary is replaced, an alert's rollup updated. */
const CONFLICT: Record<Table, { verb: string; tail: string }> = {
  calls: { verb: 'INSERT OR IGNORE', tail: '' },
  chains: { verb: 'INSERT OR REPLACE', tail: '' },
  // A rollup update carries the same id and a higher count; the analyst's status stays.
  alerts: {
    verb: 'INSERT',
    tail: ` ON CONFLICT (id) DO UPDATE SET severity = excluded.severity, severity_rank = excluded.severity_rank, score = excluded.score,
             title = excluded.title, count = excluded.count, last_seen = excluded.last_seen, body = excluded.body
           WHERE excluded.count >= alerts.count`,
  },
};

/** Columns holding lists, stored as JSON text. */
const ARRAYS: Partial<Record<Table, string[]>> = { calls: ['destinations'], chains: ['hosts', 'actions'] };

/** Rows per transaction: about 10 ms of the event loop on this machine. */
const CHUNK_ROWS = 1_000;

/** A table's rows written to SQLite in one transaction. */
export type TableInsert = (rows: object[]) => void;

/** The insert of each table on this connection (IMMEDIATE transactions: they only write, so they take the write lock at once). */
export function sqliteInserts(db: Db): Record<Table, TableInsert> {
  const insert = (table: Table): TableInsert => {
    const columns = COLUMNS[table];
    const { verb, tail } = CONFLICT[table];
    const stmt = db.prepare(`${verb} INTO ${table} (${columns.join(', ')}) VALUES (${columns.map(() => '?').join(', ')})${tail}`);
    const isArray = columns.map((c) => ARRAYS[table]?.includes(c) ?? false);
    // Bound by position from one reused array: no copy of each row to turn its lists into JSON,
    // no parameter looked up by name (about 5% of an insert of real call rows; the indexes are
    // most of the rest).
    const values: unknown[] = new Array(columns.length);
    // A chain is keyed by its start: a reopened trace whose start moved earlier takes its earlier row's place.
    const replace = table === 'chains' ? db.prepare('DELETE FROM chains WHERE start_ts = ? AND trace_id = ? AND agent_id = ?') : undefined;
    const tx = db.transaction((rows: object[]) => {
      for (const row of rows) {
        const r = row as Record<string, unknown>;
        if (replace !== undefined && r.replaces_start_ts !== undefined) replace.run(r.replaces_start_ts, r.trace_id, r.agent_id);
        for (let i = 0; i < columns.length; i++) values[i] = isArray[i] ? JSON.stringify(r[columns[i]]) : r[columns[i]];
        stmt.run(values);
      }
    });
    return (rows) => tx.immediate(rows);
  };
  return { calls: insert('calls'), chains: insert('chains'), alerts: insert('alerts') };
}

/**
 * Rows in transactions of CHUNK_ROWS, calling `between` before each after the first. A batch that
 * fails part way is sent again whole; every table's insert is idempotent.
 */
export async function insertChunked(insert: TableInsert, rows: object[], between: () => Promise<void> | void): Promise<void> {
  if (rows.length <= CHUNK_ROWS) return insert(rows);
  for (let i = 0; i < rows.length; i += CHUNK_ROWS) {
    if (i > 0) await between();
    insert(rows.slice(i, i + CHUNK_ROWS));
  }
}

/** What writes the store's rows: this connection (`localInserter`) or one on another thread (src/sqlite-insert-thread.ts). */
export interface Inserter {
  insert(table: Table, rows: object[]): Promise<void>;
  close(): Promise<void>;
}

/**
 * On this thread: one transaction per CHUNK_ROWS rows, with the event loop served between them
 * (better-sqlite3 is synchronous, and a writer batch of 100,000 rows in one go would hold
 * everything else on the loop — receiver, alerts, the kill-switch's deliveries — for about a second).
 */
export function localInserter(db: Db): Inserter {
  const inserts = sqliteInserts(db);
  return {
    insert: (table, rows) => insertChunked(inserts[table], rows, () => new Promise((resolve) => setImmediate(resolve))),
    // The database belongs to the state store, which closes it.
    close: async () => {},
  };
}

export class SqliteEventStore implements EventStore {
  readonly kind = 'sqlite';

  constructor(readonly db: Db, private readonly inserter: Inserter = localInserter(db)) {}

  async init(): Promise<void> {
    // The schema is migrated when the database is opened.
  }

  insert(table: Table, rows: object[]): Promise<void> {
    return this.inserter.insert(table, rows);
  }

  async alerts(f: AlertFilter): Promise<AlertPage> {
    const where: string[] = [];
    const args: unknown[] = [];
    if (f.agent !== undefined) where.push('agent_id = ?') && args.push(f.agent);
    const sevs = severitiesOf(f);
    if (sevs !== undefined) where.push(`severity IN (${sevs.map(() => '?').join(', ') || 'NULL'})`) && args.push(...sevs);
    if (f.status !== undefined) where.push('status = ?') && args.push(f.status);
    if (f.from !== undefined) where.push('ts >= ?') && args.push(f.from);
    if (f.to !== undefined) where.push('ts < ?') && args.push(f.to);
    if (f.cursor !== undefined) where.push('(ts < ? OR (ts = ? AND id < ?))') && args.push(f.cursor.ts, f.cursor.ts, f.cursor.id);
    const sql = `SELECT id, ts, body, status, status_by, status_note, status_at FROM alerts ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY ts DESC, id DESC LIMIT ?`;
    const rows = this.db.prepare(sql).all(...args, f.limit + 1) as { id: string; ts: number; body: string; status: string; status_by: string | null; status_note: string | null; status_at: number | null }[];
    const page: AlertPage = { alerts: rows.slice(0, f.limit).map((r) => toStored(r.body, r.status, r.status_by, r.status_note, r.status_at)) };
    if (rows.length > f.limit) page.next = encodeCursor({ ts: rows[f.limit - 1].ts, id: rows[f.limit - 1].id });
    return page;
  }

  async alert(id: string): Promise<{ stored: StoredAlert; calls: CallRow[] } | undefined> {
    const r = this.db.prepare('SELECT body, status, status_by, status_note, status_at, trace_id, agent_id FROM alerts WHERE id = ?').get(id) as
      { body: string; status: string; status_by: string | null; status_note: string | null; status_at: number | null; trace_id: string; agent_id: string } | undefined;
    if (r === undefined) return undefined;
    const stored = toStored(r.body, r.status, r.status_by, r.status_note, r.status_at);
    // No call of a chain is older than its start: the agent's calls from there on (calls_agent_ts), not every call ever stored.
    const calls = (this.db.prepare('SELECT * FROM calls WHERE agent_id = ? AND ts >= ? AND trace_id = ? ORDER BY ts, span_id')
      .all(r.agent_id, Date.parse(stored.alert.chain.startTime), r.trace_id) as (CallRow & { destinations: string })[])
      .map((c) => ({ ...c, destinations: JSON.parse(c.destinations) as string[] }));
    return { stored, calls };
  }

  async recentChains(agent: string, limit: number): Promise<ChainRow[]> {
    return (this.db.prepare('SELECT * FROM chains WHERE agent_id = ? ORDER BY start_ts DESC, trace_id DESC LIMIT ?').all(agent, limit) as (ChainRow & { hosts: string; actions: string })[])
      .map((c) => ({ ...c, hosts: JSON.parse(c.hosts) as string[], actions: JSON.parse(c.actions) as string[] }));
  }

  async topAgents(from: number, to: number, limit: number): Promise<AgentRank[]> {
    const rows = this.db.prepare(`SELECT agent_id, COUNT(*) AS n, MAX(severity_rank) AS r, SUM(score) AS s, MAX(ts) AS last FROM alerts
      WHERE ts >= ? AND ts < ? GROUP BY agent_id ORDER BY r DESC, n DESC, agent_id ASC LIMIT ?`).all(from, to, limit) as { agent_id: string; n: number; r: number; s: number; last: number }[];
    return rows.map((r) => ({ agent: r.agent_id, alerts: r.n, maxSeverity: maxSeverity(r.r), score: Math.round(r.s * 1000) / 1000, lastAlert: new Date(r.last).toISOString() }));
  }

  async setStatus(id: string, c: StatusChange): Promise<boolean> {
    return this.db.prepare('UPDATE alerts SET status = ?, status_by = ?, status_note = ?, status_at = ? WHERE id = ?').run(c.status, c.by, c.note, c.at, id).changes > 0;
  }

  async count(table: Table): Promise<number> {
    return (this.db.prepare(`SELECT COUNT(*) AS n FROM ${table}`).get() as { n: number }).n;
  }

  async expire(before: Record<Table, number>): Promise<void> {
    this.db.prepare('DELETE FROM calls WHERE ts < ?').run(before.calls);
    this.db.prepare('DELETE FROM chains WHERE start_ts < ?').run(before.chains);
    this.db.prepare('DELETE FROM alerts WHERE ts < ?').run(before.alerts);
  }

  close(): Promise<void> {
    return this.inserter.close();
  }
}
