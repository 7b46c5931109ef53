/**
 * Chain assembly in event time. Spans of a trace are buffered until the trace's agent identity is
 * known and each call is complete, then released as AgentCalls in start order:
 *
 * - Identity: from the span itself, else the trace's agent span (invoke_agent usually ends, and so
 *   arrives, last), else a learned alias of the resource (the agent id this service instance
 *   reported before, when unambiguous), else — after `identityWaitMs` of event time — the
 *   resource's own service.name/instance.
 * - One call per tool invocation: an execute_tool span takes its client children; a client span
 *   whose parent has not arrived waits `reorderToleranceMs` for a tool parent.
 * - A chain closes when its root (or its top agent span) has arrived and nothing is pending, or
 *   after `idleTimeoutMs` without new spans. Chains longer than `maxChainCalls` keep being scored
 *   but stop keeping calls.
 *
 * Time is the watermark: the largest span end time seen (plus idle advance in live mode), so a
 * replay of the same input releases and closes exactly the same way.
 */
import { type AgentCall, type AgentIdentity, agentIdentity } from './agent-call.js';
import type { Normalizer, SpanRole } from './normalize.js';
import { TraceTable } from './trace-table.js';
import { Attrs, type RawSpan, type SpanTimeWindow } from './span.js';
import { FifoMap } from './fifo-map.js';
import { pushTo } from './multimap.js';

/** The span time window (max_clock_skew, max_span_age) is asked of live inputs only: replay and learn are not bound to the clock. */
export interface ChainConfig extends SpanTimeWindow {
  reorderToleranceMs: number;
  identityWaitMs: number;
  idleTimeoutMs: number;
  maxChainCalls: number;
  maxOpenTraces: number;
  maxSpansPerTrace: number;
}

export const defaultChainConfig: ChainConfig = {
  reorderToleranceMs: 2_000,
  identityWaitMs: 30_000,
  idleTimeoutMs: 300_000,
  maxChainCalls: 500,
  maxOpenTraces: 200_000,
  maxSpansPerTrace: 5_000,
  maxClockSkewMs: 600_000,
  maxSpanAgeMs: 7 * 86_400_000,
};

/** A chain: the calls of one trace by one agent. Detectors may keep per-chain scratch state. */
export interface Chain {
  traceId: string;
  agent: AgentIdentity;
  startTime: number;
  lastTime: number;
  calls: AgentCall[];
  callCount: number;
  principal?: string;
  conversationId?: string;
  /** Set once any alert fired for this chain: its calls are then not learned. */
  flagged: boolean;
  /** The start this trace's chain closed with before it reopened (its stored summary is keyed by it). */
  closedStart?: number;
  scratch: Record<string, unknown>;
}

export interface ChainListener {
  call(call: AgentCall, chain: Chain): void;
  close(chain: Chain): void;
  /**
   * A new chain's scratch object, with a key for every detector that may use it: keys added as
   * detectors first touch a chain gave scratch objects many hidden classes (and their readers
   * polymorphic code). An empty object when not given.
   */
  scratch?(): Record<string, unknown>;
}

/** Where a batch of spans was read: a partition and offset of an input topic. */
export interface SpanSource {
  partition: number;
  offset: number;
}

/** Keep the first offset per partition a trace read spans from. */
function noteSource(buf: TraceBuffer, source: SpanSource): void {
  const src = (buf.sources ??= []);
  for (let i = 0; i < src.length; i += 2) if (src[i] === source.partition) return;
  src.push(source.partition, source.offset);
}

const NO_SPANS: RawSpan[] = [];

/** Closed traces remembered for spans that come after their chain closed, oldest forgotten first. */
const MAX_CLOSED_TRACES = 10_000;

/** SpanRole codes in a span's flags, and the released bit. */
const ROLE: Record<SpanRole, number> = { agent: 1, tool: 2, client: 3, model: 4, other: 5 };
const ROLE_MASK = 7;
const RELEASED = 8;
/** Spans in a trace beyond which lookups by id go through a Map. */
const INDEX_FROM = 32;
/** Pending spans beyond which a pass groups clients by parent once instead of scanning per tool. */
const GROUP_FROM = 64;

