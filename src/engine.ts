/**
 * The engine: spans → chains → per-agent state and detectors → alerts. Single-threaded and
 * driven by event time, so the same input and state give the same alerts.
 *
 * Per call it scores first (every detector for enforcing agents; cold-start detectors against
 * peers for learning agents) and emits at once; learning waits until the chain closes, and a
 * chain whose alert reached `protectMinSeverity` is quarantined instead of learned until an
 * analyst confirms it (`confirm`). `learn` mode skips scoring: history is taken as normal.
 */
import type { AgentCall, AgentIdentity } from './agent-call.js';
import { agentIdentity, peerGroup } from './agent-call.js';
import { type Alert, AlertRollup, type RollupWindow, alertScore, buildAlert, rankFindings } from './alerts.js';
import { type Chain, ChainAssembler, newChain, type ChainConfig, type ClosedTrace, type OpenChain, defaultChainConfig } from './chains.js';
import { Interner } from './intern.js';
import { DetectorTimes } from './detector-time.js';
import { FifoMap } from './fifo-map.js';
import { pushTo } from './multimap.js';
import { type NormalizeConfig, Normalizer, defaultNormalizeConfig } from './normalize.js';
import { type Severity, severityOf, severityRank } from './severity.js';
import type { RawSpan } from './span.js';
import { StateError } from './errors.js';
import type { PolicyEngine, Violation } from './policy-engine.js';
import { knowsDestination, type DestinationState } from '../detectors/new-destination.js';
import type { Destination } from './arg-destinations.js';
import { builtinDetectors } from '../detectors/index.js';
import {
  type AgentState, type CallContext, type ChainContext, type Detector, type DetectorSettings, type Finding,
  type GlobalState, type PeerGroup, DAY, defaultDetectorSettings,
} from '../detectors/types.js';

export interface LifecycleConfig {
  /** Learned calls before an agent's own baseline is enforced. */
  minCalls: number;
  /** Event-time span of history before enforcing. */
  minHistoryMs: number;
  /**
   * A peer group stands in for its learning agents once this many of them enforce, or once their
   * calls pooled make this many agents' worth (see Engine.mature).
   */
  minPeers: number;
}

export interface AlertConfig {
  minSeverity: Severity;
  rollupWindowMs: number;
  /** Chains whose alert reaches this severity are not learned until confirmed. */
  protectMinSeverity: Severity;
}

/** The parts of a snapshot other than its agents, in the order a snapshot lists them. */
export const SHARED_KEYS = ['version', 'watermark', 'peers', 'credentialOwners', 'aliases', 'quarantine'] as const;
export type SharedKey = (typeof SHARED_KEYS)[number];

/** Credential owners kept (see Engine.global). */
export const MAX_OWNERS = 200_000;

/** Interned strings below which the interner is never compacted: a few MB. */
export const COMPACT_FROM = 200_000;

/** Baselines a compaction step rebuilds (Engine.compactSteps): ~15 ms here. */
export const COMPACT_SLICE = 200;

/** Rounds of rebuilding what changed before a compaction's last step redoes the rest at once. */
const MAX_COMPACT_ROUNDS = 4;

/** What a compaction did: interned strings before and after, rounds of rebuilding, baselines rebuilt. */
export interface Compaction {
  before: number;
  after: number;
  rounds: number;
  rebuilt: number;
}

export interface EngineConfig {
  normalize: NormalizeConfig;
  chains: ChainConfig;
  detectors: DetectorSettings;
  lifecycle: LifecycleConfig;
  alerts: AlertConfig;
  maxAgents: number;
  maxQuarantine: number;
  /**
   * Calls the quarantined chains may hold in all: a chain keeps up to 500, so 1,000 flagged
   * runaway loops held ~400 MB, all of it in every state save.
   */
  maxQuarantineCalls: number;
}

export const defaultEngineConfig: EngineConfig = {
  normalize: defaultNormalizeConfig,
  chains: defaultChainConfig,
  detectors: defaultDetectorSettings,
  lifecycle: { minCalls: 200, minHistoryMs: DAY, minPeers: 3 },
  alerts: { minSeverity: 'low', rollupWindowMs: 3_600_000, protectMinSeverity: 'medium' },
  maxAgents: 100_000,
  maxQuarantine: 1_000,
  maxQuarantineCalls: 50_000,
};

export interface EngineStats {
  spans: number;
  calls: number;
  chains: number;
  chainsQuarantined: number;
  alerts: Record<Severity, number>;
  violations: number;
  shadowViolations: number;
  /** Estimated seconds spent scoring calls, per detector (1 call in DETECTOR_SAMPLE is timed, scaled up; see DetectorTimes). */
  detectorSeconds: Record<string, number>;
  /** Spans of chainwatch's own telemetry that came back to the receiver and were dropped. */
  selfSpansDropped: number;
}

/** One call in this many has its detectors timed (for the per-detector time metric). */
export const DETECTOR_SAMPLE = 256;

export type AlertSink = (alert: Alert) => void;

/** Observes every call and every closed chain, for the event store. */
export interface EventRecorder {
  call(call: AgentCall): void;
  chain(chain: Chain): void;
}

/** A policy violation in shadow mode: recorded, not alerted. */
export interface ShadowRecord {
  time: string;
  agent: string;
  traceId: string;
  violation: Violation;
}

export interface Quarantined {
  agentId: string;
  traceId: string;
  calls: AgentCall[];
  callCount: number;
  startTime: number;
  lastTime: number;
}

export const STATE_VERSION = 1;

