/**
 * Declared scope, evaluated on every call of every chain. A policy is matched to an agent by id,
 * name or service globs (the first matching policy, in file order, wins). Each construct yields
 * a Violation naming the policy and rule, what the policy allows and what happened:
 *
 *   destinations (hosts, email domains, accounts, channels) · actions and tools · chain limits
 *   (calls, distinct destinations and resources, duration, external bytes) and calls per minute
 *   · delegation lifetime (of the chain, of the credential) · approval evidence on high-risk
 *   calls · data flow (sensitive read, then a write outside) · time windows · chain rules.
 *
 * Limits, chain constructs and rules fire once per chain, when first crossed. Everything is per
 * chain: a flow split across two traces is two chains.
 */
import type { AgentCall } from './agent-call.js';
import type { Destination } from './arg-destinations.js';
import type { Chain } from './chains.js';
import { parseDuration, parseSize, formatDuration } from './duration.js';
import { type Condition, type PredicateContext, parseCondition } from './policy-condition.js';
import type { AllowDeny, PolicySpec, RuleSpec } from './policy-load.js';
import { actionMatcher as actionGlob, globMatcher } from './glob.js';

export interface Violation {
  policy: string;
  /** The rule name for chain rules; the construct (e.g. destinations.allow) otherwise. */
  rule: string;
  score: number;
  mode: 'enforce' | 'shadow';
  killSwitch: boolean;
  title: string;
  allowed: string;
  observed: string;
  spanIds: string[];
  tags?: string[];
  /** What the violation is about (a host, tool, action): repeats of the same key roll up into one alert. */
  key?: string;
}

type Match = (s: string) => boolean;
const NONE: Match = () => false;
const globs = (list: string[] | undefined): Match | undefined => (list && list.length ? globMatcher(list) : undefined);

interface Lists {
  allow?: Match;
  deny?: Match;
  allowText: string;
}

function lists(ad: AllowDeny | undefined): Lists | undefined {
  if (!ad) return undefined;
  return { allow: globs(ad.allow), deny: globs(ad.deny), allowText: ad.allow?.join(', ') ?? 'anything not denied' };
}

const PRIORITY_SCORE: Record<string, number> = {
  EMERGENCY: 0.97, ALERT: 0.95, CRITICAL: 0.9, ERROR: 0.8, WARNING: 0.6, NOTICE: 0.4, INFORMATIONAL: 0.2, DEBUG: 0.1,
};
const DAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'];

interface CompiledRule {
  spec: RuleSpec;
  cond: Condition;
  exceptions: { name: string; agent?: Match; principal?: Match; host?: Match; tool?: Match }[];
}

export interface CompiledPolicy {
  spec: PolicySpec;
  matchAgent: (agent: { id: string; name?: string; service?: string }) => boolean;
  internal?: Match;
  hosts?: Lists & { external: 'allow' | 'listed' | 'deny' };
  email?: Lists;
  accounts?: Lists;
  channels?: Lists;
  actions?: Lists;
  tools?: Lists;
  limits: { calls?: number; destinations?: number; resources?: number; durationMs?: number; perMinute?: number; externalBytes?: number };
  maxAgeMs?: number;
  credentialMaxAgeMs?: number;
  approval?: Match;
  sensitive?: Match;
  forbid: 'external' | 'new_external' | 'off';
  hours?: { days: Set<number>; from: number; to: number; text: string };
  rules: CompiledRule[];
  /** Per call shape (see shapeOf): the static rules' results and the rules to visit. */
  shapes: Map<string, RuleShape>;
  /** Per action signature, tool and host: what the static constructs and rule atoms say of them. */
  statics: Map<string, Map<string, Map<string, StaticEntry>>>;
  staticCount: number;
  /** Whether a host / action signature can match any glob of the rules (else it is left out of the shape). */
  anyHost: Match;
  anyAction: Match;
}

/** Static rule results for one call shape, and the rules a call of that shape must visit. */
interface RuleShape {
  /** Per rule: bit 1 = its A side matches, bit 2 = its B side (static rules only). */
  bits: Uint8Array;
  /** Static rules whose A or B side matches, and every dynamic rule, in rule order. */
  visit: number[];
}

/**
 * What a policy's static constructs say of one (action signature, tool, host): the glob
 * answers, looked up once per distinct triple instead of a dozen memo lookups per call, and the
 * rule shape for the flags its calls carry. Valid only for calls with the same method and
 * classification (both nearly always follow from the signature; a call that differs bypasses it).
 */