/** Index of the span id in the trace, or -1. */
function slotOf(buf: TraceBuffer, id: string): number {
  if (buf.index !== undefined) return buf.index.get(id) ?? -1;
  const ids = buf.ids;
  for (let i = ids.length - 1; i >= 0; i--) if (ids[i] === id) return i;
  return -1;
}

/** The flags of a span id (0 when not seen). */
function flagsOf(buf: TraceBuffer, id: string): number {
  const i = slotOf(buf, id);
  return i < 0 ? 0 : buf.flags[i];
}

/** A span's own flags, by the slot register gave it (no lookup of its id). */
const spanFlags = (buf: TraceBuffer, span: RawSpan): number => buf.flags[span.slot];

function markReleased(buf: TraceBuffer, span: RawSpan): void {
  buf.flags[span.slot] |= RELEASED;
}

const isReleased = (buf: TraceBuffer, span: RawSpan): boolean => (spanFlags(buf, span) & RELEASED) !== 0;

/** ROLE[role] by switch: a keyed read of ROLE with five names was a megamorphic load per span. */
function roleCode(role: SpanRole): number {
  switch (role) {
    case 'agent': return ROLE.agent;
    case 'tool': return ROLE.tool;
    case 'client': return ROLE.client;
    case 'model': return ROLE.model;
    default: return ROLE.other;
  }
}

/** Record a span's role (a span id seen again keeps its released bit, as before); returns the id's slot. */
function setRole(buf: TraceBuffer, id: string, role: SpanRole): number {
  const code = roleCode(role);
  const i = slotOf(buf, id);
  if (i >= 0) {
    buf.flags[i] = (buf.flags[i] & RELEASED) | code;
    return i;
  }
  buf.ids.push(id);
  buf.flags.push(code);
  const slot = buf.ids.length - 1;
  if (buf.index !== undefined) buf.index.set(id, slot);
  else if (buf.ids.length > INDEX_FROM) buf.index = new Map(buf.ids.map((x, j) => [x, j]));
  return slot;
}

const isClient = (buf: TraceBuffer, span: RawSpan): boolean => (spanFlags(buf, span) & ROLE_MASK) === ROLE.client;

/**
 * The pending client children of `toolId`, in pending (start) order, during a release pass at
 * index `at`: pending[0, kept) holds the spans kept so far, pending(at, end) those not yet visited.
 */
function pendingKids(buf: TraceBuffer, pending: RawSpan[], kept: number, at: number, toolId: string, into: RawSpan[]): RawSpan[] {
  // Filled by index and cut to length only when not empty: V8 drops the backing store of an
  // array whose length is set to 0, and the next push would allocate it again.
  let n = 0;
  for (let j = 0; j < pending.length; j++) {
    if (j === kept) j = at + 1;
    if (j >= pending.length) break;
    const s = pending[j];
    if (s.parentSpanId === toolId && isClient(buf, s)) into[n++] = s;
  }
  if (n === 0) return NO_SPANS;
  into.length = n;
  return into;
}

/** Pending client spans by parent id, in pending order (large traces: one pass instead of a scan per tool). */
function clientsByParent(buf: TraceBuffer, pending: RawSpan[]): Map<string, RawSpan[]> {
  const out = new Map<string, RawSpan[]>();
  for (const s of pending) if (isClient(buf, s)) pushTo(out, s.parentSpanId, s);
  return out;
}

const byStart = (a: RawSpan, b: RawSpan): number => a.startMs - b.startMs;

/**
 * Stable sort by start time, in place: insertion sort for the few spans a trace usually has
 * pending (they arrive in end order, so nearly every pass sorts), Array#sort beyond.
 */
function sortByStart(spans: RawSpan[]): void {
  if (spans.length > 16) {
    spans.sort(byStart);
    return;
  }
  for (let i = 1; i < spans.length; i++) {
    const s = spans[i];
    let j = i - 1;
    while (j >= 0 && spans[j].startMs > s.startMs) {
      spans[j + 1] = spans[j];
      j--;
    }
    spans[j + 1] = s;
  }
}

/** Spans mostly arrive in start order; checking is cheaper than sorting (which copies). */
function inStartOrder(spans: RawSpan[]): boolean {
  for (let i = 1; i < spans.length; i++) if (spans[i].startMs < spans[i - 1].startMs) return false;
  return true;
}

