import { describe, expect, it } from 'vitest';
import type { AgentCall } from '../src/agent-call.js';
import { KeyFilter, defaultMapping } from '../src/attribute-map.js';
import { ChainAssembler, type Chain, defaultChainConfig } from '../src/chains.js';
import { chainRow } from '../src/event-store.js';
import { Normalizer } from '../src/normalize.js';
import { decodeTraceRequestJson } from '../src/otlp-json.js';
import { Attrs } from '../src/span.js';
import { agentTrace, id, request, span } from './helpers/spans.js';

const T = Date.UTC(2026, 5, 1, 10);
const filter = KeyFilter.forMapping(defaultMapping);

function assemble(config = defaultChainConfig) {
  const calls: AgentCall[] = [];
  const closed: Chain[] = [];
  const asm = new ChainAssembler(new Normalizer(), { call: (c) => calls.push(c), close: (c) => closed.push(c) }, config);
  const feed = (doc: object) => asm.addBatch(decodeTraceRequestJson(doc, filter).spans);
  return { asm, calls, closed, feed };
}

describe('normalize and chain assembly', () => {
  it('joins agent identity from the root invoke_agent span that arrives last', () => {
    const { calls, closed, feed } = assemble();
    const tr = agentTrace({ t0: T, agentId: 'support-agent-03', principal: 'alice@corp.example', tools: [{ tool: 'get_ticket', method: 'GET', url: 'https://tickets.corp.internal/api/v2/tickets/123' }] });
    feed(tr.doc);
    expect(calls).toHaveLength(1);
    expect(calls[0].agent).toMatchObject({ id: 'support-agent-03', name: 'support-agent', source: 'trace', service: 'support-svc' });
    expect(calls[0].principal).toBe('alice@corp.example');
    expect(closed).toHaveLength(1);
  });

  it('uses a learned alias of the resource so calls need not wait for the root', () => {
    const { calls, feed } = assemble();
    feed(agentTrace({ t0: T, agentId: 'support-agent-03', tools: [{ tool: 'a', method: 'GET', url: 'https://x.internal/a' }] }).doc);
    const tr = agentTrace({ t0: T + 60_000, agentId: 'support-agent-03', tools: [{ tool: 'b', method: 'GET', url: 'https://x.internal/b' }] });
    const spans = (tr.doc as any).resourceSpans[0].scopeSpans[0].spans;
    const withoutRoot = request(spans.slice(0, -1));
    feed(withoutRoot);
    expect(calls).toHaveLength(2);
    expect(calls[1].agent).toMatchObject({ id: 'support-agent-03', source: 'alias' });
  });

  it('makes one call of a tool invocation whose spans were exported twice before its root arrived', () => {
    const { calls, feed } = assemble();
    const tr = agentTrace({ t0: T, agentId: 'support-agent-03', tools: [{ tool: 'get_ticket', method: 'GET', url: 'https://tickets.corp.internal/api/v2/tickets/123' }] });
    const spans = (tr.doc as any).resourceSpans[0].scopeSpans[0].spans;
    // A retried export: the same tool and client spans again, then the root.
    feed(request(spans.slice(0, -1)));
    feed(request(spans.slice(0, -1)));
    expect(calls).toHaveLength(0);
    feed(request(spans.slice(-1)));
    expect(calls).toHaveLength(1);
    expect(calls[0]).toMatchObject({ agent: { id: 'support-agent-03' }, action: { tool: 'get_ticket' } });
  });

  it('falls back to the resource identity when no span names the agent', () => {
    const { calls, asm, feed } = assemble();
    const tr = agentTrace({ t0: T, agentId: null, tools: [{ tool: 'a', method: 'GET', url: 'https://x.internal/a' }] });
    const spans = (tr.doc as any).resourceSpans[0].scopeSpans[0].spans;
    feed(request(spans.slice(0, -1)));
    expect(calls).toHaveLength(0);
    asm.advance(T + defaultChainConfig.identityWaitMs + 1000);
    expect(calls).toHaveLength(1);
    expect(calls[0].agent).toMatchObject({ id: 'support-svc/pod-1', source: 'resource' });
  });

  it('counts one call per tool invocation, folding retries into it', () => {
    const { calls, feed } = assemble();
    feed(agentTrace({ t0: T, tools: [{ tool: 'issue_refund', method: 'POST', url: 'https://api.stripe.com/v1/refunds', retries: 2 }] }).doc);
    expect(calls).toHaveLength(1);
    expect(calls[0]).toMatchObject({ retries: 2, host: 'api.stripe.com', external: true, action: { tool: 'issue_refund', method: 'POST', write: true, signature: 'POST api.stripe.com/{ver}/refunds', version: 'v1' } });
  });

  // Small traces are looked up by scanning, large ones through an index and a per-pass grouping
  // of clients by parent: both must pair every tool with its own children, whatever the order.
  for (const tools of [6, 150]) {
    it(`pairs each tool with its own client children and retries, in any arrival order (${tools} tools)`, () => {
      const { calls, feed } = assemble({ ...defaultChainConfig, maxChainCalls: 1000 });
      const tr = agentTrace({ t0: T, tools: Array.from({ length: tools }, (_, i) => ({ tool: `tool_${i}`, method: 'GET', url: `https://api${i}.corp.internal/items/${i}`, retries: i % 5 === 0 ? 2 : 0 })) });
      const spans = (tr.doc as any).resourceSpans[0].scopeSpans[0].spans as any[];
      const root = spans.pop()!;
      // Clock skew: every third tool span starts after its children, so they are visited first.
      tr.toolIds.forEach((toolId, i) => {
        if (i % 3 !== 1) return;
        const tool = spans.find((s) => s.spanId === toolId);
        const firstKid = spans.find((s) => s.parentSpanId === toolId);
        tool.startTimeUnixNano = String(BigInt(firstKid.startTimeUnixNano) + 1_000_000n);
      });
      // A fixed shuffle, in three batches; the root last.
      let seed = 7;
      const shuffled = spans.map((s) => ({ s, k: (seed = (seed * 48271) % 2147483647) })).sort((a, b) => a.k - b.k).map((x) => x.s);
      const third = Math.ceil(shuffled.length / 3);
      for (let b = 0; b < 3; b++) feed(request(shuffled.slice(b * third, (b + 1) * third)));
      feed(request([root]));
      expect(calls).toHaveLength(tools);
      const byTool = new Map(calls.map((c) => [c.toolSpanId, c]));
      let client = 0;
      tr.toolIds.forEach((toolId, i) => {
        const call = byTool.get(toolId)!;
        expect(call.action.tool).toBe(`tool_${i}`);
        expect(call.host).toBe(`api${i}.corp.internal`);
        expect(call.spanId).toBe(tr.clientIds[client]);
        expect(call.retries).toBe(i % 5 === 0 ? 2 : 0);
        client += 1 + call.retries;
      });
    });

    it(`makes a client that arrives after its tool was released a call of its own (${tools} tools)`, () => {
      const { calls, closed, feed } = assemble({ ...defaultChainConfig, maxChainCalls: 1000 });
      // An earlier trace teaches the resource's alias, so this one's calls go out before its root.
      feed(agentTrace({ t0: T - 60_000, tools: [{ tool: 'warm', method: 'GET', url: 'https://warm.corp.internal/' }] }).doc);
      calls.length = 0;
      const tr = agentTrace({ t0: T, tools: Array.from({ length: tools }, (_, i) => ({ tool: `tool_${i}`, method: 'GET', url: `https://api${i}.corp.internal/x` })) });
      const spans = (tr.doc as any).resourceSpans[0].scopeSpans[0].spans as any[];
      const root = spans.pop();
      feed(request(spans));
      expect(calls).toHaveLength(tools);
      expect(closed).toHaveLength(1); // the earlier trace only: this one is still open
      const late = span({ traceId: tr.traceId, parent: tr.toolIds[0], name: 'GET', kind: 3, start: T + 5, end: T + 9, attrs: { 'http.request.method': 'POST', 'url.full': 'https://late.corp.internal/y', 'server.address': 'late.corp.internal' } });
      feed(request([late, root]));
      expect(calls).toHaveLength(tools + 1);
      expect(calls[tools]).toMatchObject({ host: 'late.corp.internal', retries: 0 });
      expect(calls[tools].toolSpanId).toBeUndefined();
      expect(closed).toHaveLength(2);
      expect(closed[1].callCount).toBe(tools + 1); // in the same chain
    });
  }

  it('maps legacy HTTP attribute names to the same call as current ones', () => {
    const a = assemble();
    const b = assemble();
    a.feed(agentTrace({ t0: T, tools: [{ tool: 't', method: 'GET', url: 'https://crm.corp.internal/v1/customers/42' }] }).doc);
    b.feed(agentTrace({ t0: T, tools: [{ tool: 't', method: 'GET', url: 'https://crm.corp.internal/v1/customers/42', legacy: true }] }).doc);
    expect(b.calls[0].action).toEqual(a.calls[0].action);
    expect(b.calls[0].host).toBe('crm.corp.internal');
    expect(a.calls[0].resource).toBe('crm.corp.internal/v1/customers/42');
  });

  it('finds destinations in tool arguments and redacts secrets before keeping anything', () => {
    const { calls, feed } = assemble();
    feed(agentTrace({
      t0: T, tools: [{
        tool: 'send_email', method: 'POST', url: 'https://bob:hunter2@mail.corp.internal/v1/send?token=abc123&x=1',
        args: { to: 'ceo@evil-mail.net', iban: 'DE89370400440532013000', channel: '#exfil', link: 'https://paste-drop.io/p/1', api_key: 'sk-live-0123456789abcdef', note: 'Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.abcdefghijk' },
      }],
    }).doc);
    const c = calls[0];
    const dests = c.destinations.map((d) => `${d.kind}:${d.value}`);
    expect(dests).toEqual(expect.arrayContaining(['email:ceo@evil-mail.net', 'email-domain:evil-mail.net', 'account:DE89370400440532013000', 'channel:#exfil', 'host:paste-drop.io']));
    const kept = JSON.stringify(c);
    for (const secret of ['hunter2', 'abc123', 'sk-live-0123456789abcdef', 'eyJhbGciOiJIUzI1NiJ9']) expect(kept).not.toContain(secret);
    expect(c.url).toBe('https://REDACTED:REDACTED@mail.corp.internal/v1/send?token=REDACTED&x=1');
  });

  it('keeps nothing of captured headers, so header secrets cannot leak', () => {
    const { calls, feed } = assemble();
    const traceId = id(16);
    feed(request([span({
      traceId, kind: 3, start: T, attrs: {
        'gen_ai.agent.id': 'a1', 'http.request.method': 'GET', 'url.full': 'https://api.example/v1/x',
        'http.request.header.authorization': 'Bearer sk-live-headersecret0123456789', 'error.type': 'token ghp_abcdefghijklmnopqrstuvwx rejected',
      },
    })]));
    const kept = JSON.stringify(calls);
    expect(calls).toHaveLength(1);
    expect(kept).not.toContain('headersecret');
    expect(kept).not.toContain('ghp_abcdefghijklmnopqrstuvwx');
  });

  it('does not count LLM round trips as calls', () => {
    const { calls, feed } = assemble();
    const traceId = id(16);
    const root = id(8);
    feed(request([
      span({ traceId, parent: root, kind: 3, start: T + 1, attrs: { 'gen_ai.operation.name': 'chat', 'server.address': 'api.openai.com' } }),
      span({ traceId, spanId: root, start: T, end: T + 500, attrs: { 'gen_ai.operation.name': 'invoke_agent', 'gen_ai.agent.id': 'a1' } }),
    ]));
    expect(calls).toHaveLength(0);
  });

  it('closes idle chains in event time and caps kept calls while counting all of them', () => {
    const { calls, closed, asm, feed } = assemble({ ...defaultChainConfig, maxChainCalls: 3 });
    const traceId = id(16);
    const root = id(8);
    const clients = Array.from({ length: 6 }, (_, i) => span({ traceId, parent: root, kind: 3, start: T + i * 1000, attrs: { 'http.request.method': 'GET', 'url.full': `https://x.internal/r/${i}`, 'gen_ai.agent.id': 'a1' } }));
    feed(request(clients));
    // The last two may still get a tool parent: they wait out the reorder tolerance.
    expect(calls).toHaveLength(4);
    expect(closed).toHaveLength(0);
    asm.advance(T + defaultChainConfig.idleTimeoutMs + 10_000);
    expect(calls).toHaveLength(6);
    expect(closed).toHaveLength(1);
    expect(closed[0].callCount).toBe(6);
    expect(closed[0].calls).toHaveLength(3);
  });

  it('keeps a reopened trace’s original start (delegation that outlives the idle timeout)', () => {
    const { closed, asm, feed } = assemble();
    const traceId = id(16);
    const client = (t: number) => span({ traceId, parent: 'ffffffffffffffff', kind: 3, start: t, attrs: { 'http.request.method': 'GET', 'url.full': 'https://x.internal/a', 'gen_ai.agent.id': 'a1' } });
    feed(request([client(T)]));
    asm.advance(T + 3_600_000);
    feed(request([client(T + 6 * 3_600_000)]));
    asm.flush();
    expect(closed).toHaveLength(2);
    expect(closed[1].startTime).toBe(T);
    // Same start: the store's summary row is replaced in place.
    expect(chainRow(closed[1]).replaces_start_ts).toBeUndefined();
  });

  it('names the start a reopened trace closed with when a late call moves it earlier (its stored summary is keyed by it)', () => {
    const { closed, asm, feed } = assemble();
    const traceId = id(16);
    const client = (t: number, path: string) => span({ traceId, parent: 'ffffffffffffffff', kind: 3, start: t, attrs: { 'http.request.method': 'GET', 'url.full': `https://x.internal/${path}`, 'gen_ai.agent.id': 'a1' } });
    feed(request([client(T, 'a')]));
    asm.advance(T + 3_600_000);
    expect(chainRow(closed[0]).replaces_start_ts).toBeUndefined();
    // A span delayed an hour in the pipeline, started a minute before the chain's first call.
    feed(request([client(T - 60_000, 'b')]));
    asm.flush();
    expect(closed).toHaveLength(2);
    expect(closed[1].startTime).toBe(T - 60_000);
    expect(closed[1].closedStart).toBe(T);
    expect(chainRow(closed[1])).toMatchObject({ start_ts: T - 60_000, replaces_start_ts: T });
  });
});

