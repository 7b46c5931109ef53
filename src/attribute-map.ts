/**
 * The attribute contract: which OTLP attribute names feed which AgentCall field, current GenAI
 * and HTTP/RPC/DB semantic-convention names first, then the legacy names still emitted by older
 * SDKs. This is the only module that knows attribute names; everything after normalize sees
 * AgentCall. Each entry is a list tried in order. Pinned to semconv v1.41 / semconv-genai HEAD
 * (2026-08); see ../shared/FORMATS.md section 1.
 */
import { FieldKeys } from './span.js';
import { sameBytes, wordAligned } from './bytes.js';
import { InternalError } from './errors.js';

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
  /** Marks chainwatch's own telemetry, which is dropped on ingest so we never analyse ourselves. */
  self: string[];
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
  self: ['chainwatch.self'],
};

/** Every attribute name the mapping reads, in a fixed order (their KeyFilter indices). */
export function mappedKeys(mapping: AttributeMapping): string[] {
  const keys = new Set<string>();
  for (const names of Object.values(mapping)) for (const name of names) keys.add(name);
  return [...keys];
}

/** The mapping with each field's attribute names replaced by their KeyFilter indices. */
export type MappingIndex = { [F in keyof AttributeMapping]: FieldKeys };

export function indexMapping(mapping: AttributeMapping, filter: KeyFilter): MappingIndex {
  // Built in one go: the same object filled by a keyed store per field went over V8's limit for
  // properties added that way and into dictionary mode, making each of normalize's ~30 reads of
  // it per call a dictionary lookup.
  const fields = Object.keys(mapping) as (keyof AttributeMapping)[];
  return Object.fromEntries(fields.map((field) => [field, new FieldKeys(mapping[field].map((n) => filter.index(n)))])) as MappingIndex;
}

/**
 * Decides from raw UTF-8 key bytes whether an attribute is wanted, and returns its index without
 * allocating a string for the keys we skip (most of them, on real spans). Candidates are bucketed
 * by byte length and checked on their last byte first, where mapped names differ most, so an
 * unwanted key is usually rejected at once; a candidate that passes is compared four bytes at a time.
 */
export class KeyFilter {
  /** By byte length: each wanted name's index, and its bytes word-aligned with their words (see sameBytes). */
  private readonly byLength: { index: number; bytes: Uint8Array; words: Uint32Array }[][] = [];
  private readonly exact = new Map<string, number>();
  /** By index: 1 for attributes whose values rarely repeat (see `unique`). */
  private readonly uniqueValued: Uint8Array;

  /** `unique`: names whose values are nearly always new (URLs, tool arguments): decoders need not cache them. */
  constructor(readonly names: readonly string[], unique: readonly string[] = []) {
    const enc = new TextEncoder();
    this.uniqueValued = new Uint8Array(names.length);
    names.forEach((key, index) => {
      const utf8 = enc.encode(key);
      const { bytes, words } = wordAligned(utf8);
      (this.byLength[utf8.length] ??= []).push({ index, bytes, words });
      this.exact.set(key, index);
      if (unique.includes(key)) this.uniqueValued[index] = 1;
    });
  }

  static forMapping(mapping: AttributeMapping): KeyFilter {
    return new KeyFilter(mappedKeys(mapping), [...mapping.urlFull, ...mapping.toolArgs]);
  }

  /** Whether the attribute at this index has values that rarely repeat. */
  isUniqueValued(index: number): boolean {
    return this.uniqueValued[index] === 1;
  }

  /**
   * The key's index when wanted, else -1. `view` reads the same bytes as `buf`: a candidate of the
   * key's length is rejected on its last byte (where mapped names differ most), and a wanted key
   * is confirmed four bytes at a time.
   */
  match(buf: Uint8Array, view: DataView, start: number, end: number): number {
    const len = end - start;
    const bucket = this.byLength[len];
    if (bucket === undefined) return -1;
    const last = buf[end - 1];
    for (let b = 0; b < bucket.length; b++) {
      const { bytes, words } = bucket[b];
      if (bytes[len - 1] === last && sameBytes(words, bytes, 0, buf, view, start, len)) return bucket[b].index;
    }
    return -1;
  }

  /** Same for a key that is already a string (OTLP/JSON). */
  matchString(key: string): number {
    return this.exact.get(key) ?? -1;
  }

  index(name: string): number {
    const i = this.exact.get(name);
    if (i === undefined) throw new InternalError(`KeyFilter.index: attribute ${name} is not in the key filter`);
    return i;
  }
}
