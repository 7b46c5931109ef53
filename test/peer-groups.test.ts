/**
 * Peer groups standing in for agents with no history of their own: a group judges its learning
 * agents once it is mature — enough of its agents enforce, or its agents' calls pooled amount to
 * what that many agents would need. A fleet of light agents (none with the calls to enforce yet)
 * is the case the second rule is for.
 */
import { describe, expect, it } from 'vitest';
import { describeAgent } from '../src/baseline-view.js';
import { evaluate } from '../src/evaluate.js';
import { simulate } from '../src/simulate.js';
import { defaultEngineConfig } from '../src/engine.js';
import { feed, newEngine } from './helpers/pipeline.js';

// 30 agents a role, two days of four chains each: ~30 calls an agent (200 needed to enforce),
// ~1,000 a group (3 × 200 needed, over a day).
const sim = simulate({ seed: 5, agentsPerRole: 30, historyDays: 2, liveDays: 1, chainsPerAgentDay: 4, attacksPerClass: 4 });

/** History learned, then the live day detected; with the agents enforcing when detection began. */
function run(lifecycle = defaultEngineConfig.lifecycle): ReturnType<typeof newEngine> & { enforcingAtStart: number } {
  const r = newEngine({ lifecycle });
  r.engine.mode = 'learn';
  feed(r.engine, r.filter, sim.history);
  r.engine.flush();
  const enforcingAtStart = [...r.engine.agents.values()].filter((a) => a.phase === 'enforcing').length;
  r.engine.mode = 'detect';
  feed(r.engine, r.filter, sim.live);
  r.engine.flush();
  return { ...r, enforcingAtStart };
}

describe('peer groups of light agents', () => {
  const light = run();

  it('judge their learning agents once the calls pooled are enough, though no agent enforces', () => {
    expect(light.enforcingAtStart).toBe(0);
    for (const group of light.engine.peers.values()) expect(group.calls, group.name).toBeGreaterThanOrEqual(600);

    const e = evaluate(sim.labels, light.alerts);
    const recall = (label: string): number => e.classes.find((c) => c.label === label)!.recall;
    // The attacks that send to a destination none of the group uses: judged against the group.
    for (const label of ['out-of-scope-destination', 'exfiltration', 'prompt-injection', 'privilege-escalation']) expect(recall(label), label).toBe(1);
    const reasons = light.alerts.flatMap((a) => a.evidence.map((f) => f.reason));
    expect(reasons.some((r) => /while learning; judged against 30 peers/.test(r))).toBe(true);
    // Without flooding on the benign chains (research agents browse new sites on most calls).
    expect(e.benign.perThousand).toBeLessThan(5);
    expect(describeAgent(light.engine, 'billing-agent-07')).toMatch(/phase: learning; .* peer group "billing-agent" of 30 agents \(0 enforcing, \d{3,} calls pooled; judges its learning agents\)/);
  });

  it('do not before the group has the history a single agent would need', () => {
    // A day and a half more than the history spans: the pooled calls are there, the time is not.
    const early = run({ ...defaultEngineConfig.lifecycle, minHistoryMs: 3.5 * 86_400_000 });
    const e = evaluate(sim.labels, early.alerts);
    expect(e.classes.find((c) => c.label === 'out-of-scope-destination')!.recall).toBe(0);
    expect(describeAgent(early.engine, 'billing-agent-07')).toMatch(/calls pooled; not yet enough to judge its learning agents\)/);
  });

  it('keep their pooled calls through a snapshot; a state saved before they pooled them restores with none', () => {
    const snap = JSON.parse(JSON.stringify(light.engine.snapshot())) as ReturnType<typeof light.engine.snapshot>;
    const again = newEngine();
    again.engine.restore(snap);
    const before = light.engine.peers.get('support-agent')!;
    expect(again.engine.peers.get('support-agent')).toMatchObject({ calls: before.calls, firstSeen: before.firstSeen, lastSeen: before.lastSeen });

    for (const p of snap.peers) {
      delete p.calls;
      delete p.firstSeen;
      delete p.lastSeen;
    }
    const old = newEngine();
    old.engine.restore(snap);
    expect(old.engine.peers.get('support-agent')).toMatchObject({ calls: 0, firstSeen: 0, lastSeen: 0, enforcing: before.enforcing });
  });
});
