/**
 * What an agent normally does: a structured summary of its learned baseline (query API) and the
 * same for a human (`chainwatch baseline show AGENT`).
 */
import { mostLike, nearest } from './nearest.js';
import type { Engine } from './engine.js';
import { heaviestFirst } from './count-table.js';
import { StateError } from './errors.js';
import { DAY } from '../detectors/types.js';

interface Table { e: [string, number, number][] }
type Joint = [number, number, number, number];

export interface Weighted { name: string; weight: number }
export interface Typical { typical: number; max: number; observations: number }

export interface AgentSummary {
  id: string;
  name?: string;
  service?: string;
  phase: string;
  group: string;
  /** The agent's peer group: its agents, those enforcing, their calls pooled, and whether it judges its learning agents. */
  peers: { agents: number; enforcing: number; calls: number; mature: boolean };
  firstSeen: string;
  lastSeen: string;
  historyDays: number;
  calls: number;
  chains: number;
  destinations: Weighted[];
  actions: Weighted[];
  principals: Weighted[];
  credentials: Weighted[];
  chainCalls?: Typical;
  chainSeconds?: Typical;
  callsPerActiveMinute?: Typical;
  resourcesPerChain?: Typical;
  longestRepeatRun?: Typical;
  /** Top hours of week (UTC) by share of calls. */
  activeHours: { day: string; hour: number; share: number }[];
}

const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const round = (x: number, d = 1): number => Math.round(x * 10 ** d) / 10 ** d;

export function agentSummary(engine: Engine, agentId: string): AgentSummary {
  const agent = engine.agents.get(agentId);
  if (agent === undefined) {
    const ids = [...engine.agents.keys()].sort();
    if (ids.length === 0) throw new StateError(`no baseline for agent "${agentId}"; known agents: none (run chainwatch learn first)`);
    const near = nearest(agentId, ids);
    const like = mostLike(agentId, ids, 10).join(', ');
    throw new StateError(`no baseline for agent "${agentId}"; ${near === undefined ? '' : `did you mean "${near}"? `}known agents${ids.length > 10 ? ` most like it (of ${ids.length})` : ''}: ${like}`);
  }
  const snap = engine.snapshot().agents.find((a) => a.id === agentId)!;
  const d = snap.detectors as Record<string, any>;
  // Tables keep entries in arrival order: the n heaviest, not the first n learned.
  const list = (t: Table | undefined, n: number, strip = /^[a-z-]+:/): Weighted[] =>
    [...(t?.e ?? [])].sort(heaviestFirst).slice(0, n)
      .map(([name, count]) => ({ name: name.replace(strip, ''), weight: round(count) }));
  // A statistic with no observations yet reads "no data", not the exp(0) = 1 of its empty mean.
  const typical = (j: Joint | undefined, f: (x: number) => number): Typical | undefined =>
    j && j[0] > 0 ? { typical: round(f(Math.exp(j[1]))), max: round(f(Math.exp(j[3]))), observations: j[0] } : undefined;
  const hours = (d['off-hours']?.h as number[] | undefined) ?? [];
  const total = hours.reduce((a, b) => a + b, 0) || 1;
  const peers = engine.peers.get(agent.group);
  const s: AgentSummary = {
    id: agent.id, phase: agent.phase, group: agent.group, peers: { agents: peers?.agents ?? 0, enforcing: peers?.enforcing ?? 0, calls: peers?.calls ?? 0, mature: peers !== undefined && engine.mature(peers) },
    firstSeen: new Date(agent.firstSeen).toISOString(), lastSeen: new Date(agent.lastSeen).toISOString(),
    historyDays: Math.round((agent.lastSeen - agent.firstSeen) / DAY), calls: agent.calls, chains: agent.chains,
    destinations: list(d['new-destination']?.t, 15), actions: list(d['new-action']?.a, 20, /^$/),
    principals: list(d['unusual-principal']?.t, 8), credentials: list(d['credential-misuse'], 8),
    activeHours: hours.map((v, i) => [v, i] as const).filter(([v]) => v > 0).sort((a, b) => b[0] - a[0]).slice(0, 5)
      .map(([v, i]) => ({ day: DAYS[Math.floor(i / 24)], hour: i % 24, share: round(v / total, 3) })),
  };
  if (agent.name !== undefined) s.name = agent.name;
  if (agent.service !== undefined) s.service = agent.service;
  const opt = { chainCalls: typical(d['chain-shape']?.l, (x) => x - 1), chainSeconds: typical(d['delegation-outlives'], (x) => x / 1000),
    callsPerActiveMinute: typical(d['rate-burst']?.s, (x) => x), resourcesPerChain: typical(d['bulk-access'], (x) => x), longestRepeatRun: typical(d['loop'], (x) => x) };
  for (const [k, v] of Object.entries(opt)) if (v !== undefined) (s as unknown as Record<string, unknown>)[k] = v;
  return s;
}

export function describeAgent(engine: Engine, agentId: string): string {
  const s = agentSummary(engine, agentId);
  const list = (w: Weighted[]): string => w.map((x) => `    ${x.name.padEnd(60)} ${x.weight.toFixed(1)}`).join('\n') || '    (none)';
  const stat = (t: Typical | undefined, unit: (x: number) => string): string => (t ? `typical ${unit(t.typical)}, max ${unit(t.max)} (${t.observations} observations)` : 'no data');
  const lines = [
    `Agent ${s.id}${s.name ? ` (${s.name})` : ''}${s.service ? `, service ${s.service}` : ''}`,
    `  phase: ${s.phase}; ${s.historyDays} days of history, ${s.calls} calls in ${s.chains} chains; peer group "${s.group}" of ${s.peers.agents} agents (${s.peers.enforcing} enforcing, ${s.peers.calls} calls pooled; ${s.peers.mature ? 'judges its learning agents' : 'not yet enough to judge its learning agents'})`,
    `  destinations (decayed counts):`, list(s.destinations),
    `  actions and tools:`, list(s.actions),
    `  delegating principals:`, list(s.principals),
    `  credentials:`, list(s.credentials),
    `  chain length: ${stat(s.chainCalls, (x) => `${Math.round(x)} calls`)}`,
    `  chain duration: ${stat(s.chainSeconds, (x) => `${Math.round(x)} s`)}`,
    `  calls per active minute: ${stat(s.callsPerActiveMinute, (x) => x.toFixed(1))}`,
    `  distinct resources per chain: ${stat(s.resourcesPerChain, (x) => x.toFixed(0))}`,
    `  longest repeat run: ${stat(s.longestRepeatRun, (x) => x.toFixed(0))}`,
    `  active hours (UTC, share of calls): ${s.activeHours.length ? s.activeHours.map((h) => `${h.day} ${String(h.hour).padStart(2, '0')}h ${(100 * h.share).toFixed(1)}%`).join(', ') : 'no data'}`,
  ];
  return lines.join('\n');
}