export class Engine {
  readonly norm: Normalizer;
  readonly assembler: ChainAssembler;
  /** Replaced by compactInterner; read it through `intern`. */
  private interner = new Interner();
  /** Interned strings past which the next compaction is due (see compactionDue). */
  private compactAt = COMPACT_FROM;
  /** While a compaction runs in steps: the agents and groups changed since it started (or since they were rebuilt). */
  private compactDirty: Set<AgentState | PeerGroup> | undefined;
  readonly detectors: Detector<any, any>[];
  readonly agents = new Map<string, AgentState>();
  readonly peers = new Map<string, PeerGroup>();
  /**
   * Credential owners, the earliest forgotten first past MAX_OWNERS: a capped Map stopped taking
   * owners once full, and with credentials that rotate (a new id each time) ownership — and with
   * it misuse detection — ended for every credential after the 200,000th. A forgotten credential
   * is owned again by the next agent that learns it, its owner when it is still in use.
   */
  private readonly owners = new FifoMap<string, string>(MAX_OWNERS);
  readonly global: GlobalState = { credentialOwners: this.owners, revoked: new Map(), frozen: false };
  readonly quarantine = new Map<string, Quarantined>();
  private readonly detectorTimes = new DetectorTimes(DETECTOR_SAMPLE);
  readonly stats: EngineStats = {
    spans: 0, calls: 0, chains: 0, chainsQuarantined: 0, alerts: { info: 0, low: 0, medium: 0, high: 0, critical: 0 }, violations: 0, shadowViolations: 0,
    detectorSeconds: this.detectorTimes.seconds,
    selfSpansDropped: 0,
  };
  /** `learn`: everything seen is normal history (`chainwatch learn`), nothing is judged. Kept in the detectors' context. */
  get mode(): 'detect' | 'learn' {
    return this.ctx.detecting ? 'detect' : 'learn';
  }

  set mode(mode: 'detect' | 'learn') {
    this.ctx.detecting = mode === 'detect';
  }
  /**
   * Partitioned mode (Kafka detect workers): state shared across agents — peer baselines and
   * credential ownership — is read-only, as loaded from the learned state, so that every worker
   * judges alike whatever partitions it owns; each agent's own baseline keeps learning.
   */
  get sharedFrozen(): boolean {
    return this.global.frozen;
  }

  set sharedFrozen(on: boolean) {
    this.global.frozen = on;
  }
  /** Off for `policy test`: declared scope only, no learned anomalies (neither a call's nor a chain's). */
  detectorsOn = true;
  /**
   * Off for `replay --frozen`: every chain is judged against the baselines as they were loaded,
   * none is learned or held back for confirmation, so the same input gives the same alerts however
   * often it is replayed.
   */
  get learningOn(): boolean {
    return this.ctx.learning;
  }

  set learningOn(on: boolean) {
    this.ctx.learning = on;
  }
  private policies: PolicyEngine | undefined;
  private shadowSink: (r: ShadowRecord) => void = () => {};
  private recorder: EventRecorder | undefined;
  private readonly rollup: AlertRollup;
  private readonly index = new Map<string, number>();
  private readonly ctx: CallContext;
  /**
   * Each hook of the detectors that have it, with the detector's index: thirteen detector objects
   * of as many shapes made every `d.scoreCall` read in the per-call loops a megamorphic property
   * load, about fifty per call.
   */
  private readonly observers: Hooks<NonNullable<Detector['observe']>>;
  private readonly callScorers: Hooks<NonNullable<Detector['scoreCall']>>;
  /** Per entry of callScorers: whether it scores agents still learning. */
  private readonly coldStart: boolean[];
  private readonly callLearners: Hooks<NonNullable<Detector['learnCall']>>;
  private readonly chainScorers: Hooks<NonNullable<Detector['scoreChain']>>;
  private readonly chainLearners: Hooks<NonNullable<Detector['learnChain']>>;
  /**
   * agentFor's answer for the identity it was last asked, with the agent's peer group: a chain's
   * calls (one identity object) come one after another, and two lookups per call in maps of
   * every agent and group were avoidable. Forgotten whenever an agent or group is removed or
   * replaced (agentsChanged).
   */
  private lastIdentity: AgentIdentity | undefined;
  private lastAgent: AgentState | undefined;
  private lastPeers: PeerGroup | undefined;
  /**
   * The agent whose chain closed last. Agents are kept in `agents` least recently active first —
   * each moves to the end when one of its chains closes — so the agent cap drops an agent that
   * went quiet, not the longest-known one (which, in a fleet whose pod ids churn, is the one
   * still at work).
   */
  private lastActive: AgentState | undefined;
  /**
   * Agents whose state may have changed since the state store last took the changes, and ids
   * dropped meanwhile: a snapshot writes those, not the whole fleet (a fleet's state as one string
   * passed V8's longest string at ~45,000 agents, and took seconds to build). `lastChanged`: the
   * agent added last, so a chain's calls add it once.
   */
  private changed = new Set<AgentState>();
  private lastChanged: AgentState | undefined;
  private dropped = new Set<string>();

  constructor(readonly config: EngineConfig = defaultEngineConfig, private sink: AlertSink = () => {}) {
    this.norm = new Normalizer(config.normalize);
    this.detectors = builtinDetectors(config.detectors);
    this.detectors.forEach((d, i) => this.index.set(d.id, i));
    this.observers = hooks(this.detectors, (d) => d.observe);
    this.callScorers = hooks(this.detectors, (d) => d.scoreCall);
    this.coldStart = this.callScorers.at.map((i) => this.detectors[i].coldStart);
    this.callLearners = hooks(this.detectors, (d) => d.learnCall);
    this.chainScorers = hooks(this.detectors, (d) => d.scoreChain);
    this.chainLearners = hooks(this.detectors, (d) => d.learnChain);
    this.rollup = new AlertRollup(config.alerts.rollupWindowMs);
    this.assembler = new ChainAssembler(this.norm, { call: (c, ch) => this.onCall(c, ch), close: (ch) => this.onClose(ch), scratch: () => this.newScratch() }, config.chains);
    const self = this;
    this.ctx = {
      agent: undefined as unknown as AgentState, peers: undefined, peersReady: false, learning: true, detecting: true, global: this.global, intern: this.intern,
      call: undefined as unknown as AgentCall, chain: undefined as unknown as Chain,
      stateOf(id: string) {
        const i = self.index.get(id);
        return i === undefined ? undefined : this.agent.slots[i];
      },
      peerStateOf(id: string) {
        const i = self.index.get(id);
        return i === undefined || this.peers === undefined ? undefined : this.peers.slots[i];
      },
    };
  }