interface TraceBuffer {
  traceId: string;
  identity?: AgentIdentity;
  resource: Attrs;
  principal?: string;
  conversation?: string;
  /**
   * The trace's spans by id, in arrival order, with their role and a released bit (ROLE, RELEASED).
   * Traces are small, so a scan beats hashing each new 16-character id into per-trace Maps
   * (three Maps per trace were a seventh of the hot path's time and much of its garbage); a
   * trace past INDEX_FROM spans gets an index.
   */
  ids: string[];
  flags: number[];
  index?: Map<string, number>;
  pending: RawSpan[];
  firstEnd: number;
  lastEnd: number;
  done: boolean;
  chain?: Chain;
  /** Start of the trace's earlier chain, when this trace was closed once and reopened. */
  startedAt?: number;
  /** Where its spans were read (Kafka): partition, first offset, … — what must be read again if they are lost. */
  sources?: number[];
  /** Fed with finished calls (Kafka detect): its calls' span ids are remembered at close, to drop replays. */
  fromCalls?: boolean;
  /** The number of the last batch (addBatch) that had a span of this trace. */
  batch: number;
  /** The open-trace table's (TraceTable). */
  prev: TraceBuffer | undefined;
  next: TraceBuffer | undefined;
  hash: number;
  listed: boolean;
  /** The waiting list's (WaitList). */
  waitPrev: TraceBuffer | undefined;
  waitNext: TraceBuffer | undefined;
  waiting: boolean;
}

/**
 * A chain with every field present, in one order (the optional ones undefined), wherever one is
 * made — the assembler, an adopted chain read back from JSON, a confirmed quarantined chain: one
 * hidden class for every chain, so the detectors' code that reads them stays monomorphic.
 */
export function newChain(traceId: string, agent: AgentIdentity, startTime: number, lastTime: number, calls: AgentCall[], callCount: number, scratch: Record<string, unknown>): Chain {
  return {
    traceId, agent, startTime, lastTime, calls, callCount, principal: undefined, conversationId: undefined, flagged: false, closedStart: undefined, scratch,
  };
}

/**
 * A trace's buffer with every field present, in one order, wherever it is made: fields added
 * later in varying orders gave buffers many hidden classes, and the assembler's code, seeing them
 * all, was deoptimized and recompiled again and again ("wrong map").
 */
function traceBuffer(traceId: string, resource: Attrs, firstEnd: number, lastEnd: number): TraceBuffer {
  return {
    traceId, identity: undefined, resource, principal: undefined, conversation: undefined, ids: [], flags: [], index: undefined, pending: [],
    firstEnd, lastEnd, done: false, chain: undefined, startedAt: undefined, sources: undefined, fromCalls: false, batch: 0,
    prev: undefined, next: undefined, hash: 0, listed: false, waitPrev: undefined, waitNext: undefined, waiting: false,
  };
}

/** Fills addBatch's reused list between batches. */
const NO_BUFFER = traceBuffer('', new Attrs(), 0, 0);
const NO_RESOURCE = NO_BUFFER.resource;

/**
 * Drop a closed trace's buffer's hold on its spans, chain and calls. A buffer outlives its trace
 * in the old generation, where a minor GC takes every object as live: a trace open for a few
 * seconds in a busy service is promoted while it is open, and the spans, calls and chain that
 * came after, still young, would be kept — copied and promoted by every scavenge — until the next
 * full GC (test/chain-retention.test.ts: 2.2 KB a trace kept without this, 0.75 KB with it). The
 * same held for every buffer a churning Map or Set had held (docs/benchmarks.md, "What a young
 * engine hid"); the open and the waiting traces are in lists of their own now.
 */
function retire(buf: TraceBuffer): void {
  buf.chain = undefined;
  buf.pending.length = 0;
  buf.ids.length = 0;
  buf.flags.length = 0;
  buf.index = undefined;
  buf.resource = NO_RESOURCE;
  buf.sources = undefined;
}

/**
 * The traces with spans still pending, in the order they last began to wait (a Set's order: one
 * that stops waiting and waits again goes to the end). Threaded through the buffers, not a Set:
 * a Set with an add and a delete per trace rehashes every few traces, and its obsolete tables,
 * once one is in the old generation, keep every buffer they held alive until a full GC (see
 * retire); a buffer taken off the list keeps no link to the ones still on it.
 */
