/**
 * Span(s) → AgentCall, per the attribute contract (src/attribute-map.ts). A tool invocation is one
 * call: the execute_tool span gives the tool and arguments, its first client child the
 * destination and action, further children with the same action are retries. Everything kept is
 * redacted here, before it reaches state, alerts or stores.
 */
import { type AttributeMapping, KeyFilter, type MappingIndex, defaultMapping, indexMapping } from './attribute-map.js';
import { type AgentCall, type AgentIdentity, type ActionKind, agentIdentity } from './agent-call.js';
import { argDestinations } from './arg-destinations.js';
import { redactText, redactUrl } from './redact.js';
import { type AttrValue, type Attrs, FieldKeys, type RawSpan, SpanKind } from './span.js';
import { actionMatcher, globMatcher, memo } from './glob.js';
import { ActionMemo, type KnownAction } from './action-memo.js';
import { PathScan, liftVersion } from './url-template.js';

export interface NormalizeConfig {
  mapping: AttributeMapping;
  /** Host globs that are ours; everything else is external. */
  internalDomains: string[];
  /** Globs over tool names and action signatures that read sensitive data (`*` spans slashes: a signature holds a path). */
  sensitive: string[];
  /** Count LLM round trips (chat, embeddings…) as calls. Off: they are the agent's own thinking. */
  includeModelCalls: boolean;
}

export const defaultNormalizeConfig: NormalizeConfig = {
  mapping: defaultMapping,
  internalDomains: ['*.internal', '*.local', '*.corp', 'localhost', '*.svc.cluster.local'],
  sensitive: ['*secret*', '*credential*', '*password*', '*vault*', '*customer*', '*payroll*', '*pii*', '*ssn*', '*patient*', '*salary*'],
  includeModelCalls: false,
};

/**
 * What a gen_ai.operation.name says a span is (its role in call assembly), or undefined for other
 * operations. A switch, not Sets: asked for every span, and the compares fail fast on length.
 */
function operationRole(op: string): 'agent' | 'tool' | 'model' | undefined {
  switch (op) {
    case 'invoke_agent':
    case 'create_agent':
    case 'invoke_workflow':
      return 'agent';
    case 'execute_tool':
      return 'tool';
    case 'chat':
    case 'text_completion':
    case 'generate_content':
    case 'embeddings':
    case 'retrieval':
    case 'plan':
      return 'model';
    default:
      return undefined;
  }
}

/** An HTTP method in capitals: the usual ones as sent need no new string (toUpperCase makes one each call). */
function upperMethod(method: string): string {
  switch (method) {
    case 'GET':
    case 'POST':
    case 'PUT':
    case 'PATCH':
    case 'DELETE':
    case 'HEAD':
    case 'OPTIONS':
      return method;
    default:
      return method.toUpperCase();
  }
}

const isWriteMethod = (method: string): boolean => method === 'POST' || method === 'PUT' || method === 'PATCH' || method === 'DELETE';
const WRITE_WORD = /^(send|post|create|update|delete|remove|write|upload|transfer|publish|share|invite|grant|set|put|pay|refund|email|notify|insert|upsert|drop|deploy|merge|push|execute|run|approve)|(_|\b)(send|post|create|update|delete|write|upload|transfer|publish|share|grant|pay|refund|email|notify)(_|\b)/i;
/** Bits of Normalizer.toolFacts. */
const TOOL_WRITES = 1;
const TOOL_SENSITIVE = 2;
/** Whether a tool or method name reads as a write; names repeat, so answers are memoized (bounded). */
const isWriteWord = memo((name: string) => WRITE_WORD.test(name), 20_000);
const PRIVATE_HOST = /^(localhost|127\.|10\.|192\.168\.|172\.(1[6-9]|2\d|3[01])\.|\[?::1\]?$)/;

/** Classification of a span for call assembly. */
export type SpanRole = 'agent' | 'tool' | 'client' | 'model' | 'other';

