/**
 * New action or tool: an action signature (method + host + templated path, RPC method, DB
 * operation, MCP method) or a tool name this agent has never used; and API drift, a new version
 * segment on a host whose actions are otherwise known.
 *
 * Catches privilege escalation through new endpoints ("POST /admin/users/{id}/roles") and
 * hijacked agents calling tools outside their task. Version segments are lifted out of the
 * signature, so an API version bump across all of an agent's calls is one low "API drift"
 * finding per host (deduplicated by the alert rollup), not one alert per call — and once three of
 * the agent's peers have made the same switch, a fleet-wide change, an info finding that is not
 * alerted (a fleet of 40 support agents moving to v3 was 40 low alerts). Damped by the
 * agent's action novelty rate. A learning agent is checked against its peers, damped by how often
 * its calls have been new to them: a research agent's new sites are new to its peers too, and
 * while it learned each one was an alert (on a simulated fleet, 62 low alerts from 13 of its 40
 * research agents still learning); a new support agent's calls are known to its peers, and one
 * that is not still stands out.
 *
 * Cost: two ≤48-entry scans per call; ≤ 1 KB per agent at the cap.
 */
import { CountTable } from '../src/count-table.js';
import type { Interner } from '../src/intern.js';
import { type CallContext, type Detector, type DetectorSettings, type Finding, MIN_FINDING, Novelty, clamp, historyDays } from './types.js';
import { topNames } from './new-destination.js';

export interface ActionState {
  actions: CountTable;
  /** Flat [host id, version id] pairs: the API version last seen per host. */
  hostVersions: number[];
  /** Novelty rates: [0] actions new to the agent, [1] actions new to its peer group. */
  novelty: number[];
}

function versionOf(s: ActionState, host: number): number | undefined {
  for (let i = 0; i < s.hostVersions.length; i += 2) if (s.hostVersions[i] === host) return s.hostVersions[i + 1];
  return undefined;
}

/** Set the host's version; returns the one it replaced, if any. */
function setVersion(s: ActionState, host: number, version: number): number | undefined {
  for (let i = 0; i < s.hostVersions.length; i += 2) {
    if (s.hostVersions[i] === host) {
      const before = s.hostVersions[i + 1];
      s.hostVersions[i + 1] = version;
      return before;
    }
  }
  if (s.hostVersions.length >= 2 * MAX_HOSTS) s.hostVersions.splice(0, 2);
  s.hostVersions.push(host, version);
  return undefined;
}

/** The peer-group key of a switch of `host` to `version` (counted once per agent that made it). */
const switchKey = (host: string, version: string): string => `api-drift:${host}>${version}`;

/** Peers that made the same switch before an agent's is only a fleet-wide change: info, not alerted. */
const FLEET_SWITCH = 3;

const MAX_HOSTS = 16;

const known = (table: CountTable, id: number): boolean => id >= 0 && table.has(id);

function history(ctx: CallContext, enforcing: boolean): string {
  return enforcing ? `in ${historyDays(ctx.agent)} days of history (${ctx.agent.calls} calls)` : `or by any of its ${ctx.peers?.agents ?? 0} peers`;
}


