import { describe, expect, it } from 'vitest';
import { defaultDetectorSettings } from './types.js';
import { credentialMisuse } from './credential-misuse.js';
import { Harness, T0, mkCall } from '../test/helpers/detector-harness.js';

describe('credential-misuse', () => {
  it('flags a credential owned by another agent, even for a brand-new agent', () => {
    const owner = new Harness(credentialMisuse(defaultDetectorSettings), 'billing-agent-01');
    owner.learn([mkCall({ credential: 'key_billing_01' })]);
    const thief = new Harness(credentialMisuse(defaultDetectorSettings), 'sales-agent-02');
    thief.global.credentialOwners = owner.global.credentialOwners;
    thief.agent.phase = 'learning';
    const [f] = thief.score([mkCall({ credential: 'key_billing_01', agent: { id: 'sales-agent-02', source: 'span' } })]);
    expect(f?.score).toBeGreaterThanOrEqual(0.8);
    expect(f?.reason).toContain('credential key_billing_01 belongs to agent billing-agent-01 but was used by sales-agent-02');
  });

  it('accepts the owner, and reports a rotated key at low severity', () => {
    const h = new Harness(credentialMisuse(defaultDetectorSettings), 'billing-agent-01');
    h.learn([mkCall({ time: T0, credential: 'key_1' })]);
    expect(h.score([mkCall({ credential: 'key_1' })])[0]).toBeUndefined();
    const [f] = h.score([mkCall({ credential: 'key_2' })]);
    expect(f?.score).toBeLessThan(0.5);
    expect(f?.title).toBe('New credential');
  });
});