  /** A chain's detector scratch with a key for every detector (one hidden class: see ChainListener.scratch). */
  private newScratch(): Record<string, unknown> {
    // Filled key by key, not spread from a template: spread copies came out with maps of their
    // own, and every read of a scratch (the policy engine's above all) went megamorphic.
    const s: Record<string, unknown> = {};
    for (const d of this.detectors) s[d.id] = undefined;
    s.policy = undefined; // the policy engine's per-chain state (PolicyEngine.chainState)
    return s;
  }

  setSink(sink: AlertSink): void {
    this.sink = sink;
  }

  /** Install (or, on hot reload, replace) the declared-scope policies. */
  setPolicies(policies: PolicyEngine | undefined): void {
    this.policies = policies;
  }

  setRecorder(recorder: EventRecorder | undefined): void {
    this.recorder = recorder;
  }

  setShadowSink(sink: (r: ShadowRecord) => void): void {
    this.shadowSink = sink;
  }

  /** Event time: the watermark of the assembler. */
  get now(): number {
    return this.assembler.now;
  }

  ingestSpans(spans: RawSpan[]): void {
    this.stats.spans += spans.length;
    // Our own traces, routed back to us by a collector, are dropped: never analyse ourselves.
    // Spans share their resource object per ResourceSpans, so this is one check per resource.
    let lastResource: RawSpan['resource'] | undefined;
    let self = false;
    let kept: RawSpan[] | undefined;
    for (let i = 0; i < spans.length; i++) {
      const span = spans[i];
      if (span.resource !== lastResource) {
        lastResource = span.resource;
        self = this.norm.isSelf(span.resource);
      }
      if (self) kept ??= spans.slice(0, i);
      else kept?.push(span);
    }
    if (kept !== undefined) this.stats.selfSpansDropped += spans.length - kept.length;
    this.assembler.addBatch(kept ?? spans);
  }

  ingestCall(call: AgentCall): void {
    this.assembler.addCall(call);
  }

  /** A chain closed upstream (the Kafka ingest stage saw its root span or its idle timeout). */
  closeChain(traceId: string): void {
    this.assembler.close(traceId);
  }

  /**
   * Close every chain whose agent has acted `idleMs` or more since the chain's last call, and
   * every rollup window that ended `idleMs` or more before that time; returns the agents whose
   * chains or windows closed. For Kafka detect workers, where chains close on the ingest stage's
   * word: a close record lost with a crashed ingest worker must not leave a chain open for ever,
   * and a quiet agent's rollup update (the count of repeats) must not wait for a call that may
   * never come — an agent stopped by the kill-switch makes none.
   *
   * "That time" is the agent's own event time, or later when `timeOf` says so: the detect stage
   * gives the event time of the agent's partition (the latest call of any agent in it; see
   * KafkaDetect for idle partitions). While the partition is busy that is a function of its
   * records alone, so it is the same on whichever worker holds the partition; a sweep differs only
   * for an agent whose own calls lag its partition by `idleMs`.
   */
  closeStale(idleMs: number, timeOf?: (agentId: string) => number): Set<string> {
    const now = (id: string): number => {
      const agent = this.agents.get(id);
      const own = agent === undefined ? Number.NEGATIVE_INFINITY : agent.lastSeen;
      return timeOf === undefined ? own : Math.max(own, timeOf(id));
    };
    const closed = this.assembler.closeWhere((id, lastEnd) => this.agents.has(id) && now(id) - lastEnd >= idleMs);
    for (const a of this.rollup.expireWhere((id) => now(id) - idleMs, (id) => closed.add(id))) this.emit(a);
    return closed;
  }

  /** The agent's latest call time (event time), if it is held. */
  lastSeenOf(id: string): number | undefined {
    return this.agents.get(id)?.lastSeen;
  }

  /** Advance event time without input (live idle) and emit rollups that are due. */
  advance(watermark: number): void {
    this.assembler.advance(watermark);
    this.expireRollups(this.now);
  }

  /**
   * Close the rollup windows that ended before `before` (event time) and emit their updates —
   * for agents that went quiet while others keep the input busy: their windows otherwise close
   * only when they call again (their own time) or the whole input idles.
   */
  expireRollups(before: number): void {
    for (const a of this.rollup.expire(before)) this.emit(a);
  }

  /** End of input: close every chain and emit every pending rollup. */
  flush(): void {
    this.assembler.flush();
    for (const a of this.rollup.flush()) this.emit(a);
  }

  agentFor(identity: AgentIdentity): AgentState {
    if (identity === this.lastIdentity) return this.lastAgent!;
    let agent = this.agents.get(identity.id);
    if (agent === undefined) {
      if (this.agents.size >= this.config.maxAgents) this.removeAgent(this.agents.values().next().value as AgentState);
      // Every field in the literal, as agentFromJson builds one: one hidden class for every agent.
      agent = {
        id: identity.id, name: identity.name, service: identity.service, group: peerGroup(identity), phase: 'learning', firstSeen: 0, lastSeen: 0,
        calls: 0, chains: 0, slots: this.detectors.map((d) => d.init()),
      };
      this.agents.set(identity.id, agent);
      this.dropped.delete(identity.id); // an id dropped before and seen again: its row is rewritten, not deleted
      const group = this.peerGroupFor(agent.group);
      if (!this.global.frozen) group.agents++;
    }
    this.lastIdentity = identity;
    this.lastAgent = agent;
    this.lastPeers = this.peers.get(agent.group);
    return agent;
  }