describe('normalize: repeated actions', () => {
  it('gives calls doing the same thing one action, and tells apart every part of one', () => {
    const { calls, feed } = assemble();
    const url = 'https://api.example.com/v1/items/1';
    feed(agentTrace({ t0: T, tools: [
      { tool: 'get_item', method: 'GET', url },
      { tool: 'get_item', method: 'GET', url: 'https://api.example.com/v1/items/2' },
      { tool: 'get_item', method: 'POST', url },
      { tool: 'get_item', method: 'GET', url: 'https://api.example.com/v2/items/3' },
      { tool: 'send_item', method: 'GET', url },
      { tool: 'get_item', method: 'GET', url: 'https://api.example.com/v1/customers/1' },
      { tool: 'get_item', method: 'GET', url: 'https://other.example.com/v1/items/1' },
      { tool: 'get_item', method: 'GET', url: 'https://items.corp.internal/v1/items/1' },
      { tool: 'get_item', method: 'GET', url: 'https://items.corp.internal/v1/items/2' },
    ] }).doc);
    const parts = (c: AgentCall) => [c.action.signature, c.action.method, c.action.version, c.action.tool, c.action.write, c.sensitive, c.external];
    expect(calls.map(parts)).toEqual([
      ['GET api.example.com/{ver}/items/{id}', 'GET', 'v1', 'get_item', false, false, true],
      ['GET api.example.com/{ver}/items/{id}', 'GET', 'v1', 'get_item', false, false, true],
      ['POST api.example.com/{ver}/items/{id}', 'POST', 'v1', 'get_item', true, false, true],
      ['GET api.example.com/{ver}/items/{id}', 'GET', 'v2', 'get_item', false, false, true],
      // A tool whose name says it writes makes a GET a write.
      ['GET api.example.com/{ver}/items/{id}', 'GET', 'v1', 'send_item', true, false, true],
      ['GET api.example.com/{ver}/customers/{id}', 'GET', 'v1', 'get_item', false, true, true],
      ['GET other.example.com/{ver}/items/{id}', 'GET', 'v1', 'get_item', false, false, true],
      ['GET items.corp.internal/{ver}/items/{id}', 'GET', 'v1', 'get_item', false, false, false],
      ['GET items.corp.internal/{ver}/items/{id}', 'GET', 'v1', 'get_item', false, false, false],
    ]);
    expect(calls[1].action).toBe(calls[0].action);
    expect(calls.map((c) => c.resource)).toContain('api.example.com/v1/items/2');
  });

  it('takes write and sensitive from the tool’s name, for remembered HTTP actions and for calls built each time', () => {
    const { calls, feed } = assemble();
    const traceId = id(16);
    const root = id(8);
    const spans: object[] = [];
    const toolCall = (tool: string, client: Record<string, string>, at: number): void => {
      const toolId = id(8);
      spans.push(span({ traceId, spanId: id(8), parent: toolId, kind: 3, start: at + 1, end: at + 40, attrs: client }));
      spans.push(span({ traceId, spanId: toolId, parent: root, start: at, end: at + 50, attrs: { 'gen_ai.operation.name': 'execute_tool', 'gen_ai.tool.name': tool } }));
    };
    const http = { 'http.request.method': 'GET', 'url.full': 'https://api.example.com/v1/items/1', 'server.address': 'api.example.com' };
    const db = { 'db.system.name': 'postgresql', 'db.operation.name': 'SELECT', 'db.collection.name': 'items' };
    // Each twice: the second HTTP call comes from the memo.
    for (const [i, [tool, client]] of ([['read_payroll', http], ['read_payroll', http], ['delete_items', http], ['delete_items', http],
      ['read_payroll', db], ['delete_items', db], ['lookup', db]] as const).entries()) toolCall(tool, client, T + 100 * i);
    spans.push(span({ traceId, spanId: root, start: T - 10, end: T + 1000, attrs: { 'gen_ai.operation.name': 'invoke_agent', 'gen_ai.agent.id': 'a1' } }));
    feed(request(spans));
    expect(calls.map((c) => [c.action.tool, c.action.kind, c.action.write, c.sensitive])).toEqual([
      ['read_payroll', 'http', false, true], ['read_payroll', 'http', false, true],
      ['delete_items', 'http', true, false], ['delete_items', 'http', true, false],
      ['read_payroll', 'db', false, true], ['delete_items', 'db', true, false], ['lookup', 'db', false, false],
    ]);
  });

  it('judges a host external whatever a tool of the same name was judged', () => {
    const { calls, feed } = assemble();
    const traceId = id(16);
    const root = id(8);
    const toolId = id(8);
    const tool = (spanId: string, name: string, at: number): object => span({ traceId, spanId, parent: root, start: at, end: at + 50, attrs: { 'gen_ai.operation.name': 'execute_tool', 'gen_ai.tool.name': name } });
    feed(request([
      // A tool-only call first: its action sits in the memo under the tool's name, which is the host's.
      tool(id(8), 'api.example.com', T),
      span({ traceId, spanId: id(8), parent: toolId, kind: 3, start: T + 101, end: T + 140, attrs: { 'http.request.method': 'GET', 'url.full': 'https://api.example.com/v1/items/1' } }),
      tool(toolId, 'get_item', T + 100),
      span({ traceId, spanId: root, start: T - 10, end: T + 1000, attrs: { 'gen_ai.operation.name': 'invoke_agent', 'gen_ai.agent.id': 'a1' } }),
    ]));
    expect(calls.map((c) => [c.action.kind, c.host, c.external])).toEqual([['tool', undefined, false], ['http', 'api.example.com', true]]);
  });

  it('builds an action with a very long signature each time, with the same answers', () => {
    const { calls, feed } = assemble();
    // Longer than the memos keep (256 characters): matched and built, not remembered.
    const url = `https://api.example.com/${'segment/'.repeat(40)}customers`;
    feed(agentTrace({ t0: T, tools: [{ tool: 'get_item', method: 'GET', url }, { tool: 'get_item', method: 'GET', url }] }).doc);
    expect(calls).toHaveLength(2);
    for (const c of calls) {
      expect(c.action.signature).toBe(`GET api.example.com/${'segment/'.repeat(40)}customers`);
      expect(c).toMatchObject({ sensitive: true, external: true });
    }
    expect(calls[1].action).not.toBe(calls[0].action);
    expect(calls[1].action).toEqual(calls[0].action);
  });
});

