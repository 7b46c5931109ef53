/** `chainwatch policy test`'s report: each violation once, counts per rule in plain words. */
import { describe, expect, it } from 'vitest';
import type { Alert } from '../src/alerts.js';
import type { ShadowRecord } from '../src/engine.js';
import { formatPolicyTest } from '../src/policy-report.js';

function violation(traceId: string, span: string, rule: string, observed: string): Alert {
  return {
    time: '2026-06-17T09:36:30.278Z', agent: { id: 'support-agent-05', group: 'support-agent', phase: 'enforcing' }, traceId, spanIds: [span],
    policy: [{ policy: 'support', rule, allowed: '≤ 15 calls per minute', observed, spanIds: [span], killSwitch: false }],
  } as unknown as Alert;
}

describe('policy test report', () => {
  it('prints a violation once when its alert is later updated by the rollup, and counts it once', () => {
    const first = violation('58ef37ab4dd33f8e92e5a1f3a61da85b', '2517d20b7eee956a', 'limits.calls_per_minute', '16 calls in the minute');
    const update = { ...first, update: true, count: 2 } as Alert;
    const out = formatPolicyTest([first, update], [], 12);
    const lines = out.split('\n').filter((l) => l.includes('[support/limits.calls_per_minute]'));
    expect(lines).toEqual(['2026-06-17T09:36:30.278Z support-agent-05 trace 58ef37ab4dd33f8e92e5a1f3a61da85b span 2517d20b7eee956a: [support/limits.calls_per_minute] 16 calls in the minute — allowed: ≤ 15 calls per minute']);
    expect(out).toMatch(/12 chains checked\n {2}support\/limits\.calls_per_minute +1 call +1 chain\n$/);
  });

  it('counts in plurals past one, and marks rules seen only in shadow mode', () => {
    const a = violation('a'.repeat(32), '1'.repeat(16), 'destinations.deny', 'paste.example');
    const b = violation('b'.repeat(32), '2'.repeat(16), 'destinations.deny', 'paste.example');
    const shadow: ShadowRecord = {
      time: '2026-06-17T10:00:00.000Z', agent: 'research-agent-01', traceId: 'c'.repeat(32),
      violation: { policy: 'research', rule: 'actions.deny', mode: 'shadow', spanIds: ['3'.repeat(16)], observed: 'DELETE x' } as ShadowRecord['violation'],
    };
    const out = formatPolicyTest([a, b], [shadow], 40);
    expect(out).toMatch(/support\/destinations\.deny +2 calls +2 chains\n/);
    expect(out).toMatch(/\(shadow\) DELETE x\n/);
    expect(out).toMatch(/research\/actions\.deny +1 call +1 chain \(shadow\)\n/);
  });

  it('says so when nothing was violated', () => {
    expect(formatPolicyTest([], [], 7)).toBe('\nno violations; 7 chains checked\n');
  });
});