/** Where the last URL given to authorityStart ends its authority and its path (before `?` or `#`), and its authority's last `@` (-1: none). */
let urlAuthorityEnd = 0;
let urlPathEnd = 0;
let urlLastAt = -1;

/**
 * scheme://authority/path?query — the parts we need, without a full WHATWG URL parse (or a
 * regular expression's match array) per call: the index where the authority starts, or -1 when
 * `raw` does not start with a scheme and `://`; sets urlAuthorityEnd, urlPathEnd and urlLastAt.
 */
function authorityStart(raw: string): number {
  const first = raw.charCodeAt(0) | 0x20;
  if (first < 97 || first > 122) return -1;
  let i = 1;
  for (; i < raw.length; i++) {
    const c = raw.charCodeAt(i);
    const lower = c | 0x20;
    // Scheme characters: letters, digits, + . -
    if (!((lower >= 97 && lower <= 122) || (c >= 48 && c <= 57) || c === 43 || c === 46 || c === 45)) break;
  }
  if (raw.charCodeAt(i) !== 58 || raw.charCodeAt(i + 1) !== 47 || raw.charCodeAt(i + 2) !== 47) return -1;
  const from = i + 3;
  let end = from;
  urlLastAt = -1;
  for (; end < raw.length; end++) {
    const c = raw.charCodeAt(end);
    if (c === 47 || c === 63 || c === 35) break; // / ? #
    if (c === 64) urlLastAt = end; // @: userinfo ends here
  }
  urlAuthorityEnd = end;
  for (; end < raw.length; end++) {
    const c = raw.charCodeAt(end);
    if (c === 63 || c === 35) break; // ? #
  }
  urlPathEnd = end;
  return from;
}

export class Normalizer {
  /** The decoders' key filter: attribute names ↔ the indices the mapping is read by. */
  readonly filter: KeyFilter;
  private readonly m: MappingIndex;
  private readonly isInternal: (host: string) => boolean;
  private readonly isSensitive: (s: string) => boolean;
  /**
   * The same without their memos, for an action the action memo is about to keep (its entry is
   * then their memo): a research agent's every new site (a tenth of the bench's calls) missed both
   * memos, hashing its new host and signature into them and growing them for nothing.
   */
  private readonly isInternalOnce: (host: string) => boolean;
  private readonly isSensitiveOnce: (s: string) => boolean;
  private readonly toolFactsMemo = new Map<string, number>();
  private readonly actions = new ActionMemo(20_000);
  private readonly pathScan = new PathScan();
  private readonly resourceKeys = new Map<string, { service: string; key: string }>();
  /** Every key a trace's context is read from (principal, conversation, agent id and name). */
  private readonly contextKeys: FieldKeys;

  constructor(readonly config: NormalizeConfig = defaultNormalizeConfig) {
    this.filter = KeyFilter.forMapping(config.mapping);
    this.m = indexMapping(config.mapping, this.filter);
    const m = this.m;
    this.contextKeys = new FieldKeys([...m.principal.keys, ...m.conversation.keys, ...m.agentId.keys, ...m.agentName.keys]);
    this.isInternal = globMatcher(config.internalDomains, 20_000);
    this.isSensitive = actionMatcher(config.sensitive, 20_000);
    this.isInternalOnce = globMatcher(config.internalDomains, 0);
    this.isSensitiveOnce = actionMatcher(config.sensitive, 0);
  }

  role(span: RawSpan): SpanRole {
    const op = str(span.attrs, this.m.operation);
    if (op !== undefined) {
      const r = operationRole(op);
      if (r === 'model') return this.config.includeModelCalls ? 'client' : 'model';
      if (r !== undefined) return r;
    }
    if (str(span.attrs, this.m.mcpMethod) === 'tools/call') return 'tool';
    if (span.kind === SpanKind.CLIENT || span.kind === SpanKind.PRODUCER) return 'client';
    return 'other';
  }

