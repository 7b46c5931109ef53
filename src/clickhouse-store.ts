/**
 * The event store at scale: calls, chain summaries and alerts in ClickHouse via
 * @clickhouse/client over HTTP, inserted as RowBinary. The schema (deploy/clickhouse/schema.sql) and every query are
 * shaped for the server's release (src/clickhouse-sql.ts): Debian's 18.16 and current ones.
 * Reads of ReplacingMergeTree tables use FINAL so a replayed batch never counts twice.
 */
import { readFileSync } from 'node:fs';
import { type ClickHouseClient, ClickHouseLogLevel, createClient } from '@clickhouse/client';
import { type Dialect, bind, dialectFor } from './clickhouse-sql.js';
import { StoreError } from './errors.js';
import {
  type AgentRank, type AlertFilter, type AlertPage, type CallRow, type ChainRow, type EventStore, type StatusChange, type StoredAlert, type Table,
  encodeCursor, maxSeverity, severitiesOf, toStored,
} from './event-store.js';
import { packagePath } from './package-path.js';
import { type ColumnType, encodeRows } from './rowbinary.js';
import { Readable } from 'node:stream';

/** Each table's inserted columns in DDL order (deploy/clickhouse/schema.sql; checked against the server by the tests). */
export const COLUMNS: Record<Table | 'alert_status', readonly (readonly [string, ColumnType])[]> = {
  calls: [['ts', 'UInt64'], ['end_ts', 'UInt64'], ['trace_id', 'String'], ['span_id', 'String'], ['agent_id', 'String'], ['action', 'String'], ['kind', 'String'],
    ['tool', 'String'], ['host', 'String'], ['url', 'String'], ['external', 'UInt8'], ['resource', 'String'], ['destinations', 'Array(String)'], ['principal', 'String'],
    ['credential', 'String'], ['ok', 'UInt8'], ['status', 'UInt16'], ['retries', 'UInt16'], ['sensitive', 'UInt8'], ['bytes_out', 'UInt64']],
  chains: [['trace_id', 'String'], ['agent_id', 'String'], ['start_ts', 'UInt64'], ['end_ts', 'UInt64'], ['calls', 'UInt32'], ['hosts', 'Array(String)'], ['actions', 'Array(String)'],
    ['resources', 'UInt32'], ['principal', 'String'], ['conversation_id', 'String'], ['flagged', 'UInt8']],
  alerts: [['id', 'String'], ['ts', 'UInt64'], ['severity', 'String'], ['severity_rank', 'UInt8'], ['score', 'Float64'], ['agent_id', 'String'], ['kind', 'String'],
    ['title', 'String'], ['trace_id', 'String'], ['count', 'UInt32'], ['last_seen', 'UInt64'], ['body', 'String']],
  alert_status: [['alert_id', 'String'], ['status', 'String'], ['by', 'String'], ['note', 'String'], ['at', 'UInt64']],
};

export interface ClickHouseConfig {
  url: string;
  database: string;
  username: string;
  /** Read from the environment (CHAINWATCH_CLICKHOUSE_PASSWORD), never from the config file. */
  password?: string;
  requestTimeoutMs: number;
  /**
   * Concurrent INSERT requests per batch. The client encodes rows on our thread while the server
   * parses and sorts on its own; two requests keep both busy (docs/benchmarks.md).
   */
  insertParallelism: number;
}

export const defaultClickHouseConfig: ClickHouseConfig = { url: 'http://127.0.0.1:8123', database: 'chainwatch', username: 'default', requestTimeoutMs: 10_000, insertParallelism: 2 };

const DAY_MS = 86_400_000;

/** Below this many rows a batch is sent as one request. */
const MIN_SPLIT_ROWS = 5_000;

/** Fill the schema's slots for a release; exported for the DDL test. */
export function renderSchema(dialect: Dialect, database: string, retentionMs: Record<Table, number>): string[] {
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(database)) throw new StoreError(`clickhouse.database "${database}" is not a plain identifier: use letters, digits and _`);
  const text = readFileSync(packagePath('deploy', 'clickhouse', 'schema.sql'), 'utf8').replace(/^--.*$/gm, '');
  return text.split(/^;$/m).map((s) => s.trim()).filter(Boolean).map((s) => s
    .replaceAll('{{db}}', database)
    .replaceAll('{{lc}}', dialect.modern ? 'LowCardinality(String)' : 'String')
    .replace(/\{\{time:(\w+)\}\}/g, (_, col: string) => (dialect.modern ? `,\n  time DateTime64(3) ALIAS fromUnixTimestamp64Milli(toInt64(${col}))` : ''))
    .replace(/\{\{ttl:(\w+)\}\}/g, (_, t: Table) => (dialect.modern ? `\nTTL day + INTERVAL ${Math.max(1, Math.round(retentionMs[t] / DAY_MS))} DAY` : '')));
}

