/**
 * What `chainwatch policy test` prints: each violation once, as it happened, then a count per
 * rule of the calls and chains that broke it.
 */
import type { Alert } from './alerts.js';
import type { ShadowRecord } from './engine.js';

/** `n word(s)`, right-aligned in a column of counts. */
const count = (n: number, word: string): string => `${String(n).padStart(5)} ${word}${n === 1 ? '' : 's'}`;

export function formatPolicyTest(alerts: readonly Alert[], shadow: readonly ShadowRecord[], chains: number): string {
  const lines: string[] = [];
  const byRule = new Map<string, { calls: number; chains: Set<string>; shadow: boolean }>();
  const tally = (key: string, traceId: string, isShadow: boolean): void => {
    const e = byRule.get(key) ?? { calls: 0, chains: new Set<string>(), shadow: isShadow };
    e.calls++;
    e.chains.add(traceId);
    byRule.set(key, e);
  };
  for (const a of alerts) {
    // A rollup update repeats its alert's violations with a new count: they were printed and counted.
    if (a.update) continue;
    for (const p of a.policy ?? []) {
      lines.push(`${a.time} ${a.agent.id} trace ${a.traceId} span ${p.spanIds.join(',')}: [${p.policy}/${p.rule}] ${p.observed} — allowed: ${p.allowed}`);
      tally(`${p.policy}/${p.rule}`, a.traceId, false);
    }
  }
  for (const r of shadow) {
    lines.push(`${r.time} ${r.agent} trace ${r.traceId} span ${r.violation.spanIds.join(',')}: [${r.violation.policy}/${r.violation.rule}] (shadow) ${r.violation.observed}`);
    tally(`${r.violation.policy}/${r.violation.rule}`, r.traceId, true);
  }
  lines.push('', `${byRule.size ? '' : 'no violations; '}${chains} chains checked`);
  for (const [k, e] of [...byRule].sort((a, b) => b[1].chains.size - a[1].chains.size)) {
    lines.push(`  ${k.padEnd(60)} ${count(e.calls, 'call').padEnd(11)} ${count(e.chains.size, 'chain')}${e.shadow ? ' (shadow)' : ''}`);
  }
  return lines.join('\n') + '\n';
}
