/**
 * New action or tool: an action signature (method + host + templated path, RPC method, DB
 * operation, MCP method) or a tool name this agent has never used; and API drift, a new version
 * segment on a host whose actions are otherwise known.
 *
 * Catches privilege escalation through new endpoints ("POST /admin/users/{id}/roles") and
 * hijacked agents calling tools outside their task. Version segments are lifted out of the
 * signature, so an API version bump across all of an agent's calls is one low "API drift"
 * finding per host (deduplicated by the alert rollup), not one alert per call. Damped by the
 * agent's action novelty rate; a learning agent is checked against its peers.
 *
 * Cost: two ≤64-entry scans per call; ~1.6 KB per agent at the cap.
 */
import { CountTable } from '../src/count-table.js';
import type { Interner } from '../src/intern.js';
import { type CallContext, type Detector, type DetectorSettings, type Finding, NoveltyRate, clamp, historyDays } from './types.js';
import { topNames } from './new-destination.js';

export interface ActionState {
  actions: CountTable;
  /** Host id → version id, last seen. */
  hostVersions: Map<number, number>;
  novelty: NoveltyRate;
}

const MAX_HOSTS = 16;

function toolKey(tool: string): string {
  return `tool:${tool}`;
}

export function newAction(settings: DetectorSettings, maxSize = 96): Detector<ActionState, CountTable> {
  return {
    id: 'new-action',
    coldStart: true,
    init: () => ({ actions: new CountTable(maxSize, settings.halfLifeMs), hostVersions: new Map(), novelty: new NoveltyRate() }),
    initPeer: () => new CountTable(512, settings.halfLifeMs, 16),

    scoreCall(ctx: CallContext, state, peer): Finding | undefined {
      const { call, agent, intern } = ctx;
      const enforcing = agent.phase === 'enforcing';
      if (!enforcing && !(ctx.peersReady && peer)) return undefined;
      const known = (key: string): boolean => {
        const id = intern.peek(key);
        return id >= 0 && (enforcing ? state.actions.has(id) : peer!.has(id));
      };
      const damping = enforcing ? state.novelty.damping() : 1;
      const history = enforcing ? `in ${historyDays(agent)} days of history (${agent.calls} calls)` : `by any of ${ctx.peers?.agents ?? 0} peers`;
      const tool = call.action.tool;
      if (tool !== undefined && !known(toolKey(tool))) {
        return finding(`new-tool:${tool}`, 0.5 * damping, `New tool ${tool}`,
          `tool ${tool} never used by ${agent.id} ${history}`, state, intern, call.spanId, `tool ${tool}`);
      }
      if (!known(call.action.signature)) {
        return finding(`new-action:${call.action.signature}`, 0.45 * damping, `New action ${call.action.signature}`,
          `${call.action.signature} never called by ${agent.id} ${history}`, state, intern, call.spanId, call.action.signature);
      }
      const version = call.action.version;
      if (enforcing && version !== undefined && call.host !== undefined) {
        const hostId = intern.peek(`host:${call.host}`);
        const last = state.hostVersions.get(hostId);
        if (last !== undefined && intern.str(last) !== version) {
          return {
            detector: 'new-action', score: 0.35, signature: `api-drift:${call.host}`, title: `API version change on ${call.host}`,
            reason: `${agent.id} switched ${call.host} from ${intern.str(last)} to ${version}; the actions are otherwise known (benign drift is likely)`,
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
      state.novelty.add(isNew);
      if (isNew && peer) peer.add(sig, call.time);
      if (call.action.tool !== undefined) {
        const t = intern.id(toolKey(call.action.tool));
        if (state.actions.add(t, call.time) && peer) peer.add(t, call.time);
      }
      if (call.action.version !== undefined && call.host !== undefined) {
        const hostId = intern.id(`host:${call.host}`);
        if (state.hostVersions.size >= MAX_HOSTS && !state.hostVersions.has(hostId)) {
          state.hostVersions.delete(state.hostVersions.keys().next().value as number);
        }
        state.hostVersions.set(hostId, intern.id(call.action.version));
      }
    },

    snapshot: (s, intern) => ({
      a: s.actions.toJSON((k) => intern.str(k)),
      v: [...s.hostVersions].map(([h, v]) => [intern.str(h), intern.str(v)]),
      n: s.novelty.toJSON(),
    }),
    restore(json, intern) {
      const j = json as { a: Parameters<typeof CountTable.fromJSON>[0]; v: [string, string][]; n: [number, number] };
      return {
        actions: CountTable.fromJSON(j.a, maxSize, settings.halfLifeMs, (s) => intern.id(s)),
        hostVersions: new Map(j.v.map(([h, v]) => [intern.id(h), intern.id(v)])),
        novelty: NoveltyRate.from(j.n),
      };
    },
    snapshotPeer: (p, intern) => p.toJSON((k) => intern.str(k)),
    restorePeer: (json, intern) => CountTable.fromJSON(json as Parameters<typeof CountTable.fromJSON>[0], 512, settings.halfLifeMs, (s) => intern.id(s)),
    bytes: (s) => s.actions.bytes() + s.hostVersions.size * 40 + 120,
  };
}

function finding(signature: string, score: number, title: string, reason: string, state: ActionState, intern: Interner, spanId: string, observed: string): Finding {
  return {
    detector: 'new-action', score: clamp(score), signature, title, reason,
    expected: `one of ${state.actions.size} known actions (top: ${topNames(state.actions, intern, 3)})`,
    observed, spanIds: [spanId],
  };
}