  /** Agent identity carried by the span itself, if any (`source` says how it was found). */
  spanIdentity(span: RawSpan, source: AgentIdentity['source']): AgentIdentity | undefined {
    const id = str(span.attrs, this.m.agentId) ?? str(span.attrs, this.m.agentName);
    if (id === undefined) return undefined;
    // Built field by field: object spread is slow on this path (one per trace root).
    return agentIdentity(id, str(span.resource, this.m.serviceName), str(span.resource, this.m.serviceInstance), source, str(span.attrs, this.m.agentName));
  }

  /** The resource's own identity: service.name and instance. */
  resourceIdentity(resource: Attrs): AgentIdentity {
    const service = str(resource, this.m.serviceName);
    const instance = str(resource, this.m.serviceInstance);
    const id = service === undefined ? 'unknown-agent' : instance === undefined ? service : `${service}/${instance}`;
    return agentIdentity(id, service, instance, 'resource', undefined);
  }

  /** Whether the resource is chainwatch's own telemetry (see SELF_ATTRIBUTE in telemetry). */
  isSelf(resource: Attrs): boolean {
    return str(resource, this.m.self) === 'true';
  }

  /**
   * Key of a resource for the alias table (resource → agent id). The same string object for the
   * same service and instance (found by instance, which names the pod or process): a key built
   * per lookup is flattened and hashed again each time: 220–500 ns a Map lookup here against
   * 15–50 ns for a string whose hash is kept (1,000 keys, one core). Remembers the first 50,000
   * instances.
   */
  resourceKey(resource: Attrs): string {
    const service = str(resource, this.m.serviceName) ?? '';
    const instance = str(resource, this.m.serviceInstance) ?? '';
    const known = this.resourceKeys.get(instance);
    if (known !== undefined && known.service === service) return known.key;
    const key = `${service}|${instance}`;
    if (known === undefined && this.resourceKeys.size < 50_000) this.resourceKeys.set(instance, { service, key });
    return key;
  }

  /**
   * False when neither the span nor its resource can name a principal, conversation or agent: the
   * chain assembler then takes no context from it (most spans: tool, client and model spans
   * before their trace's root arrives, four lookups each for nothing).
   */
  mayCarryContext(span: RawSpan): boolean {
    return span.attrs.mayHold(this.contextKeys) || span.resource.mayHold(this.m.principal);
  }

  /** Trace-level context found on agent spans: the human principal and conversation. */
  principalOf(span: RawSpan): string | undefined {
    return str(span.attrs, this.m.principal) ?? str(span.resource, this.m.principal);
  }

  conversationOf(span: RawSpan): string | undefined {
    return str(span.attrs, this.m.conversation);
  }