interface StaticEntry {
  method: string | undefined;
  sensitivity: string | undefined;
  hostDenied: boolean;
  /** undefined: the policy has no host allow list. */
  hostListed: boolean | undefined;
  /** undefined: the policy has no internal_domains of its own (the call's `external` decides). */
  hostInternal: boolean | undefined;
  actionDenied: boolean;
  actionAllowed: boolean;
  toolDenied: boolean;
  toolAllowed: boolean;
  approval: boolean;
  sensitive: boolean;
  /** The rule shape for calls with these flags (see flagsOf; nearly always one value per entry). */
  flags: number;
  rules: RuleShape | undefined;
}

const MAX_STATIC_ENTRIES = 8192;

/**
 * What static rule atoms can see of a call; equal shapes give equal static rule results. A host
 * or signature that matches none of the rules' globs is left out, so the unique hosts of an agent
 * browsing the web share one shape instead of defeating the cache.
 */
function shapeOf(c: AgentCall, p: CompiledPolicy, flags: number): string {
  const host = c.host !== undefined && p.anyHost !== NONE && p.anyHost(c.host) ? c.host : '';
  const sig = p.anyAction !== NONE && p.anyAction(c.action.signature) ? c.action.signature : '';
  return `${c.action.tool ?? ''}\u0000${sig}\u0000${host}\u0000${c.action.method ?? ''}\u0000${c.sensitivity ?? ''}\u0000${flags}`;
}

/** The call's flags static rule atoms can see (sensitive, write, external, approved, failed, outside). */
function flagsOf(c: AgentCall): number {
  let outside = 0;
  for (let i = 0; i < c.destinations.length; i++) {
    const k = c.destinations[i].kind;
    if (k === 'email-domain' || k === 'account') outside = 32;
  }
  return (c.sensitive ? 1 : 0) | (c.action.write ? 2 : 0) | (c.external ? 4 : 0) | (c.approvalId !== undefined ? 8 : 0) | (c.outcome.ok ? 0 : 16) | outside;
}

/** The rule shape of a call: static rule results from the per-shape cache. */
function ruleShape(p: CompiledPolicy, call: AgentCall, flags: number): RuleShape {
  const key = shapeOf(call, p, flags);
  let shape = p.shapes.get(key);
  if (shape === undefined) {
    const bits = new Uint8Array(p.rules.length);
    const visit: number[] = [];
    p.rules.forEach((r, i) => {
      if (r.cond.static) bits[i] = (r.cond.a(call, NO_DESTINATIONS) ? 1 : 0) | (r.cond.b?.(call, NO_DESTINATIONS) ? 2 : 0);
      // A dynamic rule whose sides are both false whatever the destinations need not be visited.
      if (r.cond.static ? bits[i] !== 0 : r.cond.partialA(call) !== 0 || (r.cond.partialB?.(call) ?? 0) !== 0) visit.push(i);
    });
    shape = { bits, visit };
    if (p.shapes.size < 4096) p.shapes.set(key, shape);
  }
  return shape;
}

/** What the policy's globs say of the call's signature, tool and host (see StaticEntry). */
function staticEntry(p: CompiledPolicy, call: AgentCall): StaticEntry {
  const sig = call.action.signature;
  const tool = call.action.tool ?? '';
  const host = call.host ?? '';
  let byTool = p.statics.get(sig);
  const byHost = byTool?.get(tool);
  const found = byHost?.get(host);
  if (found !== undefined && found.method === call.action.method && found.sensitivity === call.sensitivity) return found;
  const h = p.hosts;
  const entry: StaticEntry = {
    method: call.action.method,
    sensitivity: call.sensitivity,
    hostDenied: host !== '' && (h?.deny?.(host) ?? false),
    hostListed: h?.allow && host !== '' ? h.allow(host) : undefined,
    hostInternal: p.internal && host !== '' ? p.internal(host) : undefined,
    actionDenied: p.actions?.deny?.(sig) ?? false,
    actionAllowed: p.actions?.allow?.(sig) ?? true,
    toolDenied: tool !== '' && (p.tools?.deny?.(tool) ?? false),
    toolAllowed: tool === '' || (p.tools?.allow?.(tool) ?? true),
    approval: p.approval !== undefined && (p.approval(sig) || (tool !== '' && p.approval(`tool:${tool}`))),
    sensitive: p.sensitive !== undefined && (p.sensitive(sig) || (tool !== '' && p.sensitive(`tool:${tool}`))),
    flags: -1,
    rules: undefined,
  };
  // Past the bound (an agent browsing endless new sites), entries are built per call and dropped.
  if (found === undefined && p.staticCount < MAX_STATIC_ENTRIES) {
    if (byTool === undefined) p.statics.set(sig, (byTool = new Map()));
    let hosts = byHost;
    if (hosts === undefined) byTool.set(tool, (hosts = new Map()));
    hosts.set(host, entry);
    p.staticCount++;
  }
  return entry;
}

