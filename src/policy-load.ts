/**
 * Policy files: YAML → validated, inheritance-resolved policies. Validation reports every
 * problem at once with file:line:column, the path of the field and how to fix it: JSON Schema
 * (schemas/policy.schema.json) first, then what a schema cannot say (durations, sizes, `extends`
 * targets and cycles, rule condition syntax, duplicate names). A set that has any issue is
 * rejected whole, so a bad file never takes effect.
 */
import { readFileSync } from 'node:fs';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { type LocatedDoc, isMapping, locate, parseLocated, validateLocated } from './yaml-validate.js';
import { PolicyError, type PolicyIssue } from './errors.js';
import { packagePath } from './package-path.js';
import { ConditionSyntaxError, parseCondition } from './policy-condition.js';

const schema = JSON.parse(readFileSync(packagePath('schemas', 'policy.schema.json'), 'utf8')) as object;
const validate = new Ajv2020({ allErrors: true, strict: false, verbose: true }).compile(schema);

/** A policy as written, after inheritance (field names as in YAML). */
export interface PolicySpec {
  name: string;
  file: string;
  match: { agent?: string[]; name?: string[]; service?: string[] };
  mode?: 'enforce' | 'shadow';
  kill_switch?: boolean;
  internal_domains?: string[];
  destinations?: {
    allow?: string[]; deny?: string[]; external?: 'allow' | 'listed' | 'deny';
    email_domains?: AllowDeny; accounts?: AllowDeny; channels?: AllowDeny;
  };
  actions?: { allow?: string[]; deny?: string[]; tools?: AllowDeny };
  limits?: {
    chain_calls?: number; chain_destinations?: number; chain_resources?: number;
    chain_duration?: string | number; calls_per_minute?: number; external_bytes?: string | number;
  };
  delegation?: { max_age?: string | number; credential_max_age?: string | number };
  approval?: { attribute?: string; actions: string[] };
  data_flow?: { sensitive?: string[]; forbid?: 'external' | 'new_external' | 'off' };
  hours?: { days?: string[]; from: string; to: string };
  rules?: RuleSpec[];
}

export interface AllowDeny {
  allow?: string[];
  deny?: string[];
}

export interface RuleSpec {
  rule: string;
  desc: string;
  condition: string;
  output: string;
  priority: string;
  tags?: string[];
  enabled?: boolean;
  mode?: 'enforce' | 'shadow';
  kill_switch?: boolean;
  exceptions?: { name: string; agent?: string[]; principal?: string[]; host?: string[]; tool?: string[] }[];
}

type Loaded = LocatedDoc<{ version: number; defaults?: Partial<PolicySpec>; policies: (PolicySpec & { extends?: string })[] }>;

/** Load and check policy files; throws PolicyError listing every issue. */
export function loadPolicies(files: string[]): PolicySpec[] {
  const issues: PolicyIssue[] = [];
  const loaded: Loaded[] = [];
  for (const file of files) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      issues.push({ file, line: 1, column: 1, path: '', message: `cannot read: ${(err as Error).message}` });
      continue;
    }
    const l = parseText(file, text, issues);
    if (l) loaded.push(l);
  }
  if (issues.length) throw new PolicyError(issues);
  const specs = resolve(loaded, issues);
  if (issues.length) throw new PolicyError(issues);
  return specs;
}

/** Same as loadPolicies for in-memory text (tests, `policy check` of stdin). */
export function loadPolicyText(file: string, text: string): PolicySpec[] {
  const issues: PolicyIssue[] = [];
  const l = parseText(file, text, issues);
  if (issues.length || !l) throw new PolicyError(issues);
  const specs = resolve([l], issues);
  if (issues.length) throw new PolicyError(issues);
  return specs;
}

/** Top-level keys of a configuration file that no policy file has, from the configuration's schema (read only when asked). */
function configOnlyKeys(): string[] {
  const schema = JSON.parse(readFileSync(packagePath('schemas', 'config.schema.json'), 'utf8')) as { properties: Record<string, unknown> };
  return Object.keys(schema.properties).filter((k) => k !== 'policies');
}

function parseText(file: string, text: string, issues: PolicyIssue[]): Loaded | undefined {
  const loaded = parseLocated<Loaded['data']>(file, text, issues);
  if (loaded === undefined) return undefined;
  // A configuration file given as a policy file: one line saying so, not one per key.
  const data: unknown = loaded.data;
  if (isMapping(data) && !('version' in data) && configOnlyKeys().some((k) => k in data)) {
    issues.push({ file, line: 1, column: 1, path: '', message: 'this is a chainwatch configuration file, not a policy file: check it with chainwatch config check (a policy file has version: 1 and policies:)' });
    return undefined;
  }
  const valid = validateLocated(loaded, validate, issues);
  // Beside the schema's errors, not after them: a file with a typo and a broken condition is
  // mended in one round.
  checkValues(loaded, issues);
  return valid ? loaded : undefined;
}

