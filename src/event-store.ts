/**
 * The event store's contract: what chainwatch writes (calls, chain summaries, alerts) and what the
 * query API asks. SQLite (embedded default) and ClickHouse (at scale) implement it and answer the
 * same queries the same way (test/event-store.test.ts runs one suite against both). Rows are flat
 * and built here once, from events that normalize already redacted.
 */
import type { AgentCall } from './agent-call.js';
import type { Alert } from './alerts.js';
import type { Chain } from './chains.js';
import { QueryError } from './errors.js';
import { type Severity, SEVERITIES, severityRank } from './severity.js';

export type Table = 'calls' | 'chains' | 'alerts';

export interface CallRow {
  ts: number; end_ts: number; trace_id: string; span_id: string; agent_id: string;
  action: string; kind: string; tool: string; host: string; url: string; external: number;
  resource: string; destinations: string[]; principal: string; credential: string;
  ok: number; status: number; retries: number; sensitive: number; bytes_out: number;
}

export interface ChainRow {
  trace_id: string; agent_id: string; start_ts: number; end_ts: number; calls: number;
  hosts: string[]; actions: string[]; resources: number; principal: string; conversation_id: string; flagged: number;
  /**
   * Written only, when a reopened trace's start moved earlier: the start its earlier row was
   * stored with, which this row replaces (SQLite keys chains by start; ClickHouse needs no hint).
   */
  replaces_start_ts?: number;
}

export interface AlertRow {
  id: string; ts: number; severity: Severity; severity_rank: number; score: number; agent_id: string;
  kind: string; title: string; trace_id: string; count: number; last_seen: number; body: string;
}

export type AlertStatus = 'open' | 'acknowledged' | 'resolved';
export const ALERT_STATUSES: AlertStatus[] = ['open', 'acknowledged', 'resolved'];

export interface StatusChange { status: AlertStatus; by: string; note: string; at: number }

export interface StoredAlert {
  alert: Alert;
  status: AlertStatus;
  statusBy?: string;
  statusNote?: string;
  statusAt?: string;
}

export interface AlertFilter {
  agent?: string;
  severity?: Severity[];
  minSeverity?: Severity;
  status?: AlertStatus;
  /** Event time bounds, epoch ms: from inclusive, to exclusive. */
  from?: number;
  to?: number;
  limit: number;
  cursor?: Cursor;
}

/** Keyset pagination: the (ts, id) of the last alert of the previous page (newest first). */
export interface Cursor { ts: number; id: string }

export interface AlertPage { alerts: StoredAlert[]; next?: string }

export interface AgentRank { agent: string; alerts: number; maxSeverity: Severity; score: number; lastAlert: string }

export interface EventStore {
  readonly kind: 'sqlite' | 'clickhouse';
  /** Create or update the schema. */
  init(): Promise<void>;
  insert(table: Table, rows: object[]): Promise<void>;
  alerts(filter: AlertFilter): Promise<AlertPage>;
  alert(id: string): Promise<{ stored: StoredAlert; calls: CallRow[] } | undefined>;
  recentChains(agent: string, limit: number): Promise<ChainRow[]>;
  topAgents(from: number, to: number, limit: number): Promise<AgentRank[]>;
  /** False when no alert has this id. */
  setStatus(id: string, change: StatusChange): Promise<boolean>;
  count(table: Table): Promise<number>;
  /** Drop what is older than the retention (epoch ms cut-offs per table). */
  expire(before: Record<Table, number>): Promise<void>;
  close(): Promise<void>;
}

export function callRow(c: AgentCall): CallRow {
  return {
    ts: Math.round(c.time), end_ts: Math.round(c.endTime), trace_id: c.traceId, span_id: c.spanId, agent_id: c.agent.id,
    action: c.action.signature, kind: c.action.kind, tool: c.action.tool ?? '', host: c.host ?? '', url: c.url ?? '', external: c.external ? 1 : 0,
    resource: c.resource, destinations: c.destinations.map((d) => `${d.kind}:${d.value}`), principal: c.principal ?? '', credential: c.credential ?? '',
    ok: c.outcome.ok ? 1 : 0, status: c.outcome.status ?? 0, retries: c.retries, sensitive: c.sensitive ? 1 : 0, bytes_out: c.bytesOut ?? 0,
  };
}

const CHAIN_LIST_CAP = 50;

export function chainRow(ch: Chain): ChainRow {
  const hosts = new Set<string>();
  const actions = new Set<string>();
  const resources = new Set<string>();
  for (const c of ch.calls) {
    if (c.host !== undefined && hosts.size < CHAIN_LIST_CAP) hosts.add(c.host);
    if (actions.size < CHAIN_LIST_CAP) actions.add(c.action.signature);
    resources.add(c.resource);
  }
  const row: ChainRow = {
    trace_id: ch.traceId, agent_id: ch.agent.id, start_ts: Math.round(ch.startTime), end_ts: Math.round(ch.lastTime), calls: ch.callCount,
    hosts: [...hosts].sort(), actions: [...actions].sort(), resources: resources.size, principal: ch.principal ?? '', conversation_id: ch.conversationId ?? '', flagged: ch.flagged ? 1 : 0,
  };
  if (ch.closedStart !== undefined && Math.round(ch.closedStart) !== row.start_ts) row.replaces_start_ts = Math.round(ch.closedStart);
  return row;
}

export function alertRow(a: Alert): AlertRow {
  return {
    id: a.id, ts: Date.parse(a.time), severity: a.severity, severity_rank: severityRank(a.severity), score: a.score, agent_id: a.agent.id,
    kind: a.kind, title: a.title, trace_id: a.traceId, count: a.count, last_seen: Date.parse(a.lastSeen), body: JSON.stringify(a),
  };
}

export function encodeCursor(c: Cursor): string {
  return Buffer.from(`${c.ts}\n${c.id}`).toString('base64url');
}

export function decodeCursor(s: string): Cursor {
  const [ts, id, extra] = Buffer.from(s, 'base64url').toString('utf8').split('\n');
  if (extra !== undefined || id === undefined || !/^\d{1,15}$/.test(ts) || !/^[0-9a-f]{1,64}$/.test(id)) {
    throw new QueryError('cursor', 'is not a cursor this API returned; pass the "next" value of the previous page unchanged');
  }
  return { ts: Number(ts), id };
}

/** Severities at or above `min`, intersected with an explicit list when both are given. */
export function severitiesOf(f: Pick<AlertFilter, 'severity' | 'minSeverity'>): Severity[] | undefined {
  if (f.severity === undefined && f.minSeverity === undefined) return undefined;
  const min = f.minSeverity === undefined ? 0 : severityRank(f.minSeverity);
  return SEVERITIES.filter((s) => severityRank(s) >= min && (f.severity === undefined || f.severity.includes(s)));
}

export function maxSeverity(rank: number): Severity {
  return SEVERITIES[rank];
}

export function toStored(body: string, status: string, by: string | null | undefined, note: string | null | undefined, at: number | null | undefined): StoredAlert {
  const s: StoredAlert = { alert: JSON.parse(body) as Alert, status: status as AlertStatus };
  if (by) s.statusBy = by;
  if (note) s.statusNote = note;
  if (at) s.statusAt = new Date(at).toISOString();
  return s;
}
