import { describe, expect, it } from 'vitest';
import { defaultDetectorSettings } from './types.js';
import { credentialMisuse } from './credential-misuse.js';
import { Harness, T0, mkCall, mkChain } from '../test/helpers/detector-harness.js';
import { FifoMap } from '../src/fifo-map.js';

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

  it('flags a credential in an open chain as soon as another agent comes to own it', () => {
    // The chain's first call uses a key nobody owns yet; the owner's chain then closes and is
    // learned; the open chain's next call with the same key is misuse.
    const owner = new Harness(credentialMisuse(defaultDetectorSettings), 'billing-agent-01');
    const thief = new Harness(credentialMisuse(defaultDetectorSettings), 'sales-agent-02');
    thief.global.credentialOwners = owner.global.credentialOwners;
    const chain = mkChain([]);
    const call = (t: number) => mkCall({ time: T0 + t, credential: 'key_shared', agent: { id: 'sales-agent-02', source: 'span' } });
    expect(thief.score([call(1)], chain)[0]).toBeUndefined();
    owner.learn([mkCall({ time: T0 + 2, credential: 'key_shared' })]);
    expect(thief.score([call(3)], chain)[0]?.title).toBe('Credential of billing-agent-01 used by sales-agent-02');
  });

  it('gives a credential to the first agent that learns it, and keeps it there', () => {
    const a = new Harness(credentialMisuse(defaultDetectorSettings), 'agent-a');
    const b = new Harness(credentialMisuse(defaultDetectorSettings), 'agent-b');
    b.global.credentialOwners = a.global.credentialOwners;
    a.learn([mkCall({ time: T0, credential: 'k' }), mkCall({ time: T0 + 1, credential: 'k' })]);
    b.learn([mkCall({ time: T0 + 2, credential: 'k' })]);
    a.learn([mkCall({ time: T0 + 3, credential: 'k' })]);
    expect(a.global.credentialOwners.get('k')).toBe('agent-a');
    expect(b.score([mkCall({ time: T0 + 4, credential: 'k' })])[0]?.title).toBe('Credential of agent-a used by agent-b');
  });

  it('accepts the owner, and reports a rotated key at low severity', () => {
    const h = new Harness(credentialMisuse(defaultDetectorSettings), 'billing-agent-01');
    h.learn([mkCall({ time: T0, credential: 'key_1' })]);
    expect(h.score([mkCall({ credential: 'key_1' })])[0]).toBeUndefined();
    const [f] = h.score([mkCall({ credential: 'key_2' })]);
    expect(f?.score).toBeLessThan(0.5);
    expect(f?.title).toBe('New credential');
  });

  it('keeps giving new credentials owners when the owner table is full, forgetting the earliest first', () => {
    const a = new Harness(credentialMisuse(defaultDetectorSettings), 'agent-a');
    const b = new Harness(credentialMisuse(defaultDetectorSettings), 'agent-b');
    a.global.credentialOwners = new FifoMap<string, string>(2);
    b.global.credentialOwners = a.global.credentialOwners;
    a.learn([mkCall({ time: T0, credential: 'k1' }), mkCall({ time: T0 + 1, credential: 'k2' }), mkCall({ time: T0 + 2, credential: 'k3' })]);
    expect([...a.global.credentialOwners].map(([k]) => k)).toEqual(['k2', 'k3']);
    // The newest credential still has its owner: another agent using it is misuse.
    expect(b.score([mkCall({ time: T0 + 3, credential: 'k3', agent: { id: 'agent-b', source: 'span' } })])[0]?.title).toBe('Credential of agent-a used by agent-b');
  });
});
