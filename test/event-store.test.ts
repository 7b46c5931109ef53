/**
 * One query suite, two stores: a simulated fleet (history, then a live day with attacks) runs
 * through the real engine; its calls, chain summaries and alerts go into SQLite (the embedded
 * default) and into a real ClickHouse server. Every query of the API must answer the same on
 * both, and answer right: filters, keyset pagination, alert detail with the chain's calls,
 * recent chains, top agents, status changes, retention, and hostile filter values.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Alert } from '../src/alerts.js';
import { ClickHouseEventStore, defaultClickHouseConfig, renderSchema } from '../src/clickhouse-store.js';
import { dialectFor } from '../src/clickhouse-sql.js';
import { type AlertFilter, type ChainRow, type EventStore, type Table, alertRow, callRow, chainRow, decodeCursor } from '../src/event-store.js';
import { openDatabase } from '../src/sqlite-db.js';
import { SqliteInsertThread } from '../src/sqlite-insert-thread.js';
import { SqliteEventStore } from '../src/sqlite-store.js';
import { simulate } from '../src/simulate.js';
import { SEVERITIES, severityRank } from '../src/severity.js';
import { HOSTILE } from './helpers/hostile.js';
import { clickhouse } from './helpers/clickhouse.js';
import { feed, newEngine } from './helpers/pipeline.js';

const dir = mkdtempSync(join(tmpdir(), 'chainwatch-store-'));
const server = clickhouse(18132);
const retention = { calls: 7 * 86_400_000, chains: 90 * 86_400_000, alerts: 365 * 86_400_000 };
const rows: Record<Table, object[]> = { calls: [], chains: [], alerts: [] };
const emitted: Alert[] = [];
let stores: EventStore[] = [];

beforeAll(async () => {
  const { engine, filter, alerts } = newEngine();
  engine.setRecorder({ call: (c) => rows.calls.push(callRow(c)), chain: (ch) => rows.chains.push(chainRow(ch)) });
  const sim = simulate({ seed: 3, agentsPerRole: 2, historyDays: 4, liveDays: 1, chainsPerAgentDay: 12, attacksPerClass: 2 });
  engine.mode = 'learn';
  feed(engine, filter, sim.history);
  engine.flush();
  engine.mode = 'detect';
  feed(engine, filter, sim.live);
  engine.flush();
  emitted.push(...alerts);
  rows.alerts = alerts.map(alertRow);
  server.start();
  // Rows written as the service writes them: on the insert thread, read back on this connection.
  const sqlite = new SqliteEventStore(openDatabase(dir), new SqliteInsertThread(dir));
  const ch = new ClickHouseEventStore({ ...defaultClickHouseConfig, url: server.url, database: 'cw_test' }, retention);
  stores = [sqlite, ch];
  for (const s of stores) {
    await s.init();
    for (const t of ['calls', 'chains', 'alerts'] as Table[]) {
      // In batches, and the alerts and a batch of calls twice: a replayed batch must not count or list twice.
      for (let i = 0; i < rows[t].length; i += 5000) await s.insert(t, rows[t].slice(i, i + 5000));
    }
    await s.insert('alerts', rows.alerts);
    await s.insert('calls', rows.calls.slice(0, 5000));
  }
}, 180_000);

afterAll(async () => {
  for (const s of stores) await s.close();
  server.destroy();
  rmSync(dir, { recursive: true, force: true });
}, 60_000);

/** Ask both stores; they must agree; return the answer. */
async function both<T>(ask: (s: EventStore) => Promise<T>): Promise<T> {
  const [a, b] = await Promise.all(stores.map(ask));
  expect(b).toEqual(a);
  return a;
}

function lastChains(): object[] {
  const last = new Map<string, any>();
  for (const c of rows.chains as any[]) {
    const k = `${c.trace_id}/${c.agent_id}`;
    if ((last.get(k)?.end_ts ?? -1) <= c.end_ts) last.set(k, c);
  }
  // What a row replaces is written, not stored.
  return [...last.values()].map(({ replaces_start_ts: _, ...row }) => row);
}

