/** Drive one detector directly: build calls and chains, learn, score. No engine involved. */
import type { AgentCall } from '../../src/agent-call.js';
import type { Chain } from '../../src/chains.js';
import { Interner } from '../../src/intern.js';
import type { AgentState, CallContext, ChainContext, Detector, Finding, GlobalState, PeerGroup } from '../../detectors/types.js';

export const T0 = Date.UTC(2026, 5, 1, 10); // a Monday, 10:00 UTC
export const MIN = 60_000;
export const HOUR = 3_600_000;
export const DAY_MS = 86_400_000;

let seq = 0;
const hex = (n: number, len: number): string => n.toString(16).padStart(len, '0');

export function mkCall(over: Partial<AgentCall> & { sig?: string; tool?: string; write?: boolean } = {}): AgentCall {
  seq++;
  const { sig, tool, write, ...rest } = over;
  const host = rest.host ?? 'tickets.corp.internal';
  const call: AgentCall = {
    time: T0, endTime: T0 + 100, traceId: hex(1, 32), spanId: hex(seq, 16),
    agent: { id: 'support-agent-01', name: 'support-agent', source: 'span' },
    action: { kind: 'http', method: 'GET', signature: sig ?? `GET ${host}/api/tickets/{id}`, write: write ?? false },
    host, external: false, destinations: [], resource: `${host}/api/tickets/${seq}`, outcome: { ok: true }, retries: 0, sensitive: false,
    ...rest,
  };
  if (tool !== undefined) call.action.tool = tool;
  return call;
}

export function mkChain(calls: AgentCall[], traceId = calls[0]?.traceId ?? hex(1, 32)): Chain {
  return {
    traceId, agent: calls[0]?.agent ?? { id: 'support-agent-01', source: 'span' },
    startTime: Math.min(...calls.map((c) => c.time)), lastTime: Math.max(...calls.map((c) => c.time)),
    calls, callCount: calls.length, flagged: false, scratch: {},
  };
}

export class Harness<S, P = unknown> {
  readonly intern = new Interner();
  readonly global: GlobalState = { credentialOwners: new Map(), revoked: new Map(), frozen: false };
  readonly agent: AgentState;
  state: S;
  peer: PeerGroup | undefined;
  peerState: P | undefined;
  /** States of other detectors this one reads (e.g. new-destination for sensitive-exfil). */
  readonly others = new Map<string, unknown>();
  /** Their peer-group states. */
  readonly otherPeers = new Map<string, unknown>();

  constructor(readonly det: Detector<S, P>, agentId = 'support-agent-01') {
    this.agent = { id: agentId, group: 'support-agent', phase: 'enforcing', firstSeen: 0, lastSeen: 0, calls: 0, chains: 0, slots: [] };
    this.state = det.init();
    this.peerState = det.initPeer?.();
  }

  withPeers(agents: number, enforcing: number): this {
    this.peer = { name: this.agent.group, agents, enforcing, calls: 0, firstSeen: 0, lastSeen: 0, slots: [] };
    return this;
  }

  /** `detecting`: false for learn(), history taken as normal (as `chainwatch learn` does). */
  private ctx(chain: Chain, call?: AgentCall, detecting = true): CallContext {
    return {
      agent: this.agent, peers: this.peer, peersReady: (this.peer?.enforcing ?? 0) >= 3, learning: true, detecting, global: this.global, intern: this.intern,
      stateOf: (id) => this.others.get(id), peerStateOf: (id) => this.otherPeers.get(id), chain, call: call as AgentCall,
    };
  }

  private see(call: AgentCall): void {
    if (this.agent.firstSeen === 0 || call.time < this.agent.firstSeen) this.agent.firstSeen = call.time;
    this.agent.lastSeen = Math.max(this.agent.lastSeen, call.time);
  }

  /** Learn a normal chain (all its calls, then the chain). */
  learn(calls: AgentCall[]): void {
    const chain = mkChain(calls);
    for (const call of calls) {
      this.see(call);
      const ctx = this.ctx(chain, call, false);
      this.det.observe?.(ctx, this.state);
      this.det.learnCall?.(ctx, this.state, this.peerState);
      this.agent.calls++;
    }
    this.det.learnChain?.(this.ctx(chain) as ChainContext, this.state, this.peerState);
    this.agent.chains++;
  }

  /** Score calls in order within one chain; returns each call's finding. */
  score(calls: AgentCall[], chain = mkChain([])): (Finding | undefined)[] {
    return calls.map((call) => {
      this.see(call);
      chain.calls.push(call);
      chain.callCount++;
      chain.startTime = chain.callCount === 1 ? call.time : Math.min(chain.startTime, call.time);
      chain.lastTime = Math.max(chain.lastTime, call.time);
      const ctx = this.ctx(chain, call);
      this.det.observe?.(ctx, this.state);
      return this.det.scoreCall?.(ctx, this.state, this.peerState);
    });
  }

  scoreChain(calls: AgentCall[]): Finding | undefined {
    return this.det.scoreChain?.(this.ctx(mkChain(calls)) as ChainContext, this.state, this.peerState);
  }

  /** Snapshot and restore into a fresh interner: what a restart does. */
  roundTrip(): void {
    const json = JSON.parse(JSON.stringify(this.det.snapshot(this.state, this.intern)));
    this.state = this.det.restore(json, this.intern);
  }
}

/** `n` days of a routine: each day, `perDay` chains built by `make(dayStart, i)`. */
export function routine(h: Harness<any, any>, days: number, perDay: number, make: (t: number, i: number) => AgentCall[]): void {
  for (let d = 0; d < days; d++) for (let i = 0; i < perDay; i++) h.learn(make(T0 + d * DAY_MS + i * 10 * MIN, i));
}
