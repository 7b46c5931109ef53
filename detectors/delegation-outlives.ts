/**
 * Delegation that outlives intent: a chain still acting long after it started — far longer in
 * time than this agent's chains last (the larger of `minMs`, 4x its longest normal chain and its
 * log-scale mean + 4 sd).
 *
 * Catches agents that keep using a user's delegated authority hours after the task (a scheduled
 * follow-up nobody approved, a hijack that persists). Scored on every call of the chain, so it
 * fires as soon as the late call arrives, once per chain. Agents with long-running jobs learn a
 * long normal duration. A learning agent is judged by its peer group's chains, pooled, once the
 * group is mature.
 *
 * Cost: a subtraction per call; ~60 bytes per agent, and one statistic per peer group.
 */
import type { DecayedStats } from '../src/decayed-stats.js';
import { type CallContext, type ChainContext, type Detector, type Finding, chainNorm, chainStatsState, learnChainValue, scratch, topOfNormal } from './types.js';

const newScratch = (): { fired: boolean } => ({ fired: false });

export function delegationOutlives(minMs = 15 * 60_000): Detector<DecayedStats, DecayedStats> {
  const limitOf = (s: DecayedStats): number => Math.max(minMs, 4 * Math.exp(s.max), topOfNormal(s));
  return {
    id: 'delegation-outlives',
    coldStart: true,
    ...chainStatsState,

    scoreCall(ctx: CallContext, own, peer): Finding | undefined {
      const { call, chain } = ctx;
      const elapsed = call.time - chain.startTime;
      // The limit is never below minMs: most calls are decided without its two exponentials.
      if (elapsed <= minMs) return undefined;
      const norm = chainNorm(ctx, own, peer);
      if (norm === undefined || norm.stats.n < 10) return undefined;
      const s = scratch(chain, 'delegation-outlives', newScratch);
      if (s.fired) return undefined;
      const { stats, whose } = norm;
      const limit = limitOf(stats);
      if (elapsed <= limit) return undefined;
      s.fired = true;
      return {
        detector: 'delegation-outlives', score: elapsed > 8 * 3_600_000 ? 0.75 : 0.55, signature: 'delegation-outlives',
        title: 'Delegation outlived its task',
        reason: `${ctx.agent.id} is still acting ${fmt(elapsed)} into a chain${chain.principal ? ` on behalf of ${chain.principal}` : ''}; ${whose} chains normally last up to ${fmt(Math.exp(stats.max))}`,
        expected: `chains of at most ${fmt(limit)}`, observed: `${call.action.signature} at +${fmt(elapsed)}`,
        spanIds: [chain.calls[0]?.spanId ?? call.spanId, call.spanId],
      };
    },

    learnChain(ctx: ChainContext, own, peer) {
      learnChainValue(own, peer, Math.log(Math.max(ctx.chain.lastTime - ctx.chain.startTime, 1000)));
    },
  };
}

export function fmt(ms: number): string {
  if (ms < 120_000) return `${Math.round(ms / 1000)} s`;
  if (ms < 7_200_000) return `${Math.round(ms / 60_000)} min`;
  return `${(ms / 3_600_000).toFixed(1)} h`;
}
