/** "Did you mean": the known name a mistyped one meant, and the known names most like it. */
import { describe, expect, it } from 'vitest';
import { mostLike, nearest } from '../src/nearest.js';

describe('nearest', () => {
  const keys = ['host', 'port', 'max_body_bytes', 'retry_after_seconds'];

  it('finds a name cut short or run on, a transposition, a slip of a few letters, and nothing for an unrelated word', () => {
    expect(nearest('max_body', keys)).toBe('max_body_bytes');
    expect(nearest('porta', keys)).toBe('port');
    expect(nearest('prot', keys)).toBe('port');
    expect(nearest('retry_afer_secnds', keys)).toBe('retry_after_seconds');
    expect(nearest('tls', keys)).toBeUndefined();
    expect(nearest('', keys)).toBeUndefined();
    expect(nearest('AgentIdd', ['agentId', 'agentName'])).toBe('agentId');
  });

  it('orders known names by likeness, those a prefix away first, ties as given', () => {
    const agents = ['billing-agent-01', 'devops-agent-01', 'devops-agent-02', 'research-agent-01', 'support-agent-01'];
    expect(mostLike('devops-agent', agents, 2)).toEqual(['devops-agent-01', 'devops-agent-02']);
    expect(mostLike('suport-agent-01', agents, 1)).toEqual(['support-agent-01']);
    expect(mostLike('x', agents, 10)).toHaveLength(5);
  });
});