class WaitList {
  private head: TraceBuffer | undefined;
  private tail: TraceBuffer | undefined;

  add(buf: TraceBuffer): void {
    if (buf.waiting) return;
    buf.waiting = true;
    buf.waitPrev = this.tail;
    buf.waitNext = undefined;
    if (this.tail !== undefined) this.tail.waitNext = buf;
    else this.head = buf;
    this.tail = buf;
  }

  delete(buf: TraceBuffer): void {
    if (!buf.waiting) return;
    const { waitPrev: prev, waitNext: next } = buf;
    if (prev !== undefined) prev.waitNext = next;
    else this.head = next;
    if (next !== undefined) next.waitPrev = prev;
    else this.tail = prev;
    buf.waitPrev = undefined;
    buf.waitNext = undefined;
    buf.waiting = false;
  }

  /**
   * The traces waiting now, in order: a copy, so that a caller may add and delete while it goes
   * through them (one short-lived array each event-time scan, as the Set's spread was).
   */
  toArray(): TraceBuffer[] {
    const list: TraceBuffer[] = [];
    for (let b = this.head; b !== undefined; b = b.waitNext) list.push(b);
    return list;
  }
}

/** An open chain with the times its buffer keeps: what moves with an agent to another worker. */
export interface OpenChain {
  chain: Chain;
  firstEnd: number;
  lastEnd: number;
  startedAt?: number;
}

/** A trace whose chain closed, remembered in case it resumes. */
export interface ClosedTrace {
  traceId: string;
  identity: AgentIdentity;
  startTime: number;
  principal?: string;
  /** Span ids of the chain's calls, for chains fed with calls: a call read again is a replay, not a new call. */
  callSpans?: string[];
}

interface Alias {
  id: string;
  name?: string;
  ambiguous: boolean;
}

export class ChainAssembler {
  private readonly open = new TraceTable<TraceBuffer>();
  /**
   * Scratch lists handed to the normalizer, which reads them before it returns and keeps none:
   * a lone client span, and a tool's pending children (no array per call).
   */
  private readonly one: RawSpan[] = [];
  private readonly kids: RawSpan[] = [];
  /** addBatch's list of the traces a batch touched, reused; and the count of batches taken. */
  private readonly touched: TraceBuffer[] = [];
  private batches = 0;
  /** The trace last moved to the end of `open` (an entry is moved there only when it is not already). */
  private newest: TraceBuffer | undefined;
  private readonly waiting = new WaitList();
  /** Recently closed traces, for spans that arrive after their chain closed (long-lived delegation). */
  private readonly closed = new FifoMap<string, Omit<ClosedTrace, 'traceId'>>(MAX_CLOSED_TRACES);
  /** Resource key → agent id; the earliest learned forgotten first past 50,000 (a ring, not Map#keys: see FifoMap). */
  private readonly aliases = new FifoMap<string, Alias>(50_000);
  /** The resource and agent id learnAlias saw last: the spans of one resource come together, and learning the same pair again changes nothing. */
  private lastAliasResource: Attrs | undefined;
  private lastAliasId = '';
  private watermark = 0;
  private lastScan = 0;
  droppedSpans = 0;
  /** Calls fed again that a chain already had (an upstream worker read its input again after a crash). */
  duplicateCalls = 0;

  constructor(
    private readonly norm: Normalizer,
    private readonly listener: ChainListener,
    readonly config: ChainConfig = defaultChainConfig,
  ) {}

  get openTraces(): number {
    return this.open.size;
  }

  get now(): number {
    return this.watermark;
  }

  /**
   * Per input partition, the first offset still needed: the least first offset of the open traces
   * that read spans from it. An input committed only up to here can be read again after a crash
   * without losing an open trace's spans.
   */
  heldOffsets(): Map<number, number> {
    const held = new Map<number, number>();
    for (const buf of this.open.values()) {
      const src = buf.sources;
      if (src === undefined) continue;
      for (let i = 0; i < src.length; i += 2) {
        const at = held.get(src[i]);
        if (at === undefined || src[i + 1] < at) held.set(src[i], src[i + 1]);
      }
    }
    return held;
  }

