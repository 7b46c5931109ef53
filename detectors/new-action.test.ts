import { describe, expect, it } from 'vitest';
import { MIN_FINDING, defaultDetectorSettings } from './types.js';
import { newAction } from './new-action.js';
import { Harness, T0, DAY_MS, HOUR, mkCall, routine } from '../test/helpers/detector-harness.js';

const make = () => new Harness(newAction(defaultDetectorSettings));
const v = (ver: string, t: number) => [
  mkCall({ time: t, sig: 'GET tickets.corp.internal/api/{ver}/tickets/{id}', tool: 'get_ticket', action: { kind: 'http', signature: 'GET tickets.corp.internal/api/{ver}/tickets/{id}', version: ver, write: false, tool: 'get_ticket' } }),
  mkCall({ time: t + 1, action: { kind: 'http', signature: 'POST tickets.corp.internal/api/{ver}/tickets/{id}/replies', version: ver, write: true, tool: 'reply_ticket' } }),
];

/** One peer group for `h` and `other`, as in one engine: the group's table, and the interner its ids come from. */
function joinGroup(h: ReturnType<typeof make>, other: ReturnType<typeof make>): void {
  h.peerState = other.peerState;
  (h as { intern: unknown }).intern = other.intern;
}

describe('new-action', () => {
  it('flags an admin endpoint never called before, naming what is normal', () => {
    const h = make();
    routine(h, 20, 10, (t) => v('v2', t));
    const [f] = h.score([mkCall({ time: T0 + 21 * DAY_MS, host: 'iam.corp.internal', action: { kind: 'http', signature: 'POST iam.corp.internal/{ver}/admin/users/{id}/roles', write: true } })]);
    expect(f?.signature).toBe('new-action:POST iam.corp.internal/{ver}/admin/users/{id}/roles');
    expect(f?.reason).toMatch(/never called by support-agent-01 in \d+ days of history/);
    expect(f?.expected).toContain('tickets.corp.internal');
  });

  it('flags a tool the agent never used', () => {
    const h = make();
    routine(h, 20, 10, (t) => v('v2', t));
    const [f] = h.score([mkCall({ time: T0 + 21 * DAY_MS, action: { kind: 'tool', signature: 'tool delete_repo', tool: 'delete_repo', write: true } })]);
    expect(f?.title).toBe('New tool delete_repo');
  });

  it('treats an API version bump as one low drift finding, not new actions', () => {
    const h = make();
    routine(h, 20, 10, (t) => v('v2', t));
    const findings = h.score(v('v3', T0 + 21 * DAY_MS));
    expect(findings.every((f) => f === undefined || (f.signature === 'api-drift:tickets.corp.internal' && f.score < 0.5))).toBe(true);
    expect(findings.some((f) => f?.signature === 'api-drift:tickets.corp.internal')).toBe(true);
    h.learn(v('v3', T0 + 21 * DAY_MS + 1000));
    expect(h.score(v('v3', T0 + 21 * DAY_MS + 5000)).every((f) => f === undefined)).toBe(true);
  });

  it('makes a switch three of its peers made before it an info finding, not alerted: a fleet-wide change', () => {
    const group = make();
    const agents = [0, 1, 2, 3].map(() => {
      const h = make().withPeers(8, 8);
      joinGroup(h, group);
      routine(h, 20, 10, (t) => v('v2', t));
      return h;
    });
    const drift = (h: (typeof agents)[number], t: number) => h.score(v('v3', t)).find((f) => f?.signature === 'api-drift:tickets.corp.internal');
    const t = T0 + 21 * DAY_MS;
    agents.slice(0, 3).forEach((h, i) => {
      expect(drift(h, t + i * HOUR)?.score).toBe(0.35); // low: each of the first three is alerted
      h.learn(v('v3', t + i * HOUR + 1000));
    });
    const last = drift(agents[3], t + 4 * HOUR);
    expect(last?.score).toBe(MIN_FINDING);
    expect(last?.reason).toMatch(/\(benign drift is likely; 3 of its peers made the same switch\)$/);
  });

  it('checks a learning agent against its peers, damped by how often its calls have been new to them', () => {
    const veteran = make().withPeers(8, 8);
    routine(veteran, 20, 10, (t) => v('v2', t));
    const newcomer = (): Harness<ReturnType<typeof make>['state']> => {
      const h = make().withPeers(8, 8);
      joinGroup(h, veteran);
      h.agent.phase = 'learning';
      return h;
    };
    const site = (n: number, t: number) => mkCall({ time: t, host: `site${n}.example`, action: { kind: 'http', signature: `GET site${n}.example/articles/{id}`, write: false } });
    const t = T0 + 21 * DAY_MS;

    // A new agent doing its group's work: a call none of its peers makes stands out.
    const worker = newcomer();
    for (let i = 0; i < 10; i++) worker.learn(v('v2', t + i * 60_000));
    const [f] = worker.score([site(0, t + DAY_MS)]);
    expect(f?.reason).toBe('GET site0.example/articles/{id} never called by support-agent-01 or by any of its 8 peers');

    // A new agent whose work is sites its peers have never seen: one more is not an alert.
    const browser = newcomer();
    for (let i = 1; i <= 10; i++) browser.learn([site(i, t + i * 60_000)]);
    expect(browser.score([site(11, t + DAY_MS)])[0]).toBeUndefined();
  });

  it('restores a state saved before it kept the peer-group rate', () => {
    const h = make();
    routine(h, 5, 10, (t) => v('v2', t));
    const json = JSON.parse(JSON.stringify(h.det.snapshot(h.state, h.intern))) as { n: number[] };
    json.n = json.n.slice(0, 2);
    h.state = h.det.restore(json, h.intern);
    expect(h.state.novelty).toHaveLength(4);
    expect(h.score(v('v2', T0 + 6 * DAY_MS)).every((f) => f === undefined)).toBe(true);
  });

  it('survives snapshot and restore', () => {
    const h = make();
    routine(h, 5, 10, (t) => v('v2', t));
    h.roundTrip();
    expect(h.score(v('v2', T0 + 6 * DAY_MS)).every((f) => f === undefined)).toBe(true);
  });
});
