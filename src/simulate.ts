/**
 * A simulated fleet of agents for accuracy runs, demos, tests and benchmarks. Agents of five
 * roles do their normal work as OTLP/JSON traces shaped like real instrumentations emit them
 * (invoke_agent root arriving last, chat spans, execute_tool spans with HTTP client children,
 * retries, legacy attribute names on some agents). The "live" period adds benign novelty and
 * labelled attack chains. Seeded: the same options give byte-identical output.
 */
export type Label =
  | 'benign' | 'benign-novelty' | 'out-of-scope-destination' | 'privilege-escalation' | 'exfiltration'
  | 'prompt-injection' | 'credential-misuse' | 'runaway-loop' | 'bulk-read' | 'long-lived-delegation';

export const ATTACKS: Label[] = [
  'out-of-scope-destination', 'privilege-escalation', 'exfiltration', 'prompt-injection',
  'credential-misuse', 'runaway-loop', 'bulk-read', 'long-lived-delegation',
];

export interface SimOptions {
  seed: number;
  agentsPerRole: number;
  historyDays: number;
  liveDays: number;
  chainsPerAgentDay: number;
  /** Attack chains of each class in the live period. */
  attacksPerClass: number;
  /** Epoch ms where history starts (a Monday 00:00 UTC by default). */
  start: number;
  /**
   * Number of each role's first agent (`support-agent-01` by default): a second fleet numbered
   * past the first shares no agent or credential with it (principals, a handful of users, recur).
   */
  firstAgent: number;
  /**
   * One `service.name` for every agent, and no `gen_ai.agent.name`: a runtime hosting every kind
   * of agent, whose agents then form one peer group (undefined: a service and a name per role).
   */
  sharedService?: string;
}

export const defaultSimOptions: SimOptions = {
  seed: 7, agentsPerRole: 4, historyDays: 14, liveDays: 3, chainsPerAgentDay: 24, attacksPerClass: 6,
  start: Date.UTC(2026, 5, 1), firstAgent: 1,
};

export interface LabelRecord {
  traceId: string;
  agentId: string;
  label: Label;
  note?: string;
}

export interface SimOutput {
  history: object[];
  live: object[];
  labels: LabelRecord[];
}

type Rand = () => number;

