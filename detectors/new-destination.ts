/**
 * New destination: a host, or a destination named in tool arguments (email domain, account,
 * channel, user, URL host), that this agent has never sent a call to.
 *
 * Catches out-of-scope destinations and the exfiltration hop of a hijacked agent ("post the file
 * to paste-drop.io"). Works when an agent's set of destinations is stable. Fails quietly, by
 * design, for agents whose normal work is novel: the score is damped by the agent's own novelty
 * rate per destination kind, and halved when peers (agents of the same name/service) use the
 * destination. A learning agent is checked against its peers only.
 *
 * Cost: one scan of a ≤48-entry table per destination; ≤ 740 bytes per agent at the cap.
 */
import { CountTable } from '../src/count-table.js';
import type { Destination, DestinationKind } from '../src/arg-destinations.js';
import type { AgentCall } from '../src/agent-call.js';
import type { Interner } from '../src/intern.js';
import { type CallContext, type Detector, type DetectorSettings, type Finding, MIN_FINDING, Novelty, clamp, historyDays, usedByHalfOfPeers } from './types.js';

const KINDS: DestinationKind[] = ['host', 'email-domain', 'account', 'channel', 'user', 'domain'];
const BASE: Record<string, number> = { host: 0.6, 'email-domain': 0.55, account: 0.6, channel: 0.45, user: 0.4, domain: 0.5 };

export interface DestinationState {
  table: CountTable;
  /** Novelty rate per destination kind (see Novelty). */
  novelty: number[];
}

/**
 * The call's destinations by position, without allocating: -1 is its host, 0… the destinations
 * named in its arguments. `skipDestination` says which positions to pass over (no host, bare
 * emails, the host named again).
 */
export function skipDestination(call: AgentCall, i: number): boolean {
  if (i < 0) return call.host === undefined;
  const d = call.destinations[i];
  return d.kind === 'email' || (d.kind === 'host' && d.value === call.host);
}

export const destinationKindAt = (call: AgentCall, i: number): DestinationKind => (i < 0 ? 'host' : call.destinations[i].kind);
export const destinationValueAt = (call: AgentCall, i: number): string => (i < 0 ? call.host! : call.destinations[i].value);

/** Whether the agent has sent calls to this destination before (used by chain rules). */
export function knowsDestination(state: DestinationState | undefined, intern: Interner, d: Destination): boolean {
  if (state === undefined) return false;
  const id = intern.kindPeek(d.kind, d.value);
  return id >= 0 && state.table.has(id);
}

export function newDestination(settings: DetectorSettings, maxSize = 48): Detector<DestinationState, CountTable> {
  return {
    id: 'new-destination',
    coldStart: true,
    init: () => ({ table: new CountTable(maxSize, settings.halfLifeMs), novelty: Novelty.create(KINDS.length) }),
    initPeer: () => new CountTable(512, settings.halfLifeMs, 16),

    scoreCall(ctx: CallContext, state, peer): Finding | undefined {
      const { call, agent, intern } = ctx;
      const enforcing = agent.phase === 'enforcing';
      if (!enforcing && !(ctx.peersReady && peer)) return undefined;
      let best: Finding | undefined;
      for (let i = -1; i < call.destinations.length; i++) {
        if (skipDestination(call, i)) continue;
        const kind = destinationKindAt(call, i);
        const value = destinationValueAt(call, i);
        const id = intern.kindPeek(kind, value);
        if (id >= 0 && state.table.has(id)) continue;
        const peerCount = id >= 0 && peer ? Math.round(peer.count(id)) : 0;
        const peers = ctx.peers?.agents ?? 0;
        if (!enforcing && peerCount > 0) continue;
        const external = kind === 'host' ? call.external : true;
        let score = BASE[kind] * Novelty.damping(state.novelty, KINDS.indexOf(kind));
        if (peerCount > 0) score *= usedByHalfOfPeers(peerCount, peers) ? 0.3 : 0.5;
        if (external) score += 0.1;
        score = clamp(score, 0, 0.95);
        if (score < MIN_FINDING || (best !== undefined && best.score >= score)) continue;
        const history = enforcing
          ? `in ${historyDays(agent)} days of history (${agent.calls} calls)`
          : `while learning; judged against ${peers} peers`;
        best = {
          detector: 'new-destination',
          score,
          signature: `new-destination:${kind}:${value}`,
          title: `New ${kind === 'host' ? 'destination' : kind} ${value}`,
          reason: `${value} never seen for ${agent.id} ${history}; ${peerCount} of ${peers} peers`,
          expected: `one of ${state.table.size} known destinations (top: ${topNames(state.table, intern, 3)})`,
          observed: `${call.action.signature} → ${kind} ${value}${external ? ' (external)' : ''}`,
          spanIds: [call.spanId],
        };
      }
      return best;
    },

    learnCall(ctx, state, peer) {
      const { call, intern } = ctx;
      let seenKinds = 0; // bit per index in KINDS: novelty counts once per kind and call
      // By position: no closure per call (learnCall runs for every call of every closed chain).
      for (let i = -1; i < call.destinations.length; i++) {
        if (skipDestination(call, i)) continue;
        const kind = destinationKindAt(call, i);
        const value = destinationValueAt(call, i);
        const id = intern.kindId(kind, value);
        const isNew = state.table.add(id, call.time);
        const k = KINDS.indexOf(kind);
        if ((seenKinds & (1 << k)) === 0) Novelty.add(state.novelty, k, isNew);
        seenKinds |= 1 << k;
        if (isNew && peer) peer.add(id, call.time);
      }
    },

    snapshot: (s, intern) => ({ t: s.table.toJSON((k) => intern.str(k)), n: [...s.novelty] }),
    restore(json, intern) {
      const j = json as { t: Parameters<typeof CountTable.fromJSON>[0]; n: number[] };
      return { table: CountTable.fromJSON(j.t, maxSize, settings.halfLifeMs, (s) => intern.id(s)), novelty: Novelty.from(j.n, KINDS.length) };
    },
    snapshotPeer: (p, intern) => p.toJSON((k) => intern.str(k)),
    restorePeer: (json, intern) => CountTable.fromJSON(json as Parameters<typeof CountTable.fromJSON>[0], 512, settings.halfLifeMs, (s) => intern.id(s)),
    bytes: (s) => s.table.bytes() + 32 + 16 + 8 * s.novelty.length,
    release: (s) => s.table.release(),
    releasePeer: (p) => p.release(),
  };
}

export function topNames(table: CountTable, intern: Interner, n: number): string {
  const names = table.topKeys(n).map((k) => intern.str(k).replace(/^[a-z-]+:/, ''));
  return names.length ? names.join(', ') : 'none';
}
