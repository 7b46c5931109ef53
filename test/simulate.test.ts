import { describe, expect, it } from 'vitest';
import { simulate } from '../src/simulate.js';

describe('simulate', () => {
  it('numbers a second fleet past the first: no agent or credential in common', () => {
    const options = { seed: 5, agentsPerRole: 2, historyDays: 0, liveDays: 1, chainsPerAgentDay: 3, attacksPerClass: 0 };
    const first = simulate(options);
    const second = simulate({ ...options, firstAgent: 3 });
    const agents = (s: typeof first): Set<string> => new Set(s.labels.map((l) => l.agentId));
    expect([...agents(first)].every((id) => /-0[12]$/.test(id))).toBe(true);
    expect([...agents(second)].every((id) => /-0[34]$/.test(id))).toBe(true);
    expect(agents(second).size).toBe(agents(first).size);
    const text = JSON.stringify(second.live);
    expect(text).toContain('key_support_03');
    expect(text).not.toContain('key_support_01');
    expect(text).not.toContain('support-agent-02');
  });

  it('puts every agent in one service without a role name when asked, the traffic otherwise the same', () => {
    const options = { seed: 5, agentsPerRole: 2, historyDays: 1, liveDays: 1, chainsPerAgentDay: 3, attacksPerClass: 1 };
    const apart = simulate(options);
    const shared = simulate({ ...options, sharedService: 'agent-runtime' });
    expect(shared.labels).toEqual(apart.labels);
    const text = JSON.stringify(shared.live);
    expect(text).not.toContain('gen_ai.agent.name');
    expect(text.match(/"key":"service\.name","value":\{"stringValue":"([^"]*)"/g)?.every((m) => m.endsWith('"agent-runtime"'))).toBe(true);
    // Without those two attributes, the same spans.
    const strip = (t: string): string => t.replace(/\{"key":"gen_ai\.agent\.name","value":\{"stringValue":"[^"]*"\}\},?/g, '').replace(/"stringValue":"[a-z]+-svc"/g, '"stringValue":"agent-runtime"');
    expect(strip(JSON.stringify(apart.live))).toBe(text);
  });
});