export function mulberry32(seed: number): Rand {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Step {
  tool: string;
  method: string;
  host: string;
  path: string;
  args?: Record<string, unknown>;
  sensitive?: boolean;
}

interface Agent {
  id: string;
  name: string;
  role: Role;
  instance: string;
  credential: string;
  principals: string[];
  legacy: boolean;
  version: string;
}

type Role = 'support' | 'billing' | 'research' | 'devops' | 'sales';
const ROLES: Role[] = ['support', 'billing', 'research', 'devops', 'sales'];
const CUSTOMER_DOMAINS = ['acme.com', 'globex.com', 'initech.com', 'umbrella.com', 'hooli.com', 'vandelay.com'];

class Fleet {
  readonly rand: Rand;
  constructor(readonly o: SimOptions) {
    this.rand = mulberry32(o.seed);
  }
  int(n: number): number {
    return Math.floor(this.rand() * n);
  }
  pick<T>(xs: T[]): T {
    return xs[this.int(xs.length)];
  }
  hex(bytes: number): string {
    let s = '';
    for (let i = 0; i < bytes; i++) s += this.int(256).toString(16).padStart(2, '0');
    return s;
  }

  agents(): Agent[] {
    const out: Agent[] = [];
    for (const role of ROLES) {
      for (let i = this.o.firstAgent; i < this.o.firstAgent + this.o.agentsPerRole; i++) {
        const n = String(i).padStart(2, '0');
        out.push({
          id: `${role}-agent-${n}`, name: `${role}-agent`, role, instance: `${role}-pod-${n}`, credential: `key_${role}_${n}`,
          principals: Array.from({ length: 3 }, (_, k) => `${role}-user-${(i * 3 + k) % 9}@corp.example`),
          legacy: role === 'devops' && i % 2 === 0, version: 'v2',
        });
      }
    }
    return out;
  }

  /** The normal task of a role: a sequence of tool steps. */
  task(a: Agent): Step[] {
    const id = (): string => String(1000 + this.int(9000));
    const cust = this.pick(CUSTOMER_DOMAINS);
    switch (a.role) {
      case 'support': {
        const t = id();
        const steps: Step[] = [{ tool: 'get_ticket', method: 'GET', host: 'tickets.corp.internal', path: `/api/${a.version}/tickets/${t}` }];
        if (this.rand() < 0.6) steps.push({ tool: 'search_kb', method: 'GET', host: 'kb.corp.internal', path: '/search', args: { q: 'reset password' } });
        if (this.rand() < 0.5) steps.push({ tool: 'get_customer', method: 'GET', host: 'crm.corp.internal', path: `/v1/customers/${id()}`, sensitive: true });
        steps.push({ tool: 'reply_ticket', method: 'POST', host: 'tickets.corp.internal', path: `/api/${a.version}/tickets/${t}/replies` });
        if (this.rand() < 0.4) steps.push({ tool: 'send_email', method: 'POST', host: 'mail.corp.internal', path: '/v1/send', args: { to: `client${this.int(50)}@${cust}`, subject: 'Your ticket' } });
        return steps;
      }
      case 'billing': {
        const steps: Step[] = [{ tool: 'get_invoice', method: 'GET', host: 'billing.corp.internal', path: `/v1/invoices/${id()}` }];
        steps.push({ tool: 'get_customer', method: 'GET', host: 'crm.corp.internal', path: `/v1/customers/${id()}`, sensitive: true });
        if (this.rand() < 0.5) steps.push({ tool: 'issue_refund', method: 'POST', host: 'api.stripe.com', path: '/v1/refunds', args: { amount: 10 + this.int(200) } });
        if (this.rand() < 0.5) steps.push({ tool: 'send_email', method: 'POST', host: 'mail.corp.internal', path: '/v1/send', args: { to: `ap@${cust}` } });
        return steps;
      }
      case 'research': {
        const steps: Step[] = [{ tool: 'web_search', method: 'GET', host: 'api.search.example', path: '/v1/search', args: { q: 'agent security' } }];
        const pages = 1 + this.int(4);
        for (let i = 0; i < pages; i++) {
          // Research agents browse sites they have never seen: novelty is their normal work.
          const site = `site${this.int(100000)}.${this.pick(['org', 'com', 'net', 'io'])}`;
          steps.push({ tool: 'fetch_page', method: 'GET', host: site, path: `/articles/${id()}`, args: { url: `https://${site}/articles/x` } });
        }
        steps.push({ tool: 'save_note', method: 'POST', host: 'notes.corp.internal', path: '/v1/notes' });
        return steps;
      }
      case 'devops': {
        const pr = id();
        const steps: Step[] = [{ tool: 'get_pr', method: 'GET', host: 'api.github.com', path: `/repos/corp/app/pulls/${pr}` }];
        steps.push({ tool: 'ci_status', method: 'GET', host: 'ci.corp.internal', path: `/api/v1/builds/${id()}` });
        if (this.rand() < 0.3) steps.push({ tool: 'ci_status', method: 'GET', host: 'ci.corp.internal', path: `/api/v1/builds/${id()}` });
        if (this.rand() < 0.6) steps.push({ tool: 'post_comment', method: 'POST', host: 'api.github.com', path: `/repos/corp/app/issues/${pr}/comments` });
        if (this.rand() < 0.4) steps.push({ tool: 'slack_notify', method: 'POST', host: 'slack.com', path: '/api/chat.postMessage', args: { channel: '#deploys', text: 'build ok' } });
        return steps;
      }
      case 'sales': {
        const steps: Step[] = [{ tool: 'search_contacts', method: 'GET', host: 'crm.corp.internal', path: '/v1/contacts', args: { q: 'cto' } }];
        const n = 1 + this.int(3);
        for (let i = 0; i < n; i++) steps.push({ tool: 'get_contact', method: 'GET', host: 'crm.corp.internal', path: `/v1/contacts/${id()}` });
        if (this.rand() < 0.5) steps.push({ tool: 'update_contact', method: 'PUT', host: 'crm.corp.internal', path: `/v1/contacts/${id()}` });
        if (this.rand() < 0.5) steps.push({ tool: 'send_email', method: 'POST', host: 'mail.corp.internal', path: '/v1/send', args: { to: `lead@${this.pick(CUSTOMER_DOMAINS)}` } });
        return steps;
      }
    }
  }

  /** A working-hours time for a chain on `day` (devops works round the clock). */
  chainStart(a: Agent, day: number): number {
    const base = this.o.start + day * 86_400_000;
    const hour = a.role === 'devops' ? this.int(24) : 8 + this.int(10);
    return base + hour * 3_600_000 + this.int(3_600_000);
  }
}

const str = (key: string, value: string): object => ({ key, value: { stringValue: value } });
const int = (key: string, value: number): object => ({ key, value: { intValue: String(value) } });
const nanos = (ms: number): string => `${Math.floor(ms)}${String(Math.round((ms % 1) * 1e6)).padStart(6, '0')}`;

interface TraceOptions {
  credential?: string;
  /** Gap in ms inserted before step i (long-lived delegation). */
  gaps?: Map<number, number>;
}

/** Render one chain as an OTLP/JSON ExportTraceServiceRequest, spans in end-time order. */
function trace(f: Fleet, a: Agent, start: number, steps: Step[], opts: TraceOptions = {}): { doc: object; traceId: string; parts: { t: number; doc: object }[] } {
  const traceId = f.hex(16);
  const rootId = f.hex(8);
  const principal = f.pick(a.principals);
  const spans: { end: number; span: object }[] = [];
  let t = start + 50;
  const span = (spanId: string, parent: string, name: string, kind: number, s: number, e: number, attrs: object[], status = 0): void => {
    spans.push({ end: e, span: { traceId, spanId, parentSpanId: parent, name, kind, startTimeUnixNano: nanos(s), endTimeUnixNano: nanos(e), attributes: attrs, status: { code: status } } });
  };
  steps.forEach((step, i) => {
    t += opts.gaps?.get(i) ?? 0;
    const chatId = f.hex(8);
    const chatEnd = t + 300 + f.int(900);
    span(chatId, rootId, 'chat gpt-4o', 3, t, chatEnd, [str('gen_ai.operation.name', 'chat'), str('gen_ai.provider.name', 'openai'), str('server.address', 'api.openai.com')]);
    t = chatEnd + 5;
    const toolId = f.hex(8);
    const toolStart = t;
    const toolAttrs = [str('gen_ai.operation.name', 'execute_tool'), str('gen_ai.tool.name', step.tool), str('gen_ai.tool.call.id', `call_${f.hex(4)}`),
      str('chainwatch.credential.id', opts.credential ?? a.credential)];
    if (step.args) toolAttrs.push(str('gen_ai.tool.call.arguments', JSON.stringify(step.args)));
    if (step.sensitive) toolAttrs.push(str('chainwatch.data.classification', 'customer'));
    const attempts = f.rand() < 0.05 ? 2 : 1;
    let ct = t + 2;
    for (let r = 0; r < attempts; r++) {
      const clientEnd = ct + 20 + f.int(200);
      const url = `https://${step.host}${step.path}`;
      const status = r < attempts - 1 ? 503 : step.method === 'POST' ? 201 : 200;
      const attrs = a.legacy
        ? [str('http.method', step.method), str('http.url', url), str('net.peer.name', step.host), int('net.peer.port', 443), int('http.status_code', status)]
        : [str('http.request.method', step.method), str('url.full', url), str('server.address', step.host), int('server.port', 443), int('http.response.status_code', status)];
      if (r > 0) attrs.push(int('http.request.resend_count', r));
      span(f.hex(8), toolId, step.method, 3, ct, clientEnd, attrs, status >= 500 ? 2 : 0);
      ct = clientEnd + 10;
    }
    t = ct + 5;
    span(toolId, rootId, `execute_tool ${step.tool}`, 1, toolStart, t, toolAttrs);
    t += 20 + f.int(200);
  });
  const shared = f.o.sharedService;
  span(rootId, '', `invoke_agent ${a.name}`, 1, start, t + 100, [
    str('gen_ai.operation.name', 'invoke_agent'), str('gen_ai.agent.id', a.id), ...(shared === undefined ? [str('gen_ai.agent.name', a.name)] : []),
    str('enduser.id', principal), str('gen_ai.conversation.id', `conv-${f.hex(4)}`),
  ]);
  spans.sort((x, y) => x.end - y.end);
  const render = (list: { span: object }[]): object => ({
    resourceSpans: [{
      resource: { attributes: [str('service.name', shared ?? `${a.role}-svc`), str('service.instance.id', a.instance)] },
      scopeSpans: [{ scope: { name: 'agent-framework', version: '1.4.0' }, spans: list.map((s) => s.span) }],
    }],
  });
  // A trace with a long pause is exported in two batches, as a batching SDK would.
  const gapAt = opts.gaps ? start + Math.min(...[...opts.gaps.values()]) / 2 : Infinity;
  const early = spans.filter((s) => s.end < gapAt);
  const late = spans.filter((s) => s.end >= gapAt);
  const parts = early.length && late.length
    ? [{ t: early[early.length - 1].end, doc: render(early) }, { t: late[late.length - 1].end, doc: render(late) }]
    : [{ t: spans[spans.length - 1].end, doc: render(spans) }];
  return { doc: render(spans), traceId, parts };
}

/** Attack steps for each class, spliced into (or replacing) a normal task. */
function attack(f: Fleet, a: Agent, label: Label, fleet: Agent[]): { steps: Step[]; opts: TraceOptions; note: string } {
  const normal = f.task(a);
  const id = (): string => String(1000 + f.int(9000));
  switch (label) {
    case 'out-of-scope-destination':
      return { steps: [...normal.slice(0, 2), { tool: 'lookup_person', method: 'GET', host: 'api.databroker-x.com', path: `/v1/people/${id()}` }, ...normal.slice(2)], opts: {}, note: 'calls an unknown data broker' };
    case 'privilege-escalation':
      return { steps: [...normal.slice(0, 1), { tool: 'grant_role', method: 'POST', host: 'iam.corp.internal', path: `/v1/admin/users/${id()}/roles`, args: { role: 'admin' } }], opts: {}, note: 'grants itself admin' };
    case 'exfiltration':
      return {
        steps: [{ tool: 'get_customer', method: 'GET', host: 'crm.corp.internal', path: `/v1/customers/${id()}`, sensitive: true },
          { tool: 'upload_file', method: 'POST', host: 'paste-drop.io', path: '/api/v1/pastes', args: { content: 'customer dump' } }],
        opts: {}, note: 'customer record posted to a paste site',
      };
    case 'prompt-injection':
      return {
        steps: [...normal.filter((s) => s.tool !== 'send_email'), { tool: 'get_customer', method: 'GET', host: 'crm.corp.internal', path: `/v1/customers/${id()}`, sensitive: true },
          { tool: 'send_email', method: 'POST', host: 'mail.corp.internal', path: '/v1/send', args: { to: 'collector@evil-mail.net', subject: 'fwd' } }],
        opts: {}, note: 'hijacked task emails customer data outside',
      };
    case 'credential-misuse': {
      const other = fleet.find((x) => x.role !== a.role)!;
      return { steps: normal, opts: { credential: other.credential }, note: `uses ${other.id}'s credential` };
    }
    case 'runaway-loop': {
      const s = normal[0];
      return { steps: [...normal, ...Array.from({ length: 60 }, () => ({ ...s, path: s.path }))], opts: {}, note: 'repeats one call 60 times' };
    }
    case 'bulk-read':
      return {
        steps: Array.from({ length: 150 }, () => ({ tool: 'get_customer', method: 'GET', host: 'crm.corp.internal', path: `/v1/customers/${id()}`, sensitive: true })),
        opts: {}, note: 'reads 150 customer records',
      };
    case 'long-lived-delegation':
      return { steps: normal, opts: { gaps: new Map([[normal.length - 1, 6 * 3_600_000]]) }, note: 'keeps acting 6 hours later' };
    default:
      return { steps: normal, opts: {}, note: '' };
  }
}

export function simulate(options: Partial<SimOptions> = {}): SimOutput {
  const o = { ...defaultSimOptions, ...options };
  const f = new Fleet(o);
  const fleet = f.agents();
  const out: SimOutput = { history: [], live: [], labels: [] };
  const days = o.historyDays + o.liveDays;
  const attackRoles: Record<string, Role[]> = {
    'out-of-scope-destination': ['support', 'billing', 'sales'], 'privilege-escalation': ['devops', 'billing', 'support'],
    exfiltration: ['support', 'billing', 'sales'], 'prompt-injection': ['support'], 'credential-misuse': ['billing', 'sales', 'support'],
    'runaway-loop': ['devops', 'support'], 'bulk-read': ['sales', 'support'], 'long-lived-delegation': ['support', 'billing', 'sales'],
  };
  type Planned = { t: number; doc: object };
  const live: Planned[] = [];
  const history: Planned[] = [];
  for (let day = 0; day < days; day++) {
    const isLive = day >= o.historyDays;
    if (isLive && day === o.historyDays + 1) {
      // Benign drift: every support agent moves to v3 of the ticket API on the second live day.
      for (const a of fleet) if (a.role === 'support') a.version = 'v3';
    }
    for (const a of fleet) {
      const weekend = new Date(o.start + day * 86_400_000).getUTCDay() % 6 === 0;
      const n = weekend && a.role !== 'devops' ? Math.floor(o.chainsPerAgentDay / 6) : o.chainsPerAgentDay;
      for (let c = 0; c < n; c++) {
        const start = f.chainStart(a, day);
        const { traceId, parts } = trace(f, a, start, f.task(a));
        if (isLive) {
          live.push(...parts);
          const novel = a.role === 'research' || (a.role === 'support' && a.version === 'v3');
          out.labels.push({ traceId, agentId: a.id, label: novel ? 'benign-novelty' : 'benign' });
        } else history.push(...parts);
      }
    }
  }
  for (const label of ATTACKS) {
    const roles = attackRoles[label];
    for (let k = 0; k < o.attacksPerClass; k++) {
      const candidates = fleet.filter((a) => roles.includes(a.role));
      const a = candidates[k % candidates.length];
      const day = o.historyDays + f.int(o.liveDays);
      if (a.role === 'support') a.version = day >= o.historyDays + 1 ? 'v3' : 'v2';
      const { steps, opts, note } = attack(f, a, label, fleet);
      const start = f.chainStart(a, day);
      const { traceId, parts } = trace(f, a, start, steps, opts);
      live.push(...parts);
      out.labels.push({ traceId, agentId: a.id, label, note });
    }
  }
  // Exported order follows span end times, as a Collector would write them.
  history.sort((x, y) => x.t - y.t);
  live.sort((x, y) => x.t - y.t);
  out.history = history.map((p) => p.doc);
  out.live = live.map((p) => p.doc);
  return out;
}