  /** True when the buffers are over their limit and senders should back off. */
  get saturated(): boolean {
    return this.open.size >= this.config.maxOpenTraces;
  }

  /**
   * Take one batch (an export request). All its spans are registered before event time moves:
   * a batch carries a trace's spans in end-time order, and a child must not be released alone
   * just because its parent, later in the same batch, ended later. Event time becomes the latest
   * span end seen, or `watermark` when given.
   */
  addBatch(spans: RawSpan[], watermark?: number, source?: SpanSource): void {
    // The batch's traces in first-seen order, each once (a batch number on the buffer, not a Set per batch).
    const batch = ++this.batches;
    const touched = this.touched;
    let n = 0;
    let maxEnd = this.watermark;
    for (const span of spans) {
      const buf = this.register(span, source);
      if (buf !== undefined && buf.batch !== batch) {
        buf.batch = batch;
        touched[n++] = buf;
      }
      if (span.endMs > maxEnd) maxEnd = span.endMs;
    }
    // A caller that reads several inputs (Kafka partitions) passes their common low watermark.
    this.watermark = watermark === undefined ? maxEnd : Math.max(this.watermark, watermark);
    for (let i = 0; i < n; i++) {
      const buf = touched[i];
      touched[i] = NO_BUFFER; // not kept alive by the scratch list
      if (buf.listed) this.progress(buf);
    }
    if (this.watermark - this.lastScan >= 250) this.advance(this.watermark);
  }

  private register(span: RawSpan, source: SpanSource | undefined): TraceBuffer | undefined {
    const role = this.norm.role(span);
    // A trace's spans come together: most spans belong to the newest trace, found without hashing
    // (`newest` is always open: it is cleared when its trace leaves `open`).
    const newest = this.newest;
    let buf = newest !== undefined && newest.traceId === span.traceId ? newest : this.open.get(span.traceId);
    // A span that ends an idle timeout or more after its open trace's last one: that trace was
    // idle when this span happened, whatever event time has reached (a watermark held back by
    // another Kafka partition may not have closed it yet). Close it, and this span reopens it.
    if (buf !== undefined && span.endMs - buf.lastEnd >= this.config.idleTimeoutMs) {
      this.finish(buf, true);
      buf = undefined;
    }
    if (buf === undefined) {
      buf = this.newBuffer(span);
      if (this.open.size >= this.config.maxOpenTraces) this.evictOldest();
      this.open.add(buf);
    } else if (buf !== this.newest) {
      // Most recently active last (the idle scan stops at the first trace not idle); the spans of
      // one trace come together, so most spans find their trace there already.
      this.open.touch(buf);
    }
    this.newest = buf;
    if (span.endMs > buf.lastEnd) buf.lastEnd = span.endMs;
    if (source !== undefined) noteSource(buf, source);

    if (buf.ids.length >= this.config.maxSpansPerTrace) {
      this.droppedSpans++;
      return undefined;
    }
    span.slot = setRole(buf, span.spanId, role);
    this.takeContext(buf, span, role);
    // A client waits in pending for its tool (a late child of a tool already released is a call
    // of its own: release() finds its parent released).
    if (role === 'tool' || role === 'client') buf.pending.push(span);
    if (span.parentSpanId === '' || (role === 'agent' && slotOf(buf, span.parentSpanId) < 0)) buf.done = true;
    return buf;
  }

  /**
   * An AgentCall read back from our own JSON lines or the Kafka calls topic: already normalized,
   * identity known. A call its trace's chain already had (same span id, in the open chain or
   * the closed one) is dropped and counted: an ingest worker that crashed is replaced by one that
   * reads the crashed one's open traces again, and re-sends what was already sent.
   */
  addCall(call: AgentCall): void {
    let buf = this.open.get(call.traceId);
    if (buf?.chain?.calls.some((c) => c.spanId === call.spanId) || this.closed.get(call.traceId)?.callSpans?.includes(call.spanId)) {
      this.duplicateCalls++;
      return;
    }
    if (buf === undefined) {
      buf = traceBuffer(call.traceId, new Attrs(), call.endTime, call.endTime);
      buf.identity = call.agent;
      buf.principal = call.principal;
      buf.conversation = call.conversationId;
      buf.fromCalls = true;
      // A trace that reopens after its chain closed keeps the chain's start, as with spans.
      const known = this.closed.get(call.traceId);
      if (known) buf.startedAt = known.startTime;
      if (this.open.size >= this.config.maxOpenTraces) this.evictOldest();
      this.open.add(buf);
    } else this.open.touch(buf);
    this.newest = buf;
    if (call.endTime > this.watermark) this.watermark = call.endTime;
    if (call.endTime > buf.lastEnd) buf.lastEnd = call.endTime;
    this.record(buf, call);
    if (this.watermark - this.lastScan >= 250) this.advance(this.watermark);
  }