type Params = Record<string, unknown>;

export class ClickHouseEventStore implements EventStore {
  readonly kind = 'clickhouse';
  readonly client: ClickHouseClient;
  dialect: Dialect = dialectFor('0');
  private readonly db: string;

  constructor(readonly config: ClickHouseConfig, private readonly retentionMs: Record<Table, number>) {
    this.db = config.database;
    this.client = createClient({
      url: config.url, username: config.username, password: config.password ?? '', request_timeout: config.requestTimeoutMs,
      max_open_connections: Math.max(2, config.insertParallelism + 2),
      // Errors reach us as rejections and are counted and logged by the writer, once.
      log: { level: ClickHouseLogLevel.OFF },
    });
  }

  async init(): Promise<void> {
    const [row] = await this.rows<{ v: string }>('SELECT version() AS v', {}, false);
    this.dialect = dialectFor(row.v);
    for (const ddl of renderSchema(this.dialect, this.db, this.retentionMs)) await this.client.command({ query: ddl });
  }

  /**
   * One batch, in up to `insertParallelism` concurrent requests. If any part fails the whole
   * batch fails and is retried from the spill; parts that landed are deduplicated by the
   * ReplacingMergeTree keys, so a retry never counts twice.
   */
  async insert(table: Table, rows: object[]): Promise<void> {
    const parts = Math.max(1, Math.min(this.config.insertParallelism, Math.floor(rows.length / MIN_SPLIT_ROWS)));
    const size = Math.ceil(rows.length / parts);
    const sends: Promise<unknown>[] = [];
    for (let i = 0; i < rows.length; i += size) sends.push(this.insertBinary(table, rows.slice(i, i + size)));
    await Promise.all(sends);
  }

  /** RowBinary: no text to escape or parse on either side (see src/rowbinary.ts). */
  private async insertBinary(table: Table | 'alert_status', rows: object[]): Promise<void> {
    const body = encodeRows(rows, COLUMNS[table]);
    const res = await this.client.exec({ query: `INSERT INTO ${this.db}.${table} (${COLUMNS[table].map((c) => c[0]).join(', ')}) FORMAT RowBinary`, values: Readable.from([body], { objectMode: false }) });
    for await (const _ of res.stream) { /* drain: the insert is done when the response ends */ }
  }

  private async rows<T>(sql: string, params: Params, bound = true): Promise<T[]> {
    const q = bound ? bind(sql, params, this.dialect) : { query: sql };
    const rs = await this.client.query({ ...q, format: 'JSONEachRow' });
    return rs.json<T>();
  }

  /** Latest status per alert, for the given ids. */
  private async statuses(ids: string[]): Promise<Map<string, { status: string; by: string; note: string; at: string }>> {
    if (ids.length === 0) return new Map();
    const rows = await this.rows<{ alert_id: string; s: string; b: string; n: string; t: string }>(
      `SELECT alert_id, argMax(status, at) AS s, argMax(by, at) AS b, argMax(note, at) AS n, max(at) AS t
       FROM ${this.db}.alert_status WHERE has({ids:Array(String)}, alert_id) GROUP BY alert_id`, { ids });
    return new Map(rows.map((r) => [r.alert_id, { status: r.s, by: r.b, note: r.n, at: r.t }]));
  }

  private stored(body: string, s: { status: string; by: string; note: string; at: string } | undefined): StoredAlert {
    return toStored(body, s?.status ?? 'open', s?.by, s?.note, s ? Number(s.at) : undefined);
  }

  async alerts(f: AlertFilter): Promise<AlertPage> {
    const where: string[] = [];
    const p: Params = { limit: f.limit + 1 };
    if (f.agent !== undefined) where.push('agent_id = {agent:String}') && (p.agent = f.agent);
    const sevs = severitiesOf(f);
    if (sevs !== undefined) where.push(sevs.length ? 'has({sevs:Array(String)}, severity)' : '0') && (p.sevs = sevs);
    if (f.status !== undefined) {
      const latest = `SELECT alert_id FROM (SELECT alert_id, argMax(status, at) AS s FROM ${this.db}.alert_status GROUP BY alert_id)`;
      where.push(f.status === 'open' ? `id NOT IN (${latest} WHERE s != 'open')` : `id IN (${latest} WHERE s = {status:String})`);
      p.status = f.status;
    }
    if (f.from !== undefined) where.push('ts >= {from:UInt64}') && (p.from = f.from);
    if (f.to !== undefined) where.push('ts < {to:UInt64}') && (p.to = f.to);
    if (f.cursor !== undefined) where.push('(ts < {cts:UInt64} OR (ts = {cts:UInt64} AND id < {cid:String}))') && Object.assign(p, { cts: f.cursor.ts, cid: f.cursor.id });
    const rows = await this.rows<{ id: string; ts: string; body: string }>(
      `SELECT id, ts, body FROM ${this.db}.alerts FINAL ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY ts DESC, id DESC LIMIT {limit:UInt32}`, p);
    const page = rows.slice(0, f.limit);
    const st = await this.statuses(page.map((r) => r.id));
    const out: AlertPage = { alerts: page.map((r) => this.stored(r.body, st.get(r.id))) };
    if (rows.length > f.limit) out.next = encodeCursor({ ts: Number(page[f.limit - 1].ts), id: page[f.limit - 1].id });
    return out;
  }

