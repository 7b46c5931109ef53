/**
 * Unusual chain shape or length: a finished chain with far more calls than this agent's chains
 * have (log-scale z-score), or a sequence of distinct actions (the chain's "shape") never seen
 * from an agent whose chains usually repeat a few shapes.
 *
 * Catches hijacked tasks that sprawl, and agents improvising a new workflow. Scored when the
 * chain closes (idle timeout or root span), so it is slower than per-call detectors. Agents
 * whose every chain is different learn a high shape-novelty rate and are left alone.
 *
 * Cost: one pass over the chain's calls at close; ~500 bytes per agent.
 */
import { CountTable } from '../src/count-table.js';
import { DecayedStats } from '../src/decayed-stats.js';
import type { Chain } from '../src/chains.js';
import type { AgentCall } from '../src/agent-call.js';
import { type ChainContext, type Detector, type DetectorSettings, type Finding, Novelty, SHORT_CHAIN, clamp, seenEarlier } from './types.js';

export interface ShapeState {
  length: DecayedStats;
  shapes: CountTable;
  novelty: number[];
}

/** The last chain hashed: scoring and then learning a closed chain hash it once. */
let lastChain: Chain | undefined;
let lastCount = 0;
let lastShape = 0;

/** Hash of the chain's distinct actions in first-use order. */
export function shapeOf(chain: Chain): number {
  if (chain === lastChain && chain.callCount === lastCount) return lastShape;
  lastChain = chain;
  lastCount = chain.callCount;
  lastShape = hashShape(chain);
  return lastShape;
}

const signatureOf = (call: AgentCall): string => call.action.signature;

function hashShape(chain: Chain): number {
  const calls = chain.calls;
  const seen = calls.length > SHORT_CHAIN ? new Set<string>() : undefined;
  let h = 0x811c9dc5;
  for (let c = 0; c < calls.length; c++) {
    const sig = calls[c].action.signature;
    if (seen !== undefined) {
      if (seen.has(sig)) continue;
      seen.add(sig);
    } else if (seenEarlier(calls, c, signatureOf)) continue;
    for (let i = 0; i < sig.length; i++) h = Math.imul(h ^ sig.charCodeAt(i), 0x01000193);
    h = Math.imul(h ^ 0x3b, 0x01000193);
  }
  return h >>> 0;
}

/** The first calls' span ids, as evidence (built only for a finding: a closure made per chain was most of this detector's garbage). */
const firstSpanIds = (chain: Chain): string[] => chain.calls.slice(0, 5).map((c) => c.spanId);

export function chainShape(settings: DetectorSettings, minChains = 30): Detector<ShapeState> {
  return {
    id: 'chain-shape',
    coldStart: false,
    init: () => ({ length: new DecayedStats(500), shapes: new CountTable(16, settings.halfLifeMs), novelty: Novelty.create() }),

    scoreChain(ctx: ChainContext, state): Finding | undefined {
      const { chain, agent } = ctx;
      if (state.length.n < minChains) return undefined;
      const len = chain.callCount;
      const z = state.length.z(Math.log(len + 1), 0.25);
      const typical = Math.round(Math.exp(state.length.mean) - 1);
      if (len >= 6 && z > 3.5) {
        return {
          detector: 'chain-shape', score: clamp(0.3 + 0.08 * (z - 3.5), 0.3, 0.7), signature: 'chain-length',
          title: 'Unusually long chain',
          reason: `chain of ${len} calls; ${agent.id}'s chains have ~${typical} (z=${z.toFixed(1)} on log scale, max ${Math.round(Math.exp(state.length.max) - 1)})`,
          expected: `about ${typical} calls per chain`, observed: `${len} calls`, spanIds: firstSpanIds(chain),
        };
      }
      const shape = shapeOf(chain);
      if (!state.shapes.has(shape) && Novelty.rate(state.novelty) < 0.2 && len >= 3) {
        const actions = [...new Set(chain.calls.map((c) => c.action.signature))];
        return {
          detector: 'chain-shape', score: 0.3, signature: `chain-shape:${shape}`,
          title: 'New kind of chain',
          reason: `${agent.id} ran a sequence of actions never seen together before (${actions.slice(0, 4).join(' → ')}${actions.length > 4 ? ' …' : ''}); ${(Novelty.rate(state.novelty) * 100).toFixed(0)}% of its chains are new shapes`,
          expected: `one of ${state.shapes.size} known chain shapes`, observed: `${actions.length} distinct actions`, spanIds: firstSpanIds(chain),
        };
      }
      return undefined;
    },

    learnChain(ctx: ChainContext, state) {
      const { chain } = ctx;
      state.length.add(Math.log(chain.callCount + 1));
      Novelty.add(state.novelty, 0, state.shapes.add(shapeOf(chain), chain.lastTime), 100);
    },

    snapshot: (s) => ({ l: s.length.toJSON(), s: s.shapes.toJSON(String), n: [...s.novelty] }),
    restore(json) {
      const j = json as { l: [number, number, number, number]; s: Parameters<typeof CountTable.fromJSON>[0]; n: number[] };
      return { length: DecayedStats.fromJSON(j.l, 500), shapes: CountTable.fromJSON(j.s, 16, settings.halfLifeMs, Number), novelty: Novelty.from(j.n) };
    },
    bytes: (s) => s.shapes.bytes() + 120,
    release(s) {
      s.shapes.release();
      s.length.release();
    },
  };
}
