/**
 * Unusual delegating principal: the agent acts on behalf of a human (enduser.id / user.id) it
 * has never served, while its set of principals is normally stable.
 *
 * Catches an agent being driven by an unexpected account (a compromised or unauthorised user, or
 * a confused-deputy hop between tenants). Agents that serve the public have a high principal
 * novelty rate and stay quiet; a principal already served by peers halves the score.
 *
 * Cost: one ≤16-entry scan per call; ~250 bytes per agent.
 */
import { CountTable } from '../src/count-table.js';
import { type CallContext, type Detector, type DetectorSettings, type Finding, Novelty } from './types.js';

export interface PrincipalState {
  table: CountTable;
  novelty: number[];
}

export function unusualPrincipal(settings: DetectorSettings, minChains = 20): Detector<PrincipalState, CountTable> {
  return {
    id: 'unusual-principal',
    coldStart: false,
    init: () => ({ table: new CountTable(16, settings.halfLifeMs), novelty: Novelty.create() }),
    initPeer: () => new CountTable(256, settings.halfLifeMs, 16),

    scoreCall(ctx: CallContext, state, peer): Finding | undefined {
      const { call, agent, intern } = ctx;
      if (call.principal === undefined || agent.chains < minChains || state.table.size === 0) return undefined;
      const id = intern.kindPeek('principal', call.principal);
      if (id >= 0 && state.table.has(id)) return undefined;
      const damping = Novelty.damping(state.novelty);
      if (damping < 0.5) return undefined;
      const peerUse = id >= 0 && peer ? peer.count(id) : 0;
      return {
        detector: 'unusual-principal', score: 0.4 * damping * (peerUse > 0 ? 0.5 : 1), signature: `principal:${call.principal}`,
        title: `Acting for a new principal ${call.principal}`,
        reason: `${agent.id} has acted for ${state.table.size} principals before, never ${call.principal}; ${peerUse > 0 ? 'peers have' : 'no peer has'}`,
        expected: `one of: ${state.table.entries((k) => intern.str(k).slice(10)).slice(0, 4).map((e) => e[0]).join(', ')}`,
        observed: `on behalf of ${call.principal}`, spanIds: [call.spanId],
      };
    },

    learnCall(ctx: CallContext, state, peer) {
      const { call, intern } = ctx;
      if (call.principal === undefined) return;
      const id = intern.kindId('principal', call.principal);
      const isNew = state.table.add(id, call.time);
      if (call === ctx.chain.calls[0]) Novelty.add(state.novelty, 0, isNew, 100);
      if (isNew && peer) peer.add(id, call.time);
    },

    snapshot: (s, intern) => ({ t: s.table.toJSON((k) => intern.str(k)), n: [...s.novelty] }),
    restore(json, intern) {
      const j = json as { t: Parameters<typeof CountTable.fromJSON>[0]; n: number[] };
      return { table: CountTable.fromJSON(j.t, 16, settings.halfLifeMs, (s) => intern.id(s)), novelty: Novelty.from(j.n) };
    },
    snapshotPeer: (p, intern) => p.toJSON((k) => intern.str(k)),
    restorePeer: (json, intern) => CountTable.fromJSON(json as Parameters<typeof CountTable.fromJSON>[0], 256, settings.halfLifeMs, (s) => intern.id(s)),
    bytes: (s) => s.table.bytes() + 40,
    release: (s) => s.table.release(),
    releasePeer: (p) => p.release(),
  };
}
