/**
 * The attribute contract: which OTLP attribute names feed which AgentCall field, current GenAI
 * and HTTP/RPC/DB semantic-convention names first, then the legacy names still emitted by older
 * SDKs. This is the only module that knows attribute names; everything after normalize sees
 * AgentCall. Each entry is a list tried in order. Pinned to semconv v1.41 / semconv-genai HEAD
 * (2026-08); see ../shared/FORMATS.md section 1.
 */
export interface AttributeMapping {
  operation: string[];
  agentId: string[];
  agentName: string[];
  toolName: string[];
  toolArgs: string[];
  principal: string[];
  credentialId: string[];
  credentialType: string[];
  conversation: string[];
  httpMethod: string[];
  urlFull: string[];
  urlTemplate: string[];
  serverAddress: string[];
  serverPort: string[];
  httpStatus: string[];
  resendCount: string[];
  rpcSystem: string[];
  rpcService: string[];
  rpcMethod: string[];
  dbSystem: string[];
  dbOperation: string[];
  dbNamespace: string[];
  dbCollection: string[];
  mcpMethod: string[];
  mcpResource: string[];
  messagingDestination: string[];
  errorType: string[];
  requestBytes: string[];
  responseBytes: string[];
  sensitivity: string[];
  approval: string[];
  credentialIssuedAt: string[];
  /** Resource attributes. */
  serviceName: string[];
  serviceInstance: string[];
  /** Attribute name prefixes kept (redacted) for evidence, e.g. captured request headers. */
  keepPrefixes: string[];
}

export const defaultMapping: AttributeMapping = {
  operation: ['gen_ai.operation.name'],
  agentId: ['gen_ai.agent.id'],
  agentName: ['gen_ai.agent.name'],
  toolName: ['gen_ai.tool.name'],
  toolArgs: ['gen_ai.tool.call.arguments'],
  principal: ['enduser.id', 'user.id', 'enduser.pseudo.id'],
  credentialId: ['chainwatch.credential.id'],
  credentialType: ['chainwatch.credential.type'],
  conversation: ['gen_ai.conversation.id', 'session.id', 'mcp.session.id'],
  httpMethod: ['http.request.method', 'http.method'],
  urlFull: ['url.full', 'http.url'],
  urlTemplate: ['url.template', 'http.route'],
  serverAddress: ['server.address', 'net.peer.name', 'net.host.name'],
  serverPort: ['server.port', 'net.peer.port'],
  httpStatus: ['http.response.status_code', 'http.status_code'],
  resendCount: ['http.request.resend_count'],
  rpcSystem: ['rpc.system.name', 'rpc.system'],
  rpcService: ['rpc.service'],
  rpcMethod: ['rpc.method'],
  dbSystem: ['db.system.name', 'db.system'],
  dbOperation: ['db.operation.name', 'db.operation'],
  dbNamespace: ['db.namespace', 'db.name'],
  dbCollection: ['db.collection.name', 'db.sql.table', 'db.mongodb.collection'],
  mcpMethod: ['mcp.method.name'],
  mcpResource: ['mcp.resource.uri'],
  messagingDestination: ['messaging.destination.name'],
  errorType: ['error.type'],
  requestBytes: ['http.request.body.size', 'http.request_content_length'],
  responseBytes: ['http.response.body.size', 'http.response_content_length'],
  sensitivity: ['chainwatch.data.classification'],
  approval: ['chainwatch.approval.id'],
  credentialIssuedAt: ['chainwatch.credential.issued_at'],
  serviceName: ['service.name'],
  serviceInstance: ['service.instance.id'],
  keepPrefixes: ['http.request.header.'],
};

/** Merge user overrides (any subset of fields) over the defaults. */
export function mappingWith(overrides: Partial<AttributeMapping> = {}): AttributeMapping {
  return { ...defaultMapping, ...overrides };
}

/** Every exact attribute name the mapping reads. */
export function mappedKeys(mapping: AttributeMapping): string[] {
  const keys = new Set<string>();
  for (const [field, names] of Object.entries(mapping)) {
    if (field !== 'keepPrefixes') for (const name of names) keys.add(name);
  }
  return [...keys];
}

/**
 * Decides from raw UTF-8 key bytes whether an attribute is wanted, and returns its interned name
 * without allocating a string for the keys we skip (most of them, on real spans).
 */
export class KeyFilter {
  private readonly byHash = new Map<number, { key: string; bytes: Uint8Array }[]>();
  private readonly prefixes: Uint8Array[];
  private readonly decoder = new TextDecoder();
  private readonly exact: Set<string>;

  constructor(keys: string[], private readonly prefixStrings: string[] = []) {
    const enc = new TextEncoder();
    this.exact = new Set(keys);
    for (const key of keys) {
      const bytes = enc.encode(key);
      const h = hashBytes(bytes, 0, bytes.length);
      const bucket = this.byHash.get(h);
      if (bucket) bucket.push({ key, bytes });
      else this.byHash.set(h, [{ key, bytes }]);
    }
    this.prefixes = prefixStrings.map((p) => enc.encode(p));
  }

  static forMapping(mapping: AttributeMapping): KeyFilter {
    return new KeyFilter(mappedKeys(mapping), mapping.keepPrefixes);
  }

  /** The key's name when wanted, else undefined. */
  match(buf: Uint8Array, start: number, end: number): string | undefined {
    const bucket = this.byHash.get(hashBytes(buf, start, end));
    if (bucket !== undefined) {
      for (const entry of bucket) if (bytesEqual(entry.bytes, buf, start, end)) return entry.key;
    }
    for (const prefix of this.prefixes) {
      if (end - start > prefix.length && bytesEqual(prefix, buf, start, start + prefix.length)) {
        return this.decoder.decode(buf.subarray(start, end));
      }
    }
    return undefined;
  }

  /** Same decision for a key that is already a string (OTLP/JSON). */
  matchString(key: string): boolean {
    if (this.exact.has(key)) return true;
    for (const prefix of this.prefixStrings) if (key.length > prefix.length && key.startsWith(prefix)) return true;
    return false;
  }
}

function hashBytes(buf: Uint8Array, start: number, end: number): number {
  let h = 0x811c9dc5;
  for (let i = start; i < end; i++) h = Math.imul(h ^ buf[i], 0x01000193);
  return h >>> 0;
}

function bytesEqual(a: Uint8Array, buf: Uint8Array, start: number, end: number): boolean {
  if (a.length !== end - start) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== buf[start + i]) return false;
  return true;
}