  async alert(id: string): Promise<{ stored: StoredAlert; calls: CallRow[] } | undefined> {
    const [r] = await this.rows<{ body: string; trace_id: string; agent_id: string }>(`SELECT body, trace_id, agent_id FROM ${this.db}.alerts FINAL WHERE id = {id:String} LIMIT 1`, { id });
    if (r === undefined) return undefined;
    const st = await this.statuses([id]);
    const calls = await this.rows<Record<string, unknown>>(
      `SELECT * FROM ${this.db}.calls FINAL WHERE agent_id = {agent:String} AND trace_id = {trace:String} ORDER BY ts, span_id`, { agent: r.agent_id, trace: r.trace_id });
    return { stored: this.stored(r.body, st.get(id)), calls: calls.map(numbers) as unknown as CallRow[] };
  }

  async recentChains(agent: string, limit: number): Promise<ChainRow[]> {
    const rows = await this.rows<Record<string, unknown>>(
      `SELECT * FROM ${this.db}.chains FINAL WHERE agent_id = {agent:String} ORDER BY start_ts DESC, trace_id DESC LIMIT {limit:UInt32}`, { agent, limit });
    return rows.map(numbers) as unknown as ChainRow[];
  }

  async topAgents(from: number, to: number, limit: number): Promise<AgentRank[]> {
    const rows = await this.rows<{ agent_id: string; n: string; r: number; s: number; last: string }>(
      `SELECT agent_id, count() AS n, max(severity_rank) AS r, sum(score) AS s, max(ts) AS last FROM ${this.db}.alerts FINAL
       WHERE ts >= {from:UInt64} AND ts < {to:UInt64} GROUP BY agent_id ORDER BY r DESC, n DESC, agent_id ASC LIMIT {limit:UInt32}`, { from, to, limit });
    return rows.map((r) => ({ agent: r.agent_id, alerts: Number(r.n), maxSeverity: maxSeverity(Number(r.r)), score: Math.round(Number(r.s) * 1000) / 1000, lastAlert: new Date(Number(r.last)).toISOString() }));
  }

  async setStatus(id: string, c: StatusChange): Promise<boolean> {
    const [r] = await this.rows<{ n: string }>(`SELECT count() AS n FROM ${this.db}.alerts WHERE id = {id:String}`, { id });
    if (Number(r.n) === 0) return false;
    await this.insertBinary('alert_status', [{ alert_id: id, status: c.status, by: c.by, note: c.note, at: c.at }]);
    return true;
  }

  async count(table: Table): Promise<number> {
    const [r] = await this.rows<{ n: string }>(`SELECT count() AS n FROM ${this.db}.${table} FINAL`, {});
    return Number(r.n);
  }

  /** Drop whole day partitions older than the cut-offs: cheap, and the same on every release. */
  async expire(before: Record<Table, number>): Promise<void> {
    for (const table of ['calls', 'chains', 'alerts'] as Table[]) {
      const day = Number(new Date(before[table]).toISOString().slice(0, 10).replaceAll('-', ''));
      const parts = await this.rows<{ partition: string }>(
        `SELECT DISTINCT partition FROM system.parts WHERE database = {db:String} AND table = {table:String} AND active`, { db: this.db, table });
      for (const { partition } of parts) {
        const p = Number(partition.replaceAll("'", ''));
        if (Number.isInteger(p) && p < day) await this.client.command({ query: `ALTER TABLE ${this.db}.${table} DROP PARTITION ${p}` });
      }
    }
  }

  async close(): Promise<void> {
    await this.client.close();
  }
}

const NUMERIC = new Set(['ts', 'end_ts', 'start_ts', 'bytes_out', 'calls', 'resources', 'status', 'retries', 'ok', 'external', 'sensitive', 'flagged']);

/** UInt64 columns arrive as JSON strings (64-bit safety); ours are epoch ms and counts. */
function numbers(row: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(row)) out[k] = NUMERIC.has(k) ? Number(v) : v;
  return out;
}
