/**
 * Alerts: built from a call's or chain's findings, then deduplicated and rolled up per agent
 * and signature. The first occurrence in a window is emitted at once; repeats are counted, and
 * one update record (same id, new count, trace ids) is emitted when the window closes or when a
 * repeat raises the severity. Ids are deterministic, so a replay yields the same ids.
 */
import { hash } from 'node:crypto';
import type { AgentCall } from './agent-call.js';
import type { Chain } from './chains.js';
import type { AgentState, Finding } from '../detectors/types.js';
import type { Violation } from './policy-engine.js';
import { type Severity, combine, severityOf, severityRank } from './severity.js';

export interface Evidence {
  detector: string;
  score: number;
  title: string;
  reason: string;
  expected: string;
  observed: string;
  spanIds: string[];
}

export interface Alert {
  schema: 'chainwatch.alert/v1';
  id: string;
  kind: 'call' | 'chain';
  /** Event time of the triggering call (or the chain's last call), ISO 8601. */
  time: string;
  severity: Severity;
  score: number;
  title: string;
  summary: string;
  signature: string;
  detectors: string[];
  agent: { id: string; name?: string; service?: string; group: string; phase: string };
  principal?: string;
  credential?: string;
  conversationId?: string;
  traceId: string;
  spanIds: string[];
  call?: { action: string; tool?: string; host?: string; url?: string };
  chain: { calls: number; startTime: string; durationMs: number };
  evidence: Evidence[];
  /** Declared-scope verdicts behind this alert, if any. */
  policy?: { policy: string; rule: string; allowed: string; observed: string; spanIds: string[]; killSwitch: boolean; tags?: string[] }[];
  /** A policy marked these violations as kill-switch triggers. */
  killSwitch?: boolean;
  count: number;
  firstSeen: string;
  lastSeen: string;
  traceIds: string[];
  /** Present on rollup records that update an alert emitted earlier (same id). */
  update?: true;
}

const iso = (t: number): string => new Date(Math.round(t)).toISOString();

/**
 * What decides an alert's rollup window and severity, worked out before the alert is built: most
 * repeats are only counted (AlertRollup.absorb), and building the alert for one was wasted.
 */
export interface RankedFindings {
  /** Highest score first, ties by detector. */
  sorted: Finding[];
  /** Combined, to three decimals. */
  score: number;
  severity: Severity;
  /** The top three findings' signatures: the rollup key, with the agent. */
  signature: string;
}

/** The findings' combined score as an alert carries it, to three decimals: its severity is this score's. */
export function alertScore(findings: Finding[]): number {
  return Math.round(combine(findings.map((f) => f.score)) * 1000) / 1000;
}

/** Rank findings (sorted in place: the caller's list is not used after); `score` is their alertScore. */
export function rankFindings(findings: Finding[], score = alertScore(findings)): RankedFindings {
  const sorted = findings.sort((a, b) => b.score - a.score || (a.detector < b.detector ? -1 : 1));
  return { sorted, score, severity: severityOf(score), signature: sorted.map((f) => f.signature).slice(0, 3).join('|') };
}

