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
 * it (docs/benchmarks-history.md, Kafka stages).
 * Earlier forms are still read, so a detect stage can follow an ingest stage of the previous
 * release: one event per record, or `t: "batch"` with a list of plain events.
 */
import { type AgentCall, type AgentIdentity, agentIdentity, sameIdentity } from './agent-call.js';
import type { Destination, DestinationKind } from './arg-destinations.js';
import { ChainwatchError } from './errors.js';
import { callProblem } from './call-schema.js';

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

/** Tuple fields, at most; a call's tuple is built in one reused array, then copied or written out. */
const TUPLE_FIELDS = F.credentialIssuedAt + 1;
const scratchTuple: Tuple = new Array<Tuple[number]>(TUPLE_FIELDS).fill(null);

/** `c`'s tuple into scratchTuple (absent fields null); returns its length with trailing nulls left off. */
function fillTuple(c: AgentCall, t: Tables): number {
  const out = scratchTuple;
  let dests: string[] | null = null;
  if (c.destinations.length > 0) {
    dests = [];
    for (const d of c.destinations) dests.push(d.kind, d.value);
  }
  // Fields read one by one: a rest pattern over the call (to check nothing is left) cost more than the rest of the encoding.
  out[F.time] = c.time;
  out[F.endTime] = c.endTime;
  out[F.traceS] = t.str(c.traceId);
  out[F.spanId] = c.spanId;
  out[F.toolSpanId] = c.toolSpanId ?? null;
  out[F.agentG] = t.agent(c.agent);
  out[F.principalS] = t.str(c.principal);
  out[F.credentialS] = t.str(c.credential);
  out[F.credentialTypeS] = t.str(c.credentialType);
  out[F.conversationS] = t.str(c.conversationId);
  out[F.actionA] = t.action(c.action);
  out[F.hostS] = t.str(c.host);
  out[F.port] = c.port ?? null;
  out[F.url] = c.url ?? null;
  out[F.externalB] = c.external ? 1 : 0;
  out[F.destinationsD] = dests;
  out[F.resource] = c.resource;
  out[F.okB] = c.outcome.ok ? 1 : 0;
  out[F.status] = c.outcome.status ?? null;
  out[F.error] = c.outcome.error ?? null;
  out[F.retries] = c.retries;
  out[F.sensitiveB] = c.sensitive ? 1 : 0;
  out[F.sensitivityS] = t.str(c.sensitivity);
  out[F.bytesOut] = c.bytesOut ?? null;
  out[F.bytesIn] = c.bytesIn ?? null;
  out[F.approvalId] = c.approvalId ?? null;
  out[F.credentialIssuedAt] = c.credentialIssuedAt ?? null;
  let n = TUPLE_FIELDS;
  while (out[n - 1] === null) n--;
  return n;
}

/** The current form as a JSON value: what a calls record holds, and what the changelog keeps quarantined chains' calls as. */
export interface WireCalls { t: 'calls'; s: string[]; g: AgentIdentity[]; a: Action[]; e: (Tuple | number)[] }

/** `items` of one agent, in order, in the current form. */
export function toWire(items: readonly CallItem[]): WireCalls {
  const t = new Tables();
  const e: (Tuple | number)[] = [];
  for (const item of items) {
    if (item.t === 'close') e.push(t.str(item.traceId)!);
    else e.push(scratchTuple.slice(0, fillTuple(item.call, t)));
  }
  return { t: 'calls', s: t.strings, g: t.agents, a: t.actions, e };
}

/**
 * One record's value: `items` of one agent, in order — the current form, written straight to
 * JSON bytes: the value of `JSON.stringify(toWire(items))` (its keys in another order) without
 * the tuple arrays, the JSON string and its copy into a Buffer, which in the ingest stage were
 * nearly a third of all it allocated.
 */
export function encodeCalls(items: readonly CallItem[]): Buffer {
  const t = new Tables();
  const w = writer;
  w.reset(items.length * 320 + 256);
  w.ascii('{"t":"calls","e":[');
  for (let i = 0; i < items.length; i++) {
    if (i > 0) w.byte(0x2c);
    const item = items[i];
    if (item.t === 'close') {
      w.ascii(String(t.str(item.traceId)));
      continue;
    }
    const n = fillTuple(item.call, t);
    w.byte(0x5b);
    for (let j = 0; j < n; j++) {
      if (j > 0) w.byte(0x2c);
      w.value(scratchTuple[j]);
    }
    w.byte(0x5d);
  }
  w.ascii('],"s":[');
  for (let i = 0; i < t.strings.length; i++) {
    if (i > 0) w.byte(0x2c);
    w.str(t.strings[i]);
  }
  w.ascii('],"g":');
  w.json(JSON.stringify(t.agents));
  w.ascii(',"a":');
  w.json(JSON.stringify(t.actions));
  w.byte(0x7d);
  return w.take();
}

/** JSON written into a growing byte buffer, reused record after record (encodeCalls is synchronous). */
class JsonBytes {
  private buf = Buffer.allocUnsafe(1 << 16);
  private pos = 0;

  reset(expected: number): void {
    if (this.buf.length < expected) this.buf = Buffer.allocUnsafe(expected);
    this.pos = 0;
  }

  /** The bytes written, in a Buffer of their own. */
  take(): Buffer {
    return Buffer.from(this.buf.subarray(0, this.pos));
  }

