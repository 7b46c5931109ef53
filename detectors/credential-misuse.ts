/**
 * Credential misuse: a call made with a credential (chainwatch.credential.id: a key id or token
 * hash, never the secret) that belongs to another agent — the first agent seen using it in
 * normal traffic owns it — and, at low severity, a credential new to an agent that has its own.
 *
 * Catches lateral movement with a leaked or shared agent key, and agents borrowing broader
 * credentials than their own. Works from the first call (ownership is global, not per-agent
 * history). Fails when credentials are shared by design; mark those in the mapping or rename them
 * per agent.
 *
 * Cost: one Map lookup per call; ~150 bytes per agent plus one entry per credential, the 200,000
 * most recently first seen (the engine forgets the earliest owned first).
 */
import { CountTable } from '../src/count-table.js';
import { type CallContext, type Detector, type DetectorSettings, type Finding } from './types.js';

export function credentialMisuse(settings: DetectorSettings): Detector<CountTable> {
  return {
    id: 'credential-misuse',
    coldStart: true,
    init: () => new CountTable(8, settings.halfLifeMs, 2),

    scoreCall(ctx: CallContext, own): Finding | undefined {
      const { call, agent, global, intern } = ctx;
      if (call.credential === undefined) return undefined;
      const owner = global.credentialOwners.get(call.credential);
      if (owner !== undefined && owner !== agent.id) {
        return {
          detector: 'credential-misuse', score: 0.8, signature: `credential:${call.credential}`,
          title: `Credential of ${owner} used by ${agent.id}`,
          reason: `credential ${call.credential} belongs to agent ${owner} but was used by ${agent.id} for ${call.action.signature}`,
          expected: `${agent.id}'s own credentials (${own.size ? own.entries((k) => intern.str(k).slice(5)).map((e) => e[0]).join(', ') : 'none recorded'})`,
          observed: `credential ${call.credential} (owner ${owner})`, spanIds: [call.spanId],
        };
      }
      // Looked up only for a credential nobody owns yet (most calls use their agent's own).
      if (owner === undefined && agent.phase === 'enforcing' && own.size > 0 && !own.has(intern.kindPeek('cred', call.credential))) {
        return {
          detector: 'credential-misuse', score: 0.3, signature: `new-credential:${call.credential}`,
          title: 'New credential',
          reason: `${agent.id} used credential ${call.credential}, never seen before anywhere (rotation is the usual benign cause)`,
          expected: `one of ${own.size} credentials of ${agent.id}`, observed: `credential ${call.credential}`, spanIds: [call.spanId],
        };
      }
      return undefined;
    },

    learnCall(ctx: CallContext, own) {
      const { call, agent, global, intern } = ctx;
      if (call.credential === undefined) return;
      own.add(intern.kindId('cred', call.credential), call.time);
      if (!global.frozen && !global.credentialOwners.has(call.credential)) global.credentialOwners.set(call.credential, agent.id);
    },

    snapshot: (s, intern) => s.toJSON((k) => intern.str(k)),
    restore: (json, intern) => CountTable.fromJSON(json as Parameters<typeof CountTable.fromJSON>[0], 8, settings.halfLifeMs, (s) => intern.id(s)),
    bytes: (s) => s.bytes(),
    release: (s) => s.release(),
  };
}