  /**
   * Build the call for a tool invocation (tool span + client children) or a lone client span.
   * `children` are the tool's client children in start order; the list is read, never kept (the
   * chain assembler reuses it).
   */
  call(tool: RawSpan | undefined, children: RawSpan[], agent: AgentIdentity, trace: { principal?: string; conversation?: string }): AgentCall {
    const m = this.m;
    const client = children[0];
    const main = client ?? tool!;
    const toolName = tool ? str(tool.attrs, m.toolName) : str(main.attrs, m.toolName);
    const argsSpan = tool ?? main;
    const args = first(argsSpan.attrs, m.toolArgs);
    const destinations = argDestinations(args);

    let kind: ActionKind = 'tool';
    let method: string | undefined;
    let template: string | undefined;
    let version: string | undefined;
    let host: string | undefined;
    let port: number | undefined;
    let url: string | undefined;
    let resource: string;
    let write = false;
    let signature: string;
    // HTTP and tool-only actions come from the memo; the rarer kinds are built each time.
    let known: KnownAction | undefined;

    if (client) {
      const a = client.attrs;
      const rawUrl = str(a, m.urlFull);
      let path: string | undefined;
      let pathClean = false;
      let hostAt = -1;
      if (rawUrl !== undefined) {
        const from = authorityStart(rawUrl);
        // Only URLs that may carry secrets (userinfo, a query; or a fragment) pay for a full parse and redaction.
        const at = from < 0 ? -1 : urlLastAt;
        const plain = from >= 0 && at < from && urlPathEnd === rawUrl.length;
        url = plain ? redactText(rawUrl) : redactUrl(rawUrl);
        if (from >= 0) {
          hostAt = at < from ? from : at + 1;
          path = urlPathEnd > urlAuthorityEnd ? rawUrl.slice(urlAuthorityEnd, urlPathEnd) : '/';
          // The path is then the URL's tail from a '/', and redaction found nothing in the whole
          // URL: no credential shape can match inside its tail alone (none starts with '/').
          pathClean = plain && url === rawUrl;
        }
      }
      const address = str(a, m.serverAddress);
      const spanPort = num(a, m.serverPort);
      if (hostAt >= 0 && (address === undefined || spanPort === undefined)) {
        // The URL's host and port, read only when the span's server.address or server.port is missing.
        const colon = rawUrl!.lastIndexOf(':', urlAuthorityEnd - 1);
        const bracket = rawUrl!.lastIndexOf(']', urlAuthorityEnd - 1);
        const hasPort = colon >= hostAt && colon > bracket;
        host = address ?? rawUrl!.slice(hostAt, hasPort ? colon : urlAuthorityEnd);
        port = spanPort ?? (hasPort ? Number(rawUrl!.slice(colon + 1, urlAuthorityEnd)) || undefined : undefined);
      } else {
        host = address;
        port = spanPort;
      }
      host = host?.toLowerCase();
      const httpMethod = str(a, m.httpMethod);
      const rpcMethod = str(a, m.rpcMethod);
      const dbSystem = str(a, m.dbSystem);
      const mcpMethod = str(a, m.mcpMethod);
      const msgDest = str(a, m.messagingDestination);
      if (httpMethod !== undefined) {
        kind = 'http';
        method = upperMethod(httpMethod);
        const spanTemplate = str(a, m.urlTemplate);
        const place = host ?? '?';
        if (spanTemplate !== undefined) {
          const t = liftVersion(spanTemplate);
          template = t.template;
          version = t.version;
          known = this.actions.find(place, kind, method, template, version, toolName);
        } else {
          // The path's template is built only when the memo has no action with it.
          const scan = this.pathScan.scan(path ?? '/');
          known = this.actions.findByPath(place, method, toolName, scan);
          const t = known === undefined ? scan.template() : known.action;
          template = t.template;
          version = t.version;
        }
        if (known === undefined) {
          signature = `${method} ${place}${template}`;
          const facts = this.toolFacts(toolName);
          const kept = this.actions.keeps(place, signature);
          // Whether the host is external is known from the place's other actions, when it has any.
          const external = host !== undefined && (this.actions.externalAt(place) ?? this.externalHost(host, kept));
          known = this.actions.add(place, {
            kind, signature, write: isWriteMethod(method) || (facts & TOOL_WRITES) !== 0, tool: toolName, method, template, version,
          }, this.sensitive(signature, kept) || (facts & TOOL_SENSITIVE) !== 0, external);
        }
        signature = known.action.signature;
        resource = `${place}${path === undefined ? template : pathClean ? path : redactText(path)}`;
      } else if (rpcMethod !== undefined) {
        kind = 'rpc';
        const service = str(a, m.rpcService);
        method = service !== undefined && !rpcMethod.includes('/') ? `${service}/${rpcMethod}` : rpcMethod;
        signature = `rpc ${host ?? '?'} ${method}`;
        resource = signature;
        write = isWriteWord(method.split('/').pop() ?? '');
      } else if (dbSystem !== undefined) {
        kind = 'db';
        method = (str(a, m.dbOperation) ?? 'query').toUpperCase();
        const target = [str(a, m.dbNamespace), str(a, m.dbCollection)].filter(Boolean).join('.');
        host ??= dbSystem;
        signature = `db ${dbSystem} ${method} ${target}`;
        resource = `${dbSystem}:${target}`;
        write = /^(INSERT|UPDATE|DELETE|UPSERT|MERGE|DROP|ALTER|CREATE|TRUNCATE|REPLACE)/.test(method);
      } else if (mcpMethod !== undefined) {
        kind = 'mcp';
        method = mcpMethod;
        const target = toolName ?? str(a, m.mcpResource) ?? '';
        signature = `mcp ${host ?? ''} ${mcpMethod} ${target}`.replace(/\s+/g, ' ').trim();
        resource = str(a, m.mcpResource) ?? signature;
        write = isWriteWord(target);
      } else if (msgDest !== undefined) {
        kind = 'messaging';
        method = 'publish';
        signature = `publish ${host ?? ''} ${msgDest}`.trim();
        resource = signature;
        write = true;
      } else {
        kind = 'rpc';
        signature = `${main.name} ${host ?? ''}`.trim();
        resource = signature;
      }
    } else {
      const place = toolName ?? main.name;
      known = this.actions.find(place, kind, undefined, undefined, undefined, toolName);
      if (known === undefined) {
        signature = `tool ${place}`;
        const facts = this.toolFacts(toolName);
        known = this.actions.add(place, {
          kind, signature, write: (facts & TOOL_WRITES) !== 0, tool: toolName, method, template, version,
        }, this.sensitive(signature, this.actions.keeps(place, signature)) || (facts & TOOL_SENSITIVE) !== 0, false);
      }
      signature = known.action.signature;
      resource = `${signature}:${argsKey(args)}`;
    }
    // The rarer kinds, built here: what the tool's name says (the memo's actions carry it already).
    // A call through a tool whose name says it writes writes, whatever its method.
    const facts = known === undefined ? this.toolFacts(toolName) : 0;
    if (!write && (facts & TOOL_WRITES) !== 0) write = true;

    const retries = children.length > 1 ? children.length - 1 : 0;
    const status = client ? num(client.attrs, m.httpStatus) : undefined;
    const failed = main.statusCode === 2 || (status !== undefined && status >= 400);
    const sensitivity = str(main.attrs, m.sensitivity) ?? (tool ? str(tool.attrs, m.sensitivity) : undefined);
    const sensitive = (sensitivity !== undefined && sensitivity !== 'public')
      || (known !== undefined ? known.sensitive : this.isSensitive(signature) || (facts & TOOL_SENSITIVE) !== 0);
    const credential = str(main.attrs, m.credentialId) ?? (tool && str(tool.attrs, m.credentialId)) ?? str(main.resource, m.credentialId);

    const error = str(main.attrs, m.errorType);
    const principal = str(main.attrs, m.principal) ?? (tool && str(tool.attrs, m.principal)) ?? trace.principal;
    const credentialType = str(main.attrs, m.credentialType) ?? str(main.resource, m.credentialType);
    const approval = str(main.attrs, m.approval) ?? (tool && str(tool.attrs, m.approval));
    // Every field in one literal, in one order, absent ones undefined: every call then has the
    // same hidden class, and the detectors' property reads stay monomorphic (optional fields added
    // one by one gave the simulated fleet's calls six shapes). JSON leaves undefined fields out.
    const out: AgentCall = {
      time: (tool ?? main).startMs,
      endTime: (tool ?? main).endMs,
      traceId: main.traceId,
      spanId: main.spanId,
      agent,
      action: known !== undefined ? known.action : { kind, signature, write, tool: toolName, method, template, version },
      external: known !== undefined ? known.external : host !== undefined && this.isExternalHost(host),
      destinations,
      resource,
      outcome: { ok: !failed, status, error: error === undefined ? undefined : redactText(error) },
      retries,
      sensitive,
      toolSpanId: tool && client ? tool.spanId : undefined,
      host,
      port,
      url,
      principal,
      credential: credential === undefined ? undefined : redactText(credential),
      credentialType,
      conversationId: trace.conversation,
      sensitivity,
      bytesOut: client ? num(client.attrs, m.requestBytes) : undefined,
      bytesIn: client ? num(client.attrs, m.responseBytes) : undefined,
      approvalId: approval,
      credentialIssuedAt: num(main.attrs, m.credentialIssuedAt) ?? num(main.resource, m.credentialIssuedAt),
    };
    return out;
  }

