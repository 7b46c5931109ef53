/**
 * Loop or repetition: the same action over and over inside one chain (a run of identical
 * actions, or an A-B-A-B cycle), far longer than any run this agent makes normally.
 *
 * Catches runaway agents stuck retrying or paging without end, and tool-call loops induced by
 * poisoned tool output. Legitimate pagination learns a long normal run and raises the bar.
 * Fires once per chain, when the run crosses the limit. A learning agent is judged by its peer
 * group's chains, pooled, once the group is mature.
 *
 * Cost: a string compare per call; ~60 bytes per agent, and one statistic per peer group.
 */
import type { AgentCall } from '../src/agent-call.js';
import type { DecayedStats } from '../src/decayed-stats.js';
import { type CallContext, type ChainContext, type Detector, type Finding, chainCountLimit, chainNorm, chainStatsState, learnChainValue, clamp, scratch } from './types.js';

interface LoopScratch {
  last: string;
  last2: string;
  run: number;
  cycle: number;
  fired: boolean;
  first: string;
}

const newScratch = (call: AgentCall): LoopScratch => ({ last: '', last2: '', run: 0, cycle: 0, fired: false, first: call.spanId });

export function loop(minRun = 12): Detector<DecayedStats, DecayedStats> {
  const track = (s: LoopScratch, sig: string): void => {
    s.run = sig === s.last ? s.run + 1 : 1;
    s.cycle = sig === s.last2 && sig !== s.last ? s.cycle + 1 : 0;
    s.last2 = s.last;
    s.last = sig;
  };
  return {
    id: 'loop',
    coldStart: true,
    ...chainStatsState,

    scoreCall(ctx: CallContext, own, peer): Finding | undefined {
      const { call, chain } = ctx;
      const s = scratch(chain, 'loop', newScratch, call);
      if (call.action.signature !== s.last) s.first = call.spanId;
      track(s, call.action.signature);
      const reps = Math.max(s.run, Math.floor(s.cycle / 2) + 1);
      // The limit is never below minRun: most calls are decided without its two exponentials.
      if (s.fired || reps <= minRun) return undefined;
      const norm = chainNorm(ctx, own, peer);
      if (norm === undefined) return undefined;
      const { stats, whose } = norm;
      const limit = chainCountLimit(stats, minRun);
      if (reps <= limit) return undefined;
      s.fired = true;
      return {
        detector: 'loop', score: clamp(0.5 + 0.05 * (reps - limit), 0.5, 0.8), signature: `loop:${call.action.signature}`,
        title: 'Runaway loop',
        reason: `${ctx.agent.id} repeated ${call.action.signature} ${reps} times in a row in one chain; ${whose} longest normal run is ~${Math.round(Math.exp(stats.max))}`,
        expected: `≤ ${limit} repetitions`, observed: `${reps} repetitions`, spanIds: [s.first, call.spanId],
      };
    },

    learnChain(ctx: ChainContext, own, peer) {
      const s: LoopScratch = { last: '', last2: '', run: 0, cycle: 0, fired: false, first: '' };
      let maxRun = 1;
      for (const call of ctx.chain.calls) {
        track(s, call.action.signature);
        maxRun = Math.max(maxRun, s.run, Math.floor(s.cycle / 2) + 1);
      }
      learnChainValue(own, peer, Math.log(maxRun));
    },
  };
}