  /** Move event time forward (live mode idle advance, end of replay) and close what is due. */
  advance(watermark: number): void {
    if (watermark > this.watermark) this.watermark = watermark;
    this.lastScan = this.watermark;
    for (const buf of this.waiting.toArray()) this.progress(buf);
    for (const buf of this.open.values()) {
      if (buf.lastEnd + this.config.idleTimeoutMs > this.watermark) break;
      this.finish(buf, true);
    }
  }

  /** Close one trace's chain now (a close decided upstream, e.g. by the Kafka ingest stage). */
  close(traceId: string): void {
    const buf = this.open.get(traceId);
    if (buf !== undefined) this.finish(buf, true);
  }

  /**
   * Close the chains `stale` picks (given the agent and the chain's last span end); returns their
   * agents. The Kafka detect stage's backstop for a chain whose close record never came.
   */
  closeWhere(stale: (agentId: string, lastEnd: number) => boolean): Set<string> {
    const closed = new Set<string>();
    // Deleting the entry being visited is safe while iterating the table: no copy every commit.
    for (const buf of this.open.values()) {
      const id = buf.chain?.agent.id;
      if (id === undefined || !stale(id, buf.lastEnd)) continue;
      this.finish(buf, true);
      closed.add(id);
    }
    return closed;
  }

  /** Release everything and close every open chain (end of replay, shutdown). */
  flush(): void {
    for (const buf of [...this.open.values()]) this.finish(buf, true);
  }

  /**
   * The open chains of these agents, grouped by agent (one pass over the open traces). Only
   * chains of calls fed by `addCall` (the Kafka detect stage) are complete here: a span buffer's
   * unreleased spans do not move.
   */
  openChainsOf(agents: Set<string>): Map<string, OpenChain[]> {
    const out = new Map<string, OpenChain[]>();
    for (const buf of this.open.values()) {
      const chain = buf.chain;
      if (chain === undefined || !agents.has(chain.agent.id)) continue;
      const item: OpenChain = { chain, firstEnd: buf.firstEnd, lastEnd: buf.lastEnd };
      if (buf.startedAt !== undefined) item.startedAt = buf.startedAt;
      pushTo(out, chain.agent.id, item);
    }
    return out;
  }

  /**
   * The recently closed traces of these agents, grouped by agent: a trace that resumes later
   * keeps its chain's start (delegation that outlives its task), and a call read again is known.
   */
  closedOf(agents: Set<string>): Map<string, ClosedTrace[]> {
    const out = new Map<string, ClosedTrace[]>();
    for (const [traceId, c] of this.closed) {
      if (!agents.has(c.identity.id)) continue;
      pushTo(out, c.identity.id, { traceId, ...c });
    }
    return out;
  }

  /** Forget one agent's open chains without closing them, and its closed traces (they moved to another worker). */
  dropChainsOf(agentId: string): void {
    for (const buf of this.open.values()) {
      if (buf.chain?.agent.id === agentId) {
        this.open.delete(buf);
        this.waiting.delete(buf);
        if (this.newest === buf) this.newest = undefined;
      }
    }
    this.closed.deleteWhere((c) => c.identity.id === agentId);
  }

  /** Take over closed traces exported by `closedOf`. */
  adoptClosed(items: ClosedTrace[]): void {
    for (const { traceId, ...c } of items) {
      this.closed.set(traceId, c);
    }
  }