  private room(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const bigger = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + n));
    this.buf.copy(bigger, 0, 0, this.pos);
    this.buf = bigger;
  }

  byte(b: number): void {
    this.room(1);
    this.buf[this.pos++] = b;
  }

  /** Text known to be ASCII: punctuation, numbers. */
  ascii(s: string): void {
    this.room(s.length);
    for (let i = 0; i < s.length; i++) this.buf[this.pos++] = s.charCodeAt(i);
  }

  /** JSON text already serialized (any character). */
  json(s: string): void {
    this.room(3 * s.length);
    this.pos += this.buf.write(s, this.pos, 'utf8');
  }

  /** A string as JSON: printable ASCII other than quote and backslash as it is; otherwise as JSON.stringify writes it. */
  str(s: string): void {
    this.room(s.length + 2);
    const buf = this.buf;
    const start = this.pos;
    buf[this.pos++] = 0x22;
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i);
      if (c < 0x20 || c > 0x7e || c === 0x22 || c === 0x5c) {
        this.pos = start;
        this.json(JSON.stringify(s));
        return;
      }
      buf[this.pos++] = c;
    }
    buf[this.pos++] = 0x22;
  }

  /** A tuple field: as JSON.stringify writes it (a number that is not finite as null). */
  value(v: Tuple[number]): void {
    if (v === null) this.ascii('null');
    else if (typeof v === 'number') this.ascii(Number.isFinite(v) ? String(v) : 'null');
    else if (typeof v === 'string') this.str(v);
    else {
      this.byte(0x5b);
      for (let i = 0; i < v.length; i++) {
        if (i > 0) this.byte(0x2c);
        this.str(v[i]);
      }
      this.byte(0x5d);
    }
  }
}

const writer = new JsonBytes();

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
  if (item?.t === 'call') {
    const problem = callProblem(item.call);
    if (problem !== undefined) throw new CallRecordError(`calls record event: ${problem}`);
    return item;
  }
  if (item?.t === 'close' && typeof item.traceId === 'string') return item;
  throw new CallRecordError('calls record event is neither a call (with traceId and agent.id) nor a close (with traceId)');
}

/**
 * The events of a value in the current form (`toWire`), checked as they are read. Calls, their
 * actions, outcomes and identities are built field for field as normalize builds them (every
 * optional field present, undefined when absent, in the same order), so they share its hidden
 * classes: JSON leaves absent fields out, and objects with varying fields made every detector's
 * code polymorphic in the detect stage, where V8 kept deoptimizing and recompiling it ("wrong
 * map": ~0.6 of the detect process's CPU-s in the Kafka bench went to its optimizing compiler).
 */
export function fromWire(rec: unknown): CallItem[] {
  const { s, g, a, e } = (rec ?? {}) as Record<string, unknown>;
  if (!Array.isArray(s) || !Array.isArray(g) || !Array.isArray(a) || !Array.isArray(e)) {
    throw new CallRecordError('calls record lacks its tables: s, g, a and e must be arrays');
  }
  const strings = s as string[];
  const str = (i: unknown): string | undefined => (typeof i === 'number' ? strings[i] : undefined);
  const agents = (g as (AgentIdentity | null)[]).map(identity);
  const actions = (a as (Action | null)[]).map(action);
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
    const agent = agents[v[F.agentG] as number];
    const act = actions[v[F.actionA] as number];
    if (typeof traceId !== 'string' || typeof v[F.spanId] !== 'string' || agent === undefined || act === undefined) {
      throw new CallRecordError('calls record has a call without trace id, span id, agent or action');
    }
    // Normalize's field order (src/normalize.ts, Normalizer.call).
    const call: AgentCall = {
      time: v[F.time] as number,
      endTime: v[F.endTime] as number,
      traceId,
      spanId: v[F.spanId] as string,
      agent,
      action: act,
      external: v[F.externalB] === 1,
      destinations: destinationsOf(v[F.destinationsD]),
      resource: v[F.resource] as string,
      outcome: { ok: v[F.okB] === 1, status: opt(v[F.status]) as number | undefined, error: opt(v[F.error]) as string | undefined },
      retries: v[F.retries] as number,
      sensitive: v[F.sensitiveB] === 1,
      toolSpanId: opt(v[F.toolSpanId]) as string | undefined,
      host: str(v[F.hostS]),
      port: opt(v[F.port]) as number | undefined,
      url: opt(v[F.url]) as string | undefined,
      principal: str(v[F.principalS]),
      credential: str(v[F.credentialS]),
      credentialType: str(v[F.credentialTypeS]),
      conversationId: str(v[F.conversationS]),
      sensitivity: str(v[F.sensitivityS]),
      bytesOut: opt(v[F.bytesOut]) as number | undefined,
      bytesIn: opt(v[F.bytesIn]) as number | undefined,
      approvalId: opt(v[F.approvalId]) as string | undefined,
      credentialIssuedAt: opt(v[F.credentialIssuedAt]) as number | undefined,
    };
    out.push({ t: 'call', call });
  }
  return out;
}

/** A tuple's field: null and left-off trailing fields are absent. */
function opt(x: Tuple[number] | undefined): Tuple[number] | undefined {
  return x ?? undefined;
}

/** An identity of the record's table, built as every identity is; undefined when unusable. */
function identity(x: AgentIdentity | null): AgentIdentity | undefined {
  if (typeof x?.id !== 'string') return undefined;
  return agentIdentity(x.id, x.service, x.instance, x.source, x.name);
}

/** An action of the record's table as normalize builds one; undefined when unusable. */
function action(x: Action | null): Action | undefined {
  if (typeof x?.signature !== 'string') return undefined;
  return { kind: x.kind, signature: x.signature, write: x.write, tool: x.tool, method: x.method, template: x.template, version: x.version };
}

function destinationsOf(d: unknown): Destination[] {
  if (!Array.isArray(d)) return [];
  const out: Destination[] = [];
  for (let i = 0; i + 1 < d.length; i += 2) out.push({ kind: d[i] as DestinationKind, value: d[i + 1] as string });
  return out;
}
