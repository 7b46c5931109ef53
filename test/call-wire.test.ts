/** The calls topic's records: what detect reads back equals what ingest wrote, smaller; earlier forms still read; damage named. */
import { describe, expect, it } from 'vitest';
import type { AgentCall } from '../src/agent-call.js';
import { CallRecordError, type CallItem, decodeCalls, encodeCalls, toWire } from '../src/call-wire.js';
import { simulate } from '../src/simulate.js';
import { callItems, events } from './helpers/calls.js';

/** A simulated fleet's events grouped per agent, as the ingest stage writes them. */
function perAgent(): Map<string, CallItem[]> {
  const sim = simulate({ seed: 11, agentsPerRole: 3, historyDays: 0, liveDays: 1, chainsPerAgentDay: 8, attacksPerClass: 1 });
  const out = new Map<string, CallItem[]>();
  let agent = '';
  for (const item of callItems(sim.live)) {
    if (item.t === 'call') agent = item.call.agent.id;
    out.set(agent, [...(out.get(agent) ?? []), item]);
  }
  return out;
}

const full: AgentCall = {
  time: 1780358678389.9998, endTime: 1780358678446.25, traceId: 'ffe2c6b42b6c2ad359ac03e29ded47af', spanId: '22b1f1847681deec',
  toolSpanId: 'f337e538fc73a3b4', agent: { id: 'support-agent-03', name: 'support-agent', service: 'support', instance: 'pod-3', source: 'alias' },
  principal: 'alice@corp.example', credential: 'key_7', credentialType: 'oauth', conversationId: 'conv-1',
  action: { kind: 'http', tool: 'send_mail', method: 'POST', template: '/v1/{id}/send', signature: 'POST mail.example.com/{ver}/{id}/send', version: 'v1', write: true },
  host: 'mail.example.com', port: 8443, url: 'https://mail.example.com/v1/42/send?token=REDACTED', external: true,
  destinations: [{ kind: 'email', value: 'bob@paste.example' }, { kind: 'email-domain', value: 'paste.example' }],
  resource: 'mail.example.com/v1/42/send', outcome: { ok: false, status: 503, error: 'upstream timeout' }, retries: 2, sensitive: true,
  sensitivity: 'confidential', bytesOut: 1234, bytesIn: 56, approvalId: 'appr-9', credentialIssuedAt: 1780350000000,
};

