/** Build OTLP/JSON requests for tests, the way agent instrumentations shape them. */
import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';

const ExportRequest = protobuf.loadSync(fileURLToPath(new URL('../../schemas/otlp/trace.proto', import.meta.url)))
  .lookupType('opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest');
let n = 0;
export const id = (bytes: number): string => {
  n++;
  return (n.toString(16) + 'a5').padStart(bytes * 2, '0').slice(-bytes * 2);
};

type Value = string | number | boolean;
export const attrs = (o: Record<string, Value>): object[] =>
  Object.entries(o).map(([key, v]) => ({
    key,
    value: typeof v === 'string' ? { stringValue: v } : typeof v === 'boolean' ? { boolValue: v } : Number.isInteger(v) ? { intValue: String(v) } : { doubleValue: v },
  }));

export interface SpanSpec {
  traceId: string;
  spanId?: string;
  parent?: string;
  name?: string;
  kind?: number;
  start: number;
  end?: number;
  attrs?: Record<string, Value>;
  status?: number;
}

export function span(s: SpanSpec): object {
  const ns = (ms: number): string => `${Math.round(ms)}000000`;
  return {
    traceId: s.traceId, spanId: s.spanId ?? id(8), parentSpanId: s.parent ?? '', name: s.name ?? 'span', kind: s.kind ?? 1,
    startTimeUnixNano: ns(s.start), endTimeUnixNano: ns(s.end ?? s.start + 100), attributes: attrs(s.attrs ?? {}), status: { code: s.status ?? 0 },
  };
}

export function request(spans: object[], resource: Record<string, Value> = { 'service.name': 'support-svc', 'service.instance.id': 'pod-1' }): object {
  return { resourceSpans: [{ resource: { attributes: attrs(resource) }, scopeSpans: [{ scope: { name: 't' }, spans }] }] };
}

/** A typical agent trace: root invoke_agent (listed last, as it arrives) and tool calls with HTTP children. */
export function agentTrace(opts: {
  traceId?: string; agentId?: string | null; t0: number; principal?: string;
  tools: { tool: string; method: string; url: string; args?: object; retries?: number; legacy?: boolean; credential?: string }[];
}): { doc: object; traceId: string; rootId: string; clientIds: string[]; toolIds: string[] } {
  const traceId = opts.traceId ?? id(16);
  const rootId = id(8);
  const spans: object[] = [];
  const clientIds: string[] = [];
  const toolIds: string[] = [];
  let t = opts.t0 + 10;
  for (const tool of opts.tools) {
    const toolId = id(8);
    toolIds.push(toolId);
    const toolStart = t;
    for (let r = 0; r <= (tool.retries ?? 0); r++) {
      const host = new URL(tool.url).hostname;
      const a: Record<string, Value> = tool.legacy
        ? { 'http.method': tool.method, 'http.url': tool.url, 'net.peer.name': host }
        : { 'http.request.method': tool.method, 'url.full': tool.url, 'server.address': host, 'server.port': 443 };
      if (r > 0) a['http.request.resend_count'] = r;
      const cid = id(8);
      clientIds.push(cid);
      spans.push(span({ traceId, spanId: cid, parent: toolId, name: tool.method, kind: 3, start: t + 1, end: t + 50, attrs: a }));
      t += 60;
    }
    const ta: Record<string, Value> = { 'gen_ai.operation.name': 'execute_tool', 'gen_ai.tool.name': tool.tool };
    if (tool.args) ta['gen_ai.tool.call.arguments'] = JSON.stringify(tool.args);
    if (tool.credential) ta['chainwatch.credential.id'] = tool.credential;
    spans.push(span({ traceId, spanId: toolId, parent: rootId, name: `execute_tool ${tool.tool}`, start: toolStart, end: t }));
    (spans[spans.length - 1] as any).attributes = attrs(ta);
    t += 20;
  }
  const rootAttrs: Record<string, Value> = { 'gen_ai.operation.name': 'invoke_agent' };
  if (opts.agentId !== null) rootAttrs['gen_ai.agent.id'] = opts.agentId ?? 'support-agent-01';
  rootAttrs['gen_ai.agent.name'] = 'support-agent';
  if (opts.principal) rootAttrs['enduser.id'] = opts.principal;
  spans.push(span({ traceId, spanId: rootId, name: 'invoke_agent', start: opts.t0, end: t + 10, attrs: rootAttrs }));
  return { doc: request(spans), traceId, rootId, clientIds, toolIds };
}

/** The same request as OTLP protobuf bytes (ids from hex, as the SDK exporters send them). */
export function toProto(doc: object): Uint8Array {
  const clone = JSON.parse(JSON.stringify(doc)) as { resourceSpans: { scopeSpans: { spans: Record<string, unknown>[] }[] }[] };
  for (const rs of clone.resourceSpans) for (const ss of rs.scopeSpans) for (const sp of ss.spans) {
    for (const k of ['traceId', 'spanId', 'parentSpanId']) sp[k] = Buffer.from(String(sp[k] ?? ''), 'hex');
  }
  return ExportRequest.encode(ExportRequest.fromObject(clone)).finish();
}

/**
 * POST one agent's trace of a single ticket lookup made with `credential` (OTLP/JSON) to a
 * receiver: the first agent to use a credential owns it, a second one using it raises
 * credential misuse. Returns the HTTP status.
 */
export async function postLookup(url: string, agentId: string, t0: number, credential = 'shared-key'): Promise<number> {
  const { doc } = agentTrace({ t0, agentId, tools: [{ tool: 'lookup', method: 'GET', url: 'https://tickets.corp.internal/api/v1/tickets/7', credential }] });
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(doc) });
  return res.status;
}
