/**
 * The detector contract. A detector is a small object that owns one slice of per-agent state
 * (created by `init`, serialised by `snapshot`/`restore`), scores calls or chains into Findings
 * with a value in [0, 1] (higher is more anomalous), and learns from what the engine decides is
 * normal. The engine always scores before it learns, and never learns a chain whose alert was at
 * least medium until an analyst confirms it ("protected learning"). Detectors do no I/O and read
 * no clock: time is the call's event time.
 */
import type { AgentCall } from '../src/agent-call.js';
import type { Chain } from '../src/chains.js';
import { DecayedStats } from '../src/decayed-stats.js';
import type { Interner } from '../src/intern.js';
import { InternalError } from '../src/errors.js';

export type Phase = 'learning' | 'enforcing';

/** Per-agent lifecycle and counters kept by the engine; detector state lives in `slots`. */
export interface AgentState {
  id: string;
  name?: string;
  service?: string;
  group: string;
  phase: Phase;
  firstSeen: number;
  lastSeen: number;
  calls: number;
  chains: number;
  slots: unknown[];
}

export interface PeerGroup {
  name: string;
  /** Agents in the group, and how many of them are enforcing (their baselines are mature). */
  agents: number;
  enforcing: number;
  /** Calls its agents have learned, pooled, and the event time they span (0: none yet). */
  calls: number;
  firstSeen: number;
  lastSeen: number;
  slots: unknown[];
}

/** Credential → owning agent: a Map, or the engine's bounded FifoMap. */
export interface OwnerTable extends Iterable<[string, string]> {
  get(credential: string): string | undefined;
  has(credential: string): boolean;
  set(credential: string, agentId: string): unknown;
  readonly size: number;
}

/** State shared across agents (credential ownership). */
export interface GlobalState {
  credentialOwners: OwnerTable;
  /** Credentials the kill-switch revoked (delivery acknowledged), by credential id. */
  revoked: Map<string, { at: number; revocationId: string }>;
  /** Read-only in partitioned mode (Kafka detect workers): learning leaves ownership alone. */
  frozen: boolean;
}

export interface DetectorContext {
  agent: AgentState;
  peers?: PeerGroup;
  /** True when the peer group is mature enough to stand in for a learning agent's own baseline. */
  peersReady: boolean;
  /** False while the engine learns nothing (`replay --frozen`): `observe` then keeps its windows but folds nothing into a baseline. */
  learning: boolean;
  /** False while the engine learns history (`chainwatch learn`): all it sees is normal, nothing is judged. */
  detecting: boolean;
  global: GlobalState;
  intern: Interner;
  /** Another detector's state for this agent (e.g. the destination baseline), by detector id. */
  stateOf(id: string): unknown;
  /** Another detector's peer-group state, by detector id. */
  peerStateOf(id: string): unknown;
}

export interface CallContext extends DetectorContext {
  call: AgentCall;
  chain: Chain;
}

export interface ChainContext extends DetectorContext {
  chain: Chain;
}

/** One detector's verdict, written for the analyst: what happened, what was expected. */
export interface Finding {
  detector: string;
  score: number;
  /** Stable key for dedup and rollup within an agent, e.g. `new-destination:host:paste-drop.io`. */
  signature: string;
  title: string;
  reason: string;
  expected: string;
  observed: string;
  spanIds: string[];
}

export interface Detector<S = unknown, P = unknown> {
  readonly id: string;
  /** Scores while the agent is still learning, against its peers or global state. */
  readonly coldStart: boolean;
  init(): S;
  initPeer?(): P;
  /**
   * Called for every call, before scoring and in learn mode too (where nothing is scored), to
   * advance time-window counters; what a window ends with is learned only when `ctx.learning`.
   */
  observe?(ctx: CallContext, state: S): void;
  scoreCall?(ctx: CallContext, state: S, peer?: P): Finding | undefined;
  learnCall?(ctx: CallContext, state: S, peer?: P): void;
  scoreChain?(ctx: ChainContext, state: S, peer?: P): Finding | undefined;
  learnChain?(ctx: ChainContext, state: S, peer?: P): void;
  snapshot(state: S, intern: Interner): unknown;
  restore(json: unknown, intern: Interner): S;
  snapshotPeer?(peer: P, intern: Interner): unknown;
  restorePeer?(json: unknown, intern: Interner): P;
  /** Approximate heap bytes of one agent's state. */
  bytes(state: S): number;
  /**
   * Give back what the state holds outside the V8 heap (arena words) when its agent or peer group
   * is dropped: evicted past the agent cap, forgotten, replaced, handed to another worker. Required
   * of every detector whose state holds a CountTable or an arena block (test/detector-release.test.ts).
   */
  release?(state: S): void;
  releasePeer?(peer: P): void;
}

