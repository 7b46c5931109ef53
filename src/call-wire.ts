/**
 * The calls topic's record format: what the Kafka ingest stage writes and the detect stage reads.
 * A record carries several events of one agent, in order: calls (AgentCall) and chain closes.
 *
 * Current form (`t: "calls"`): JSON with tables for what repeats within a record — strings that
 * recur across a chain's calls (trace id, principal, credential, conversation, host), agent
 * identities and actions — and each call as a tuple of its fields in a fixed order (enum F
 * below), absent fields null and trailing ones left off. On the Kafka bench's fleet the records
 * ingest writes take ~280 bytes a call (chain closes included; `npm run bench:kafka` prints it)
 * where a plain AgentCall object took 843, and serializing, compressing and parsing shrink with
 * it (docs/benchmarks.md, Kafka stages).
 * Earlier forms are still read, so a detect stage can follow an ingest stage of the previous
 * release: one event per record, or `t: "batch"` with a list of plain events.
 */
import { type AgentCall, type AgentIdentity, sameIdentity } from './agent-call.js';
import type { Destination, DestinationKind } from './arg-destinations.js';
import { ChainwatchError } from './errors.js';

export type CallItem = { t: 'call'; call: AgentCall } | { t: 'close'; traceId: string };

type Action = AgentCall['action'];

/** A record of the calls topic that cannot be read; the detect stage counts it and goes on. */
export class CallRecordError extends ChainwatchError {
  override readonly code = 'CW_ERR_CALL_RECORD';
}

/**
 * Tuple positions. `S` marks a reference into the record's string table, `G` into its agents,
 * `A` into its actions; `D` destinations as [kind, value, kind, value, …]; `B` 1 or 0.
 */
const enum F {
  time, endTime, traceS, spanId, toolSpanId, agentG, principalS, credentialS, credentialTypeS, conversationS,
  actionA, hostS, port, url, externalB, destinationsD, resource, okB, status, error, retries, sensitiveB,
  sensitivityS, bytesOut, bytesIn, approvalId, credentialIssuedAt,
}
type Tuple = (string | number | null | string[])[];

/** Interns strings, identities and actions of one record. */
class Tables {
  readonly strings: string[] = [];
  readonly agents: AgentIdentity[] = [];
  readonly actions: Action[] = [];
  private readonly stringIndex = new Map<string, number>();
  /** Actions by signature: normalize builds one object per call, so equal actions are found by content. */
  private readonly actionIndex = new Map<string, number[]>();

  str(s: string | undefined): number | null {
    if (s === undefined) return null;
    let i = this.stringIndex.get(s);
    if (i === undefined) {
      i = this.strings.push(s) - 1;
      this.stringIndex.set(s, i);
    }
    return i;
  }

  agent(a: AgentIdentity): number {
    // Calls of one record share an identity object or a few (the trace's, an alias's).
    for (let i = 0; i < this.agents.length; i++) {
      const b = this.agents[i];
      if (sameIdentity(b, a)) return i;
    }
    return this.agents.push(a) - 1;
  }

  action(a: Action): number {
    const same = this.actionIndex.get(a.signature);
    if (same !== undefined) {
      for (const i of same) {
        const b = this.actions[i];
        if (b.kind === a.kind && b.tool === a.tool && b.method === a.method && b.template === a.template && b.version === a.version && b.write === a.write) return i;
      }
    }
    const i = this.actions.push(a) - 1;
    if (same !== undefined) same.push(i);
    else this.actionIndex.set(a.signature, [i]);
    return i;
  }
}

/** What the tuple carries. */
type Encoded = 'time' | 'endTime' | 'traceId' | 'spanId' | 'toolSpanId' | 'agent' | 'principal' | 'credential' | 'credentialType' | 'conversationId'
  | 'action' | 'host' | 'port' | 'url' | 'external' | 'destinations' | 'resource' | 'outcome' | 'retries' | 'sensitive' | 'sensitivity'
  | 'bytesOut' | 'bytesIn' | 'approvalId' | 'credentialIssuedAt';
// A field added to AgentCall and not to the tuple fails to compile here.
const everyField: Exclude<keyof AgentCall, Encoded> extends never ? true : never = true;
void everyField;

function tuple(c: AgentCall, t: Tables): Tuple {
  let dests: string[] | null = null;
  if (c.destinations.length > 0) {
    dests = [];
    for (const d of c.destinations) dests.push(d.kind, d.value);
  }
  // Fields read one by one: a rest pattern over the call (to check nothing is left) cost more than the rest of the encoding.
  const out: Tuple = [
    c.time, c.endTime, t.str(c.traceId), c.spanId, c.toolSpanId ?? null, t.agent(c.agent), t.str(c.principal), t.str(c.credential),
    t.str(c.credentialType), t.str(c.conversationId), t.action(c.action), t.str(c.host), c.port ?? null, c.url ?? null, c.external ? 1 : 0,
    dests, c.resource, c.outcome.ok ? 1 : 0, c.outcome.status ?? null, c.outcome.error ?? null, c.retries, c.sensitive ? 1 : 0,
    t.str(c.sensitivity), c.bytesOut ?? null, c.bytesIn ?? null, c.approvalId ?? null, c.credentialIssuedAt ?? null,
  ];
  let n = out.length;
  while (out[n - 1] === null) n--;
  out.length = n;
  return out;
}