const ids = (p: { alerts: { alert: Alert }[] }): string[] => p.alerts.map((a) => a.alert.id);
const latest = new Map<string, Alert>();

describe('the same answers from SQLite and ClickHouse', () => {
  beforeAll(() => {
    for (const a of emitted) if ((latest.get(a.id)?.count ?? 0) <= a.count) latest.set(a.id, a);
  });

  it('holds what was written, once', async () => {
    expect(rows.alerts.length).toBeGreaterThan(10);
    expect(await both((s) => s.count('calls'))).toBe(new Set(rows.calls.map((r: any) => `${r.trace_id}/${r.span_id}`)).size);
    // A trace that reopens after its chain closed is summarised again; the later summary wins.
    expect(await both((s) => s.count('chains'))).toBe(lastChains().length);
    expect(await both((s) => s.count('alerts'))).toBe(latest.size);
  });

  it('lists alerts newest first, with rollup updates folded into their alert', async () => {
    const page = await both((s) => s.alerts({ limit: 1000 }));
    const expected = [...latest.values()].sort((a, b) => Date.parse(b.time) - Date.parse(a.time) || (a.id < b.id ? 1 : -1));
    expect(ids(page)).toEqual(expected.map((a) => a.id));
    expect(page.alerts.map((a) => a.alert.count)).toEqual(expected.map((a) => a.count));
    expect(page.alerts.every((a) => a.status === 'open')).toBe(true);
    expect(page.next).toBeUndefined();
  });

  it('pages with a cursor: every alert exactly once, in order', async () => {
    const seen: string[] = [];
    let cursor: string | undefined;
    for (let n = 0; n < 100; n++) {
      const f: AlertFilter = { limit: 7 };
      if (cursor !== undefined) f.cursor = decodeCursor(cursor);
      const page = await both((s) => s.alerts(f));
      seen.push(...ids(page));
      cursor = page.next;
      if (cursor === undefined) break;
    }
    expect(seen).toEqual(ids(await both((s) => s.alerts({ limit: 1000 }))));
  });

  it('filters by agent, severity, minimum severity and time', async () => {
    const all = [...latest.values()];
    const agent = all[0].agent.id;
    expect(ids(await both((s) => s.alerts({ limit: 1000, agent })))).toHaveLength(all.filter((a) => a.agent.id === agent).length);
    for (const sev of SEVERITIES) {
      const page = await both((s) => s.alerts({ limit: 1000, minSeverity: sev }));
      expect(page.alerts.length).toBe(all.filter((a) => severityRank(a.severity) >= severityRank(sev)).length);
    }
    const high = await both((s) => s.alerts({ limit: 1000, severity: ['high', 'critical'], minSeverity: 'critical' }));
    expect(high.alerts.every((a) => a.alert.severity === 'critical')).toBe(true);
    const times = all.map((a) => Date.parse(a.time)).sort((a, b) => a - b);
    const mid = times[Math.floor(times.length / 2)];
    const early = await both((s) => s.alerts({ limit: 1000, to: mid }));
    const late = await both((s) => s.alerts({ limit: 1000, from: mid }));
    expect(early.alerts.length + late.alerts.length).toBe(all.length);
    expect(early.alerts.every((a) => Date.parse(a.alert.time) < mid)).toBe(true);
  });

  it('shows one alert with its chain\'s calls and evidence', async () => {
    const a = [...latest.values()].find((x) => x.kind === 'call')!;
    const got = await both((s) => s.alert(a.id));
    expect(got!.stored.alert).toEqual(a);
    const traceCalls = rows.calls.filter((r: any) => r.trace_id === a.traceId);
    expect(got!.calls.map((c) => c.span_id).sort()).toEqual(traceCalls.map((r: any) => r.span_id).sort());
    expect(got!.calls.map((c) => c.span_id)).toEqual(expect.arrayContaining(a.spanIds));
    expect(await both((s) => s.alert('0'.repeat(32)))).toBeUndefined();
  });

  it('finds every alert\'s chain calls, whatever its kind, rollup or trace', async () => {
    for (const a of latest.values()) {
      const got = await both((s) => s.alert(a.id));
      const expected = rows.calls.filter((r: any) => r.trace_id === a.traceId && r.agent_id === a.agent.id).map((r: any) => r.span_id).sort();
      expect(expected.length).toBeGreaterThan(0);
      expect(got!.calls.map((c) => c.span_id).sort()).toEqual(expected);
    }
  });

  it('lists an agent\'s recent chains, newest first', async () => {
    const agent = (rows.chains[0] as any).agent_id as string;
    const got = await both((s) => s.recentChains(agent, 5));
    const expected = lastChains().filter((c: any) => c.agent_id === agent).sort((x: any, y: any) => y.start_ts - x.start_ts || (x.trace_id < y.trace_id ? 1 : -1)).slice(0, 5);
    expect(got).toEqual(expected);
  });

  it('ranks agents by worst severity, then alert count, over a window', async () => {
    const all = [...latest.values()];
    const to = Math.max(...all.map((a) => Date.parse(a.time))) + 1;
    const got = await both((s) => s.topAgents(to - 86_400_000, to, 5));
    expect(got.length).toBeGreaterThan(0);
    for (let i = 1; i < got.length; i++) {
      const [p, q] = [got[i - 1], got[i]];
      expect(severityRank(p.maxSeverity) > severityRank(q.maxSeverity) || (p.maxSeverity === q.maxSeverity && p.alerts >= q.alerts)).toBe(true);
    }
    const mine = all.filter((a) => a.agent.id === got[0].agent && Date.parse(a.time) >= to - 86_400_000);
    expect(got[0].alerts).toBe(mine.length);
  });

  it('acknowledges and resolves alerts, and filters by status', async () => {
    const [a, b] = ids(await both((s) => s.alerts({ limit: 2 })));
    for (const s of stores) {
      expect(await s.setStatus(a, { status: 'acknowledged', by: 'ana', note: 'looking', at: 1_000 })).toBe(true);
      expect(await s.setStatus(b, { status: 'acknowledged', by: 'ana', note: '', at: 1_000 })).toBe(true);
      expect(await s.setStatus(b, { status: 'resolved', by: 'bo', note: 'benign: new vendor', at: 2_000 })).toBe(true);
      expect(await s.setStatus('f'.repeat(32), { status: 'resolved', by: 'bo', note: '', at: 2_000 })).toBe(false);
    }
    const acked = await both((s) => s.alerts({ limit: 100, status: 'acknowledged' }));
    expect(ids(acked)).toEqual([a]);
    expect(acked.alerts[0]).toMatchObject({ status: 'acknowledged', statusBy: 'ana', statusNote: 'looking' });
    expect(ids(await both((s) => s.alerts({ limit: 100, status: 'resolved' })))).toEqual([b]);
    const open = await both((s) => s.alerts({ limit: 1000, status: 'open' }));
    expect(open.alerts.length).toBe(latest.size - 2);
    expect((await both((s) => s.alert(b)))!.stored).toMatchObject({ status: 'resolved', statusBy: 'bo', statusAt: new Date(2000).toISOString() });
  });

  it('treats hostile filter values as values', async () => {
    for (const h of HOSTILE) {
      expect((await both((s) => s.alerts({ limit: 10, agent: h }))).alerts).toEqual([]);
      expect(await both((s) => s.recentChains(h, 3))).toEqual([]);
      expect(await both((s) => s.alert(h))).toBeUndefined();
    }
    expect(await both((s) => s.count('alerts'))).toBe(latest.size);
  });

  it('keeps one summary of a trace whose chain reopened with an earlier start', async () => {
    const chain = { ...(rows.chains[0] as ChainRow), agent_id: 'reopened-agent', trace_id: 'e'.repeat(32) };
    for (const s of stores) {
      await s.insert('chains', [chain]);
      await s.insert('chains', [{ ...chain, start_ts: chain.start_ts - 60_000, end_ts: chain.end_ts + 3_600_000, calls: 1, replaces_start_ts: chain.start_ts }]);
    }
    const got = await both((s) => s.recentChains('reopened-agent', 5));
    expect(got.map((c) => [c.start_ts, c.end_ts, c.calls])).toEqual([[chain.start_ts - 60_000, chain.end_ts + 3_600_000, 1]]);
  });

  it('drops what is past retention', async () => {
    const times = rows.calls.map((r: any) => r.ts as number);
    const lastDay = new Date(Math.max(...times)).toISOString().slice(0, 10);
    const cut = Date.parse(`${lastDay}T00:00:00Z`);
    await Promise.all(stores.map((s) => s.expire({ calls: cut, chains: 0, alerts: 0 })));
    const left = rows.calls.filter((r: any) => r.ts >= cut);
    expect(await both((s) => s.count('calls'))).toBe(new Set(left.map((r: any) => `${r.trace_id}/${r.span_id}`)).size);
    expect(await both((s) => s.count('alerts'))).toBe(latest.size);
  });
});

