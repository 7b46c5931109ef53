/**
 * The query API as a SOC analyst and a SIEM script use it, served by the running service on the
 * embedded store: token required; alerts listed, filtered and paged; one alert with its chain's
 * calls; ack/resolve audited; an agent's baseline and recent chains; top agents. Bad input gets
 * 400 naming the field; hostile strings are only ever values.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Service } from '../src/service.js';
import { defaultStoreConfig } from '../src/config.js';
import { defaultStoreWriterConfig } from '../src/store-writer.js';
import { agentTrace } from './helpers/spans.js';
import { HOSTILE } from './helpers/hostile.js';
import { until } from './helpers/until.js';

const dir = mkdtempSync(join(tmpdir(), 'chainwatch-api-'));
writeFileSync(join(dir, 'scope.yaml'), 'version: 1\npolicies:\n  - name: support\n    match: { name: [support-agent] }\n    destinations: { deny: ["paste-*"] }\n');
const TOKEN = 'test-token-7f3a9c';
const service = new Service({
  stateDir: join(dir, 'state'), receiver: { port: 0 }, policies: [join(dir, 'scope.yaml')],
  store: { ...defaultStoreConfig, writer: { ...defaultStoreWriterConfig, flushMs: 50 } },
  api: { enabled: true, host: '127.0.0.1', port: 0, token: TOKEN },
});
let ingest = '';
let api = '';
const t0 = Date.UTC(2026, 5, 1, 10);
const traces: { traceId: string; clientIds: string[]; agent: string }[] = [];

const get = async (path: string, token = TOKEN): Promise<{ status: number; body: any }> => {
  const res = await fetch(`${api}${path}`, { headers: token ? { authorization: `Bearer ${token}` } : {} });
  return { status: res.status, body: await res.json() };
};
const post = async (path: string, body: object): Promise<{ status: number; body: any }> => {
  const res = await fetch(`${api}${path}`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return { status: res.status, body: await res.json() };
};

beforeAll(async () => {
  ingest = `${await service.start()}/v1/traces`;
  api = service.apiUrl!;
  for (let i = 0; i < 12; i++) {
    const agent = i % 3 === 0 ? 'support-agent-02' : 'support-agent-01';
    const tr = agentTrace({
      t0: t0 + i * 60_000, agentId: agent,
      tools: [{ tool: 'lookup', method: 'GET', url: 'https://tickets.corp.internal/api/v1/tickets/42' }, { tool: 'upload', method: 'POST', url: `https://paste-${i}.io/api/v1/pastes` }],
    });
    traces.push({ traceId: tr.traceId, clientIds: tr.clientIds, agent });
    const res = await fetch(ingest, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(tr.doc) });
    expect(res.status).toBe(200);
  }
  service.engine.flush();
  await until(async () => (await service.events.count('alerts')) >= 12 && (await service.events.count('chains')) >= 12);
}, 30_000);

afterAll(async () => {
  await service.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('query API', () => {
  it('requires the bearer token', async () => {
    expect((await get('/api/v1/alerts', '')).status).toBe(401);
    const wrong = await get('/api/v1/alerts', 'not-the-token');
    expect(wrong.status).toBe(401);
    expect(wrong.body.error.field).toBe('authorization');
  });

  it('lists alerts newest first and pages through them with a cursor', async () => {
    const all = await get('/api/v1/alerts?limit=1000');
    expect(all.status).toBe(200);
    expect(all.body.alerts).toHaveLength(12);
    const times = all.body.alerts.map((a: any) => Date.parse(a.alert.time));
    expect(times).toEqual([...times].sort((a, b) => b - a));
    const seen: string[] = [];
    let next: string | undefined;
    do {
      const page = await get(`/api/v1/alerts?limit=5${next ? `&cursor=${next}` : ''}`);
      seen.push(...page.body.alerts.map((a: any) => a.alert.id));
      next = page.body.next;
    } while (next);
    expect(seen).toEqual(all.body.alerts.map((a: any) => a.alert.id));
  });

  it('filters by agent, severity and time', async () => {
    const mine = await get('/api/v1/alerts?agent=support-agent-02&limit=100');
    expect(mine.body.alerts).toHaveLength(4);
    expect(mine.body.alerts.every((a: any) => a.alert.agent.id === 'support-agent-02')).toBe(true);
    const sev = (await get('/api/v1/alerts?limit=100')).body.alerts[0].alert.severity;
    expect((await get(`/api/v1/alerts?severity=${sev}&limit=100`)).body.alerts.length).toBe(12);
    const from = new Date(t0 + 6 * 60_000).toISOString();
    expect((await get(`/api/v1/alerts?from=${from}&limit=100`)).body.alerts).toHaveLength(6);
    expect((await get(`/api/v1/alerts?to=${t0 + 6 * 60_000}&limit=100`)).body.alerts).toHaveLength(6);
  });

  it('shows one alert with the calls of its chain and its evidence', async () => {
    const tr = traces[4];
    const list = await get(`/api/v1/alerts?agent=${tr.agent}&limit=100`);
    const id = list.body.alerts.find((a: any) => a.alert.traceId === tr.traceId).alert.id;
    const one = await get(`/api/v1/alerts/${id}`);
    expect(one.status).toBe(200);
    expect(one.body.calls.map((c: any) => c.span_id)).toEqual(tr.clientIds);
    expect(one.body.calls[1]).toMatchObject({ host: 'paste-4.io', action: expect.stringContaining('POST') });
    expect(one.body.evidence[0]).toMatchObject({ detector: 'policy', observed: expect.stringContaining('paste-4.io') });
    expect((await get(`/api/v1/alerts/${'0'.repeat(32)}`)).status).toBe(404);
  });

  it('acknowledges and resolves with an audit trail, and filters by status', async () => {
    const [a, b] = (await get('/api/v1/alerts?limit=2')).body.alerts.map((x: any) => x.alert.id);
    expect((await post(`/api/v1/alerts/${a}/ack`, { by: 'ana', note: 'on it' })).body).toMatchObject({ id: a, status: 'acknowledged', by: 'ana' });
    expect((await post(`/api/v1/alerts/${b}/resolve`, { by: 'bo', note: 'known vendor' })).status).toBe(200);
    expect((await get('/api/v1/alerts?status=acknowledged')).body.alerts.map((x: any) => x.alert.id)).toEqual([a]);
    expect((await get('/api/v1/alerts?status=resolved')).body.alerts[0]).toMatchObject({ status: 'resolved', statusBy: 'bo', statusNote: 'known vendor' });
    expect((await get('/api/v1/alerts?status=open&limit=100')).body.alerts).toHaveLength(10);
    const audit = service.store.db.prepare('SELECT actor, action, target, detail FROM audit ORDER BY id').all();
    expect(audit).toEqual([
      { actor: 'ana', action: 'alert.ack', target: a, detail: 'on it' },
      { actor: 'bo', action: 'alert.resolve', target: b, detail: 'known vendor' },
    ]);
    expect((await post(`/api/v1/alerts/${'0'.repeat(32)}/ack`, { by: 'ana' })).status).toBe(404);
  });

  it('summarises an agent: baseline and recent chains', async () => {
    const r = await get('/api/v1/agents/support-agent-01?chains=3');
    expect(r.status).toBe(200);
    expect(r.body.baseline).toMatchObject({ id: 'support-agent-01', phase: 'learning', group: 'support-agent' });
    expect(r.body.recentChains).toHaveLength(3);
    expect(r.body.recentChains[0]).toMatchObject({ agent_id: 'support-agent-01', calls: 2, flagged: 1 });
    expect(r.body.recentChains[0].hosts).toContain('paste-11.io');
    const missing = await get('/api/v1/agents/nobody');
    expect(missing.status).toBe(404);
    expect(missing.body.error.message).toMatch(/no baseline for agent "nobody"/);
  });

  it('ranks the most anomalous agents over an event-time window', async () => {
    const r = await get('/api/v1/agents/top?window=1h');
    expect(r.status).toBe(200);
    expect(r.body.agents.map((a: any) => [a.agent, a.alerts])).toEqual([['support-agent-01', 8], ['support-agent-02', 4]]);
  });

  it('answers bad input with 400 naming the field', async () => {
    const cases: [string, string][] = [
      ['/api/v1/alerts?limit=0', 'limit'], ['/api/v1/alerts?limit=5000', 'limit'], ['/api/v1/alerts?limit=ten', 'limit'],
      ['/api/v1/alerts?severity=urgent', 'severity'], ['/api/v1/alerts?min_severity=bad', 'min_severity'], ['/api/v1/alerts?status=closed', 'status'],
      ['/api/v1/alerts?from=yesterday', 'from'], ['/api/v1/alerts?to=2026-13-45T99:00:00Z', 'to'], ['/api/v1/alerts?from=2026-06-02&to=2026-06-01', 'from'],
      ['/api/v1/alerts?cursor=bm90LWEtY3Vyc29y', 'cursor'], ['/api/v1/alerts?agnet=support-agent-01', 'agnet'],
      ['/api/v1/alerts/not-an-id', 'id'], ['/api/v1/agents/top?window=forever', 'window'], ['/api/v1/agents/top?limit=-1', 'limit'],
    ];
    for (const [path, field] of cases) {
      const r = await get(path);
      expect([path, r.status, r.body.error?.field]).toEqual([path, 400, field]);
      expect(r.body.error.message.length).toBeGreaterThan(5);
      expect(r.body.error.message.startsWith(`${field}:`), r.body.error.message).toBe(false);
    }
    expect((await get('/api/v1/alerts?from=yesterday')).body.error).toEqual({ field: 'from', message: '"yesterday" is not a time: send ISO 8601 (2026-11-25T10:00:00Z) or epoch milliseconds' });
    expect((await get('/api/v1/alerts/ABC')).body.error).toEqual({ field: 'id', message: 'an alert id is 32 lowercase hex digits: the "id" of an alert as listed by /api/v1/alerts' });
    const noBy = await post(`/api/v1/alerts/${'a'.repeat(32)}/ack`, { note: 'x' });
    expect([noBy.status, noBy.body.error.field]).toEqual([400, 'by']);
  });

  it('treats hostile strings as values', async () => {
    const before = (await get('/api/v1/alerts?limit=1000')).body.alerts.length;
    for (const h of HOSTILE.filter((s) => !s.includes('\u0000'))) {
      const r = await get(`/api/v1/alerts?agent=${encodeURIComponent(h)}`);
      expect([h, r.status, r.body.alerts?.length]).toEqual([h, 200, 0]);
      expect((await get(`/api/v1/agents/${encodeURIComponent(h)}`)).status).toBe(404);
    }
    expect((await get('/api/v1/alerts?limit=1000')).body.alerts.length).toBe(before);
  });

  it('keeps the token file private when it creates one', () => {
    const other = new Service({ stateDir: join(dir, 'state2'), receiver: { port: 0 }, api: { enabled: true, host: '127.0.0.1', port: 0 } });
    expect(statSync(join(dir, 'state2', 'api-token')).mode & 0o777).toBe(0o600);
    other.store.close();
  });
});
