import { describe, expect, it } from 'vitest';
import { defaultDetectorSettings } from './types.js';
import { newDestination } from './new-destination.js';
import { Harness, T0, DAY_MS, mkCall, routine } from '../test/helpers/detector-harness.js';

const make = () => new Harness(newDestination(defaultDetectorSettings));
const normal = (t: number) => [mkCall({ time: t, host: 'tickets.corp.internal' }), mkCall({ time: t + 1000, host: 'kb.corp.internal' })];

describe('new-destination', () => {
  it('warms up on known hosts, then flags an external host never seen, with an explanation', () => {
    const h = make();
    routine(h, 30, 10, normal);
    const [known, fresh] = h.score([
      mkCall({ time: T0 + 31 * DAY_MS, host: 'kb.corp.internal' }),
      mkCall({ time: T0 + 31 * DAY_MS + 1, host: 'paste-drop.io', external: true }),
    ]);
    expect(known).toBeUndefined();
    expect(fresh?.score).toBeGreaterThanOrEqual(0.7);
    expect(fresh?.reason).toMatch(/paste-drop\.io never seen for support-agent-01 in 31 days of history/);
    expect(fresh?.expected).toContain('tickets.corp.internal');
    expect(fresh?.signature).toBe('new-destination:host:paste-drop.io');
  });

  it('flags destinations named in tool arguments (email domains), not only hosts', () => {
    const h = make();
    routine(h, 10, 10, (t) => [mkCall({ time: t, host: 'mail.corp.internal', destinations: [{ kind: 'email-domain', value: 'acme.com' }] })]);
    const [f] = h.score([mkCall({ time: T0 + 11 * DAY_MS, host: 'mail.corp.internal', destinations: [{ kind: 'email-domain', value: 'evil-mail.net' }] })]);
    expect(f?.title).toContain('evil-mail.net');
  });

  it('does not flood for an agent whose normal work is visiting new sites', () => {
    const h = make();
    let n = 0;
    routine(h, 10, 10, (t) => [mkCall({ time: t, host: `site${n++}.org`, external: true })]);
    const [f] = h.score([mkCall({ time: T0 + 11 * DAY_MS, host: 'brand-new.org', external: true })]);
    expect(f === undefined || f.score < 0.3).toBe(true);
  });

  it('scores lower when peers use the destination', () => {
    const alone = make();
    const withPeers = make().withPeers(8, 8);
    for (const h of [alone, withPeers]) routine(h, 10, 10, normal);
    const id = withPeers.intern.id('host:api.stripe.com');
    for (let i = 0; i < 5; i++) (withPeers.peerState as any).add(id, T0);
    const call = () => mkCall({ time: T0 + 11 * DAY_MS, host: 'api.stripe.com', external: true });
    const a = alone.score([call()])[0]!;
    const b = withPeers.score([call()])[0]!;
    expect(b.score).toBeLessThan(a.score);
    expect(b.reason).toContain('5 of 8 peers');
  });

  it('keeps its baseline through snapshot and restore', () => {
    const h = make();
    routine(h, 5, 10, normal);
    h.roundTrip();
    expect(h.score([mkCall({ time: T0 + 6 * DAY_MS, host: 'kb.corp.internal' })])[0]).toBeUndefined();
    expect(h.score([mkCall({ time: T0 + 6 * DAY_MS, host: 'other.example', external: true })])[0]).toBeDefined();
  });

  it('is silent for a learning agent without mature peers', () => {
    const h = make();
    h.agent.phase = 'learning';
    expect(h.score([mkCall({ host: 'x.example', external: true })])[0]).toBeUndefined();
  });
});