export function buildAlert(ranked: RankedFindings, agent: AgentState, chain: Chain, call: AgentCall | undefined, violations?: Violation[]): Alert {
  const { sorted, score, signature } = ranked;
  const top = sorted[0];
  const spanIds = [...new Set(sorted.flatMap((f) => f.spanIds))].filter(Boolean);
  const time = call ? call.time : chain.lastTime;
  // One-shot hash: no Hash object per alert (a third of the cost of createHash for inputs this short).
  const id = hash('sha256', `${agent.id}\n${signature}\n${chain.traceId}\n${spanIds[0] ?? ''}`, 'hex').slice(0, 32);
  const at = iso(time);
  const alert: Alert = {
    schema: 'chainwatch.alert/v1',
    id,
    kind: call ? 'call' : 'chain',
    time: at,
    severity: ranked.severity,
    score,
    title: sorted.length > 1 ? `${top.title} (+${sorted.length - 1} more)` : top.title,
    summary: sorted.map((f) => f.reason).join('; '),
    signature,
    detectors: [...new Set(sorted.map((f) => f.detector))],
    agent: { id: agent.id, group: agent.group, phase: agent.phase },
    traceId: chain.traceId,
    spanIds,
    chain: { calls: chain.callCount, startTime: iso(chain.startTime), durationMs: Math.round(chain.lastTime - chain.startTime) },
    evidence: sorted.map((f) => ({
      detector: f.detector, score: Math.round(f.score * 1000) / 1000, title: f.title, reason: f.reason,
      expected: f.expected, observed: f.observed, spanIds: f.spanIds,
    })),
    count: 1,
    firstSeen: at,
    lastSeen: at,
    traceIds: [chain.traceId],
  };
  if (violations !== undefined && violations.length) {
    alert.policy = violations.map((v) => {
      const p: NonNullable<Alert['policy']>[number] = { policy: v.policy, rule: v.rule, allowed: v.allowed, observed: v.observed, spanIds: v.spanIds, killSwitch: v.killSwitch };
      if (v.tags !== undefined) p.tags = v.tags;
      return p;
    });
    alert.killSwitch = violations.some((v) => v.killSwitch);
  }
  if (agent.name !== undefined) alert.agent.name = agent.name;
  if (agent.service !== undefined) alert.agent.service = agent.service;
  const principal = call?.principal ?? chain.principal;
  if (principal !== undefined) alert.principal = principal;
  if (call?.credential !== undefined) alert.credential = call.credential;
  if (chain.conversationId !== undefined) alert.conversationId = chain.conversationId;
  if (call) {
    alert.call = { action: call.action.signature };
    if (call.action.tool !== undefined) alert.call.tool = call.action.tool;
    if (call.host !== undefined) alert.call.host = call.host;
    if (call.url !== undefined) alert.call.url = call.url;
  }
  return alert;
}

const MAX_TRACE_IDS = 50;

/** One more occurrence of a window's alert. */
function count(open: RollupWindow, lastSeen: string, traceId: string): void {
  const a = open.alert;
  a.count++;
  a.lastSeen = lastSeen;
  if (!a.traceIds.includes(traceId) && a.traceIds.length < MAX_TRACE_IDS) a.traceIds.push(traceId);
  open.dirty = true;
}

/**
 * The alert as a window keeps counting it: an emitted alert is not changed afterwards. Sinks
 * queue what they are given and format it later (a webhook batch, a retry after backoff); the
 * window's repeats counted into the emitted object itself had a SIEM receive the first alert
 * already carrying later counts, last-seen times and trace ids. Only what count() changes is
 * copied.
 */
function ownCopy(a: Alert): Alert {
  return { ...a, traceIds: [...a.traceIds] };
}

/** Shared empty result of expireAgent (most calls close no window). Never mutated. */
const NOTHING: readonly Alert[] = Object.freeze([]);

/** One open rollup window: the alert as emitted, counting its repeats until `until` (event time). */
export interface RollupWindow {
  alert: Alert;
  until: number;
  dirty: boolean;
}

export class AlertRollup {
  /** Open windows by agent, then by signature: an agent's windows close in its own event time only. */
  private readonly open = new Map<string, Map<string, RollupWindow>>();
  /**
   * The agent expireAgent was last asked about and its windows (undefined: none): it is asked on
   * every call, and a chain's calls come one after another. Kept in step wherever `open` changes.
   */
  private lastAgent: string | undefined;
  private lastWindows: Map<string, RollupWindow> | undefined;

  constructor(readonly windowMs: number) {}

  /**
   * Count a repeat of an open window's alert without building it: returns what expired meanwhile
   * (to emit, as offer would), or undefined when this is not such a repeat — a new window, or a
   * severity above the window's — and the alert must be built and offered.
   */
  absorb(agentId: string, signature: string, severity: Severity, traceId: string, now: number): readonly Alert[] | undefined {
    const windows = agentId === this.lastAgent ? this.lastWindows : this.open.get(agentId);
    const open = windows?.get(signature);
    if (open === undefined || open.until <= now || severityRank(severity) > severityRank(open.alert.severity)) return undefined;
    const expired = this.expireAgent(agentId, now);
    count(open, iso(now), traceId);
    return expired;
  }