  /** The agent of a chain that is closing, if it still has state (never creates one). */
  private agentOf(identity: AgentIdentity): AgentState | undefined {
    return identity === this.lastIdentity ? this.lastAgent : this.agents.get(identity.id);
  }

  /** Forget the memo of agentFor: an agent or a peer group was removed or replaced. */
  private agentsChanged(): void {
    this.lastIdentity = undefined;
    this.lastAgent = undefined;
    this.lastPeers = undefined;
  }

  private peerGroupFor(name: string): PeerGroup {
    let g = this.peers.get(name);
    if (g === undefined) {
      g = { name, agents: 0, enforcing: 0, calls: 0, firstSeen: 0, lastSeen: 0, slots: this.detectors.map((d) => d.initPeer?.()) };
      this.peers.set(name, g);
      this.agentsChanged();
    }
    return g;
  }

  private context(agent: AgentState, chain: Chain, call: AgentCall | undefined): CallContext {
    const ctx = this.ctx;
    ctx.agent = agent;
    ctx.chain = chain;
    if (call !== undefined) ctx.call = call;
    ctx.peers = agent === this.lastAgent ? this.lastPeers : this.peers.get(agent.group);
    ctx.peersReady = ctx.peers !== undefined && this.mature(ctx.peers);
    return ctx;
  }

  /**
   * Whether a peer group's baseline can judge its learning agents: when as many of its agents as
   * `minPeers` enforce, or when its agents' calls pooled meet what that many agents would need
   * (`minPeers` × `minCalls` calls over `minHistoryMs`, from `minPeers` agents or more). A fleet of
   * light agents — 1,000 agents making a few dozen calls a day each — has a group baseline of
   * thousands of calls long before any one agent has the 200 it needs to enforce, and its new
   * agents were judged against nothing until then.
   */
  mature(group: PeerGroup): boolean {
    const lc = this.config.lifecycle;
    return group.enforcing >= lc.minPeers
      || (group.agents >= lc.minPeers && group.calls >= lc.minPeers * lc.minCalls && group.lastSeen - group.firstSeen >= lc.minHistoryMs);
  }

  private onCall(call: AgentCall, chain: Chain): void {
    this.stats.calls++;
    this.recorder?.call(call);
    const agent = this.agentFor(call.agent);
    if (agent !== this.lastChanged) this.changedAgent(agent);
    if (agent.firstSeen === 0 || call.time < agent.firstSeen) agent.firstSeen = call.time;
    if (call.time > agent.lastSeen) agent.lastSeen = call.time;
    // By index: for-of made an iterator object on every call, for a list nearly always empty.
    const expired = this.rollup.expireAgent(agent.id, call.time);
    for (let i = 0; i < expired.length; i++) this.emit(expired[i]);
    const ctx = this.context(agent, chain, call);
    let findings: Finding[] | undefined;
    // Observers keep time windows (calls per minute) and learn what each window ends with: in
    // learn mode too, or `learn` history would teach them nothing.
    const { observers } = this;
    if (this.detectorsOn) for (let j = 0; j < observers.fn.length; j++) observers.fn[j](ctx, agent.slots[observers.at[j]]);
    if (this.ctx.detecting && this.detectorsOn) {
      const slots = agent.slots;
      const peerSlots = ctx.peers?.slots;
      const { callScorers, coldStart } = this;
      const enforcing = agent.phase === 'enforcing';
      const timed = this.stats.calls % DETECTOR_SAMPLE === 1;
      for (let j = 0; j < callScorers.fn.length; j++) {
        if (!enforcing && !coldStart[j]) continue;
        const i = callScorers.at[j];
        const t0 = timed ? performance.now() : 0;
        const f = callScorers.fn[j](ctx, slots[i], peerSlots?.[i]);
        if (f !== undefined) (findings ??= []).push(f);
        if (timed) this.detectorTimes.add(this.detectors[i].id, performance.now() - t0);
      }
    }
    if (this.ctx.detecting) {
      const violations = this.policies ? this.checkPolicy(call, chain, agent) : undefined;
      if (findings !== undefined || violations !== undefined) this.raise(findings ?? [], agent, chain, call, violations);
    }
    // Calls past the chain cap are not kept for learning at close: learn them now.
    if (chain.callCount > this.config.chains.maxChainCalls && !chain.flagged && this.learningOn) this.learnCall(ctx);
  }

  private learnCall(ctx: CallContext): void {
    const { agent } = ctx;
    const slots = agent.slots;
    const peerSlots = this.global.frozen ? undefined : ctx.peers?.slots;
    const { fn, at } = this.callLearners;
    for (let j = 0; j < fn.length; j++) fn[j](ctx, slots[at[j]], peerSlots?.[at[j]]);
    agent.calls++;
  }

  private onClose(chain: Chain): void {
    this.stats.chains++;
    const agent = this.agentOf(chain.agent);
    if (agent === undefined) return;
    if (agent !== this.lastActive) {
      this.agents.delete(agent.id);
      this.agents.set(agent.id, agent);
      this.lastActive = agent;
    }
    if (agent !== this.lastChanged) this.changedAgent(agent);
    const ctx = this.context(agent, chain, undefined) as ChainContext;
    if (this.ctx.detecting && this.detectorsOn && agent.phase === 'enforcing') {
      const findings: Finding[] = [];
      const { fn, at } = this.chainScorers;
      for (let j = 0; j < fn.length; j++) {
        const f = fn[j](ctx, agent.slots[at[j]], ctx.peers?.slots[at[j]]);
        if (f !== undefined) findings.push(f);
      }
      if (findings.length) this.raise(findings, agent, chain, undefined);
    }
    this.recorder?.chain(chain);
    if (!this.learningOn) return;
    if (chain.flagged) this.quarantineChain(agent, chain);
    else this.learnChain(agent, chain);
  }