/** The current form as a JSON value: what a calls record holds, and what the changelog keeps quarantined chains' calls as. */
export interface WireCalls { t: 'calls'; s: string[]; g: AgentIdentity[]; a: Action[]; e: (Tuple | number)[] }

/** `items` of one agent, in order, in the current form. */
export function toWire(items: readonly CallItem[]): WireCalls {
  const t = new Tables();
  const e: (Tuple | number)[] = [];
  for (const item of items) e.push(item.t === 'close' ? t.str(item.traceId)! : tuple(item.call, t));
  return { t: 'calls', s: t.strings, g: t.agents, a: t.actions, e };
}

/** One record's value: `items` of one agent, in order. */
export function encodeCalls(items: readonly CallItem[]): Buffer {
  return Buffer.from(JSON.stringify(toWire(items)));
}

/** The events of one record, in order, from any form this or an earlier release wrote. */
export function decodeCalls(value: Buffer | string): CallItem[] {
  let rec: unknown;
  try {
    rec = JSON.parse(String(value));
  } catch (err) {
    throw new CallRecordError(`calls record is not JSON: ${(err as Error).message}`);
  }
  const r = rec as { t?: unknown; items?: unknown };
  if (r?.t === 'calls') return fromWire(rec);
  if (r?.t === 'batch' && Array.isArray(r.items)) return (r.items as unknown[]).map(plainItem);
  return [plainItem(rec)];
}

function plainItem(x: unknown): CallItem {
  const item = x as CallItem;
  if (item?.t === 'call' && typeof item.call?.traceId === 'string' && typeof item.call.agent?.id === 'string') return item;
  if (item?.t === 'close' && typeof item.traceId === 'string') return item;
  throw new CallRecordError('calls record event is neither a call (with traceId and agent.id) nor a close (with traceId)');
}

/** The events of a value in the current form (`toWire`), checked as they are read. */
export function fromWire(rec: unknown): CallItem[] {
  const { s, g, a, e } = (rec ?? {}) as Record<string, unknown>;
  if (!Array.isArray(s) || !Array.isArray(g) || !Array.isArray(a) || !Array.isArray(e)) {
    throw new CallRecordError('calls record lacks its tables: s, g, a and e must be arrays');
  }
  const strings = s as string[];
  const str = (i: unknown): string | undefined => (typeof i === 'number' ? strings[i] : undefined);
  const out: CallItem[] = [];
  for (const x of e as unknown[]) {
    if (typeof x === 'number') {
      const traceId = strings[x];
      if (typeof traceId !== 'string') throw new CallRecordError(`calls record closes string ${x}, which its table lacks`);
      out.push({ t: 'close', traceId });
      continue;
    }
    if (!Array.isArray(x)) throw new CallRecordError('calls record event is neither a call tuple nor a close');
    const v = x as Tuple;
    const traceId = str(v[F.traceS]);
    const agent = (g as AgentIdentity[])[v[F.agentG] as number];
    const action = (a as Action[])[v[F.actionA] as number];
    if (typeof traceId !== 'string' || typeof v[F.spanId] !== 'string' || typeof agent?.id !== 'string' || typeof action?.signature !== 'string') {
      throw new CallRecordError('calls record has a call without trace id, span id, agent or action');
    }
    const call: AgentCall = {
      time: v[F.time] as number, endTime: v[F.endTime] as number, traceId, spanId: v[F.spanId] as string, agent, action,
      external: v[F.externalB] === 1, destinations: destinationsOf(v[F.destinationsD]), resource: v[F.resource] as string,
      outcome: { ok: v[F.okB] === 1 }, retries: v[F.retries] as number, sensitive: v[F.sensitiveB] === 1,
    };
    // Optional fields only when present, as normalize leaves them: the call equals the one sent.
    if (v[F.toolSpanId] != null) call.toolSpanId = v[F.toolSpanId] as string;
    if (v[F.principalS] != null) call.principal = str(v[F.principalS]);
    if (v[F.credentialS] != null) call.credential = str(v[F.credentialS]);
    if (v[F.credentialTypeS] != null) call.credentialType = str(v[F.credentialTypeS]);
    if (v[F.conversationS] != null) call.conversationId = str(v[F.conversationS]);
    if (v[F.hostS] != null) call.host = str(v[F.hostS]);
    if (v[F.port] != null) call.port = v[F.port] as number;
    if (v[F.url] != null) call.url = v[F.url] as string;
    if (v[F.status] != null) call.outcome.status = v[F.status] as number;
    if (v[F.error] != null) call.outcome.error = v[F.error] as string;
    if (v[F.sensitivityS] != null) call.sensitivity = str(v[F.sensitivityS]);
    if (v[F.bytesOut] != null) call.bytesOut = v[F.bytesOut] as number;
    if (v[F.bytesIn] != null) call.bytesIn = v[F.bytesIn] as number;
    if (v[F.approvalId] != null) call.approvalId = v[F.approvalId] as string;
    if (v[F.credentialIssuedAt] != null) call.credentialIssuedAt = v[F.credentialIssuedAt] as number;
    out.push({ t: 'call', call });
  }
  return out;
}

function destinationsOf(d: unknown): Destination[] {
  if (!Array.isArray(d)) return [];
  const out: Destination[] = [];
  for (let i = 0; i + 1 < d.length; i += 2) out.push({ kind: d[i] as DestinationKind, value: d[i + 1] as string });
  return out;
}
