/** `chainwatch baseline show AGENT`: what an agent normally does, for a human. */
import type { Engine } from './engine.js';
import { StateError } from './errors.js';
import { DAY } from '../detectors/types.js';

interface Table { e: [string, number, number][] }

export function describeAgent(engine: Engine, agentId: string): string {
  const agent = engine.agents.get(agentId);
  if (agent === undefined) {
    const known = [...engine.agents.keys()].slice(0, 10).join(', ');
    throw new StateError(`no baseline for agent "${agentId}"; known agents: ${known || 'none (run chainwatch learn first)'}`);
  }
  const snap = engine.snapshot().agents.find((a) => a.id === agentId)!;
  const d = snap.detectors as Record<string, any>;
  const days = Math.round((agent.lastSeen - agent.firstSeen) / DAY);
  const list = (t: Table | undefined, n: number, strip = /^[a-z-]+:/): string =>
    (t?.e ?? []).slice(0, n).map(([name, count]) => `    ${name.replace(strip, '').padEnd(60)} ${count.toFixed(1)}`).join('\n') || '    (none)';
  const stat = (j: [number, number, number, number] | undefined, unit: (x: number) => string): string =>
    j ? `typical ${unit(Math.exp(j[1]))}, max ${unit(Math.exp(j[3]))} (${j[0]} observations)` : 'no data';
  const hours = d['off-hours']?.h as number[] | undefined;
  const peers = engine.peers.get(agent.group);
  const lines = [
    `Agent ${agent.id}${agent.name ? ` (${agent.name})` : ''}${agent.service ? `, service ${agent.service}` : ''}`,
    `  phase: ${agent.phase}; ${days} days of history, ${agent.calls} calls in ${agent.chains} chains; peer group "${agent.group}" of ${peers?.agents ?? 0} agents (${peers?.enforcing ?? 0} enforcing)`,
    `  destinations (decayed counts):`, list(d['new-destination']?.t, 15),
    `  actions and tools:`, list(d['new-action']?.a, 20, /^$/),
    `  delegating principals:`, list(d['unusual-principal']?.t, 8),
    `  credentials:`, list(d['credential-misuse'], 8),
    `  chain length: ${stat(d['chain-shape']?.l, (x) => `${Math.round(x - 1)} calls`)}`,
    `  chain duration: ${stat(d['delegation-outlives'], (x) => `${Math.round(x / 1000)} s`)}`,
    `  calls per active minute: ${stat(d['rate-burst']?.s, (x) => x.toFixed(1))}`,
    `  distinct resources per chain: ${stat(d['bulk-access'], (x) => x.toFixed(0))}`,
    `  longest repeat run: ${stat(d['loop'], (x) => x.toFixed(0))}`,
    `  active hours (UTC, share of calls): ${hours ? busyHours(hours) : 'no data'}`,
  ];
  return lines.join('\n');
}

function busyHours(h: number[]): string {
  const total = h.reduce((a, b) => a + b, 0) || 1;
  const days = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
  return h.map((v, i) => [v, i] as const).sort((a, b) => b[0] - a[0]).slice(0, 5)
    .map(([v, i]) => `${days[Math.floor(i / 24)]} ${String(i % 24).padStart(2, '0')}h ${((100 * v) / total).toFixed(1)}%`).join(', ');
}
