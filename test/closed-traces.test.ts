import { describe, expect, it } from 'vitest';
import { type ClosedTrace, ClosedTraces } from '../src/closed-traces.js';
import { agentIdentity } from '../src/agent-call.js';
import { rng } from './helpers/rng.js';

const agent = (id: string) => agentIdentity(id, 'svc', undefined, 'span', undefined);
const closed = (id: string, startTime: number, callSpans?: string[]): Omit<ClosedTrace, 'traceId'> => ({ identity: agent(id), startTime, principal: undefined, callSpans });
const traceIds = (c: ClosedTraces): string[] => [...c.values()].map((t) => t.traceId);

describe('ClosedTraces', () => {
  it('remembers at most its capacity, forgetting the earliest closed first', () => {
    const c = new ClosedTraces(3);
    for (const [i, id] of ['t1', 't2', 't3', 't4', 't5'].entries()) c.set(id, closed('a', i));
    expect(traceIds(c)).toEqual(['t3', 't4', 't5']);
    expect(c.get('t1')).toBeUndefined();
    expect(c.get('t4')).toMatchObject({ traceId: 't4', startTime: 3, identity: { id: 'a' } });
    expect(c.size).toBe(3);
  });

  it('keeps a trace’s place when it closes again, with what it closed with last', () => {
    const c = new ClosedTraces(3);
    c.set('t1', closed('a', 1));
    c.set('t2', closed('a', 2));
    c.set('t3', closed('a', 3));
    c.set('t1', closed('b', 10, ['s1', 's2']));
    c.set('t4', closed('a', 4));
    // t1 stayed first, so it went first: as a Map's key set again keeps its place.
    expect(traceIds(c)).toEqual(['t2', 't3', 't4']);
    c.set('t2', closed('b', 20, ['s3']));
    expect([...c.values()][0]).toEqual({ traceId: 't2', identity: agent('b'), startTime: 20, principal: undefined, callSpans: ['s3'] });
  });

  it('forgets what deleteWhere picks and goes on in order, against a plain model through many turns', () => {
    const rand = rng(11);
    const c = new ClosedTraces(50);
    const model: { traceId: string; agent: string; start: number }[] = [];
    for (let i = 0; i < 5000; i++) {
      // Ids of 32 hex digits, some closing again (a reopened trace).
      const n = rand() < 0.2 && model.length ? Number.parseInt(model[Math.floor(rand() * model.length)].traceId, 16) : i;
      const traceId = n.toString(16).padStart(32, '0');
      const who = `agent-${Math.floor(rand() * 5)}`;
      c.set(traceId, closed(who, i));
      const at = model.findIndex((m) => m.traceId === traceId);
      if (at >= 0) model[at] = { traceId, agent: who, start: i };
      else {
        if (model.length >= 50) model.shift();
        model.push({ traceId, agent: who, start: i });
      }
      if (i % 97 === 0) {
        const gone = `agent-${i % 5}`;
        c.deleteWhere((t) => t.identity.id === gone);
        model.splice(0, model.length, ...model.filter((m) => m.agent !== gone));
      }
      if (i % 50 === 0 || i > 4900) {
        expect([...c.values()].map((t) => [t.traceId, t.identity.id, t.startTime])).toEqual(model.map((m) => [m.traceId, m.agent, m.start]));
        for (const m of model) expect(c.get(m.traceId)?.startTime).toBe(m.start);
      }
    }
  });
});
