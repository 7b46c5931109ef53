/**
 * `chainwatch policy suggest AGENT`: a least-privilege policy drafted from what the agent was
 * learned to do — its destinations, actions and tools, with limits set above its largest normal
 * chain. For a human to review: it allows exactly the observed past, which may include mistakes.
 */
import { stringify } from 'yaml';
import type { Engine } from './engine.js';
import { StateError } from './errors.js';
import { DAY } from '../detectors/types.js';

type Table = { e: [string, number, number][] };
type Stats = [number, number, number, number];

export function suggestPolicy(engine: Engine, agentId: string): string {
  const agent = engine.agents.get(agentId);
  if (agent === undefined) throw new StateError(`no baseline for agent "${agentId}": run chainwatch learn first, or check the id with chainwatch baseline show`);
  const d = engine.snapshot().agents.find((a) => a.id === agentId)!.detectors as Record<string, any>;
  const dest = (d['new-destination']?.t as Table | undefined)?.e ?? [];
  const of = (kind: string): string[] => dest.filter(([k]) => k.startsWith(`${kind}:`)).map(([k]) => k.slice(kind.length + 1)).sort();
  const actions = ((d['new-action']?.a as Table | undefined)?.e ?? []).map(([k]) => k);
  const tools = actions.filter((a) => a.startsWith('tool:')).map((a) => a.slice(5)).sort();
  const signatures = actions.filter((a) => !a.startsWith('tool:') && !a.startsWith('tool ')).sort();
  const maxOf = (s: Stats | undefined): number | undefined => (s && s[0] > 0 ? Math.exp(s[3]) : undefined);
  const chainLen = maxOf(d['chain-shape']?.l);
  const resources = maxOf(d['bulk-access']);
  const perMinute = maxOf(d['rate-burst']?.s);
  const duration = maxOf(d['delegation-outlives']);

  const policy: Record<string, unknown> = { name: `${agentId.replace(/[^A-Za-z0-9_.-]/g, '-')}-suggested`, match: { agent: [agentId] } };
  const destinations: Record<string, unknown> = { allow: of('host'), external: 'listed' };
  if (of('email-domain').length) destinations.email_domains = { allow: of('email-domain') };
  if (of('account').length) destinations.accounts = { allow: of('account') };
  if (of('channel').length) destinations.channels = { allow: of('channel') };
  policy.destinations = destinations;
  policy.actions = { allow: signatures, ...(tools.length ? { tools: { allow: tools } } : {}) };
  const limits: Record<string, unknown> = {};
  if (chainLen !== undefined) limits.chain_calls = Math.max(5, Math.ceil((chainLen - 1) * 1.5));
  if (resources !== undefined) limits.chain_resources = Math.max(5, Math.ceil(resources * 1.5));
  if (perMinute !== undefined) limits.calls_per_minute = Math.max(10, Math.ceil(perMinute * 2));
  if (Object.keys(limits).length) policy.limits = limits;
  if (duration !== undefined) policy.delegation = { max_age: `${Math.max(5, Math.ceil((duration * 3) / 60_000))}m` };
  policy.data_flow = { forbid: 'new_external' };

  const days = Math.round((agent.lastSeen - agent.firstSeen) / DAY);
  const header = [
    `# Drafted by chainwatch from ${days} days of learned history of ${agentId} (${agent.calls} calls, ${agent.chains} chains).`,
    '# It allows exactly what the agent was seen doing: review every line before putting it in force,',
    '# and start it with `mode: shadow` to see what it would flag.',
  ].join('\n');
  return `${header}\n${stringify({ version: 1, policies: [policy] }, { lineWidth: 120 })}`;
}