describe('normalize: resource keys', () => {
  it('keys a resource by service and instance, the same instance under another service apart', () => {
    const norm = new Normalizer();
    const resource = (service: string, instance?: string): Attrs => {
      const a = new Attrs();
      a.set(norm.filter.index('service.name'), service);
      if (instance !== undefined) a.set(norm.filter.index('service.instance.id'), instance);
      return a;
    };
    expect(norm.resourceKey(resource('billing', 'pod-1'))).toBe('billing|pod-1');
    expect(norm.resourceKey(resource('billing', 'pod-1'))).toBe('billing|pod-1');
    expect(norm.resourceKey(resource('support', 'pod-1'))).toBe('support|pod-1');
    expect(norm.resourceKey(resource('billing', 'pod-1'))).toBe('billing|pod-1');
    expect(norm.resourceKey(resource('billing'))).toBe('billing|');
  });
});

describe('normalize: URLs without server.address', () => {
  /** One lone client span with these attributes, normalized. */
  function callFor(attrs: Record<string, string | number>): AgentCall {
    const { calls, asm, feed } = assemble();
    feed(request([span({ traceId: id(16), kind: 3, start: T, attrs: { 'gen_ai.agent.id': 'a1', 'http.request.method': 'GET', ...attrs } })]));
    asm.flush();
    expect(calls).toHaveLength(1);
    return calls[0];
  }

  const cases: [string, { host?: string; port?: number; resource: string; url: string }][] = [
    ['https://API.Example.com/v2/items/123', { host: 'api.example.com', resource: 'api.example.com/v2/items/123', url: 'https://API.Example.com/v2/items/123' }],
    ['HTTP://h.example:8443/a?b=1#c', { host: 'h.example', port: 8443, resource: 'h.example/a', url: 'HTTP://h.example:8443/a?b=1#c' }],
    ['https://h.example', { host: 'h.example', resource: 'h.example/', url: 'https://h.example' }],
    ['https://h.example?q=1', { host: 'h.example', resource: 'h.example/', url: 'https://h.example?q=1' }],
    ['https://h.example/p#frag?x', { host: 'h.example', resource: 'h.example/p', url: 'https://h.example/p#frag?x' }],
    ['http://[::1]:9000/x', { host: '[::1]', port: 9000, resource: '[::1]/x', url: 'http://[::1]:9000/x' }],
    ['http://[fe80::1]/x', { host: '[fe80::1]', resource: '[fe80::1]/x', url: 'http://[fe80::1]/x' }],
    ['https://user:pw@h.example:444/x', { host: 'h.example', port: 444, resource: 'h.example/x', url: 'https://REDACTED:REDACTED@h.example:444/x' }],
    ['https://us:er]@h.example/x', { host: 'h.example', resource: 'h.example/x', url: 'https://REDACTED:REDACTED@h.example/x' }],
    // A credential in the path: redacted in the URL and in the resource built from the path.
    ['https://h.example/files/ghp_abcdefghijklmnopqrstuvwxyz0123/raw', { host: 'h.example', resource: 'h.example/files/REDACTED/raw', url: 'https://h.example/files/REDACTED/raw' }],
    ['https://h.example/k/sk-abcdefghijklmnop1234?x=1', { host: 'h.example', resource: 'h.example/k/REDACTED', url: 'https://h.example/k/REDACTED?x=1' }],
    ['git+ssh://git.example/repo', { host: 'git.example', resource: 'git.example/repo', url: 'git+ssh://git.example/repo' }],
    ['/relative/path', { resource: '?/', url: '/relative/path' }],
    ['mailto:a@b.example', { resource: '?/', url: 'mailto:a@b.example' }],
    ['1http://h.example/x', { resource: '?/', url: '1http://h.example/x' }],
  ];
  for (const [raw, want] of cases) {
    it(`reads host, port and path from ${raw}`, () => {
      const c = callFor({ 'url.full': raw });
      expect({ host: c.host, port: c.port, resource: c.resource, url: c.url }).toEqual(want);
    });
  }

  it('marks a call sensitive when its HTTP action matches a sensitive glob, across the path’s slashes', () => {
    // The default globs are *customer*, *secret*, …: an action signature has slashes in it.
    expect(callFor({ 'url.full': 'https://crm.corp.internal/v1/customers/42' }).sensitive).toBe(true);
    expect(callFor({ 'url.full': 'https://vault.corp.internal/v1/secret/data/app' }).sensitive).toBe(true);
    expect(callFor({ 'url.full': 'https://api.example.com/v1/items/42' }).sensitive).toBe(false);
  });

  it('takes server.address and server.port over the URL’s, each on its own', () => {
    expect(callFor({ 'url.full': 'https://from-url.example:8443/x', 'server.address': 'Span.Example' })).toMatchObject({ host: 'span.example', port: 8443 });
    expect(callFor({ 'url.full': 'https://from-url.example:8443/x', 'server.port': 9443 })).toMatchObject({ host: 'from-url.example', port: 9443 });
  });
});