const NO_DESTINATIONS: PredicateContext = { knows: () => true };

/** Add `value` unless present, while the list holds no more than `limit` (one past it is enough to cross it). */
function addDistinct(list: string[], value: string, limit: number): void {
  if (list.length <= limit && !list.includes(value)) list.push(value);
}

/** Shared by chains that have fired nothing (most): replaced by a list of their own on the first verdict. */
const NONE_FIRED: string[] = [];

/** Shared empty result: most calls violate nothing. Never mutated. */
const NONE_FOUND: Violation[] = [];

/** `tool:NAME` globs match the tool, everything else the action signature. */
function actionMatcher(list: string[] | undefined): Match | undefined {
  if (!list || !list.length) return undefined;
  const tools = globs(list.filter((g) => g.startsWith('tool:')).map((g) => g.slice(5))) ?? NONE;
  const sigList = list.filter((g) => !g.startsWith('tool:'));
  const sigs = sigList.length ? actionGlob(sigList) : NONE;
  return (s) => (s.startsWith('tool:') ? tools(s.slice(5)) : sigs(s));
}

export function compilePolicy(spec: PolicySpec): CompiledPolicy {
  const rules = (spec.rules ?? []).filter((r) => r.enabled !== false).map((r) => ({ r, cond: parseCondition(r.condition) }));
  // Every rule's globs: a dynamic rule is skipped per shape when its static atoms rule it out.
  const ruleGlobs = (field: string): string[] => rules.flatMap((x) => x.cond.globs[field] ?? []);
  const m = { agent: globs(spec.match.agent), name: globs(spec.match.name), service: globs(spec.match.service) };
  const minutes = (hhmm: string): number => Number(hhmm.slice(0, 2)) * 60 + Number(hhmm.slice(3));
  const d = spec.destinations;
  return {
    spec,
    matchAgent: (a) => (m.agent?.(a.id) ?? false) || (a.name !== undefined && (m.name?.(a.name) ?? false)) || (a.service !== undefined && (m.service?.(a.service) ?? false)),
    internal: globs(spec.internal_domains),
    hosts: d && (d.allow || d.deny || d.external) ? { ...lists(d)!, external: d.external ?? (d.allow ? 'listed' : 'allow') } : undefined,
    email: lists(d?.email_domains),
    accounts: lists(d?.accounts),
    channels: lists(d?.channels),
    actions: spec.actions && (spec.actions.allow || spec.actions.deny)
      ? { allow: spec.actions.allow && actionGlob(spec.actions.allow), deny: spec.actions.deny && actionGlob(spec.actions.deny), allowText: spec.actions.allow?.join(', ') ?? 'anything not denied' }
      : undefined,
    tools: lists(spec.actions?.tools),
    limits: {
      calls: spec.limits?.chain_calls,
      destinations: spec.limits?.chain_destinations,
      resources: spec.limits?.chain_resources,
      durationMs: spec.limits?.chain_duration !== undefined ? parseDuration(spec.limits.chain_duration) : undefined,
      perMinute: spec.limits?.calls_per_minute,
      externalBytes: spec.limits?.external_bytes !== undefined ? parseSize(spec.limits.external_bytes) : undefined,
    },
    maxAgeMs: spec.delegation?.max_age !== undefined ? parseDuration(spec.delegation.max_age) : undefined,
    credentialMaxAgeMs: spec.delegation?.credential_max_age !== undefined ? parseDuration(spec.delegation.credential_max_age) : undefined,
    approval: actionMatcher(spec.approval?.actions),
    sensitive: actionMatcher(spec.data_flow?.sensitive),
    forbid: spec.data_flow?.forbid ?? (spec.data_flow ? 'new_external' : 'off'),
    hours: spec.hours && {
      days: new Set((spec.hours.days ?? DAYS).map((x) => DAYS.indexOf(x))),
      from: minutes(spec.hours.from), to: minutes(spec.hours.to),
      text: `${(spec.hours.days ?? ['every day']).join(',')} ${spec.hours.from}-${spec.hours.to} UTC`,
    },
    rules: rules.map(({ r, cond }) => ({
      spec: r, cond,
      exceptions: (r.exceptions ?? []).map((e) => ({ name: e.name, agent: globs(e.agent), principal: globs(e.principal), host: globs(e.host), tool: globs(e.tool) })),
    })),
    shapes: new Map(),
    statics: new Map(),
    staticCount: 0,
    anyHost: ruleGlobs('host').length ? globMatcher(ruleGlobs('host')) : NONE,
    anyAction: ruleGlobs('action').length ? actionGlob(ruleGlobs('action')) : NONE,
  };
}