  /** Take over an open chain exported by `openChainsOf`. */
  adoptChain(item: OpenChain): void {
    // Rebuilt by newChain: a chain read back from JSON lacks its absent fields.
    const c = item.chain;
    const chain = newChain(c.traceId, c.agent, c.startTime, c.lastTime, c.calls, c.callCount, c.scratch);
    chain.principal = c.principal;
    chain.conversationId = c.conversationId;
    chain.flagged = c.flagged;
    chain.closedStart = c.closedStart;
    const buf = traceBuffer(chain.traceId, new Attrs(), item.firstEnd, item.lastEnd);
    buf.identity = chain.agent;
    buf.principal = chain.principal;
    buf.conversation = chain.conversationId;
    buf.chain = chain;
    buf.startedAt = item.startedAt;
    buf.fromCalls = true;
    const old = this.open.get(chain.traceId);
    if (old !== undefined) this.open.delete(old);
    this.open.add(buf);
    this.newest = buf;
  }

  aliasSnapshot(): [string, Alias][] {
    return [...this.aliases];
  }

  /** Changes with every alias learned or changed (see FifoMap.version). */
  get aliasVersion(): number {
    return this.aliases.version;
  }

  restoreAliases(entries: [string, Alias][]): void {
    this.lastAliasResource = undefined;
    for (const [k, v] of entries) this.aliases.set(k, v);
  }

  private newBuffer(span: RawSpan): TraceBuffer {
    const buf = traceBuffer(span.traceId, span.resource, span.endMs, span.endMs);
    const known = this.closed.get(span.traceId);
    if (known) {
      buf.identity = known.identity;
      buf.startedAt = known.startTime;
      buf.principal = known.principal;
    }
    return buf;
  }

  private takeContext(buf: TraceBuffer, span: RawSpan, role: SpanRole): void {
    if (!this.norm.mayCarryContext(span)) return;
    if (role === 'agent' || buf.principal === undefined) buf.principal ??= this.norm.principalOf(span);
    buf.conversation ??= this.norm.conversationOf(span);
    if (buf.identity !== undefined && buf.identity.source !== 'alias') return;
    const identity = this.norm.spanIdentity(span, role === 'agent' ? 'trace' : 'span');
    if (identity === undefined) return;
    if (buf.identity === undefined || buf.chain === undefined) buf.identity = identity;
    this.learnAlias(span.resource, identity);
  }

  private learnAlias(resource: Attrs, identity: AgentIdentity): void {
    if (resource === this.lastAliasResource && identity.id === this.lastAliasId) return;
    this.lastAliasResource = resource;
    this.lastAliasId = identity.id;
    const key = this.norm.resourceKey(resource);
    const alias = this.aliases.get(key);
    if (alias === undefined) this.aliases.set(key, { id: identity.id, name: identity.name, ambiguous: false });
    else if (alias.id !== identity.id && !alias.ambiguous) this.aliases.set(key, { ...alias, ambiguous: true }); // a set, so the saved state sees it
  }

  private resolveIdentity(buf: TraceBuffer, force: boolean): AgentIdentity | undefined {
    if (buf.identity !== undefined) return buf.identity;
    const alias = this.aliases.get(this.norm.resourceKey(buf.resource));
    const base = this.norm.resourceIdentity(buf.resource);
    if (alias !== undefined && !alias.ambiguous) {
      buf.identity = agentIdentity(alias.id, base.service, base.instance, 'alias', alias.name);
    } else if (force || buf.done || this.watermark >= buf.firstEnd + this.config.identityWaitMs) {
      buf.identity = base;
    }
    return buf.identity;
  }

  private progress(buf: TraceBuffer): void {
    this.release(buf, false);
    if (buf.pending.length === 0) {
      this.waiting.delete(buf);
      if (buf.done) this.finish(buf, false);
    } else this.waiting.add(buf);
  }

