/**
 * Conditions of declared chain rules, in a small language in the style of Falco conditions:
 *
 *   condition := expr                                   any call matching expr
 *              | expr "then" expr ["within" DURATION]   B after an earlier A in the chain
 *              | expr "without" "preceding" expr ["within" DURATION]
 *                                                       B with no earlier A (in the window)
 *   expr      := term ("or" term)* ;  term := factor ("and" factor)*
 *   factor    := "not" factor | "(" expr ")" | atom
 *   atom      := tool GLOB | action GLOB | host GLOB | destination GLOB | method GLOB
 *              | principal GLOB | classification GLOB
 *              | sensitive | write | read | external | new_destination | approved | failed
 *
 * GLOBs are picomatch globs, quoted when they hold spaces. Parse errors carry the column.
 */
import type { AgentCall } from './agent-call.js';
import type { Destination } from './arg-destinations.js';
import { parseDuration } from './duration.js';
import { actionMatcher, globMatcher } from './glob.js';

export interface PredicateContext {
  /** Whether the agent's learned baseline knows the destination. */
  knows(d: Destination): boolean;
}

export type Predicate = (call: AgentCall, ctx: PredicateContext) => boolean;

/** What a condition can tell from the call's shape alone: 0 false, 1 true, 2 depends on destinations or principal. */
export type Partial = (call: AgentCall) => 0 | 1 | 2;

export interface Condition {
  kind: 'any' | 'then' | 'without';
  /**
   * True when every atom depends only on the call's shape (tool, action, host, method, flags,
   * classification), so results can be cached per shape; false with destination, principal or
   * new_destination atoms.
   */
  static: boolean;
  /** The globs used per field (host, action…), so a policy can tell which call values can matter. */
  globs: Record<string, string[]>;
  /** For 'any': the predicate; for the others: the earlier call A. */
  a: Predicate;
  /** The later call B. */
  b?: Predicate;
  /** a and b evaluated on the call's shape only (the dynamic atoms unknown): a rule can be skipped for a shape where both are 0. */
  partialA: Partial;
  partialB?: Partial;
  withinMs?: number;
}

export class ConditionSyntaxError extends Error {
  constructor(message: string, readonly column: number) {
    super(`${message} (at column ${column + 1})`);
  }
}

interface Token {
  text: string;
  quoted: boolean;
  at: number;
}

