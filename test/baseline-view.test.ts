import { describe, expect, it } from 'vitest';
import { agentSummary, describeAgent } from '../src/baseline-view.js';
import { Engine, defaultEngineConfig } from '../src/engine.js';
import { T0, mkCall } from './helpers/detector-harness.js';

const hex = (n: number, len: number): string => n.toString(16).padStart(len, '0');

describe('baseline show', () => {
  it('lists an agent\'s heaviest destinations, actions and principals first, whenever they were learned', () => {
    const engine = new Engine(defaultEngineConfig);
    engine.mode = 'learn';
    let t = T0;
    let trace = 1;
    const chain = (host: string, principal: string): void => {
      engine.ingestCall(mkCall({ time: t, endTime: t + 100, traceId: hex(trace++, 32), host, sig: `GET ${host}/x`, principal }));
      t += 60_000;
    };
    // Twenty hosts used once each, learned first; then the agent's everyday host, used 50 times.
    for (let i = 0; i < 20; i++) chain(`rare-${String(i).padStart(2, '0')}.corp.internal`, `user-${i}@corp.example`);
    for (let i = 0; i < 50; i++) chain('tickets.corp.internal', 'owner@corp.example');
    engine.flush();

    const s = agentSummary(engine, 'support-agent-01');
    expect(s.destinations).toHaveLength(15);
    expect(s.destinations[0]).toMatchObject({ name: 'tickets.corp.internal' });
    expect(s.destinations[0].weight).toBeGreaterThan(40);
    expect(s.actions[0].name).toBe('GET tickets.corp.internal/x');
    expect(s.principals[0].name).toBe('owner@corp.example');
    for (const list of [s.destinations, s.actions, s.principals]) {
      expect(list.map((w) => w.weight)).toEqual([...list.map((w) => w.weight)].sort((a, b) => b - a));
    }
    expect(describeAgent(engine, 'support-agent-01')).toMatch(/destinations \(decayed counts\):\n {4}tickets\.corp\.internal +\d+\.\d\n {4}rare-00\.corp\.internal/);
    // One call a minute: every minute is folded into the rate baseline (the last one is still open).
    expect(s.callsPerActiveMinute).toEqual({ typical: 1, max: 1, observations: 69 });
    // A statistic nothing was observed for reads "no data", not 1.
    const fresh = new Engine(defaultEngineConfig);
    fresh.mode = 'learn';
    fresh.ingestCall(mkCall({ time: T0, endTime: T0 + 100, traceId: hex(1, 32) }));
    fresh.flush();
    expect(agentSummary(fresh, 'support-agent-01').callsPerActiveMinute).toBeUndefined();
    expect(describeAgent(fresh, 'support-agent-01')).toMatch(/calls per active minute: no data/);
  });
});