  /** Returns what to emit now: the alert itself if new, an update if a repeat raised the severity. */
  offer(alert: Alert, now: number): Alert[] {
    const expired = this.expireAgent(alert.agent.id, now);
    // A list of expired updates is the caller's to extend; the shared empty one is not.
    const out: Alert[] = expired === NOTHING ? [] : (expired as Alert[]);
    let windows = this.open.get(alert.agent.id);
    if (windows === undefined) {
      windows = new Map();
      this.open.set(alert.agent.id, windows);
      this.lastAgent = undefined;
    }
    const open = windows.get(alert.signature);
    if (open === undefined) {
      windows.set(alert.signature, { alert: ownCopy(alert), until: now + this.windowMs, dirty: false });
      out.push(alert);
      return out;
    }
    const a = open.alert;
    count(open, alert.lastSeen, alert.traceId);
    if (severityRank(alert.severity) > severityRank(a.severity)) {
      a.severity = alert.severity;
      a.score = alert.score;
      open.dirty = false;
      out.push({ ...ownCopy(a), update: true });
    }
    return out;
  }

  /**
   * Close one agent's windows that ended before `now` (its event time), returning updates for
   * those with repeats. Only the agent's own time counts, so the outcome does not depend on how
   * its calls interleave with other agents' (Kafka partitions, workers).
   */
  expireAgent(agentId: string, now: number): readonly Alert[] {
    // Asked on every call: nothing is allocated unless a window closes with repeats.
    let windows: Map<string, RollupWindow> | undefined;
    if (agentId === this.lastAgent) windows = this.lastWindows;
    else {
      windows = this.open.get(agentId);
      this.lastAgent = agentId;
      this.lastWindows = windows;
    }
    if (windows === undefined) return NOTHING;
    let out: Alert[] | undefined;
    // Values, not entries (no pair per window): a window is keyed by its alert's signature.
    for (const open of windows.values()) {
      if (open.until > now) continue;
      windows.delete(open.alert.signature);
      if (open.dirty) (out ??= []).push({ ...open.alert, update: true });
    }
    if (windows.size === 0) {
      this.open.delete(agentId);
      this.lastAgent = undefined;
    }
    return out ?? NOTHING;
  }

  /** Close every agent's windows that ended before `now` (live idle time, end of input). */
  expire(now: number): Alert[] {
    return this.expireWhere(() => now);
  }

  /**
   * Close each agent's windows that ended before `before(agent)`; `closed` hears of each agent
   * that had one to close (whether or not it had repeats to send).
   */
  expireWhere(before: (agentId: string) => number, closed?: (agentId: string) => void): Alert[] {
    const out: Alert[] = [];
    for (const [agentId, windows] of [...this.open]) {
      const open = windows.size;
      out.push(...this.expireAgent(agentId, before(agentId)));
      if (windows.size < open) closed?.(agentId);
    }
    return out;
  }

  flush(): Alert[] {
    return this.expire(Number.POSITIVE_INFINITY);
  }

  /** The open windows of these agents, by agent. */
  windowsOf(agents: Set<string>): Map<string, RollupWindow[]> {
    const out = new Map<string, RollupWindow[]>();
    for (const id of agents) {
      const windows = this.open.get(id);
      if (windows !== undefined) out.set(id, [...windows.values()]);
    }
    return out;
  }

  /** Forget one agent's windows (its state moved to another worker). */
  drop(agentId: string): void {
    this.open.delete(agentId);
    this.lastAgent = undefined;
  }

  /** Take over windows exported by `windowsOf` (on this or another worker). */
  adopt(windows: RollupWindow[]): void {
    this.lastAgent = undefined;
    for (const w of windows) {
      let m = this.open.get(w.alert.agent.id);
      if (m === undefined) {
        m = new Map();
        this.open.set(w.alert.agent.id, m);
      }
      m.set(w.alert.signature, w);
    }
  }
}