function tokenize(src: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  while (i < src.length) {
    const c = src[i];
    if (/\s/.test(c)) i++;
    else if (c === '(' || c === ')') out.push({ text: c, quoted: false, at: i++ });
    else if (c === '"' || c === "'") {
      const j = src.indexOf(c, i + 1);
      if (j < 0) throw new ConditionSyntaxError('unterminated quote', i);
      out.push({ text: src.slice(i + 1, j), quoted: true, at: i });
      i = j + 1;
    } else {
      let j = i;
      while (j < src.length && !/[\s()"']/.test(src[j])) j++;
      out.push({ text: src.slice(i, j), quoted: false, at: i });
      i = j;
    }
  }
  return out;
}

const GLOB_ATOMS = new Set(['tool', 'action', 'host', 'destination', 'method', 'principal', 'classification']);
const FLAG_ATOMS = new Set(['sensitive', 'write', 'read', 'external', 'new_destination', 'approved', 'failed']);
const glob = (g: string): ((s: string) => boolean) => globMatcher(g);

const DYNAMIC_ATOMS = new Set(['destination', 'principal', 'new_destination']);
/** Static atoms never consult the context. */
const NO_CONTEXT: PredicateContext = { knows: () => true };

export function parseCondition(src: string): Condition {
  const tokens = tokenize(src);
  let i = 0;
  let isStatic = true;
  const used: Record<string, string[]> = {};
  const peek = (): Token | undefined => tokens[i];
  const word = (w: string): boolean => peek()?.quoted === false && peek()?.text.toLowerCase() === w;
  const end = (): number => (tokens.length ? tokens[tokens.length - 1].at + tokens[tokens.length - 1].text.length : 0);
  const fail = (msg: string): never => {
    throw new ConditionSyntaxError(msg, peek()?.at ?? end());
  };

  // Each production returns the predicate and its partial form (see Partial).
  type Both = [Predicate, Partial];
  const atom = (): Both => {
    const t = peek();
    if (t === undefined) return fail('expected a condition, found the end');
    if (t.quoted) return fail(`unexpected "${t.text}": put a field name (tool, action, host…) before a quoted glob`);
    const name = t.text.toLowerCase();
    i++;
    const dynamic = DYNAMIC_ATOMS.has(name);
    if (dynamic) isStatic = false;
    const both = (p: Predicate): Both => [p, dynamic ? () => 2 : (c) => (p(c, NO_CONTEXT) ? 1 : 0)];
    if (FLAG_ATOMS.has(name)) return both(flag(name));
    if (!GLOB_ATOMS.has(name)) {
      i--;
      return fail(`unknown field "${t.text}": use one of ${[...GLOB_ATOMS, ...FLAG_ATOMS].join(', ')}`);
    }
    const g = peek();
    if (g === undefined || (!g.quoted && ['and', 'or', 'then', 'without', 'within', '(', ')'].includes(g.text))) return fail(`"${name}" needs a glob after it`);
    i++;
    (used[name] ??= []).push(g.text);
    return both(field(name, name === 'action' ? actionMatcher(g.text) : glob(g.text)));
  };

  const factor = (): Both => {
    if (word('not')) {
      i++;
      const [p, q] = factor();
      return [(c, x) => !p(c, x), (c) => { const v = q(c); return v === 2 ? 2 : v === 1 ? 0 : 1; }];
    }
    if (peek()?.text === '(' && !peek()?.quoted) {
      i++;
      const p = expr();
      if (peek()?.text !== ')') fail('expected ")"');
      i++;
      return p;
    }
    return atom();
  };

  const term = (): Both => {
    let [p, q] = factor();
    while (word('and')) {
      i++;
      const [l, lq] = [p, q];
      const [r, rq] = factor();
      p = (c, x) => l(c, x) && r(c, x);
      q = (c) => { const a = lq(c); if (a === 0) return 0; const b = rq(c); return b === 0 ? 0 : a === 1 && b === 1 ? 1 : 2; };
    }
    return [p, q];
  };

  const expr = (): Both => {
    let [p, q] = term();
    while (word('or')) {
      i++;
      const [l, lq] = [p, q];
      const [r, rq] = term();
      p = (c, x) => l(c, x) || r(c, x);
      q = (c) => { const a = lq(c); if (a === 1) return 1; const b = rq(c); return b === 1 ? 1 : a === 0 && b === 0 ? 0 : 2; };
    }
    return [p, q];
  };

  const within = (): number | undefined => {
    if (!word('within')) return undefined;
    i++;
    const t = peek();
    const ms = t ? parseDuration(t.text) : undefined;
    if (ms === undefined) return fail('"within" needs a duration such as 10m or 90s');
    i++;
    return ms;
  };

  const first = expr();
  let cond: Condition;
  if (word('then')) {
    i++;
    const b = expr();
    cond = { kind: 'then', static: true, globs: used, a: first[0], b: b[0], partialA: first[1], partialB: b[1], withinMs: within() };
  } else if (word('without')) {
    i++;
    if (!word('preceding')) fail('expected "preceding" after "without"');
    i++;
    const a = expr();
    cond = { kind: 'without', static: true, globs: used, a: a[0], b: first[0], partialA: a[1], partialB: first[1], withinMs: within() };
  } else cond = { kind: 'any', static: true, globs: used, a: first[0], partialA: first[1] };
  if (i < tokens.length) fail(`unexpected "${peek()!.text}"`);
  cond.static = isStatic;
  return cond;
}

function flag(name: string): Predicate {
  switch (name) {
    case 'sensitive': return (c) => c.sensitive;
    case 'write': return (c) => c.action.write;
    case 'read': return (c) => !c.action.write;
    case 'external': return (c) => c.external || c.destinations.some((d) => d.kind === 'email-domain' || d.kind === 'account');
    case 'approved': return (c) => c.approvalId !== undefined;
    case 'failed': return (c) => !c.outcome.ok;
    default: return (c, x) => (c.host !== undefined && !x.knows({ kind: 'host', value: c.host })) || c.destinations.some((d) => d.kind !== 'email' && !x.knows(d));
  }
}

function field(name: string, m: (s: string) => boolean): Predicate {
  switch (name) {
    case 'tool': return (c) => c.action.tool !== undefined && m(c.action.tool);
    case 'action': return (c) => m(c.action.signature);
    case 'host': return (c) => c.host !== undefined && m(c.host);
    case 'method': return (c) => c.action.method !== undefined && m(c.action.method);
    case 'principal': return (c) => c.principal !== undefined && m(c.principal);
    case 'classification': return (c) => c.sensitivity !== undefined && m(c.sensitivity);
    default: return (c) => (c.host !== undefined && m(c.host)) || c.destinations.some((d) => m(d.value));
  }
}