interface ChainState {
  /**
   * Distinct destinations (a host as itself, others as kind:value) and resources, allocated only
   * when the policy sets the matching limit, and kept only up to one past it: the limit fires
   * once per chain, when first crossed. Short lists: a chain rarely has more than a few.
   */
  destinations: string[] | undefined;
  resources: string[] | undefined;
  externalBytes: number;
  sensitive: string;
  sensitiveSig: string;
  /** Keys of once-per-chain verdicts already given (few: a short list beats a Set). */
  fired: string[];
  ruleA: ({ time: number; spanId: string } | undefined)[] | undefined;
}

export class PolicyEngine {
  private readonly compiled: CompiledPolicy[];
  private readonly byAgent = new Map<string, CompiledPolicy | null>();
  private readonly minute = new Map<string, { minute: number; count: number; fired: boolean }>();

  constructor(specs: PolicySpec[]) {
    this.compiled = specs.map(compilePolicy);
  }

  get size(): number {
    return this.compiled.length;
  }

  get ruleCount(): number {
    return this.compiled.reduce((n, p) => n + p.rules.length, 0);
  }

  policyFor(agent: { id: string; name?: string; service?: string }): CompiledPolicy | undefined {
    let p = this.byAgent.get(agent.id);
    if (p === undefined) {
      p = this.compiled.find((c) => c.matchAgent(agent)) ?? null;
      this.byAgent.set(agent.id, p);
    }
    return p ?? undefined;
  }