  private learnChain(agent: AgentState, chain: Chain): void {
    const ctx = this.context(agent, chain, undefined);
    for (const call of chain.calls) {
      ctx.call = call;
      this.learnCall(ctx);
    }
    const peerSlots = this.global.frozen ? undefined : ctx.peers?.slots;
    const { fn, at } = this.chainLearners;
    for (let j = 0; j < fn.length; j++) fn[j](ctx, agent.slots[at[j]], peerSlots?.[at[j]]);
    agent.chains++;
    const group = ctx.peers;
    if (group !== undefined && !this.global.frozen) {
      group.calls += chain.calls.length;
      if (group.firstSeen === 0 || chain.startTime < group.firstSeen) group.firstSeen = chain.startTime;
      if (chain.lastTime > group.lastSeen) group.lastSeen = chain.lastTime;
    }
    this.updatePhase(agent);
  }

  private updatePhase(agent: AgentState): void {
    const lc = this.config.lifecycle;
    if (agent.phase === 'learning' && agent.calls >= lc.minCalls && agent.lastSeen - agent.firstSeen >= lc.minHistoryMs) {
      agent.phase = 'enforcing';
      if (!this.global.frozen) this.peerGroupFor(agent.group).enforcing++;
    }
  }

  private quarantineChain(agent: AgentState, chain: Chain): void {
    this.stats.chainsQuarantined++;
    this.quarantine.delete(chain.traceId); // a reopened trace's chain goes to the back
    this.quarantine.set(chain.traceId, {
      agentId: agent.id, traceId: chain.traceId, calls: chain.calls, callCount: chain.callCount,
      startTime: chain.startTime, lastTime: chain.lastTime,
    });
    // The oldest go first past either limit (a sum over ≤ 1,000 chains, once per flagged chain).
    let calls = 0;
    for (const q of this.quarantine.values()) calls += q.calls.length;
    const { maxQuarantine, maxQuarantineCalls } = this.config;
    for (const [trace, q] of this.quarantine) {
      if ((this.quarantine.size <= maxQuarantine && calls <= maxQuarantineCalls) || trace === chain.traceId) break;
      this.quarantine.delete(trace);
      calls -= q.calls.length;
    }
  }

  /** An analyst confirmed a flagged chain as benign: learn it now. Returns false if unknown. */
  confirm(traceId: string): boolean {
    const q = this.quarantine.get(traceId);
    const agent = q && this.agents.get(q.agentId);
    if (q === undefined || agent === undefined) return false;
    this.quarantine.delete(traceId);
    this.changedAgent(agent);
    const first = q.calls[0];
    const chain = newChain(traceId, first?.agent ?? agentIdentity(agent.id, undefined, undefined, 'resource', undefined), q.startTime, q.lastTime, q.calls, q.callCount, this.newScratch());
    this.learnChain(agent, chain);
    return true;
  }

  /** Whether the current agent's baseline knows a destination; asked only by rules that need it. */
  private readonly knows = (d: Destination): boolean => knowsDestination(this.ctx.stateOf('new-destination') as DestinationState | undefined, this.intern, d);

  /** Enforced violations, or undefined; shadow ones are recorded on the side. */
  private checkPolicy(call: AgentCall, chain: Chain, agent: AgentState): Violation[] | undefined {
    const all = this.policies!.evaluate(call, chain, agent, this.knows);
    if (all.length === 0) return undefined;
    const enforced: Violation[] = [];
    for (const v of all) {
      if (v.mode === 'shadow') {
        this.stats.shadowViolations++;
        this.shadowSink({ time: new Date(Math.round(call.time)).toISOString(), agent: agent.id, traceId: chain.traceId, violation: v });
      } else enforced.push(v);
    }
    this.stats.violations += enforced.length;
    return enforced.length ? enforced : undefined;
  }

  private raise(findings: Finding[], agent: AgentState, chain: Chain, call: AgentCall | undefined, violations?: Violation[]): void {
    if (violations !== undefined) {
      // A violation of declared scope is never learned, whatever its severity.
      chain.flagged = true;
      for (const v of violations) {
        findings.push({
          detector: 'policy', score: v.score, signature: `policy:${v.policy}:${v.rule}${v.key !== undefined ? `:${v.key}` : ''}`, title: v.title,
          reason: `${v.title} — policy ${v.policy} (${v.rule}) allows ${v.allowed}; observed ${v.observed}`,
          expected: v.allowed, observed: v.observed, spanIds: v.spanIds,
        });
      }
    }
    // The severity the alert will carry decides whether it is learned and sent (one score, not an
    // unrounded one for the decision and a rounded one for the alert, apart at a band's edge).
    const score = alertScore(findings);
    const severity = severityOf(score);
    if (severityRank(severity) >= severityRank(this.config.alerts.protectMinSeverity)) chain.flagged = true;
    if (severityRank(severity) < severityRank(this.config.alerts.minSeverity)) return;
    const ranked = rankFindings(findings, score);
    const now = call?.time ?? chain.lastTime;
    const expired = this.rollup.absorb(agent.id, ranked.signature, ranked.severity, chain.traceId, now);
    if (expired !== undefined) {
      for (const a of expired) this.emit(a);
      return;
    }
    for (const a of this.rollup.offer(buildAlert(ranked, agent, chain, call, violations), now)) this.emit(a);
  }

  private emit(alert: Alert): void {
    if (alert.update !== true) this.stats.alerts[alert.severity]++;
    this.sink(alert);
  }

