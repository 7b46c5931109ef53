import { describe, expect, it } from 'vitest';
import { revocationEnforced } from './revocation-enforced.js';
import { Harness, T0, mkCall } from '../test/helpers/detector-harness.js';

describe('revocation-enforced', () => {
  it('raises a critical finding for a revoked credential used after the grace period', () => {
    const h = new Harness(revocationEnforced(60_000), 'billing-agent-01');
    h.agent.phase = 'learning';
    h.global.revoked.set('key_7f3a', { at: T0, revocationId: 'rev_1' });
    expect(h.score([mkCall({ time: T0 + 30_000, credential: 'key_7f3a' })])[0]).toBeUndefined();
    const [f] = h.score([mkCall({ time: T0 + 120_000, credential: 'key_7f3a' })]);
    expect(f?.score).toBeGreaterThanOrEqual(0.85);
    expect(f?.title).toBe('Revocation not enforced');
    expect(f?.reason).toMatch(/credential key_7f3a was revoked \(revocation rev_1.*used it 120 s later/);
  });

  it('ignores other credentials and calls without one', () => {
    const h = new Harness(revocationEnforced(0), 'billing-agent-01');
    h.global.revoked.set('key_7f3a', { at: T0, revocationId: 'rev_1' });
    expect(h.score([mkCall({ time: T0 + 1, credential: 'key_other' }), mkCall({ time: T0 + 1 })]).filter(Boolean)).toEqual([]);
  });
});