export interface DetectorSettings {
  /** Half-life of learned counts, in ms of event time. */
  halfLifeMs: number;
}

export const defaultDetectorSettings: DetectorSettings = { halfLifeMs: 30 * 86_400_000 };

export const DAY = 86_400_000;

/**
 * Findings weaker than this are not built (their explanation text costs more than the scoring):
 * alone they are "info"; two of them together barely reach "low".
 */
export const MIN_FINDING = 0.2;

export function clamp(x: number, lo = 0, hi = 1): number {
  return x < lo ? lo : x > hi ? hi : x;
}

/**
 * Whether a destination `count` of an agent's `peers` use is common in its group: half of them or
 * more. new-destination weakens such a novelty most, sensitive-exfil reports it at medium.
 */
export function usedByHalfOfPeers(count: number, peers: number): boolean {
  return count * 2 >= peers;
}

/** Days of history the agent has, for evidence text. */
export function historyDays(agent: AgentState): number {
  return Math.max(0, Math.round((agent.lastSeen - agent.firstSeen) / DAY));
}

/**
 * Window of a peer group's chain statistics: the group's chains come as many times faster as it
 * has agents, so it keeps more of them than an agent's own (500) to cover a like stretch of time.
 */
export const PEER_CHAINS = 2000;

/** A detector of chain statistics keeps its agent's last 500 chains' statistic. */
const OWN_CHAINS = 500;
type StatsJson = [number, number, number, number];

/**
 * The state of a detector of chain statistics (distinct resources, repeat runs, duration): one
 * statistic per agent and one per peer group, made, saved and restored alike.
 */
export const chainStatsState = {
  init: (): DecayedStats => new DecayedStats(OWN_CHAINS),
  initPeer: (): DecayedStats => new DecayedStats(PEER_CHAINS),
  snapshot: (s: DecayedStats): unknown => s.toJSON(),
  restore: (json: unknown): DecayedStats => DecayedStats.fromJSON(json as StatsJson, OWN_CHAINS),
  snapshotPeer: (p: DecayedStats): unknown => p.toJSON(),
  restorePeer: (json: unknown): DecayedStats => DecayedStats.fromJSON(json as StatsJson, PEER_CHAINS),
  bytes: (): number => 60,
  release: (s: DecayedStats): void => s.release(),
  releasePeer: (p: DecayedStats): void => p.release(),
};

/**
 * The top of normal for a value learned on log scale: its mean plus 4 standard deviations, the
 * deviation at least 0.3 (a factor of ~3.3 at the top), so an agent whose value never varied
 * still has room above it. Every limit learned from a DecayedStats is built on it.
 */
export const topOfNormal = (s: DecayedStats): number => Math.exp(s.mean + 4 * Math.max(s.sd, 0.3));

/**
 * A chain count's limit (distinct resources, a repeat run): the floor, three times the largest
 * normal chain's, or the top of normal, whichever is highest, in whole calls.
 */
export function chainCountLimit(s: DecayedStats, floor: number): number {
  return Math.max(floor, Math.ceil(3 * Math.exp(s.max)), Math.ceil(topOfNormal(s)));
}

/** A closed chain's value, learned into its agent's statistic and its group's (none when frozen). */
export function learnChainValue(own: DecayedStats, peer: DecayedStats | undefined, x: number): void {
  own.add(x);
  peer?.add(x);
}

/** The statistics a detector of chain statistics judges by, and whose they are, for its explanation. */
export interface ChainNorm {
  stats: DecayedStats;
  /** "its", or "its 30 peers'". */
  whose: string;
}