  /**
   * Drop an agent's baseline (after a legitimate change of its job, or a poisoned baseline): it
   * starts learning again, judged by its peers meanwhile. Its quarantined chains go too; the
   * credentials it owns stay owned by it. Returns false for an unknown agent.
   */
  forget(agentId: string): boolean {
    const agent = this.agents.get(agentId);
    if (agent === undefined) return false;
    this.removeAgent(agent);
    return true;
  }

  /**
   * Drop an agent's baseline (forgotten, or the least recently active past the agent cap), its
   * open rollup windows (their updates emitted), its quarantined chains (confirming one would have
   * no baseline to learn it into) and its place among its peers, as agentFor counted it. A peer group left without agents goes too: agents known by id alone (no name, no
   * service) are each their own group, and ids that churn — one per pod — left a group behind for
   * every agent ever seen, past any agent cap.
   */
  private removeAgent(agent: AgentState): void {
    this.agents.delete(agent.id);
    this.agentsChanged();
    this.droppedAgent(agent);
    // Its rollup windows close now, with their counts: nothing would close them later.
    for (const a of this.rollup.expireAgent(agent.id, Number.POSITIVE_INFINITY)) this.emit(a);
    this.dropQuarantined(agent.id);
    this.releaseSlots(agent.slots, false);
    if (this.global.frozen) return;
    const group = this.peers.get(agent.group);
    if (group === undefined) return;
    group.agents--;
    if (agent.phase === 'enforcing') group.enforcing--;
    if (group.agents <= 0) {
      this.peers.delete(agent.group);
      this.releaseSlots(group.slots, true);
    }
  }

  private dropQuarantined(agentId: string): void {
    for (const [trace, q] of this.quarantine) if (q.agentId === agentId) this.quarantine.delete(trace);
  }

  /**
   * Give back the arena words of a baseline being dropped or replaced (its tables' blocks live
   * outside the V8 heap, so the GC alone never returns them).
   */
  private releaseSlots(slots: unknown[], peer: boolean): void {
    for (let i = 0; i < this.detectors.length; i++) {
      if (slots[i] === undefined) continue;
      if (peer) this.detectors[i].releasePeer?.(slots[i]);
      else this.detectors[i].release?.(slots[i]);
    }
  }

  /** Approximate heap bytes of one agent's baseline. */
  agentBytes(agent: AgentState): number {
    let bytes = 300; // the agent object, its slots array and its map entry
    for (let i = 0; i < this.detectors.length; i++) bytes += this.detectors[i].bytes(agent.slots[i]);
    return bytes;
  }

  get intern(): Interner {
    return this.interner;
  }

  /**
   * Re-intern every baseline into a fresh interner that holds only the strings still in use.
   * Ids are never freed as tables evict (a research agent's sites, payees, one-off users): the
   * interner grew by every value ever learned (~8 a day per agent on the simulated fleet, for the
   * life of the process). Each agent's and peer group's detector states go through their own
   * snapshot and restore, as a restart would; per-chain scratch that keeps an id checks it
   * against its string. Alerts are the same with or without it (test/intern-compaction.test.ts).
   * Costs about what a save of every agent does.
   */
  compactInterner(): Compaction {
    const steps = this.compactSteps(Number.POSITIVE_INFINITY);
    for (;;) {
      const r = steps.next();
      if (r.done === true) return r.value;
    }
  }

  /** Whether the interner has grown past twice what the last compaction kept (and COMPACT_FROM). */
  get compactionDue(): boolean {
    return this.interner.size >= this.compactAt;
  }

  /**
   * compactInterner in steps of at most `slice` baselines rebuilt, for a live service that lets
   * its event loop run between steps (at 20,000 agents the whole took the loop for 1.3–2.1 s):
   * the engine goes on meanwhile, under the old interner. A baseline that changes after it was
   * rebuilt — its agent calls again, or its group's agents learn — is rebuilt again, in rounds
   * while that leaves more than a slice to redo, then the rest and the swap at the last step,
   * at once. Every rebuilt state is kept aside until then: a failure, or a compaction given up
   * half-way (`return()`), leaves the engine as it was.
   */
  *compactSteps(slice = COMPACT_SLICE): Generator<void, Compaction, void> {
    const old = this.interner;
    const fresh = new Interner();
    /** Each baseline's rebuilt detector states, until the swap. */
    const next = new Map<AgentState | PeerGroup, unknown[]>();
    const dirty = new Set<AgentState | PeerGroup>();
    this.compactDirty = dirty;
    let swapped = false;
    let rounds = 0;
    let rebuilt = 0;
    try {
      let todo: (AgentState | PeerGroup)[] = [...this.agents.values(), ...this.peers.values()];
      for (;;) {
        rounds++;
        // The last round runs without a break, so nothing can change between it and the swap.
        const last = rounds >= MAX_COMPACT_ROUNDS || todo.length <= slice;
        for (let i = 0; i < todo.length; i++) {
          if (!last && i % slice === 0 && (i > 0 || rounds > 1)) {
            yield;
            this.lastChanged = undefined; // so that the next change of any agent is seen
          }
          const baseline = todo[i];
          if (!this.holds(baseline)) continue;
          const peer = isPeerGroup(baseline);
          dirty.delete(baseline);
          this.releaseSlots(next.get(baseline) ?? [], peer);
          next.set(baseline, this.slotsFromJson(this.slotsJson(baseline.slots, peer), peer, fresh));
          rebuilt++;
        }
        if (last) break;
        todo = [...dirty];
      }
      for (const [baseline, slots] of next) {
        if (!this.holds(baseline)) continue; // dropped meanwhile: released below
        this.releaseSlots(baseline.slots, isPeerGroup(baseline));
        for (let i = 0; i < slots.length; i++) baseline.slots[i] = slots[i];
        next.delete(baseline);
      }
      this.interner = fresh;
      this.ctx.intern = fresh;
      this.compactAt = Math.max(COMPACT_FROM, 2 * fresh.size);
      swapped = true;
    } finally {
      this.compactDirty = undefined;
      // What was rebuilt and not swapped in: states of baselines dropped meanwhile, or all of it.
      for (const [baseline, slots] of next) this.releaseSlots(slots, isPeerGroup(baseline));
    }
    return { before: old.size, after: swapped ? fresh.size : old.size, rounds, rebuilt };
  }