  /**
   * What a tool's name says (TOOL_WRITES, TOOL_SENSITIVE), from one bounded memo: tool names
   * repeat, and asking the write and the sensitive memos apart was two lookups per call.
   */
  private toolFacts(name: string | undefined): number {
    if (name === undefined) return 0;
    let f = this.toolFactsMemo.get(name);
    if (f === undefined) {
      const kept = this.toolFactsMemo.size < 20_000;
      f = (WRITE_WORD.test(name) ? TOOL_WRITES : 0) | (this.sensitive(name, kept) ? TOOL_SENSITIVE : 0);
      if (kept) this.toolFactsMemo.set(name, f);
    }
    return f;
  }

  isExternalHost(host: string): boolean {
    return this.externalHost(host, false);
  }

  /** `once`: the answer is about to be kept in the action memo, so the glob memo is passed by. */
  private externalHost(host: string, once: boolean): boolean {
    return !PRIVATE_HOST.test(host) && !(once ? this.isInternalOnce(host) : this.isInternal(host));
  }

  private sensitive(signature: string, once: boolean): boolean {
    return once ? this.isSensitiveOnce(signature) : this.isSensitive(signature);
  }

  /** Whether a client span repeats the first one's action (a retry, not a new call). */
  sameAction(a: RawSpan, b: RawSpan): boolean {
    const m = this.m;
    if ((num(b.attrs, m.resendCount) ?? 0) > 0) return true;
    return str(a.attrs, m.httpMethod) === str(b.attrs, m.httpMethod)
      && (str(a.attrs, m.serverAddress) ?? '') === (str(b.attrs, m.serverAddress) ?? '')
      && (str(a.attrs, m.urlTemplate) ?? pathOf(str(a.attrs, m.urlFull))) === (str(b.attrs, m.urlTemplate) ?? pathOf(str(b.attrs, m.urlFull)))
      && str(a.attrs, m.rpcMethod) === str(b.attrs, m.rpcMethod)
      && str(a.attrs, m.dbOperation) === str(b.attrs, m.dbOperation);
  }
}