/**
 * What a detector of chain statistics (distinct resources, repeat runs, duration) judges a chain
 * by: the agent's own statistics once it enforces; while it learns, its peer group's pooled ones,
 * once the group is mature and they describe `minChains` chains or more; undefined while there is
 * nothing to judge by. Asked only when a chain has already passed the detector's fixed floor.
 */
export function chainNorm(ctx: CallContext, own: DecayedStats, peer: DecayedStats | undefined, minChains = 10): ChainNorm | undefined {
  if (ctx.agent.phase === 'enforcing') return { stats: own, whose: 'its' };
  if (!ctx.peersReady || peer === undefined || peer.n < minChains) return undefined;
  return { stats: peer, whose: `its ${ctx.peers?.agents ?? 0} peers'` };
}

/** A per-chain scratch object owned by one detector. */
export function scratch<T extends object>(chain: Chain, id: string, init: (call: AgentCall) => T, call?: AgentCall): T {
  let s = chain.scratch[id] as T | undefined;
  if (s === undefined) {
    // `init` is a module-level function given the call: a closure here would be allocated per call.
    s = init(call!);
    chain.scratch[id] = s;
  }
  return s;
}

/**
 * Chains of at most this many calls find a repeated value by scanning their earlier calls: no Set
 * per chain, and no hashing of each call's freshly built strings (most chains have a few calls).
 */
export const SHORT_CHAIN = 16;

/** Whether `value(calls[i])` is also the value of an earlier call (a scan: for short chains). */
export function seenEarlier(calls: readonly AgentCall[], i: number, value: (call: AgentCall) => string): boolean {
  const v = value(calls[i]);
  for (let j = 0; j < i; j++) if (value(calls[j]) === v) return true;
  return false;
}

/** Zeros held as doubles (V8's packed-double elements): what Novelty.create copies. */
const ZEROS: number[] = [-0]; // not a small integer: the array holds doubles, and never changes kind
for (let i = 1; i < 64; i++) ZEROS.push(0);
ZEROS[0] = 0;

/**
 * Exponentially weighted rate of "new" observations: how often this agent's normal work is
 * novel. A research agent browsing new sites has a high rate and so does not alert on novelty.
 * Kept as [n, rate] pairs in a plain number array (one array per detector state, not an object
 * per rate: at a few hundred bytes per agent, object headers matter).
 */
export const Novelty = {
  /**
   * Rates for `kinds` kinds, all 0, in an array of doubles from the start (V8's packed-double
   * elements): `new Array(n).fill(0)` made a holey array of small integers, and states read back
   * from JSON packed ones, so the code that reads rates saw arrays of several element kinds —
   * in a service, those of the agents it restored beside those of the agents it met since.
   */
  create(kinds = 1): number[] {
    // A slice: the template's element kind, and room for these rates alone (an array grown by
    // push kept room for 17: 450 bytes more an agent over four detectors, measured).
    if (2 * kinds > ZEROS.length) throw new InternalError(`Novelty.create: at most ${ZEROS.length / 2} kinds, asked for ${kinds}`);
    return ZEROS.slice(0, 2 * kinds);
  },
  /** Rates read back from a state: `kinds` of them, those the state lacks at 0 (states saved before a kind was added). */
  from(saved: readonly number[], kinds = 1): number[] {
    const r = Novelty.create(kinds);
    for (let i = 0; i < r.length && i < saved.length; i++) r[i] = saved[i];
    return r;
  },
  add(r: number[], i: number, isNew: boolean, window = 200): void {
    const n = Math.min(r[2 * i] + 1, window);
    r[2 * i] = n;
    r[2 * i + 1] += ((isNew ? 1 : 0) - r[2 * i + 1]) / n;
  },
  rate(r: number[], i = 0): number {
    return r[2 * i + 1];
  },
  /** 1 for an agent whose work is rarely novel, falling to 0.1 as novelty becomes routine. */
  damping(r: number[], i = 0): number {
    return clamp(1 - (r[2 * i + 1] - 0.02) / 0.18, 0.1, 1);
  },
};