  private release(buf: TraceBuffer, force: boolean): void {
    if (buf.pending.length === 0) return;
    const identity = this.resolveIdentity(buf, force);
    if (identity === undefined) return;
    const pending = buf.pending;
    if (!inStartOrder(pending)) sortByStart(pending);
    // A tool takes its client children still pending: found by a scan of the pending spans, or,
    // when many are pending, grouped by parent once for the pass.
    const byParent = pending.length > GROUP_FROM ? clientsByParent(buf, pending) : undefined;
    // Spans still waiting are compacted to the front of the same array.
    let kept = 0;
    for (let i = 0; i < pending.length; i++) {
      const span = pending[i];
      const flags = spanFlags(buf, span);
      if ((flags & RELEASED) !== 0) continue;
      if ((flags & ROLE_MASK) === ROLE.tool) {
        const kids = byParent !== undefined ? byParent.get(span.spanId) ?? NO_SPANS : pendingKids(buf, pending, kept, i, span.spanId, this.kids);
        this.releaseTool(buf, span, kids, identity);
        continue;
      }
      const parent = flagsOf(buf, span.parentSpanId);
      if ((parent & ROLE_MASK) === ROLE.tool && (parent & RELEASED) === 0) {
        pending[kept++] = span; // its tool is pending too and will take it
        continue;
      }
      const parentKnown = parent !== 0 || span.parentSpanId === '';
      if (force || parentKnown || buf.done || this.watermark >= span.endMs + this.config.reorderToleranceMs) {
        markReleased(buf, span);
        this.one[0] = span;
        this.emit(buf, identity, undefined, this.one);
      } else pending[kept++] = span;
    }
    pending.length = kept;
  }

  /** `all`: the tool's client children that were pending (some may have been released since). */
  private releaseTool(buf: TraceBuffer, tool: RawSpan, all: RawSpan[], identity: AgentIdentity): void {
    markReleased(buf, tool);
    const kids = all.length === 1 ? (isReleased(buf, all[0]) ? NO_SPANS : all) : all.filter((c) => !isReleased(buf, c));
    if (kids.length === 0) {
      this.emit(buf, identity, tool, NO_SPANS);
      return;
    }
    if (kids.length === 1) {
      markReleased(buf, kids[0]);
      this.emit(buf, identity, tool, kids);
      return;
    }
    // `kids` are in start order already: gathered from `pending`, which release() sorted first.
    // Children with the primary's action are its retries; a different action is a call of its own.
    const groups: RawSpan[][] = [];
    for (const kid of kids) {
      markReleased(buf, kid);
      const group = groups.find((g) => this.norm.sameAction(g[0], kid));
      if (group) group.push(kid);
      else groups.push([kid]);
    }
    for (const group of groups) this.emit(buf, identity, tool, group);
  }

  private emit(buf: TraceBuffer, identity: AgentIdentity, tool: RawSpan | undefined, clients: RawSpan[]): void {
    this.record(buf, this.norm.call(tool, clients, identity, buf));
  }

  private record(buf: TraceBuffer, call: AgentCall): void {
    const identity = call.agent;
    let chain = buf.chain;
    if (chain === undefined) {
      chain = newChain(buf.traceId, identity, Math.min(call.time, buf.startedAt ?? call.time), call.time, [], 0, this.listener.scratch?.() ?? {});
      chain.principal = buf.principal;
      chain.conversationId = buf.conversation;
      chain.closedStart = buf.startedAt;
      buf.chain = chain;
    }
    if (buf.principal !== undefined) chain.principal ??= buf.principal;
    if (buf.conversation !== undefined) chain.conversationId ??= buf.conversation;
    if (call.time < chain.startTime) chain.startTime = call.time;
    if (call.time > chain.lastTime) chain.lastTime = call.time;
    chain.callCount++;
    if (chain.calls.length < this.config.maxChainCalls) chain.calls.push(call);
    this.listener.call(call, chain);
  }

  private finish(buf: TraceBuffer, force: boolean): void {
    if (force) this.release(buf, true);
    this.open.delete(buf);
    this.waiting.delete(buf);
    if (this.newest === buf) this.newest = undefined;
    if (buf.identity !== undefined) {
      const startTime = buf.chain?.startTime ?? buf.startedAt ?? buf.firstEnd;
      const closed: Omit<ClosedTrace, 'traceId'> = { identity: buf.identity, startTime, principal: buf.principal, callSpans: undefined };
      if (buf.fromCalls && buf.chain !== undefined) {
        // A chain closed before keeps its call ids when its trace reopens and closes again.
        const earlier = this.closed.get(buf.traceId)?.callSpans ?? [];
        closed.callSpans = earlier.concat(buf.chain.calls.map((c) => c.spanId));
      }
      this.closed.set(buf.traceId, closed);
    }
    if (buf.chain !== undefined) this.listener.close(buf.chain);
    retire(buf);
  }

  private evictOldest(): void {
    const oldest = this.open.first();
    if (oldest !== undefined) this.finish(oldest, true);
  }
}