  evaluate(call: AgentCall, chain: Chain, agent: { id: string; name?: string; service?: string }, knows: PredicateContext['knows']): Violation[] {
    const p = this.policyFor(agent);
    if (p === undefined) return NONE_FOUND;
    const s = this.chainState(chain);
    // Verdicts go through this.verdict; the common path (no violation) allocates nothing.
    const cur = this.cur;
    cur.p = p;
    cur.s = s;
    cur.call = call;
    cur.out = NONE_FOUND;
    cur.key = undefined;
    const e = staticEntry(p, call);
    const external = call.host !== undefined && (e.hostInternal === undefined ? call.external : !e.hostInternal);

    // Destinations: hosts, then destinations named in arguments.
    if (p.hosts && call.host !== undefined) {
      const h = p.hosts;
      cur.key = call.host;
      if (e.hostDenied) this.verdict('destinations.deny', 0.85, `Denied destination ${call.host}`, `never ${call.host}`, `${call.action.signature} → ${call.host}`);
      else if (external && h.external === 'deny') this.verdict('destinations.external', 0.8, `External destination ${call.host}`, 'no external destinations', `${call.action.signature} → ${call.host}`);
      else if (e.hostListed === false && !(external && h.external === 'allow')) {
        this.verdict('destinations.allow', 0.75, `Destination ${call.host} outside declared scope`, h.allowText, `${call.action.signature} → ${call.host}`);
      }
    }
    for (const d of call.destinations) {
      const l = d.kind === 'email-domain' ? p.email : d.kind === 'account' ? p.accounts : d.kind === 'channel' ? p.channels : undefined;
      if (!l) continue;
      const kind = d.kind === 'email-domain' ? 'email_domains' : `${d.kind}s`;
      cur.key = d.value;
      if (l.deny?.(d.value)) this.verdict(`destinations.${kind}.deny`, 0.85, `Denied ${d.kind} ${d.value}`, `never ${d.value}`, `${call.action.signature} → ${d.value}`);
      else if (l.allow && !l.allow(d.value)) this.verdict(`destinations.${kind}.allow`, 0.75, `${d.kind} ${d.value} outside declared scope`, l.allowText, `${call.action.signature} → ${d.value}`);
    }

    // Actions and tools.
    if (p.actions) {
      const sig = call.action.signature;
      cur.key = sig;
      if (e.actionDenied) this.verdict('actions.deny', 0.85, `Denied action ${sig}`, `never ${sig}`, sig);
      else if (!e.actionAllowed) this.verdict('actions.allow', 0.75, `Action ${sig} outside declared scope`, p.actions.allowText, sig);
    }
    if (p.tools && call.action.tool !== undefined) {
      const t = call.action.tool;
      cur.key = t;
      if (e.toolDenied) this.verdict('actions.tools.deny', 0.85, `Denied tool ${t}`, `never ${t}`, `tool ${t}`);
      else if (!e.toolAllowed) this.verdict('actions.tools.allow', 0.75, `Tool ${t} outside declared scope`, p.tools.allowText, `tool ${t}`);
    }

    // Limits over the chain, and calls per minute over the agent.
    cur.key = undefined;
    const lim = p.limits;
    if (lim.destinations !== undefined) {
      const list = (s.destinations ??= []);
      if (call.host !== undefined) addDistinct(list, call.host, lim.destinations);
      for (const d of call.destinations) if (d.kind !== 'email') addDistinct(list, d.kind === 'host' ? d.value : `${d.kind}:${d.value}`, lim.destinations);
    }
    if (lim.resources !== undefined) addDistinct((s.resources ??= []), call.resource, lim.resources);
    if (call.bytesOut !== undefined && external) s.externalBytes += call.bytesOut;
    const elapsed = call.time - chain.startTime;
    if (lim.calls !== undefined && chain.callCount > lim.calls && this.fresh('calls')) this.verdict('limits.chain_calls', 0.7, 'Chain call limit exceeded', `≤ ${lim.calls} calls per chain`, `${chain.callCount} calls`, [call.spanId], 'calls');
    if (s.destinations !== undefined && s.destinations.length > lim.destinations! && this.fresh('destinations')) this.verdict('limits.chain_destinations', 0.7, 'Too many destinations in one chain', `≤ ${lim.destinations} destinations per chain`, `${s.destinations.length} destinations`, [call.spanId], 'destinations');
    if (s.resources !== undefined && s.resources.length > lim.resources! && this.fresh('resources')) this.verdict('limits.chain_resources', 0.7, 'Too many resources in one chain', `≤ ${lim.resources} resources per chain`, `${s.resources.length} resources`, [call.spanId], 'resources');
    if (lim.durationMs !== undefined && elapsed > lim.durationMs && this.fresh('duration')) this.verdict('limits.chain_duration', 0.7, 'Chain ran longer than allowed', `≤ ${formatDuration(lim.durationMs)}`, `${formatDuration(elapsed)}`, [call.spanId], 'duration');
    if (lim.externalBytes !== undefined && s.externalBytes > lim.externalBytes && this.fresh('bytes')) this.verdict('limits.external_bytes', 0.8, 'Too much data sent outside', `≤ ${lim.externalBytes} bytes to external destinations per chain`, `${s.externalBytes} bytes`, [call.spanId], 'bytes');
    if (lim.perMinute !== undefined) {
      const minute = Math.floor(call.time / 60_000);
      let w = this.minute.get(agent.id);
      if (w === undefined) this.minute.set(agent.id, (w = { minute, count: 0, fired: false }));
      else if (w.minute !== minute) {
        w.minute = minute;
        w.count = 0;
        w.fired = false;
      }
      w.count++;
      if (w.count > lim.perMinute && !w.fired) {
        w.fired = true;
        this.verdict('limits.calls_per_minute', 0.7, 'Call rate above declared limit', `≤ ${lim.perMinute} calls per minute`, `${w.count} calls in the minute`);
      }
    }

    // Delegation lifetime.
    if (p.maxAgeMs !== undefined && elapsed > p.maxAgeMs && this.fresh('max_age')) this.verdict('delegation.max_age', 0.8, 'Delegation used after it expired', `acting ≤ ${formatDuration(p.maxAgeMs)} after the chain started`, `${call.action.signature} at +${formatDuration(elapsed)}`, [call.spanId], 'max_age');
    if (p.credentialMaxAgeMs !== undefined && call.credentialIssuedAt !== undefined) {
      const issued = call.credentialIssuedAt < 1e12 ? call.credentialIssuedAt * 1000 : call.credentialIssuedAt;
      const age = call.time - issued;
      if (age > p.credentialMaxAgeMs) this.verdict('delegation.credential_max_age', 0.8, 'Credential used after its delegation expired', `credential acting ≤ ${formatDuration(p.credentialMaxAgeMs)} after issue`, `credential ${call.credential ?? '?'} used ${formatDuration(age)} after issue`, [call.spanId], `cred:${call.credential}`);
    }

    // Approval evidence on high-risk calls: on the call itself, not elsewhere in the chain.
    cur.key = call.action.tool ?? call.action.signature;
    if (e.approval && call.approvalId === undefined) {
      this.verdict('approval', 0.9, `High-risk action without approval: ${call.action.tool ?? call.action.signature}`, 'approval evidence (chainwatch.approval.id) on this call', `${call.action.signature} without approval`);
    }

    // Data flow: a sensitive read, then a write outside, within the chain.
    cur.key = undefined;
    if (p.forbid !== 'off') {
      const isSensitive = call.sensitive || e.sensitive;
      if (isSensitive && !call.action.write && s.sensitive === '') {
        s.sensitive = call.spanId;
        s.sensitiveSig = call.action.signature;
      } else if (s.sensitive !== '' && call.action.write) {
        // Outside = external and not explicitly allowed by this policy (declared scope is in scope).
        const targets: Destination[] = [];
        if (external && call.host !== undefined && e.hostListed !== true) targets.push({ kind: 'host', value: call.host });
        for (const d of call.destinations) {
          if (d.kind === 'email-domain' && !(p.internal?.(d.value) ?? false) && !(p.email?.allow?.(d.value) ?? false)) targets.push(d);
          if (d.kind === 'account' && !(p.accounts?.allow?.(d.value) ?? false)) targets.push(d);
        }
        const hit = targets.find((d) => p.forbid === 'external' || !knows(d));
        if (hit) this.verdict('data_flow', 0.95, `Sensitive data flowed to ${hit.value}`, p.forbid === 'external' ? 'no writes to external destinations after a sensitive read' : 'no writes to new external destinations after a sensitive read', `${s.sensitiveSig} → ${call.action.signature} → ${hit.value}`, [s.sensitive, call.spanId], `flow:${hit.value}`);
      }
    }

    // Time windows.
    if (p.hours) {
      // UTC minute of the day and day of the week by arithmetic (1970-01-01 was a Thursday): no Date per call.
      const min = Math.floor(call.time / 60_000) % 1440;
      const day = (Math.floor(call.time / 86_400_000) + 4) % 7;
      if ((!p.hours.days.has(day) || min < p.hours.from || min >= p.hours.to) && this.fresh('hours')) {
        this.verdict('hours', 0.6, 'Acting outside its time window', p.hours.text, new Date(call.time).toISOString(), [call.spanId], 'hours');
      }
    }

    // Chain rules: static ones from the per-shape cache, the others evaluated on the call; only
    // rules that can match a call of this shape are visited.
    if (p.rules.length) {
      const flags = flagsOf(call);
      let shape = e.rules;
      if (flags !== e.flags || shape === undefined) {
        shape = ruleShape(p, call, flags);
        if (e.flags === -1) {
          e.flags = flags;
          e.rules = shape;
        }
      }
      let ctx: PredicateContext | undefined;
      const visit = shape.visit;
      for (let j = 0; j < visit.length; j++) {
        const i = visit[j];
        const r = p.rules[i];
        let isA: boolean;
        let isB: boolean;
        if (r.cond.static) {
          isA = (shape.bits[i] & 1) !== 0;
          isB = r.cond.kind === 'any' ? isA : (shape.bits[i] & 2) !== 0;
        } else {
          ctx ??= { knows };
          isA = r.cond.a(call, ctx);
          isB = r.cond.kind === 'any' ? isA : r.cond.b!(call, ctx);
        }
        if (isA || isB) this.rule(r, i, isA, isB, call, chain, agent, s, p);
      }
    }
    return cur.out;
  }

