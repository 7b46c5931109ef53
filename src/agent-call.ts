/**
 * AgentCall: one logical API call made by an agent, the only event shape downstream of
 * normalize (schemas/agent-call.schema.json). Secrets are already redacted.
 */
import type { Destination } from './arg-destinations.js';

export type ActionKind = 'http' | 'rpc' | 'db' | 'mcp' | 'messaging' | 'tool';

export interface AgentIdentity {
  id: string;
  name?: string;
  service?: string;
  instance?: string;
  /** How the id was found: on the span, joined from the trace's agent span, a learned alias of the resource, or the resource itself. */
  source: 'span' | 'trace' | 'alias' | 'resource';
}

/**
 * An identity with every field present, in one order (absent ones undefined), wherever one is
 * made — from a span, a resource, an alias, a calls record: one hidden class for every identity.
 */
export function agentIdentity(id: string, service: string | undefined, instance: string | undefined, source: AgentIdentity['source'], name: string | undefined): AgentIdentity {
  return { id, service, instance, source, name };
}

/** The same identity, field by field (calls of one trace share an object, or a few equal ones). */
export function sameIdentity(a: AgentIdentity, b: AgentIdentity): boolean {
  return a === b || (a.id === b.id && a.source === b.source && a.name === b.name && a.service === b.service && a.instance === b.instance);
}

export interface AgentCall {
  /** Event time (span start), epoch ms. */
  time: number;
  endTime: number;
  traceId: string;
  /** The span that carries the call's destination (the client child when there is one). */
  spanId: string;
  /** The execute_tool span, when the call came from a tool invocation. */
  toolSpanId?: string;
  agent: AgentIdentity;
  principal?: string;
  credential?: string;
  credentialType?: string;
  conversationId?: string;
  action: {
    kind: ActionKind;
    tool?: string;
    method?: string;
    template?: string;
    /** Low-cardinality identity of the action: version segments lifted out, ids templated. */
    signature: string;
    version?: string;
    write: boolean;
  };
  host?: string;
  port?: number;
  /** Redacted. */
  url?: string;
  /** Whether the host lies outside the configured internal domains. */
  external: boolean;
  /** Destinations named in the tool arguments. */
  destinations: Destination[];
  /** The concrete thing touched (path with ids, table, record): counts distinct resources per chain. */
  resource: string;
  outcome: { ok: boolean; status?: number; error?: string };
  retries: number;
  sensitive: boolean;
  sensitivity?: string;
  bytesOut?: number;
  bytesIn?: number;
  approvalId?: string;
  credentialIssuedAt?: number;
}

/** Which group an agent's peers share: its name, else its service, else its id. */
export function peerGroup(agent: AgentIdentity): string {
  return agent.name ?? agent.service ?? agent.id;
}
