/** The ingest stage's records of the calls topic: one agent's events per record, in order, none lost, split when large. */
import { describe, expect, it } from 'vitest';
import type { AgentCall } from '../src/agent-call.js';
import { type CallItem, decodeCalls } from '../src/call-wire.js';
import { AgentBatches } from '../src/kafka-ingest.js';

/** Event i: every fifth a close, the others calls whose resource is `pad` characters long (unique, so the size holds). */
function item(i: number, pad: number): CallItem {
  const traceId = i.toString(16).padStart(32, '0');
  if (i % 5 === 4) return { t: 'close', traceId };
  const call: AgentCall = {
    time: i, endTime: i + 1, traceId, spanId: i.toString(16).padStart(16, '0'), agent: { id: 'agent', source: 'trace' },
    action: { kind: 'http', signature: 'GET api.example.com/x', write: false }, external: true, destinations: [],
    resource: `${i}-`.padEnd(pad, 'x'), outcome: { ok: true }, retries: 0, sensitive: false,
  };
  return { t: 'call', call };
}

function drained(batches: AgentBatches): Map<string, { items: CallItem[]; sizes: number[] }> {
  const out = new Map<string, { items: CallItem[]; sizes: number[] }>();
  for (const m of batches.drain()) {
    const seen = out.get(m.key as string) ?? { items: [], sizes: [] };
    seen.items.push(...decodeCalls(m.value as Buffer));
    seen.sizes.push((m.value as Buffer).length);
    out.set(m.key as string, seen);
  }
  return out;
}

describe('AgentBatches', () => {
  it('writes each agent’s events in order, once, in records under the size bound', () => {
    const batches = new AgentBatches(4_000);
    const sent = new Map<string, CallItem[]>();
    for (let i = 0; i < 600; i++) {
      const agent = `agent-${i % 3}`;
      // Sizes vary 10–1,400 bytes: planning from an average must still keep records under the bound.
      const it = item(i, (i * 37) % 1_400);
      batches.add(agent, it);
      sent.set(agent, [...(sent.get(agent) ?? []), it]);
    }
    expect(batches.bytes).toBeGreaterThan(0);
    const out = drained(batches);
    expect([...out.keys()].sort()).toEqual(['agent-0', 'agent-1', 'agent-2']);
    for (const [agent, { items, sizes }] of out) {
      expect(items).toEqual(sent.get(agent));
      expect(Math.max(...sizes)).toBeLessThanOrEqual(4_000);
      expect(sizes.length).toBeGreaterThan(1);
    }
    expect(batches.bytes).toBe(0);
    expect(batches.size).toBe(0);
  });

  it('sends an event larger than the bound in a record of its own', () => {
    const batches = new AgentBatches(1_000);
    batches.add('a', item(0, 10));
    batches.add('a', item(1, 5_000));
    batches.add('a', item(2, 10));
    const { items, sizes } = drained(batches).get('a')!;
    expect(items.map((x) => (x.t === 'call' ? x.call.time : -1))).toEqual([0, 1, 2]);
    expect(sizes.filter((s) => s > 1_000)).toHaveLength(1);
  });

  it('estimates what it holds from the bytes per event it has written', () => {
    const batches = new AgentBatches();
    for (let i = 0; i < 100; i++) batches.add('a', item(i * 5, 2_000));
    expect(batches.bytes).toBe(100 * 400); // the first guess
    const written = batches.drain().reduce((n, m) => n + (m.value as Buffer).length, 0);
    expect(written).toBeGreaterThan(200_000);
    for (let i = 0; i < 100; i++) batches.add('a', item(i * 5, 2_000));
    // The bytes per event seen, rounded up.
    expect(batches.bytes).toBeGreaterThanOrEqual(written);
    expect(batches.bytes).toBeLessThanOrEqual(written + 100);
  });
});
