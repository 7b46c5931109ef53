/** The alert rollup: first occurrence at once, repeats counted, one update when the window closes. */
import { describe, expect, it } from 'vitest';
import { type Alert, AlertRollup } from '../src/alerts.js';
import type { Severity } from '../src/severity.js';

const MIN = 60_000;

function alert(agent: string, signature: string, traceId: string, severity: Severity = 'medium'): Alert {
  const t = new Date(0).toISOString();
  return {
    schema: 'chainwatch.alert/v1', id: `${agent}/${signature}`, kind: 'call', time: t, severity, score: 0.6, title: signature, summary: '', signature,
    detectors: ['x'], agent: { id: agent, group: agent, phase: 'enforcing' }, traceId, spanIds: [], chain: { calls: 1, startTime: t, durationMs: 0 },
    evidence: [], count: 1, firstSeen: t, lastSeen: t, traceIds: [traceId],
  };
}

describe('AlertRollup', () => {
  it('emits the first alert, counts repeats, and sends one update with the count when the window closes', () => {
    const r = new AlertRollup(10 * MIN);
    expect(r.offer(alert('a1', 's', 't1'), 0).map((a) => a.traceId)).toEqual(['t1']);
    expect(r.offer(alert('a1', 's', 't2'), MIN)).toEqual([]);
    expect(r.offer(alert('a1', 's', 't3'), 2 * MIN)).toEqual([]);
    // Another signature of the same agent has a window of its own.
    expect(r.offer(alert('a1', 'other', 't4'), 3 * MIN)).toHaveLength(1);
    expect(r.expireAgent('a1', 5 * MIN)).toEqual([]);
    const [update, ...rest] = r.expireAgent('a1', 10 * MIN);
    expect(rest).toEqual([]); // 'other' had no repeats: nothing to update, and its window is still open
    expect(update).toMatchObject({ signature: 's', update: true, count: 3, traceIds: ['t1', 't2', 't3'] });
    // Closed: the next one is a new first occurrence.
    expect(r.offer(alert('a1', 's', 't5'), 11 * MIN).map((a) => a.update)).toEqual([undefined]);
    expect(r.flush().map((a) => a.signature)).toEqual([]);
  });

  it('never changes an alert once emitted: sinks that queue it send what was emitted', () => {
    const r = new AlertRollup(10 * MIN);
    const [first] = r.offer(alert('a1', 's', 't1', 'low'), 0);
    const sent = structuredClone(first);
    r.offer(alert('a1', 's', 't2', 'low'), MIN);
    r.absorb('a1', 's', 'low', 't3', 2 * MIN);
    const [raised] = r.offer(alert('a1', 's', 't4', 'high'), 3 * MIN);
    const raisedSent = structuredClone(raised);
    r.offer(alert('a1', 's', 't5', 'high'), 4 * MIN);
    const [last] = r.flush();
    expect(first).toEqual(sent);
    expect(raised).toEqual(raisedSent);
    expect([first.count, raised.count, last.count]).toEqual([1, 4, 5]);
    expect(last.traceIds).toEqual(['t1', 't2', 't3', 't4', 't5']);
  });

  it('sends an update at once when a repeat raises the severity, and closes windows per agent', () => {
    const r = new AlertRollup(10 * MIN);
    r.offer(alert('a1', 's', 't1', 'low'), 0);
    r.offer(alert('a2', 's', 't2'), 0);
    r.offer(alert('a2', 's', 't3'), MIN);
    const [raised] = r.offer(alert('a1', 's', 't4', 'high'), MIN);
    expect(raised).toMatchObject({ update: true, severity: 'high', count: 2 });
    // a1's own time closes only a1's windows, and an update already sent is not sent again.
    expect(r.expireAgent('a1', 20 * MIN)).toEqual([]);
    expect(r.flush()).toEqual([expect.objectContaining({ agent: expect.objectContaining({ id: 'a2' }), count: 2, update: true })]);
    expect(r.flush()).toEqual([]);
  });

  it('absorbs a repeat without the alert, as offer would count it; anything else is left to offer', () => {
    const r = new AlertRollup(10 * MIN);
    // No window yet: the alert must be built and offered.
    expect(r.absorb('a1', 's', 'medium', 't1', 0)).toBeUndefined();
    r.offer(alert('a1', 's', 't1'), 0);
    r.offer(alert('a1', 'other', 't0'), 0);
    r.offer(alert('a1', 'other', 't0b'), 0);
    expect(r.absorb('a1', 's', 'medium', 't2', MIN)).toEqual([]);
    expect(r.absorb('a1', 's', 'low', 't2', 2 * MIN)).toEqual([]);
    // A higher severity needs an update emitted, and a closed window a new alert: not absorbed.
    expect(r.absorb('a1', 's', 'high', 't3', 3 * MIN)).toBeUndefined();
    expect(r.absorb('a1', 's', 'medium', 't3', 10 * MIN)).toBeUndefined();
    const [s, other] = r.expireAgent('a1', 10 * MIN);
    expect(other).toMatchObject({ signature: 'other', count: 2 });
    expect(s).toMatchObject({ signature: 's', update: true, count: 3, traceIds: ['t1', 't2'], lastSeen: new Date(2 * MIN).toISOString() });
  });

  it('emits what expired meanwhile when it absorbs a repeat, as offer does', () => {
    const r = new AlertRollup(10 * MIN);
    r.offer(alert('a1', 'early', 't1'), 0);
    r.offer(alert('a1', 'early', 't2'), 0);
    r.offer(alert('a1', 's', 't3'), 5 * MIN);
    expect(r.absorb('a1', 's', 'medium', 't4', 12 * MIN)).toEqual([expect.objectContaining({ signature: 'early', count: 2, update: true })]);
  });
});
