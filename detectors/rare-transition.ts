/**
 * Rare transition: action B following action A inside one chain when this agent has done A often
 * and never (or almost never) followed it with B. First-order Markov model over action
 * signatures, learned per agent from normal chains.
 *
 * Catches prompt-injection hijacks that splice an extra step into a familiar task ("read ticket →
 * export all contacts") where each action alone is known. Needs support: silent until A has
 * been followed by something at least `minSupport` times, and silent for unknown actions (the
 * new-action detector covers those). Agents with highly variable orderings learn many
 * transitions and so rarely fire.
 *
 * Cost: two small-table scans per call; ≤64 transitions, ≤ 1.5 KB per agent at the caps.
 */
import { CountTable } from '../src/count-table.js';
import { pairKey } from '../src/intern.js';
import { type CallContext, type ChainContext, type Detector, type DetectorSettings, type Finding, scratch } from './types.js';

export interface TransitionState {
  from: CountTable;
  pairs: CountTable;
}

const newScratch = (): { prev: number; prevHash: number; prevSig: string; prevSpan: string } => ({ prev: -1, prevHash: 0, prevSig: '', prevSpan: '' });

export function rareTransition(settings: DetectorSettings, minSupport = 20): Detector<TransitionState> {
  const maxFrom = 32;
  const maxPairs = 64;
  return {
    id: 'rare-transition',
    coldStart: false,
    init: () => ({ from: new CountTable(maxFrom, settings.halfLifeMs), pairs: new CountTable(maxPairs, settings.halfLifeMs, 8) }),

    scoreCall(ctx: CallContext, state): Finding | undefined {
      const { call, chain, intern } = ctx;
      const s = scratch(chain, 'rare-transition', newScratch);
      const cur = intern.id(call.action.signature);
      const curHash = intern.hashOf(cur);
      const prevSig = s.prevSig;
      // An id kept by another engine's interner (a chain handed between Kafka workers, its scratch
      // with it) names some other string here, or none: found again by the signature.
      const prev = s.prev < 0 || intern.str(s.prev) === prevSig ? s.prev : intern.peek(prevSig);
      const prevHash = s.prevHash;
      const prevSpan = s.prevSpan;
      s.prev = cur;
      s.prevHash = curHash;
      s.prevSig = call.action.signature;
      s.prevSpan = call.spanId;
      if (prev < 0 || prev === cur) return undefined;
      const support = state.from.count(prev);
      if (support < minSupport || !state.from.has(cur)) return undefined;
      const c = state.pairs.count(pairKey(prevHash, curHash));
      const p = c / support;
      if (p >= 0.01) return undefined;
      return {
        detector: 'rare-transition',
        score: c < 0.5 ? 0.4 : 0.3,
        signature: `rare-transition:${prevSig}>${call.action.signature}`,
        title: 'Unusual step in the chain',
        reason: `${ctx.agent.id} followed ${prevSig} with ${call.action.signature}: ${(p * 100).toFixed(1)}% of ${Math.round(support)} times before`,
        expected: `what usually follows ${prevSig}`,
        observed: `${prevSig} → ${call.action.signature}`,
        spanIds: [prevSpan, call.spanId],
      };
    },

    learnChain(ctx: ChainContext, state) {
      const { chain, intern } = ctx;
      let prev = -1;
      let prevHash = 0;
      for (const call of chain.calls) {
        const cur = intern.id(call.action.signature);
        const curHash = intern.hashOf(cur);
        if (prev >= 0 && prev !== cur) {
          state.from.add(prev, call.time);
          state.pairs.add(pairKey(prevHash, curHash), call.time);
        }
        prev = cur;
        prevHash = curHash;
      }
      if (prev >= 0) state.from.decay(chain.lastTime);
    },

    snapshot: (s, intern) => ({ f: s.from.toJSON((k) => intern.str(k)), p: s.pairs.toJSON((k) => String(k)) }),
    restore(json, intern) {
      const j = json as { f: Parameters<typeof CountTable.fromJSON>[0]; p: Parameters<typeof CountTable.fromJSON>[0] };
      return {
        from: CountTable.fromJSON(j.f, maxFrom, settings.halfLifeMs, (s) => intern.id(s)),
        pairs: CountTable.fromJSON(j.p, maxPairs, settings.halfLifeMs, (s) => Number(s)),
      };
    },
    bytes: (s) => s.from.bytes() + s.pairs.bytes(),
    release(s) {
      s.from.release();
      s.pairs.release();
    },
  };
}