  /** The call being evaluated, reused across calls so evaluation allocates nothing of its own. */
  private readonly cur = { p: undefined as unknown as CompiledPolicy, s: undefined as unknown as ChainState, call: undefined as unknown as AgentCall, out: NONE_FOUND, key: undefined as string | undefined };

  /**
   * Whether a once-per-chain verdict has yet to be given in this chain: checked before its texts
   * are built, since a crossed limit stays crossed for every later call of the chain.
   */
  private fresh(onceKey: string): boolean {
    return !this.cur.s.fired.includes(onceKey);
  }

  private verdict(rule: string, score: number, title: string, allowed: string, observed: string, spanIds?: string[], onceKey?: string): void {
    const { p, s, call } = this.cur;
    if (onceKey !== undefined) {
      if (s.fired.includes(onceKey)) return;
      if (s.fired === NONE_FIRED) s.fired = [];
      s.fired.push(onceKey);
    }
    const violation: Violation = {
      policy: p.spec.name, rule, score, mode: p.spec.mode ?? 'enforce', killSwitch: p.spec.kill_switch ?? false, title, allowed, observed,
      spanIds: spanIds ?? [call.spanId],
    };
    if (this.cur.key !== undefined) violation.key = this.cur.key;
    if (this.cur.out === NONE_FOUND) this.cur.out = [];
    this.cur.out.push(violation);
  }

