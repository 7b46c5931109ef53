/**
 * The embedded event store: alerts, chain summaries and calls in the state dir's SQLite file
 * (src/sqlite-db.ts). Calls are kept as blocks (one agent's calls of a batch in one row: a call
 * row with its indexes cost twice as much to write); writes are transactions of about 1,000 rows
 * or 4,000 calls, yielding to the event loop between; every query is a prepared statement with
 * bound parameters, so no input ever becomes SQL.
 */
import { pushTo } from './multimap.js';
import type { Db } from './sqlite-db.js';
import {
  type AgentRank, type AlertFilter, type AlertPage, type CallRow, type ChainRow, type EventStore, type StatusChange, type StoredAlert, type Table,
  encodeCursor, maxSeverity, severitiesOf, toStored,
} from './event-store.js';

const COLUMNS: Record<Exclude<Table, 'calls'>, string[]> = {
  chains: ['trace_id', 'agent_id', 'start_ts', 'end_ts', 'calls', 'hosts', 'actions', 'resources', 'principal', 'conversation_id', 'flagged'],
  alerts: ['id', 'ts', 'severity', 'severity_rank', 'score', 'agent_id', 'kind', 'title', 'trace_id', 'count', 'last_seen', 'body'],
};

/** How a row that is already stored is met: a chain's summary is replaced, an alert's rollup updated. */
const CONFLICT: Record<Exclude<Table, 'calls'>, { verb: string; tail: string }> = {
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
const ARRAYS: Partial<Record<Exclude<Table, 'calls'>, string[]>> = { chains: ['hosts', 'actions'] };

/** Rows per transaction: about 10 ms of the event loop on this machine. */
const CHUNK_ROWS = 1_000;

/**
 * A call's fields in a block's tuples, in order (schema 6 of src/sqlite-db.ts and its `calls`
 * view read them by position); agent_id is the block's.
 */
export const CALL_FIELDS = ['ts', 'end_ts', 'trace_id', 'span_id', 'action', 'kind', 'tool', 'host', 'url', 'external', 'resource',
  'destinations', 'principal', 'credential', 'ok', 'status', 'retries', 'sensitive', 'bytes_out'] as const;
// A field added to CallRow and not to the tuple fails to compile here.
const everyCallField: Exclude<keyof CallRow, (typeof CALL_FIELDS)[number] | 'agent_id'> extends never ? true : never = true;
void everyCallField;

/** Calls in one block at most: ~150 KB of JSON. */
const BLOCK_CALLS = 500;
/** A block holds calls of one hour of event time: retention, which drops whole blocks, then keeps at most an hour more. */
const BLOCK_MS = 3_600_000;
/** Calls per transaction: a block is one row, so a transaction of blocks takes about as long as one of CHUNK_ROWS rows. */
const CHUNK_CALLS = 4_000;

interface CallBlock { agent_id: string; first_ts: number; last_ts: number; calls: number; body: string }

/** A batch's calls as blocks: each agent's calls of one hour, in the order given, BLOCK_CALLS at most to a block. */
export function callBlocks(rows: readonly CallRow[]): CallBlock[] {
  const groups = new Map<string, CallRow[]>();
  for (const r of rows) pushTo(groups, `${Math.floor(r.ts / BLOCK_MS)}|${r.agent_id}`, r);
  const out: CallBlock[] = [];
  for (const calls of groups.values()) {
    for (let i = 0; i < calls.length; i += BLOCK_CALLS) {
      const tuples: unknown[][] = [];
      let first = calls[i].ts;
      let last = first;
      for (let j = i; j < Math.min(calls.length, i + BLOCK_CALLS); j++) {
        const c = calls[j];
        if (c.ts < first) first = c.ts;
        if (c.ts > last) last = c.ts;
        // Fields read one by one, in CALL_FIELDS order.
        tuples.push([c.ts, c.end_ts, c.trace_id, c.span_id, c.action, c.kind, c.tool, c.host, c.url, c.external, c.resource,
          c.destinations, c.principal, c.credential, c.ok, c.status, c.retries, c.sensitive, c.bytes_out]);
      }
      out.push({ agent_id: calls[i].agent_id, first_ts: first, last_ts: last, calls: tuples.length, body: JSON.stringify(tuples) });
    }
  }
  return out;
}

/** A block's calls of one trace from `from` on, as rows (the others are not built). */
function blockRows(agent: string, body: string, traceId: string, from: number): CallRow[] {
  const out: CallRow[] = [];
  for (const t of JSON.parse(body) as unknown[][]) {
    if (t[2] !== traceId || (t[0] as number) < from) continue;
    const row = { agent_id: agent } as Record<string, unknown>;
    for (let i = 0; i < CALL_FIELDS.length; i++) row[CALL_FIELDS[i]] = t[i];
    out.push(row as unknown as CallRow);
  }
  return out;
}

/**
 * A table's writes on one connection: how a batch of its rows is cut into transactions, and one
 * transaction's write.
 */
export interface TableInsert {
  chunks(rows: object[]): object[][];
  write(chunk: object[]): void;
}

function rowChunks(rows: object[]): object[][] {
  if (rows.length <= CHUNK_ROWS) return [rows];
  const out: object[][] = [];
  for (let i = 0; i < rows.length; i += CHUNK_ROWS) out.push(rows.slice(i, i + CHUNK_ROWS));
  return out;
}

/** The insert of each table on this connection (IMMEDIATE transactions: they only write, so they take the write lock at once). */
export function sqliteInserts(db: Db): Record<Table, TableInsert> {
  const insert = (table: Exclude<Table, 'calls'>): TableInsert => {
    const columns = COLUMNS[table];
    const { verb, tail } = CONFLICT[table];
    const stmt = db.prepare(`${verb} INTO ${table} (${columns.join(', ')}) VALUES (${columns.map(() => '?').join(', ')})${tail}`);
    const isArray = columns.map((c) => ARRAYS[table]?.includes(c) ?? false);
    // Bound by position from one reused array: no copy of each row to turn its lists into JSON,
    // no parameter looked up by name (about 5% of an insert of real rows; the indexes are most
    // of the rest).
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
    return { chunks: rowChunks, write: (rows) => tx.immediate(rows) };
  };
  const block = db.prepare('INSERT INTO call_blocks (agent_id, first_ts, last_ts, calls, body) VALUES (?, ?, ?, ?, ?)');
  const blocksTx = db.transaction((blocks: CallBlock[]) => {
    for (const b of blocks) block.run(b.agent_id, b.first_ts, b.last_ts, b.calls, b.body);
  });
  const calls: TableInsert = {
    // Blocks are cut from the whole batch (an agent's calls of it together), then grouped into transactions.
    chunks: (rows) => {
      const out: CallBlock[][] = [];
      let chunk: CallBlock[] = [];
      let n = 0;
      for (const b of callBlocks(rows as CallRow[])) {
        if (n > 0 && n + b.calls > CHUNK_CALLS) {
          out.push(chunk);
          chunk = [];
          n = 0;
        }
        chunk.push(b);
        n += b.calls;
      }
      if (chunk.length > 0) out.push(chunk);
      return out;
    },
    write: (blocks) => blocksTx.immediate(blocks as CallBlock[]),
  };
  return { calls, chains: insert('chains'), alerts: insert('alerts') };
}

/**
 * A batch's rows in the transactions its table cuts it into, calling `between` before each after
 * the first. A batch that fails part way is sent again whole: chains and alerts are written
 * idempotently; calls may then be stored twice, and are read once (SqliteEventStore.alert, count).
 */
export async function insertChunked(insert: TableInsert, rows: object[], between: () => Promise<void> | void): Promise<void> {
  const chunks = insert.chunks(rows);
  for (let i = 0; i < chunks.length; i++) {
    if (i > 0) await between();
    insert.write(chunks[i]);
  }
}

/** What writes the store's rows: this connection (`localInserter`) or one on another thread (src/sqlite-insert-thread.ts). */
export interface Inserter {
  insert(table: Table, rows: object[]): Promise<void>;
  close(): Promise<void>;
}

/**
 * On this thread: one transaction per chunk, with the event loop served between them
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
    // No call of a chain is older than its start: the agent's blocks from there on (call_blocks_agent),
    // and of those only the ones that name the trace are parsed.
    const start = Date.parse(stored.alert.chain.startTime);
    const blocks = this.db.prepare('SELECT body FROM call_blocks WHERE agent_id = ? AND last_ts >= ? AND instr(body, ?) > 0 ORDER BY first_ts')
      .all(r.agent_id, start, `"${r.trace_id}"`) as { body: string }[];
    // A batch written twice (sent again after a failure, or read again after a crash) is listed once.
    const seen = new Set<string>();
    const calls: CallRow[] = [];
    for (const b of blocks) {
      for (const c of blockRows(r.agent_id, b.body, r.trace_id, start)) {
        const key = `${c.ts}/${c.span_id}`;
        if (seen.has(key)) continue;
        seen.add(key);
        calls.push(c);
      }
    }
    calls.sort((a, b) => a.ts - b.ts || (a.span_id < b.span_id ? -1 : a.span_id > b.span_id ? 1 : 0));
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
    // Calls are counted once however often their batch was written.
    const from = table === 'calls' ? '(SELECT DISTINCT ts, span_id, trace_id FROM calls)' : table;
    return (this.db.prepare(`SELECT COUNT(*) AS n FROM ${from}`).get() as { n: number }).n;
  }

  async expire(before: Record<Table, number>): Promise<void> {
    // A block goes when its last call is due: its earlier calls, of the same hour, stay until then.
    this.db.prepare('DELETE FROM call_blocks WHERE last_ts < ?').run(before.calls);
    this.db.prepare('DELETE FROM chains WHERE start_ts < ?').run(before.chains);
    this.db.prepare('DELETE FROM alerts WHERE ts < ?').run(before.alerts);
  }

  close(): Promise<void> {
    return this.inserter.close();
  }
}
