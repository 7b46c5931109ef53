/**
 * Default chain rule: a sensitive read followed, later in the same chain, by a write to an
 * external destination this agent has never used. Sensitive reads are calls tagged
 * `chainwatch.data.classification` or matching the configured sensitive globs (secrets,
 * customer records…); writes are POST/PUT/PATCH/DELETE, DB writes, publishes and send-like tools.
 *
 * Catches the exfiltration step of a hijacked agent even when each call alone looks ordinary.
 * Destinations named in arguments count (an email to an outside domain, a transfer to a new
 * account). Only sees flows inside one chain: a flow split across traces needs a conversation
 * link. A learning agent is judged only once its peers are mature, and "new" then means new to
 * the agent and to every peer. For an enforcing agent, a destination that half its peers or more
 * use (a customer's email domain its colleagues write to every day) is still reported, at 0.5
 * (medium) rather than 0.9: on a simulated fleet whose support and billing agents email customer
 * domains after reading the customer's record, every critical false positive was one of those.
 *
 * Cost: a flag per chain and one destination lookup per write; no per-agent state.
 */
import type { Destination } from '../src/arg-destinations.js';
import type { CountTable } from '../src/count-table.js';
import { type CallContext, type Detector, type Finding, scratch, usedByHalfOfPeers } from './types.js';
import { type DestinationState, destinationKindAt, destinationValueAt, skipDestination } from './new-destination.js';

const newScratch = (): { read: string; readSig: string; fired: boolean } => ({ read: '', readSig: '', fired: false });

export function sensitiveExfil(): Detector<null> {
  return {
    id: 'sensitive-exfil',
    coldStart: true,
    init: () => null,

    scoreCall(ctx: CallContext): Finding | undefined {
      const { call, chain, intern } = ctx;
      const s = scratch(chain, 'sensitive-exfil', newScratch);
      if (call.sensitive && !call.action.write && s.read === '') {
        s.read = call.spanId;
        s.readSig = call.action.signature;
        return undefined;
      }
      if (s.read === '' || s.fired || !call.action.write) return undefined;
      const enforcing = ctx.agent.phase === 'enforcing';
      if (!enforcing && !ctx.peersReady) return undefined;
      const dest = ctx.stateOf('new-destination') as DestinationState | undefined;
      const peer = ctx.peerStateOf('new-destination') as CountTable | undefined;
      const peers = ctx.peers?.agents ?? 0;
      // The first external destination the agent does not know — and, while it learns, no peer
      // knows — preferring one most peers do not use either; by position, as new-destination walks
      // them: no closures or arrays for every write.
      let target: Destination | undefined;
      let common: Destination | undefined;
      let commonPeers = 0;
      for (let i = -1; i < call.destinations.length && target === undefined; i++) {
        if (skipDestination(call, i)) continue;
        const kind = destinationKindAt(call, i);
        if (!(kind === 'host' ? call.external : kind !== 'domain' || call.external)) continue;
        const id = intern.kindPeek(kind, destinationValueAt(call, i));
        if (dest !== undefined && id >= 0 && dest.table.has(id)) continue;
        if (!enforcing && peer !== undefined && id >= 0 && peer.has(id)) continue;
        const peerCount = enforcing && peer !== undefined && id >= 0 ? Math.round(peer.count(id)) : 0;
        if (peers > 1 && usedByHalfOfPeers(peerCount, peers)) {
          if (common === undefined) {
            common = { kind, value: destinationValueAt(call, i) };
            commonPeers = peerCount;
          }
          continue;
        }
        target = { kind, value: destinationValueAt(call, i) };
      }
      const usedByPeers = target === undefined;
      target ??= common;
      if (target === undefined) return undefined;
      s.fired = true;
      return {
        detector: 'sensitive-exfil', score: usedByPeers ? 0.5 : 0.9, signature: `sensitive-exfil:${target.kind}:${target.value}`,
        title: `Sensitive data sent to new external ${target.value}`,
        reason: `${ctx.agent.id} read sensitive data (${s.readSig}) and then wrote to ${target.value}, an external ${target.kind} it has never used, in the same chain${usedByPeers ? `; ${commonPeers} of its ${peers} peers use it` : ''}`,
        expected: 'sensitive data stays with known or internal destinations',
        observed: `${s.readSig} → ${call.action.signature} → ${target.value}`, spanIds: [s.read, call.spanId],
      };
    },

    snapshot: () => null,
    restore: () => null,
    bytes: () => 0,
  };
}