describe('calls records', () => {
  it('give back every event of a simulated fleet unchanged and in order, in under half the bytes of plain JSON', () => {
    let wire = 0;
    let plain = 0;
    for (const items of perAgent().values()) {
      const value = encodeCalls(items);
      expect(decodeCalls(value)).toEqual(items);
      wire += value.length;
      plain += JSON.stringify({ t: 'batch', items }).length;
    }
    expect(plain).toBeGreaterThan(100_000);
    expect(wire / plain).toBeLessThan(0.5);
  });

  it('keep every field of a call that has them all, and build every call as normalize does (fields and order: one hidden class)', () => {
    const few: AgentCall = {
      time: 1, endTime: 2, traceId: full.traceId, spanId: 'aaaaaaaaaaaaaaaa', agent: { id: 'support-agent-03', source: 'trace' },
      action: { kind: 'tool', signature: 'tool lookup', write: false }, external: false, destinations: [], resource: 'lookup',
      outcome: { ok: true }, retries: 0, sensitive: false,
    };
    const back = decodeCalls(encodeCalls([{ t: 'call', call: full }, { t: 'call', call: few }, { t: 'close', traceId: full.traceId }]));
    expect(back).toEqual([{ t: 'call', call: full }, { t: 'call', call: few }, { t: 'close', traceId: full.traceId }]);
    const [a, b] = back as { t: 'call'; call: AgentCall }[];
    expect(b.call.port).toBeUndefined();
    expect(b.call.outcome.status).toBeUndefined();
    // A call as normalize built it: every decoded call, action, outcome and identity has its fields in its order.
    const sim = simulate({ seed: 11, agentsPerRole: 1, historyDays: 0, liveDays: 1, chainsPerAgentDay: 2, attacksPerClass: 0 });
    const normalized = (events(sim.live).find((e) => e.item.t === 'call')!.item as { call: AgentCall }).call;
    for (const c of [a.call, b.call]) {
      expect(Object.keys(c)).toEqual(Object.keys(normalized));
      expect(Object.keys(c.action)).toEqual(Object.keys(normalized.action));
      expect(Object.keys(c.outcome)).toEqual(Object.keys(normalized.outcome));
      expect(Object.keys(c.agent)).toEqual(Object.keys(normalized.agent));
    }
    // Identities that differ (an alias, then the trace's own) stay apart.
    expect(a.call.agent).toEqual(full.agent);
    expect(b.call.agent).toEqual({ id: 'support-agent-03', source: 'trace' });
  });

  it('are the JSON that JSON.stringify makes of the wire form, whatever the strings hold', () => {
    const odd: AgentCall = {
      ...full, spanId: 'bbbbbbbbbbbbbbbb', url: 'https://h.example/a"b\\c?q=\u00e9t\u00e9', resource: 'tab\there',
      outcome: { ok: false, status: 500, error: 'line one\nline "two" \u{1F600} \u0001' }, principal: 'zoë@corp.example',
    };
    const items: CallItem[] = [{ t: 'call', call: odd }, { t: 'call', call: full }, { t: 'close', traceId: full.traceId }];
    for (const list of [items, ...perAgent().values()]) {
      const bytes = encodeCalls(list);
      expect(JSON.parse(bytes.toString('utf8'))).toEqual(JSON.parse(JSON.stringify(toWire(list))));
    }
    expect(decodeCalls(encodeCalls(items))).toEqual(items);
  });

  it('read the forms earlier releases wrote: one event per record, and plain batches', () => {
    const call: CallItem = { t: 'call', call: full };
    const close: CallItem = { t: 'close', traceId: full.traceId };
    expect(decodeCalls(JSON.stringify(call))).toEqual([call]);
    expect(decodeCalls(Buffer.from(JSON.stringify(close)))).toEqual([close]);
    expect(decodeCalls(JSON.stringify({ t: 'batch', items: [call, close] }))).toEqual([call, close]);
  });

  it('name what is wrong with a damaged record', () => {
    const good = JSON.parse(encodeCalls([{ t: 'call', call: full }, { t: 'close', traceId: full.traceId }]).toString()) as { s: string[]; e: unknown[] };
    const damaged = (change: (r: { s: string[]; e: unknown[]; g?: unknown }) => void): string => {
      const r = structuredClone(good);
      change(r);
      return JSON.stringify(r);
    };
    const cases: [string, string][] = [
      ['{"t":"calls",', 'not JSON'],
      ['', 'not JSON'],
      [damaged((r) => delete r.g), 'lacks its tables'],
      [damaged((r) => (r.e[1] = 99)), 'closes string 99'],
      [damaged((r) => ((r.e[0] as unknown[])[3] = null)), 'without trace id, span id, agent or action'],
      [damaged((r) => ((r.e[0] as unknown[])[5] = 7)), 'without trace id, span id, agent or action'],
      [damaged((r) => (r.e[0] = 'x')), 'neither a call tuple nor a close'],
      ['{"t":"call","call":{"spanId":"x"}}', "calls record event: the call must have required property 'time'"],
      [JSON.stringify({ t: 'call', call: { ...full, destinations: undefined } }), "the call must have required property 'destinations'"],
      [JSON.stringify({ t: 'call', call: { ...full, time: 0 } }), 'field time must be > 0'],
      [JSON.stringify({ t: 'batch', items: [{ t: 'call', call: { ...full, agent: { source: 'span' } } }] }), "field agent must have required property 'id'"],
      ['null', 'neither a call'],
    ];
    for (const [value, message] of cases) {
      expect(() => decodeCalls(value), value.slice(0, 60)).toThrow(CallRecordError);
      expect(() => decodeCalls(value)).toThrow(message);
    }
  });
});
