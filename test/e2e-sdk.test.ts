/**
 * End to end with the real OpenTelemetry JS SDK: NodeSDK + OTLP/protobuf exporter → our receiver
 * → engine. The agent learns a routine, then a hijacked chain posts customer data to a paste
 * site; the alert must name that very span.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NodeSDK } from '@opentelemetry/sdk-node';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { BatchSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { SpanKind, context, trace, type Span } from '@opentelemetry/api';
import type { Alert } from '../src/alerts.js';
import { defaultEngineConfig } from '../src/engine.js';
import { Service } from '../src/service.js';

const dir = mkdtempSync(join(tmpdir(), 'chainwatch-e2e-'));
const alerts: Alert[] = [];
const service = new Service({
  stateDir: dir,
  receiver: { port: 0 },
  engine: { ...defaultEngineConfig, lifecycle: { minCalls: 40, minHistoryMs: 0, minPeers: 3 } },
  onAlert: (a) => alerts.push(a),
});
let sdk: NodeSDK;

beforeAll(async () => {
  const address = await service.start();
  const exporter = new OTLPTraceExporter({ url: `${address}/v1/traces` });
  sdk = new NodeSDK({
    resource: resourceFromAttributes({ 'service.name': 'support-svc', 'service.instance.id': 'pod-7' }),
    spanProcessors: [new BatchSpanProcessor(exporter, { scheduledDelayMillis: 50 })],
  });
  sdk.start();
});

afterAll(async () => {
  await sdk.shutdown();
  await service.stop();
  await service.stop(); // safe twice
  rmSync(dir, { recursive: true, force: true });
});

const tracer = () => trace.getTracer('agent-framework', '1.0.0');

/** One agent task: invoke_agent root, then execute_tool spans, each with an HTTP client child. */
function runTask(steps: { tool: string; method: string; url: string; sensitive?: boolean }[]): Record<string, string> {
  const ids: Record<string, string> = {};
  const root = tracer().startSpan('invoke_agent support-agent', {
    attributes: { 'gen_ai.operation.name': 'invoke_agent', 'gen_ai.agent.id': 'support-agent-07', 'gen_ai.agent.name': 'support-agent', 'enduser.id': 'alice@corp.example' },
  });
  const rootCtx = trace.setSpan(context.active(), root);
  for (const step of steps) {
    const tool = tracer().startSpan(`execute_tool ${step.tool}`, {
      attributes: { 'gen_ai.operation.name': 'execute_tool', 'gen_ai.tool.name': step.tool, ...(step.sensitive ? { 'chainwatch.data.classification': 'customer' } : {}) },
    }, rootCtx);
    const host = new URL(step.url).hostname;
    const client: Span = tracer().startSpan(step.method, {
      kind: SpanKind.CLIENT,
      attributes: { 'http.request.method': step.method, 'url.full': step.url, 'server.address': host, 'server.port': 443, 'http.response.status_code': 200 },
    }, trace.setSpan(rootCtx, tool));
    ids[step.tool] = client.spanContext().spanId;
    client.end();
    tool.end();
  }
  root.end();
  return ids;
}

async function flush(): Promise<void> {
  const provider = trace.getTracerProvider() as unknown as { getDelegate(): { forceFlush(): Promise<void> } };
  await provider.getDelegate().forceFlush();
}

describe('OpenTelemetry SDK → receiver → alert', () => {
  it('learns the routine from SDK spans, then names the span of an out-of-scope exfiltration', async () => {
    service.engine.mode = 'learn';
    for (let i = 0; i < 30; i++) {
      runTask([
        { tool: 'get_ticket', method: 'GET', url: `https://tickets.corp.internal/api/v2/tickets/${100 + i}` },
        { tool: 'get_customer', method: 'GET', url: `https://crm.corp.internal/v1/customers/${200 + i}`, sensitive: true },
        { tool: 'reply_ticket', method: 'POST', url: `https://tickets.corp.internal/api/v2/tickets/${100 + i}/replies` },
      ]);
    }
    await flush();
    service.engine.flush();
    const agent = service.engine.agents.get('support-agent-07');
    expect(agent?.calls).toBe(90);
    expect(agent?.phase).toBe('enforcing');

    service.engine.mode = 'detect';
    const ids = runTask([
      { tool: 'get_ticket', method: 'GET', url: 'https://tickets.corp.internal/api/v2/tickets/999' },
      { tool: 'get_customer', method: 'GET', url: 'https://crm.corp.internal/v1/customers/31337', sensitive: true },
      { tool: 'upload_file', method: 'POST', url: 'https://paste-drop.io/api/v1/pastes?api_key=sk-live-abcdefghijklmnop' },
    ]);
    await flush();
    const deadline = Date.now() + 5000;
    while (!alerts.some((a) => a.spanIds.includes(ids.upload_file)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));

    const alert = alerts.find((a) => a.spanIds.includes(ids.upload_file));
    expect(alert, JSON.stringify(alerts, null, 1)).toBeDefined();
    expect(alert!.severity).toBe('critical');
    expect(alert!.agent.id).toBe('support-agent-07');
    expect(alert!.traceId).toMatch(/^[0-9a-f]{32}$/);
    expect(alert!.detectors).toEqual(expect.arrayContaining(['sensitive-exfil', 'new-destination']));
    expect(alert!.summary).toContain('paste-drop.io never seen for support-agent-07');
    expect(alert!.call?.url).toBe('https://paste-drop.io/api/v1/pastes?api_key=REDACTED');
    expect(JSON.stringify(alerts)).not.toContain('sk-live-abcdefghijklmnop');
    expect(alerts.filter((a) => a.spanIds.includes(ids.get_ticket))).toHaveLength(0);
  }, 20_000);
});
