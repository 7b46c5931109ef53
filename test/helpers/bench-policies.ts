/** The policy set the benches time policy evaluation with: the shipped fleet policies plus generated chain rules, 100 rules in all. */
import { readFileSync } from 'node:fs';
import { parse, stringify } from 'yaml';
import { packagePath } from '../../src/package-path.js';

export const BENCH_RULES = 100;

/** The policy file's text (YAML). */
export function hundredRulesText(): string {
  const fleet = parse(readFileSync(packagePath('deploy', 'policies', 'fleet.yaml'), 'utf8')) as { policies: { rules?: object[] }[] };
  const conditions = [
    (i: number) => `tool tool_${i} then (write and external) within 10m`,
    (i: number) => `action "POST *.corp.internal/**/admin${i}/**" without preceding tool approve_${i}`,
    (i: number) => `host "*.blocked-${i}.example" or (method DELETE and destination "*-${i}.example")`,
    (i: number) => `sensitive and tool export_${i}`,
  ];
  const existing = fleet.policies.reduce((n, p) => n + (p.rules?.length ?? 0), 0);
  for (let i = 0; i < BENCH_RULES - existing; i++) {
    const p = fleet.policies[i % fleet.policies.length];
    (p.rules ??= []).push({ rule: `Generated rule ${i}`, desc: 'bench', condition: conditions[i % 4](i), output: '%agent.id %action', priority: 'WARNING' });
  }
  return stringify(fleet);
}
