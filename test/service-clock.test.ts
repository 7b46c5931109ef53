/**
 * A sender whose clock runs ahead must not move event time for everyone: its spans are rejected
 * at the receiver (partial success), counted, and the service's event time stays where the other
 * senders put it — open chains stay open, and what is saved holds no future watermark.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Service } from '../src/service.js';
import { defaultEngineConfig } from '../src/engine.js';
import { agentTrace } from './helpers/spans.js';

const dir = mkdtempSync(join(tmpdir(), 'chainwatch-clock-'));
const cli = fileURLToPath(new URL('../src/cli.ts', import.meta.url));
const tsx = new URL('../node_modules/tsx/dist/loader.mjs', import.meta.url).href;
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Three spans dropped for `reason`, told apart from malformed ones on /metrics, and `chainwatch status` saying so. */
async function expectReported(service: Service, url: string, reason: string, statusLine: string): Promise<void> {
  const metrics = await (await fetch(service.metricsUrl!)).text();
  expect(metrics).toMatch(new RegExp(`chainwatch_spans_dropped_total\\{reason="${reason}"[^}]*\\} 3\n`));
  expect(metrics).toMatch(/chainwatch_spans_dropped_total\{reason="invalid_span"[^}]*\} 0\n/);
  const { stdout } = await promisify(execFile)(process.execPath, ['--import', tsx, cli, 'status', '--url', url.replace('/v1/traces', ''), '--interval', '0'], { timeout: 20_000 });
  expect(stdout).toContain(statusLine);
  // One sample (--interval 0): no rates to tell, rather than 0/0.
  expect(stdout).toMatch(/spans\/s —\s+calls\/s —\s+alerts\/s —/);
}

describe('service event time', () => {
  it('is not moved by spans from a sender whose clock is a day ahead', async () => {
    const service = new Service({ stateDir: dir, receiver: { port: 0 },
      telemetry: { prometheus: { enabled: true, host: '127.0.0.1', port: 0 }, otlp: { enabled: false, endpoint: '', intervalMs: 60_000, headers: {}, traces: false } } });
    const url = `${await service.start()}/v1/traces`;
    const post = async (t0: number, agentId: string): Promise<{ partialSuccess?: { rejectedSpans: string } }> => {
      const { doc } = agentTrace({ t0, agentId, tools: [{ tool: 'lookup', method: 'GET', url: 'https://tickets.corp.internal/api/v1/tickets/7' }] });
      const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(doc) });
      expect(res.status).toBe(200);
      return (await res.json()) as never;
    };
    try {
      const now = Date.now();
      expect(await post(now - 60_000, 'on-time-agent')).toEqual({});
      const eventTime = service.engine.now;
      expect(eventTime).toBeGreaterThan(now - 60_000);
      expect((await post(now + 86_400_000, 'skewed-agent')).partialSuccess?.rejectedSpans).toBe('3'); // its invoke_agent, tool and HTTP spans
      expect(service.engine.now).toBe(eventTime);
      expect(service.receiver.counters).toMatchObject({ spansRejected: 3, spansSkewed: 3 });
      expect(service.engine.stats.calls).toBe(1);
      await expectReported(service, url, 'clock_skew', "rejected: 3 spans (3 dated ahead of this machine's clock), requests none");
      // Bad requests by reason, the commonest first.
      const bad = (body: string, type: string): Promise<Response> => fetch(url, { method: 'POST', headers: { 'content-type': type }, body });
      for (const res of [await bad('\u00ff\u00ff\u00ff', 'application/x-protobuf'), await bad('\u00ff\u00ff', 'application/x-protobuf'), await bad('x', 'text/plain')]) expect(res.status).toBeGreaterThanOrEqual(400);
      await expectReported(service, url, 'clock_skew', "(3 dated ahead of this machine's clock), requests 3 (malformed 2, unsupported_media_type 1)");
    } finally {
      await service.stop();
    }
  }, 30_000);

  it('does not stretch a new agent\'s history with a span dated in the past, so it keeps learning', async () => {
    const engine = { ...defaultEngineConfig, lifecycle: { minCalls: 3, minHistoryMs: 86_400_000, minPeers: 3 } };
    const service = new Service({ stateDir: join(dir, 'late'), receiver: { port: 0 }, engine,
      telemetry: { prometheus: { enabled: true, host: '127.0.0.1', port: 0 }, otlp: { enabled: false, endpoint: '', intervalMs: 60_000, headers: {}, traces: false } } });
    const url = `${await service.start()}/v1/traces`;
    const post = async (t0: number, scale = 1, agentId = 'late-agent'): Promise<{ partialSuccess?: { rejectedSpans: string; errorMessage: string } }> => {
      const { doc } = agentTrace({ t0, agentId, tools: [{ tool: 'lookup', method: 'GET', url: 'https://tickets.corp.internal/api/v1/tickets/7' }] }) as { doc: any };
      // An exporter that writes milliseconds where OTLP wants nanoseconds: its spans are dated 1970.
      if (scale !== 1) for (const s of doc.resourceSpans[0].scopeSpans[0].spans) for (const k of ['startTimeUnixNano', 'endTimeUnixNano']) s[k] = String(BigInt(s[k]) / BigInt(scale));
      const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(doc) });
      expect(res.status).toBe(200);
      return (await res.json()) as never;
    };
    try {
      const now = Date.now();
      expect(await post(now - 70_000, 1, 'on-time-agent')).toEqual({}); // event time is now
      const late = await post(now - 60_000, 1_000_000);
      expect(late.partialSuccess?.rejectedSpans).toBe('3');
      expect(late.partialSuccess?.errorMessage).toMatch(/engine\.chains\.max_span_age/);
      for (let i = 0; i < 2; i++) expect(await post(now - 50_000 + i * 1_000)).toEqual({});
      const agent = service.engine.agents.get('late-agent')!;
      expect(agent.calls).toBe(2);
      expect(agent.firstSeen).toBeGreaterThan(now - 60_000);
      // Two calls a second apart: not a day of history. With the dated call taken (its third, and
      // minCalls is 3) its history would have spanned 56 years: enforcing.
      expect(agent.phase).toBe('learning');
      expect(service.receiver.counters).toMatchObject({ spansRejected: 3, spansTooOld: 3, spansSkewed: 0 });
      await expectReported(service, url, 'too_old', 'rejected: 3 spans (3 older than engine.chains.max_span_age)');
    } finally {
      await service.stop();
    }
  }, 30_000);
});