  /** Whether this agent or peer group object is the one the engine holds (not dropped or replaced). */
  private holds(baseline: AgentState | PeerGroup): boolean {
    return isPeerGroup(baseline) ? this.peers.get(baseline.name) === baseline : this.agents.get(baseline.id) === baseline;
  }

  private changedAgent(agent: AgentState): void {
    this.changed.add(agent);
    this.lastChanged = agent;
    if (this.compactDirty !== undefined) {
      // Its group's baseline learns with it.
      this.compactDirty.add(agent);
      const group = this.peers.get(agent.group);
      if (group !== undefined) this.compactDirty.add(group);
    }
  }

  private droppedAgent(agent: AgentState): void {
    this.changed.delete(agent);
    if (this.lastChanged === agent) this.lastChanged = undefined;
    this.dropped.add(agent.id);
  }

  /**
   * The agents whose state may have changed since the last call, and the ids dropped since (for
   * the state store to write and delete); both start over empty. Build each agent's JSON with
   * `agentJsonOf` when it is written: an agent dropped or replaced meanwhile has none.
   */
  takeChanges(): { changed: AgentState[]; dropped: string[] } {
    const out = { changed: [...this.changed], dropped: [...this.dropped] };
    this.changed.clear();
    this.dropped.clear();
    this.lastChanged = undefined;
    return out;
  }

  /** Changes taken by a save that failed: the next save writes them (those still current). */
  putBackChanges(changes: { changed: AgentState[]; dropped: string[] }): void {
    for (const a of changes.changed) if (this.agents.get(a.id) === a) this.changed.add(a);
    for (const id of changes.dropped) if (!this.agents.has(id)) this.dropped.add(id);
  }

  /** Every agent held counts as changed (state read in an older format, to be written anew). */
  markAllChanged(): void {
    for (const a of this.agents.values()) this.changed.add(a);
  }

  /** The agent's saved form, or undefined when the engine no longer holds this agent object. */
  agentJsonOf(agent: AgentState): AgentJson | undefined {
    return this.agents.get(agent.id) === agent ? this.agentJson(agent) : undefined;
  }

  /** One part of the snapshot other than its agents (built only when asked: some are large). */
  sharedPart<K extends SharedKey>(key: K): EngineSnapshot[K] {
    const parts: { [P in SharedKey]: () => EngineSnapshot[P] } = {
      version: () => STATE_VERSION,
      watermark: () => this.now,
      peers: () => [...this.peers.values()].map((p) => ({
        name: p.name, agents: p.agents, enforcing: p.enforcing, calls: p.calls, firstSeen: p.firstSeen, lastSeen: p.lastSeen, detectors: this.slotsJson(p.slots, true),
      })),
      credentialOwners: () => [...this.owners],
      aliases: () => this.assembler.aliasSnapshot(),
      quarantine: () => [...this.quarantine.values()],
    };
    return parts[key]() as EngineSnapshot[K];
  }

  /**
   * A number that changes whenever the part does, for the parts that seldom change and are large
   * (credential owners, up to 200,000; aliases, up to 50,000): a save skips them when it is the
   * one it wrote last. Undefined for parts to be written every time.
   */
  sharedVersion(key: SharedKey): number | undefined {
    if (key === 'credentialOwners') return this.owners.version;
    if (key === 'aliases') return this.assembler.aliasVersion;
    return undefined;
  }

  snapshot(): EngineSnapshot {
    const snap = { agents: [...this.agents.values()].map((a) => this.agentJson(a)) } as EngineSnapshot;
    for (const key of SHARED_KEYS) (snap as unknown as Record<string, unknown>)[key] = this.sharedPart(key);
    return snap;
  }

  restore(snap: EngineSnapshot): void {
    if (snap.version !== STATE_VERSION) throw new StateError(`state version ${snap.version} is not supported (expected ${STATE_VERSION}); re-learn with \`chainwatch learn\``);
    const intern = this.intern;
    for (const a of snap.agents) this.agentFromJson(a);
    for (const p of snap.peers) {
      const old = this.peers.get(p.name);
      if (old !== undefined) this.releaseSlots(old.slots, true);
      // States saved before groups pooled their calls start from none (their enforcing agents still count).
      this.peers.set(p.name, {
        name: p.name, agents: p.agents, enforcing: p.enforcing, calls: p.calls ?? 0, firstSeen: p.firstSeen ?? 0, lastSeen: p.lastSeen ?? 0, slots: this.slotsFromJson(p.detectors, true, intern),
      });
    }
    this.agentsChanged(); // peer groups replaced
    for (const [c, a] of snap.credentialOwners) this.global.credentialOwners.set(c, a);
    this.assembler.restoreAliases(snap.aliases);
    for (const q of snap.quarantine) this.quarantine.set(q.traceId, q);
    if (snap.watermark > 0) this.assembler.advance(snap.watermark);
  }

  /** Detector states from their saved form; a detector the form lacks starts afresh. */
  private slotsFromJson(json: Record<string, unknown>, peer: boolean, intern: Interner): unknown[] {
    return this.detectors.map((d) => {
      const v = json[d.id];
      if (peer) return v !== undefined && d.restorePeer ? d.restorePeer(v, intern) : d.initPeer?.();
      return v !== undefined ? d.restore(v, intern) : d.init();
    });
  }

