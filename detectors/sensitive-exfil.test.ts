import { describe, expect, it } from 'vitest';
import { defaultDetectorSettings } from './types.js';
import { sensitiveExfil } from './sensitive-exfil.js';
import { newDestination } from './new-destination.js';
import { CountTable } from '../src/count-table.js';
import { Harness, T0, DAY_MS, mkCall, mkChain, routine } from '../test/helpers/detector-harness.js';

function setup() {
  const dest = new Harness(newDestination(defaultDetectorSettings));
  routine(dest, 10, 10, (t) => [mkCall({ time: t, host: 'crm.corp.internal' }), mkCall({ time: t + 1, host: 'api.stripe.com', external: true })]);
  const h = new Harness(sensitiveExfil());
  (h as any).intern = dest.intern;
  h.others.set('new-destination', dest.state);
  return h;
}
const read = () => mkCall({ time: T0 + 11 * DAY_MS, host: 'crm.corp.internal', sensitive: true, sig: 'GET crm.corp.internal/v1/customers/{id}' });

describe('sensitive-exfil', () => {
  it('flags a sensitive read followed by a write to a new external destination', () => {
    const h = setup();
    const found = h.score([read(), mkCall({ time: T0 + 11 * DAY_MS + 5, host: 'paste-drop.io', external: true, write: true, sig: 'POST paste-drop.io/api/v1/pastes' })], mkChain([]));
    expect(found[1]?.score).toBeGreaterThanOrEqual(0.85);
    expect(found[1]?.spanIds).toEqual([found[1]!.spanIds[0], expect.any(String)]);
    expect(found[1]?.observed).toBe('GET crm.corp.internal/v1/customers/{id} → POST paste-drop.io/api/v1/pastes → paste-drop.io');
  });

  it('ignores writes to known destinations, reads that are not sensitive, and writes before the read', () => {
    const h = setup();
    const known = mkCall({ host: 'api.stripe.com', external: true, write: true });
    expect(h.score([read(), known], mkChain([]))[1]).toBeUndefined();
    const plainRead = mkCall({ host: 'crm.corp.internal' });
    expect(h.score([plainRead, mkCall({ host: 'paste-drop.io', external: true, write: true })], mkChain([]))[1]).toBeUndefined();
    expect(h.score([mkCall({ host: 'paste-drop.io', external: true, write: true }), read()], mkChain([])).every((f) => f === undefined)).toBe(true);
  });

  it('reports a destination half its peers or more use at medium, not critical; one fewer peers use still as new', () => {
    const h = setup().withPeers(8, 8);
    const peers = new CountTable(512, defaultDetectorSettings.halfLifeMs, 16);
    const usedBy = (domain: string, n: number): void => {
      for (let i = 0; i < n; i++) peers.add(h.intern.kindId('email-domain', domain), T0 + 10 * DAY_MS);
    };
    usedBy('acme.com', 4);
    usedBy('globex.com', 3);
    h.otherPeers.set('new-destination', peers);
    const mail = (...domains: string[]) => mkCall({ time: T0 + 11 * DAY_MS + 5, host: 'mail.corp.internal', external: false, write: true, destinations: domains.map((value) => ({ kind: 'email-domain' as const, value })) });

    const common = h.score([read(), mail('acme.com')], mkChain([]))[1];
    expect(common?.score).toBe(0.5);
    expect(common?.reason).toMatch(/wrote to acme\.com, an external email-domain it has never used, in the same chain; 4 of its 8 peers use it$/);
    expect(h.score([read(), mail('globex.com')], mkChain([]))[1]?.score).toBe(0.9);
    // The write names a common domain and one nobody uses: the second is what is reported.
    const both = h.score([read(), mail('acme.com', 'evil-mail.net')], mkChain([]))[1];
    expect([both?.score, both?.title]).toEqual([0.9, 'Sensitive data sent to new external evil-mail.net']);
  });

  it('counts destinations named in arguments, such as an outside email domain', () => {
    const h = setup();
    const mail = mkCall({ host: 'mail.corp.internal', external: false, write: true, destinations: [{ kind: 'email-domain', value: 'evil-mail.net' }] });
    expect(h.score([read(), mail], mkChain([]))[1]?.title).toContain('evil-mail.net');
  });
});
