/**
 * The detectors of chain statistics — distinct resources, repeat runs, duration — judge a learning
 * agent by its peer group's chains, pooled (`chainNorm` in types.ts), once the group is mature; an
 * enforcing agent by its own. One table of cases, one per detector.
 */
import { describe, expect, it } from 'vitest';
import type { AgentCall } from '../src/agent-call.js';
import type { DecayedStats } from '../src/decayed-stats.js';
import { bulkAccess } from './bulk-access.js';
import { delegationOutlives } from './delegation-outlives.js';
import { loop } from './loop.js';
import type { Detector } from './types.js';
import { Harness, T0, DAY_MS, HOUR, mkCall, mkChain, routine } from '../test/helpers/detector-harness.js';

interface Case {
  detector: () => Detector<DecayedStats, DecayedStats>;
  /** A peer's normal chain at `t`. */
  normal: (t: number, i: number) => AgentCall[];
  /** A chain far outside that norm, from `t`. */
  outlier: (t: number) => AgentCall[];
  /** The explanation when judged by 30 peers. */
  reason: RegExp;
}

const cases: Record<string, Case> = {
  'bulk-access': {
    detector: () => bulkAccess(),
    normal: (t, i) => [1, 2, 3].map((k) => mkCall({ time: t + k, resource: `crm/customers/${i * 10 + k}` })),
    outlier: (t) => Array.from({ length: 40 }, (_, k) => mkCall({ time: t + k, resource: `crm/customers/${k}` })),
    reason: /touched 26 distinct resources; its 30 peers' largest normal chain touched ~3/,
  },
  loop: {
    detector: () => loop(),
    normal: (t) => [mkCall({ time: t, sig: 'GET a/x' }), mkCall({ time: t + 1, sig: 'GET a/x' }), mkCall({ time: t + 2, sig: 'POST a/y' })],
    outlier: (t) => Array.from({ length: 40 }, (_, k) => mkCall({ time: t + k, sig: 'GET a/x' })),
    reason: /repeated GET a\/x 13 times in a row in one chain; its 30 peers' longest normal run is ~2/,
  },
  'delegation-outlives': {
    detector: () => delegationOutlives(),
    normal: (t) => [mkCall({ time: t }), mkCall({ time: t + 30_000 })],
    outlier: (t) => [mkCall({ time: t }), mkCall({ time: t + 6 * HOUR })],
    reason: /still acting 6\.0 h into a chain; its 30 peers' chains normally last up to 30 s/,
  },
};

describe.each(Object.entries(cases))('%s', (_, c) => {
  /** A learning agent of a group of 30 (`enforcing` of them mature) whose peers' chains, pooled, are `chains` normal ones. */
  function newcomer(enforcing: number, chains: number): Harness<DecayedStats, DecayedStats> {
    const veteran = new Harness(c.detector());
    routine(veteran, chains / 10, 10, c.normal);
    const h = new Harness(c.detector()).withPeers(30, enforcing);
    h.peerState = veteran.peerState;
    h.agent.phase = 'learning';
    return h;
  }
  const judge = (h: Harness<DecayedStats, DecayedStats>) => h.score(c.outlier(T0 + 11 * DAY_MS), mkChain([])).filter((f) => f !== undefined);

  it('judges a learning agent by its mature peer group\'s chains, pooled', () => {
    const fired = judge(newcomer(3, 100));
    expect(fired).toHaveLength(1);
    expect(fired[0]?.reason).toMatch(c.reason);
  });

  it('judges nothing by a group not yet mature, or whose pool holds fewer than 10 chains', () => {
    expect(judge(newcomer(0, 100))).toHaveLength(0);
    expect(judge(newcomer(3, 0))).toHaveLength(0);
  });

  it('keeps the group\'s pool through a snapshot', () => {
    const h = newcomer(3, 100);
    const d = h.det;
    h.peerState = d.restorePeer!(JSON.parse(JSON.stringify(d.snapshotPeer!(h.peerState!, h.intern))), h.intern);
    expect(judge(h)[0]?.reason).toMatch(c.reason);
  });
});
