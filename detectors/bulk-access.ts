/**
 * Bulk access: one chain touching many more distinct resources (records, paths with ids,
 * tables) than this agent's chains ever do.
 *
 * Catches mass reads and scraping ("fetch every customer record") by a hijacked or over-eager
 * agent. The limit is the larger of `minResources`, 3x the agent's largest normal chain and the
 * log-scale mean + 4 sd, so agents that legitimately sweep data learn a high bar. Fires once per
 * chain; the set of resources is capped per chain. A learning agent is judged by its peer group's
 * chains, pooled, once the group is mature.
 *
 * Cost: one scan of a short list (a Set insert in long chains) per call; ~60 bytes per agent plus
 * the open chain's set, and one statistic per peer group.
 */
import type { AgentCall } from '../src/agent-call.js';
import type { DecayedStats } from '../src/decayed-stats.js';
import { type CallContext, type ChainContext, type Detector, type Finding, SHORT_CHAIN, chainCountLimit, chainNorm, chainStatsState, learnChainValue, clamp, scratch, seenEarlier } from './types.js';

const MAX_TRACKED = 10_000;

/** An open chain's distinct resources: a list scanned up to SHORT_CHAIN of them, a Set past it. */
interface Seen {
  seen: string[] | Set<string>;
  fired: boolean;
  first: string;
}

const newScratch = (call: AgentCall): Seen => ({ seen: [], fired: false, first: call.spanId });

function see(s: Seen, resource: string): void {
  const seen = s.seen;
  if (!Array.isArray(seen)) {
    if (seen.size < MAX_TRACKED) seen.add(resource);
  } else if (!seen.includes(resource)) {
    if (seen.length < SHORT_CHAIN) seen.push(resource);
    else s.seen = new Set(seen).add(resource);
  }
}

const sizeOf = (seen: string[] | Set<string>): number => (Array.isArray(seen) ? seen.length : seen.size);

/** Reused by learnChain for long chains (one chain at a time). */
const distinct = new Set<string>();

const resourceOf = (call: AgentCall): string => call.resource;

/** Distinct resources among a chain's calls. */
function distinctResources(calls: readonly AgentCall[]): number {
  if (calls.length > SHORT_CHAIN) {
    for (const c of calls) distinct.add(c.resource);
    const n = distinct.size;
    distinct.clear();
    return n;
  }
  let n = 0;
  for (let i = 0; i < calls.length; i++) if (!seenEarlier(calls, i, resourceOf)) n++;
  return n;
}

export function bulkAccess(minResources = 25): Detector<DecayedStats, DecayedStats> {
  return {
    id: 'bulk-access',
    coldStart: true,
    ...chainStatsState,

    scoreCall(ctx: CallContext, own, peer): Finding | undefined {
      const { call, chain } = ctx;
      const s = scratch(chain, 'bulk-access', newScratch, call);
      see(s, call.resource);
      const size = sizeOf(s.seen);
      // The limit is never below minResources: most calls are decided without its two exponentials.
      if (s.fired || size <= minResources) return undefined;
      const norm = chainNorm(ctx, own, peer);
      if (norm === undefined) return undefined;
      const { stats, whose } = norm;
      const limit = chainCountLimit(stats, minResources);
      if (size <= limit) return undefined;
      s.fired = true;
      return {
        detector: 'bulk-access', score: clamp(0.55 + 0.05 * Math.log2(size / limit), 0.55, 0.8), signature: 'bulk-access',
        title: 'Bulk access to many resources',
        reason: `one chain of ${ctx.agent.id} touched ${size} distinct resources; ${whose} largest normal chain touched ~${Math.round(Math.exp(stats.max))}`,
        expected: `≤ ${limit} distinct resources per chain`, observed: `${size} distinct resources (latest ${call.resource})`,
        spanIds: [s.first, call.spanId],
      };
    },

    learnChain(ctx: ChainContext, own, peer) {
      learnChainValue(own, peer, Math.log(Math.max(distinctResources(ctx.chain.calls), 1)));
    },
  };
}
