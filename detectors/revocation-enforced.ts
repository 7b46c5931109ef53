/**
 * Revocation not enforced: a call made with a credential the kill-switch already revoked (its
 * revocation was acknowledged by the identity provider or token service) after a grace period
 * for propagation. A revoked credential that still works means the revocation path is broken —
 * the platform team must know at once, so this is critical whatever the agent's history.
 *
 * Works from the first call (the revoked set is global, fed by the response outbox). Times: the
 * call's event time against the wall-clock time the revocation was acknowledged, so it is meant
 * for live traffic; replays of old telemetry never match.
 *
 * Cost: one Map lookup per call with a credential; no per-agent state.
 */
import type { CallContext, Detector, Finding } from './types.js';

export function revocationEnforced(graceMs = 60_000): Detector<null> {
  return {
    id: 'revocation-enforced',
    coldStart: true,
    init: () => null,

    scoreCall(ctx: CallContext): Finding | undefined {
      const { call, global } = ctx;
      if (call.credential === undefined || global.revoked.size === 0) return undefined;
      const r = global.revoked.get(call.credential);
      if (r === undefined || call.time < r.at + graceMs) return undefined;
      const after = Math.round((call.time - r.at) / 1000);
      return {
        detector: 'revocation-enforced', score: 0.99, signature: `revocation-not-enforced:${call.credential}`,
        title: 'Revocation not enforced',
        reason: `credential ${call.credential} was revoked (revocation ${r.revocationId}, acknowledged ${new Date(r.at).toISOString()}) but ${ctx.agent.id} used it ${after} s later for ${call.action.signature}`,
        expected: `no call with ${call.credential} after ${new Date(r.at + graceMs).toISOString()}`,
        observed: `${call.action.signature} at ${new Date(call.time).toISOString()}`, spanIds: [call.spanId],
      };
    },

    snapshot: () => null,
    restore: () => null,
    bytes: () => 0,
  };
}