function pathOf(url: string | undefined): string | undefined {
  if (url === undefined) return undefined;
  const q = url.indexOf('?');
  return q < 0 ? url : url.slice(0, q);
}

function first(attrs: Attrs, f: FieldKeys): AttrValue | undefined {
  if (!attrs.mayHold(f)) return undefined;
  for (const k of f.keys) {
    const v = attrs.get(k);
    if (v !== undefined && v !== null) return v;
  }
  return undefined;
}

/** First string-valued attribute among keys (numbers are stringified: ids are sometimes ints). */
export function str(attrs: Attrs, f: FieldKeys): string | undefined {
  if (!attrs.mayHold(f)) return undefined;
  const keys = f.keys;
  for (let i = 0; i < keys.length; i++) {
    const v = attrs.get(keys[i]);
    if (typeof v === 'string') return v === '' ? undefined : v;
    if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  }
  return undefined;
}

export function num(attrs: Attrs, f: FieldKeys): number | undefined {
  if (!attrs.mayHold(f)) return undefined;
  for (const k of f.keys) {
    const v = attrs.get(k);
    if (typeof v === 'number') return v;
    if (typeof v === 'string' && v !== '' && Number.isFinite(Number(v))) return Number(v);
  }
  return undefined;
}

function argsKey(args: AttrValue | undefined): string {
  if (args === undefined || args === null) return '';
  const s = typeof args === 'string' ? args : JSON.stringify(args);
  return redactText(s.length > 120 ? s.slice(0, 120) : s);
}