export function newAction(settings: DetectorSettings, maxSize = 48): Detector<ActionState, CountTable> {
  return {
    id: 'new-action',
    coldStart: true,
    init: () => ({ actions: new CountTable(maxSize, settings.halfLifeMs), hostVersions: [], novelty: Novelty.create(2) }),
    initPeer: () => new CountTable(512, settings.halfLifeMs, 16),

    scoreCall(ctx: CallContext, state, peer): Finding | undefined {
      const { call, agent, intern } = ctx;
      const enforcing = agent.phase === 'enforcing';
      if (!enforcing && !(ctx.peersReady && peer)) return undefined;
      // Known by the agent (enforcing) or by its peers (learning); texts are built only for a finding.
      const table = enforcing ? state.actions : peer!;
      const damping = Novelty.damping(state.novelty, enforcing ? 0 : 1);
      if (0.5 * damping < MIN_FINDING && call.action.version === undefined) return undefined;
      const tool = call.action.tool;
      if (tool !== undefined && 0.5 * damping >= MIN_FINDING && !known(table, intern.kindPeek('tool', tool))) {
        return finding(`new-tool:${tool}`, 0.5 * damping, `New tool ${tool}`,
          `tool ${tool} never used by ${agent.id} ${history(ctx, enforcing)}`, state, intern, call.spanId, `tool ${tool}`);
      }
      if (0.45 * damping >= MIN_FINDING && !known(table, intern.peek(call.action.signature))) {
        return finding(`new-action:${call.action.signature}`, 0.45 * damping, `New action ${call.action.signature}`,
          `${call.action.signature} never called by ${agent.id} ${history(ctx, enforcing)}`, state, intern, call.spanId, call.action.signature);
      }
      const version = call.action.version;
      if (enforcing && version !== undefined && call.host !== undefined) {
        const hostId = intern.kindPeek('host', call.host);
        const last = hostId < 0 ? undefined : versionOf(state, hostId);
        if (last !== undefined && intern.str(last) !== version) {
          const same = peer === undefined ? 0 : Math.round(peer.count(intern.peek(switchKey(call.host, version))));
          return {
            detector: 'new-action', score: same >= FLEET_SWITCH ? MIN_FINDING : 0.35, signature: `api-drift:${call.host}`, title: `API version change on ${call.host}`,
            reason: `${agent.id} switched ${call.host} from ${intern.str(last)} to ${version}; the actions are otherwise known (benign drift is likely${same > 0 ? `; ${same} of its peers made the same switch` : ''})`,
            expected: `${call.host} at ${intern.str(last)}`, observed: `${call.action.signature} at ${version}`, spanIds: [call.spanId],
          };
        }
      }
      return undefined;
    },

    learnCall(ctx, state, peer) {
      const { call, intern } = ctx;
      const sig = intern.id(call.action.signature);
      const isNew = state.actions.add(sig, call.time);
      Novelty.add(state.novelty, 0, isNew);
      if (peer) {
        // Known to the agent means known to the group: the group learns what is new to each agent.
        const newToPeers = isNew && !peer.has(sig);
        Novelty.add(state.novelty, 1, newToPeers);
        if (isNew) peer.add(sig, call.time);
      }
      if (call.action.tool !== undefined) {
        const t = intern.kindId('tool', call.action.tool);
        if (state.actions.add(t, call.time) && peer) peer.add(t, call.time);
      }
      if (call.action.version !== undefined && call.host !== undefined) {
        const version = intern.id(call.action.version);
        const before = setVersion(state, intern.kindId('host', call.host), version);
        if (peer && before !== undefined && before !== version) peer.add(intern.id(switchKey(call.host, call.action.version)), call.time);
      }
    },

    snapshot: (s, intern) => ({
      a: s.actions.toJSON((k) => intern.str(k)),
      v: s.hostVersions.map((id) => intern.str(id)),
      n: [...s.novelty],
    }),
    restore(json, intern) {
      const j = json as { a: Parameters<typeof CountTable.fromJSON>[0]; v: string[]; n: number[] };
      return {
        actions: CountTable.fromJSON(j.a, maxSize, settings.halfLifeMs, (s) => intern.id(s)),
        hostVersions: j.v.map((s) => intern.id(s)),
        // States saved before the peer-group rate: it starts at none seen.
        novelty: Novelty.from(j.n, 2),
      };
    },
    snapshotPeer: (p, intern) => p.toJSON((k) => intern.str(k)),
    restorePeer: (json, intern) => CountTable.fromJSON(json as Parameters<typeof CountTable.fromJSON>[0], 512, settings.halfLifeMs, (s) => intern.id(s)),
    bytes: (s) => s.actions.bytes() + 32 + 32 + 8 * s.hostVersions.length + 16 + 8 * s.novelty.length,
    release: (s) => s.actions.release(),
    releasePeer: (p) => p.release(),
  };
}

function finding(signature: string, score: number, title: string, reason: string, state: ActionState, intern: Interner, spanId: string, observed: string): Finding {
  return {
    detector: 'new-action', score: clamp(score), signature, title, reason,
    expected: `one of ${state.actions.size} known actions (top: ${topNames(state.actions, intern, 3)})`,
    observed, spanIds: [spanId],
  };
}
