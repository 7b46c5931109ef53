/**
 * ClickHouse taken away in the middle of a run: the service keeps answering OTLP 200 and
 * detecting, batches go to the disk spill (counted), and once the server is back the spill
 * drains; every call, chain and alert sent is then in ClickHouse exactly once. A second
 * service start on the same state dir replays a spill left by the first.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Config, defaultStoreConfig } from '../src/config.js';
import { Service } from '../src/service.js';
import { defaultClickHouseConfig } from '../src/clickhouse-store.js';
import { defaultStoreWriterConfig } from '../src/store-writer.js';
import { clickhouse } from './helpers/clickhouse.js';
import { agentTrace } from './helpers/spans.js';
import { until } from './helpers/until.js';

const dir = mkdtempSync(join(tmpdir(), 'chainwatch-outage-'));
const server = clickhouse(18133);
writeFileSync(join(dir, 'scope.yaml'), 'version: 1\npolicies:\n  - name: support\n    match: { name: [support-agent] }\n    destinations: { deny: ["paste-*"] }\n');
const store: Config['store'] = {
  ...defaultStoreConfig, kind: 'clickhouse',
  clickhouse: { ...defaultClickHouseConfig, url: server.url, database: 'cw_outage', requestTimeoutMs: 3_000 },
  writer: { ...defaultStoreWriterConfig, flushMs: 100, retryMs: 200, batchRows: 50 },
};
const newService = (): Service => new Service({ stateDir: join(dir, 'state'), receiver: { port: 0 }, policies: [join(dir, 'scope.yaml')], store });
let t = Date.UTC(2026, 5, 1, 10);
let sentCalls = 0;
let sentTraces = 0;
let sentAlerts = 0;

async function send(url: string, n: number): Promise<void> {
  for (let i = 0; i < n; i++) {
    t += 30_000;
    const bad = i % 4 === 0;
    const tr = agentTrace({
      t0: t, agentId: `support-agent-0${i % 3}`,
      tools: [{ tool: 'lookup', method: 'GET', url: 'https://tickets.corp.internal/api/v1/tickets/7' }, { tool: 'post', method: 'POST', url: bad ? `https://paste-${t}.io/x` : 'https://tickets.corp.internal/api/v1/notes' }],
    });
    const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(tr.doc) });
    expect(res.status).toBe(200);
    sentCalls += 2;
    sentTraces++;
    if (bad) sentAlerts++;
  }
}


beforeAll(() => server.start(), 120_000);
afterAll(() => {
  server.destroy();
  rmSync(dir, { recursive: true, force: true });
}, 60_000);

describe('ClickHouse outage', () => {
  it('keeps ingesting while the server is down and catches up after it returns', async () => {
    const service = newService();
    const url = `${await service.start()}/v1/traces`;
    const w = service.eventWriter.counters;
    await send(url, 40);
    await until(() => w.rowsWritten.calls === 80, 10_000);

    server.stop();
    await send(url, 60);
    service.engine.flush();
    await until(() => w.rowsSpilled > 0 && service.eventWriter.pending.rows === 0, 15_000);
    expect(w.storeUp).toBe(false);
    expect(service.status()).toMatchObject({ store: { kind: 'clickhouse', storeUp: false } });
    expect(service.receiver.counters.spansAccepted).toBeGreaterThan(0);
    expect(readdirSync(join(dir, 'state', 'spill')).length).toBeGreaterThan(0);

    server.start();
    await until(() => service.eventWriter.pending.spillFiles === 0 && w.storeUp, 30_000);
    expect(w.rowsReplayed).toBe(w.rowsSpilled);
    expect(w.rowsDropped).toBe(0);
    expect(await service.events.count('calls')).toBe(sentCalls);
    expect(await service.events.count('chains')).toBe(sentTraces);
    expect(await service.events.count('alerts')).toBe(sentAlerts);
    await service.stop();
  }, 120_000);

  it('replays on the next start what a stopped service left in the spill', async () => {
    server.stop();
    const first = newService();
    const url = `${await first.start()}/v1/traces`;
    await send(url, 20);
    await first.stop();
    expect(readdirSync(join(dir, 'state', 'spill')).length).toBeGreaterThan(0);

    server.start();
    const second = newService();
    await second.start();
    await until(() => second.eventWriter.pending.spillFiles === 0, 30_000);
    expect(await second.events.count('calls')).toBe(sentCalls);
    expect(await second.events.count('chains')).toBe(sentTraces);
    expect(await second.events.count('alerts')).toBe(sentAlerts);
    await second.stop();
  }, 120_000);
});