/**
 * What the schema cannot check: conditions, names (durations and sizes it checks by pattern).
 * Run on files the schema rejected too, so it reads only what has the shape it needs.
 */
function checkValues(l: LocatedDoc<unknown>, issues: PolicyIssue[]): void {
  const data = l.data;
  if (!isMapping(data)) return;
  const scopes: [(string | number)[], Record<string, unknown>][] = [];
  if (isMapping(data.defaults)) scopes.push([['defaults'], data.defaults]);
  if (Array.isArray(data.policies)) data.policies.forEach((p: unknown, i) => isMapping(p) && scopes.push([['policies', i], p]));
  const names = new Map<string, number>();
  for (const [at, p] of scopes) {
    const here = (rest: (string | number)[], msg: string, offset = 0): void => {
      issues.push(locate(l, [...at, ...rest], msg, offset));
    };
    if (typeof p.name === 'string') {
      if (names.has(p.name)) here(['name'], `duplicate policy name "${p.name}" (also policies[${names.get(p.name)}]): names must be unique`);
      names.set(p.name, at[1] as number);
    }
    (Array.isArray(p.rules) ? p.rules : []).forEach((r: unknown, j) => {
      if (!isMapping(r) || typeof r.condition !== 'string') return;
      try {
        parseCondition(r.condition);
      } catch (err) {
        if (!(err instanceof ConditionSyntaxError)) throw err;
        const node = l.doc.getIn([...at, 'rules', j, 'condition'], true) as { type?: string } | undefined;
        const quoteShift = node?.type === 'QUOTE_DOUBLE' || node?.type === 'QUOTE_SINGLE' ? 1 : 0;
        here(['rules', j, 'condition'], `rule "${r.rule}": ${err.message}`, err.column + quoteShift);
      }
    });
  }
}

const MERGE_KEYS = ['destinations', 'actions', 'limits', 'delegation', 'data_flow'] as const;

function merge(base: Partial<PolicySpec>, over: Partial<PolicySpec>): Partial<PolicySpec> {
  const out: Record<string, unknown> = { ...base, ...over };
  for (const k of MERGE_KEYS) if (base[k] || over[k]) out[k] = { ...(base[k] as object), ...(over[k] as object) };
  out.rules = [...(base.rules ?? []), ...(over.rules ?? [])];
  return out as Partial<PolicySpec>;
}

function resolve(loaded: Loaded[], issues: PolicyIssue[]): PolicySpec[] {
  const byName = new Map<string, { p: PolicySpec & { extends?: string }; l: Loaded; i: number }>();
  for (const l of loaded) l.data.policies.forEach((p, i) => {
    const prior = byName.get(p.name);
    if (prior && prior.l !== l) issues.push(locate(l, ['policies', i, 'name'], `duplicate policy name "${p.name}" (also in ${prior.l.file}): names must be unique`));
    byName.set(p.name, { p, l, i });
  });
  const out: PolicySpec[] = [];
  for (const { p, l, i } of byName.values()) {
    const chain: Partial<PolicySpec>[] = [];
    let cur: (PolicySpec & { extends?: string }) | undefined = p;
    const seen = new Set<string>();
    let ok = true;
    while (cur) {
      if (seen.has(cur.name)) {
        issues.push(locate(l, ['policies', i, 'extends'], `"extends" makes a cycle through ${[...seen].join(' → ')}: remove one link`));
        ok = false;
        break;
      }
      seen.add(cur.name);
      chain.unshift(cur);
      if (cur.extends === undefined) break;
      const parent = byName.get(cur.extends);
      if (!parent) {
        const at = byName.get(cur.name)!;
        issues.push(locate(at.l, ['policies', at.i, 'extends'], `extends unknown policy "${cur.extends}": use one of ${[...byName.keys()].join(', ')}`));
        ok = false;
        break;
      }
      cur = parent.p;
    }
    if (!ok) continue;
    let spec: Partial<PolicySpec> = l.data.defaults ?? {};
    for (const c of chain) spec = merge(spec, c);
    out.push({ ...(spec as PolicySpec), name: p.name, match: p.match, file: l.file });
  }
  return out;
}
