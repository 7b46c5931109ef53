/**
 * Bulk access: one chain touching many more distinct resources (records, paths with ids,
 * tables) than this agent's chains ever do.
 *
 * Catches mass reads and scraping ("fetch every customer record") by a hijacked or over-eager
 * agent. The limit is the larger of `minResources`, 3x the agent's largest normal chain and the
 * log-scale mean + 4 sd, so agents that legitimately sweep data learn a high bar. Fires once per
 * chain; the set of resources is capped per chain.
 *
 * Cost: one Set insert per call; ~60 bytes per agent plus the open chain's set.
 */
import type { AgentCall } from '../src/agent-call.js';
import { DecayedStats } from '../src/decayed-stats.js';
import { type CallContext, type ChainContext, type Detector, type Finding, clamp, scratch } from './types.js';

const MAX_TRACKED = 10_000;

const newScratch = (call: AgentCall): { seen: Set<string>; fired: boolean; first: string } => ({ seen: new Set<string>(), fired: false, first: call.spanId });
/** Reused by learnChain (one chain at a time). */
const distinct = new Set<string>();

export function bulkAccess(minResources = 25): Detector<DecayedStats> {
  const limitOf = (s: DecayedStats): number =>
    Math.max(minResources, Math.ceil(3 * Math.exp(s.max)), Math.ceil(Math.exp(s.mean + 4 * Math.max(s.sd, 0.3))));
  return {
    id: 'bulk-access',
    coldStart: false,
    init: () => new DecayedStats(500),

    scoreCall(ctx: CallContext, stats): Finding | undefined {
      const { call, chain } = ctx;
      const s = scratch(chain, 'bulk-access', newScratch, call);
      if (s.seen.size < MAX_TRACKED) s.seen.add(call.resource);
      // The limit is never below minResources: most calls are decided without its two exponentials.
      if (s.fired || s.seen.size <= minResources) return undefined;
      const limit = limitOf(stats);
      if (s.seen.size <= limit) return undefined;
      s.fired = true;
      return {
        detector: 'bulk-access', score: clamp(0.55 + 0.05 * Math.log2(s.seen.size / limit), 0.55, 0.8), signature: 'bulk-access',
        title: 'Bulk access to many resources',
        reason: `one chain of ${ctx.agent.id} touched ${s.seen.size} distinct resources; its largest normal chain touched ~${Math.round(Math.exp(stats.max))}`,
        expected: `≤ ${limit} distinct resources per chain`, observed: `${s.seen.size} distinct resources (latest ${call.resource})`,
        spanIds: [s.first, call.spanId],
      };
    },

    learnChain(ctx: ChainContext, stats) {
      for (const c of ctx.chain.calls) distinct.add(c.resource);
      const n = distinct.size;
      distinct.clear();
      stats.add(Math.log(Math.max(n, 1)));
    },

    snapshot: (s) => s.toJSON(),
    restore: (json) => DecayedStats.fromJSON(json as [number, number, number, number], 500),
    bytes: () => 60,
  };
}