  private rule(r: CompiledRule, i: number, isA: boolean, isB: boolean, call: AgentCall, chain: Chain, agent: { id: string }, s: ChainState, p: CompiledPolicy): void {
    const c = r.cond;
    let spanIds: string[] | undefined;
    if (c.kind === 'any') {
      if (isA) spanIds = [call.spanId];
    } else {
      const ruleA = (s.ruleA ??= new Array(p.rules.length));
      const prior = ruleA[i];
      const fresh = prior !== undefined && (c.withinMs === undefined || call.time - prior.time <= c.withinMs);
      if (isB && c.kind === 'then' && fresh) spanIds = [prior.spanId, call.spanId];
      if (isB && c.kind === 'without' && !fresh) spanIds = [call.spanId];
      if (isA) ruleA[i] = { time: call.time, spanId: call.spanId };
    }
    if (spanIds === undefined || s.fired.includes(`rule:${i}`)) return;
    const excepted = r.exceptions.find((e) =>
      (!e.agent || e.agent(agent.id)) && (!e.principal || (call.principal !== undefined && e.principal(call.principal)))
      && (!e.host || (call.host !== undefined && e.host(call.host))) && (!e.tool || (call.action.tool !== undefined && e.tool(call.action.tool))));
    if (excepted) return;
    if (s.fired === NONE_FIRED) s.fired = [];
    s.fired.push(`rule:${i}`);
    const spec = r.spec;
    if (this.cur.out === NONE_FOUND) this.cur.out = [];
    this.cur.out.push({
      policy: p.spec.name, rule: spec.rule, score: PRIORITY_SCORE[spec.priority] ?? 0.6, mode: spec.mode ?? p.spec.mode ?? 'enforce',
      killSwitch: spec.kill_switch ?? p.spec.kill_switch ?? false, title: spec.rule, allowed: spec.desc,
      observed: render(spec.output, call, chain, agent.id), spanIds, tags: spec.tags,
    });
  }

  private chainState(chain: Chain): ChainState {
    let s = chain.scratch.policy as ChainState | undefined;
    if (s === undefined) {
      s = { destinations: undefined, resources: undefined, externalBytes: 0, sensitive: '', sensitiveSig: '', fired: NONE_FIRED, ruleA: undefined };
      chain.scratch.policy = s;
    }
    return s;
  }
}

/** Falco-style output: %agent.id %trace.id %span.id %tool.name %action %destination.host %principal %credential. */
function render(template: string, call: AgentCall, chain: Chain, agentId: string): string {
  const fields: Record<string, string | undefined> = {
    'agent.id': agentId, 'trace.id': chain.traceId, 'span.id': call.spanId, 'tool.name': call.action.tool,
    action: call.action.signature, 'destination.host': call.host, principal: call.principal, credential: call.credential,
  };
  return template.replace(/%([a-z.]+)/g, (m, k: string) => (k in fields ? fields[k] ?? '<none>' : m));
}