describe('ClickHouse DDL per release', () => {
  it('uses LowCardinality, DateTime64 and TTL only where the server has them', () => {
    const old = renderSchema(dialectFor('18.16.1'), 'cw', retention).join('\n');
    const modern = renderSchema(dialectFor('24.8.1'), 'cw', retention).join('\n');
    expect(old).not.toMatch(/LowCardinality|DateTime64|TTL|\{\{/);
    expect(modern).toMatch(/agent_id LowCardinality\(String\)/);
    expect(modern).toMatch(/time DateTime64\(3\) ALIAS fromUnixTimestamp64Milli\(toInt64\(ts\)\)/);
    expect(modern).toMatch(/TTL day \+ INTERVAL 7 DAY/);
    expect(() => renderSchema(dialectFor('18.16.1'), 'cw; DROP DATABASE x', retention)).toThrow(/plain identifier/);
  });
});

describe('ClickHouse columns', () => {
  it('inserts the columns the server has, in its order', async () => {
    const { COLUMNS } = await import('../src/clickhouse-store.js');
    const ch = stores[1] as ClickHouseEventStore;
    for (const table of Object.keys(COLUMNS) as (keyof typeof COLUMNS)[]) {
      const rs = await ch.client.query({ query: `SELECT name, type FROM system.columns WHERE database = 'cw_test' AND table = '${table}' AND default_kind = ''`, format: 'JSONEachRow' });
      const cols = (await rs.json<{ name: string; type: string }>()).map((c) => [c.name, c.type.replace(/^LowCardinality\((.*)\)$/, '$1')]);
      expect([table, cols]).toEqual([table, COLUMNS[table].map(([n, t]) => [n, t])]);
    }
  });

  it('round-trips long, multi-byte and hostile values through RowBinary', async () => {
    const ch = stores[1] as ClickHouseEventStore;
    const long = `https://x.example/${'ü✓🙂'.repeat(60)}?q=${HOSTILE.join('|')}`;
    const row = { ...(rows.calls[0] as object), trace_id: 'f'.repeat(32), span_id: 'e'.repeat(16), url: long, resource: HOSTILE.join(''), destinations: Array.from({ length: 130 }, (_, i) => `email:u${i}@ü.example`), bytes_out: 2 ** 40 };
    await ch.insert('calls', [row]);
    const rs = await ch.client.query({ query: `SELECT * FROM cw_test.calls WHERE trace_id = '${'f'.repeat(32)}'`, format: 'JSONEachRow' });
    const [got] = await rs.json<Record<string, unknown>>();
    expect({ ...got, ts: Number(got.ts), end_ts: Number(got.end_ts), bytes_out: Number(got.bytes_out) }).toEqual(row);
  });
});