  private slotsJson(list: unknown[], peer: boolean): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    this.detectors.forEach((d, i) => {
      const v = peer ? (d.snapshotPeer && list[i] !== undefined ? d.snapshotPeer(list[i], this.intern) : undefined) : d.snapshot(list[i], this.intern);
      if (v !== undefined && v !== null) out[d.id] = v;
    });
    return out;
  }

  private agentJson(a: AgentState): AgentJson {
    return {
      id: a.id, name: a.name, service: a.service, group: a.group, phase: a.phase, firstSeen: a.firstSeen, lastSeen: a.lastSeen,
      calls: a.calls, chains: a.chains, detectors: this.slotsJson(a.slots, false),
    };
  }

  private agentFromJson(a: AgentJson): void {
    const agent: AgentState = {
      id: a.id, name: a.name, service: a.service, group: a.group, phase: a.phase, firstSeen: a.firstSeen, lastSeen: a.lastSeen, calls: a.calls,
      chains: a.chains, slots: this.slotsFromJson(a.detectors, false, this.intern),
    };
    const old = this.agents.get(a.id);
    if (old !== undefined) this.releaseSlots(old.slots, false);
    // Replacing a held agent, or one dropped since the last save: its row is rewritten, not kept or deleted.
    const replaced = old !== undefined || this.dropped.delete(a.id);
    this.agents.set(a.id, agent);
    if (replaced) this.changedAgent(agent);
    this.agentsChanged();
  }

  /**
   * Everything held for these agents — baseline, open and recently closed chains, rollup windows,
   * quarantined chains — as records another engine can `adoptAgent` (the Kafka detect stage's
   * changelog). Agents without a baseline yet (no call seen) are left out.
   */
  exportAgents(ids: Set<string>): Map<string, AgentRecord> {
    const chains = this.assembler.openChainsOf(ids);
    const closed = this.assembler.closedOf(ids);
    const rollups = this.rollup.windowsOf(ids);
    const quarantine = new Map<string, Quarantined[]>();
    for (const q of this.quarantine.values()) {
      if (ids.has(q.agentId)) pushTo(quarantine, q.agentId, q);
    }
    const out = new Map<string, AgentRecord>();
    for (const id of ids) {
      const a = this.agents.get(id);
      if (a === undefined) continue;
      out.set(id, {
        version: STATE_VERSION, agent: this.agentJson(a), chains: chains.get(id) ?? [], closed: closed.get(id) ?? [], rollups: rollups.get(id) ?? [],
        quarantine: quarantine.get(id) ?? [],
      });
    }
    return out;
  }

  /**
   * Drop what is held for one agent — without closing its chains or emitting its rollups, which
   * now belong to another worker — and fall back to `base` (its learned baseline) when given.
   */
  resetAgent(id: string, base?: AgentJson): void {
    const old = this.agents.get(id);
    this.agents.delete(id);
    this.agentsChanged();
    if (old !== undefined) {
      this.releaseSlots(old.slots, false);
      this.droppedAgent(old);
    }
    this.assembler.dropChainsOf(id);
    this.rollup.drop(id);
    this.dropQuarantined(id);
    if (base !== undefined) this.agentFromJson(base);
  }

  /** Take over one agent as another worker left it (after `resetAgent`). */
  adoptAgent(rec: AgentRecord): void {
    if (rec.version !== STATE_VERSION) throw new StateError(`agent record version ${rec.version} is not supported (expected ${STATE_VERSION})`);
    this.resetAgent(rec.agent.id, rec.agent);
    this.changedAgent(this.agents.get(rec.agent.id)!);
    for (const c of rec.chains) this.assembler.adoptChain(c);
    this.assembler.adoptClosed(rec.closed);
    this.rollup.adopt(rec.rollups);
    for (const q of rec.quarantine) this.quarantine.set(q.traceId, q);
  }
}

/** A peer group's baseline, not an agent's (agents have ids, groups names). */
function isPeerGroup(baseline: AgentState | PeerGroup): baseline is PeerGroup {
  return !('id' in baseline);
}

/** The detectors that have one hook: the hook's functions and, beside each, the detector's index. */
interface Hooks<F> {
  fn: F[];
  at: number[];
}

function hooks<F extends (...args: any[]) => unknown>(detectors: readonly Detector<any, any>[], hook: (d: Detector<any, any>) => F | undefined): Hooks<F> {
  const out: Hooks<F> = { fn: [], at: [] };
  detectors.forEach((d, i) => {
    const f = hook(d);
    if (f !== undefined) {
      out.fn.push(f.bind(d) as F);
      out.at.push(i);
    }
  });
  return out;
}

/** One agent's baseline as saved. */
export interface AgentJson {
  id: string; name?: string; service?: string; group: string; phase: 'learning' | 'enforcing';
  firstSeen: number; lastSeen: number; calls: number; chains: number; detectors: Record<string, unknown>;
}

/** One agent's whole state, as it moves between Kafka detect workers. */
export interface AgentRecord {
  version: number;
  agent: AgentJson;
  chains: OpenChain[];
  /** Recently closed traces: one resuming keeps its chain's start; a call read again is dropped. */
  closed: ClosedTrace[];
  rollups: RollupWindow[];
  quarantine: Quarantined[];
}

export interface EngineSnapshot {
  version: number;
  watermark: number;
  agents: AgentJson[];
  peers: { name: string; agents: number; enforcing: number; calls?: number; firstSeen?: number; lastSeen?: number; detectors: Record<string, unknown> }[];
  credentialOwners: [string, string][];
  aliases: [string, { id: string; name?: string; ambiguous: boolean }][];
  quarantine: Quarantined[];
}
