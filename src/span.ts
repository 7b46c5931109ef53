import { formatDuration } from './duration.js';

/** Attribute values as OTLP carries them, after decoding (int64 as number, bytes as base64). */
export type AttrValue = string | number | boolean | null | AttrValue[] | { [key: string]: AttrValue };

/**
 * The attributes of a span that the mapping asks for, keyed by the KeyFilter's index of the
 * attribute name: up to six key/value pairs in fields of the object itself (about what a span
 * keeps), more in an overflow array. Not an object with dotted property names (which V8 handles
 * as megamorphic dictionaries on the hot path), and not an array of pairs: fields cost no array
 * header and backing store per span, and no copy of a copy-on-write literal on the first write.
 */
export class Attrs {
  /** Bit per key index present (two words: the mapping has about 55 names); most lookups are for absent keys. */
  private lo = 0;
  private hi = 0;
  /** Pairs held. */
  private n = 0;
  private k0 = -1;
  private k1 = -1;
  private k2 = -1;
  private k3 = -1;
  private k4 = -1;
  private k5 = -1;
  private v0: AttrValue = null;
  private v1: AttrValue = null;
  private v2: AttrValue = null;
  private v3: AttrValue = null;
  private v4: AttrValue = null;
  private v5: AttrValue = null;
  /** Pairs past the sixth, key then value. */
  private more: AttrValue[] | undefined = undefined;

  private keyAt(i: number): number {
    switch (i) {
      case 0: return this.k0;
      case 1: return this.k1;
      case 2: return this.k2;
      case 3: return this.k3;
      case 4: return this.k4;
      case 5: return this.k5;
      default: return this.more![2 * (i - 6)] as number;
    }
  }

  private valueAt(i: number): AttrValue {
    switch (i) {
      case 0: return this.v0;
      case 1: return this.v1;
      case 2: return this.v2;
      case 3: return this.v3;
      case 4: return this.v4;
      case 5: return this.v5;
      default: return this.more![2 * (i - 6) + 1];
    }
  }

  private put(i: number, key: number, value: AttrValue): void {
    switch (i) {
      case 0: this.k0 = key; this.v0 = value; return;
      case 1: this.k1 = key; this.v1 = value; return;
      case 2: this.k2 = key; this.v2 = value; return;
      case 3: this.k3 = key; this.v3 = value; return;
      case 4: this.k4 = key; this.v4 = value; return;
      case 5: this.k5 = key; this.v5 = value; return;
      default: {
        const more = (this.more ??= []);
        more[2 * (i - 6)] = key;
        more[2 * (i - 6) + 1] = value;
      }
    }
  }

  set(key: number, value: AttrValue): void {
    // A key whose bit was clear is not held yet: appended without a scan (nearly every set).
    let held = true;
    if (key < 32) {
      held = (this.lo & (1 << key)) !== 0;
      this.lo |= 1 << key;
    } else if (key < 64) {
      held = (this.hi & (1 << (key - 32))) !== 0;
      this.hi |= 1 << (key - 32);
    }
    for (let i = 0; held && i < this.n; i++) {
      if (this.keyAt(i) === key) {
        this.put(i, key, value);
        return;
      }
    }
    this.put(this.n++, key, value);
  }

  get(key: number): AttrValue | undefined {
    if (key < 32 ? (this.lo & (1 << key)) === 0 : key < 64 && (this.hi & (1 << (key - 32))) === 0) return undefined;
    // Unrolled over the fields: a span keeps a handful of attributes.
    const n = this.n;
    if (n > 0 && this.k0 === key) return this.v0;
    if (n > 1 && this.k1 === key) return this.v1;
    if (n > 2 && this.k2 === key) return this.v2;
    if (n > 3 && this.k3 === key) return this.v3;
    if (n > 4 && this.k4 === key) return this.v4;
    if (n > 5 && this.k5 === key) return this.v5;
    for (let i = 6; i < n; i++) if (this.keyAt(i) === key) return this.valueAt(i);
    return undefined;
  }

  /**
   * False when none of the field's keys is held: normalize reads about thirty fields per call,
   * most absent (a span speaks HTTP or RPC or DB, and names each thing once), and this answers
   * for all of a field's alternative names with one test instead of a lookup per name.
   */
  mayHold(f: FieldKeys): boolean {
    return f.wide || (this.lo & f.lo) !== 0 || (this.hi & f.hi) !== 0;
  }

  /** As a plain object with attribute names (tests, debugging). */
  toObject(names: readonly string[]): Record<string, AttrValue> {
    const out: Record<string, AttrValue> = {};
    for (let i = 0; i < this.n; i++) out[names[this.keyAt(i)]] = this.valueAt(i);
    return out;
  }
}

/** The key indices of one mapped field (its names in order of preference), with the bits Attrs keeps for them. */
export class FieldKeys {
  readonly lo: number = 0;
  readonly hi: number = 0;
  /** A key past the 64 Attrs keeps bits for: every lookup has to look. */
  readonly wide: boolean = false;

  constructor(readonly keys: readonly number[]) {
    for (const k of keys) {
      if (k < 32) this.lo |= 1 << k;
      else if (k < 64) this.hi |= 1 << (k - 32);
      else this.wide = true;
    }
  }
}

/** OTLP span kinds, in the proto's numbering (not @opentelemetry/api's). */
export const SpanKind = { UNSPECIFIED: 0, INTERNAL: 1, SERVER: 2, CLIENT: 3, PRODUCER: 4, CONSUMER: 5 } as const;

/**
 * A span as decoded from OTLP (protobuf or JSON), holding only the attributes the attribute
 * mapping asks for. Times are epoch milliseconds with sub-millisecond fraction. The span is its
 * own attribute table (`attrs` is the span itself): one object per span, not two.
 */
export class RawSpan extends Attrs {
  traceId = '';
  spanId = '';
  /** Empty for a root span. */
  parentSpanId = '';
  name = '';
  kind = 0;
  startMs = 0;
  endMs = 0;
  /** OTLP status code: 0 unset, 1 ok, 2 error. */
  statusCode = 0;
  /**
   * Where the chain assembler keeps this span's flags in its trace's buffer, once it has taken
   * the span (-1 before): the span's own flags are then read without looking its id up.
   */
  slot = -1;

  /** `resource` is shared by every span of one ResourceSpans. */
  constructor(readonly resource: Attrs) {
    super();
  }

  get attrs(): Attrs {
    return this;
  }
}

/** What a decoder returns: the good spans, and how many it rejected and why (first few reasons). */
export interface DecodedBatch {
  spans: RawSpan[];
  rejected: number;
  reasons: string[];
}

export const MAX_REASONS = 5;

export function rejectSpan(batch: DecodedBatch, reason: string): void {
  batch.rejected++;
  if (batch.reasons.length < MAX_REASONS && !batch.reasons.includes(reason)) batch.reasons.push(reason);
}

const ZERO_TRACE = '0'.repeat(32);
const ZERO_SPAN = '0'.repeat(16);

/** How far a live input lets a span's times stray. */
export interface SpanTimeWindow {
  /** Ahead: a span that starts or ends later than the machine's clock plus this is rejected. */
  maxClockSkewMs: number;
  /** Behind: a span that ends earlier than event time (the latest span end seen) minus this is rejected. */
  maxSpanAgeMs: number;
}

/** What dropMisdatedSpans took out, by direction. */
export interface Misdated {
  ahead: number;
  old: number;
}

/**
 * Take out of a live input's batch the spans dated outside `window`, each rejected with its
 * reason; returns how many went each way.
 *
 * Ahead of `nowMs`, the machine's clock: event time is the latest span end seen, so one span from
 * a host whose clock is a day ahead would move it a day on for everyone — every open chain closed
 * at once, every later span released without waiting for its parent or its agent's identity —
 * and the saved state would keep it there. A call's time is its span's start (an agent's
 * last-seen time, a Kafka partition's time), so a start is held to the same bound.
 *
 * Behind `eventTimeMs`, event time before the batch: an agent's history runs from its first
 * call, so one span dated in the past — a clock years behind, or an exporter writing milliseconds
 * where OTLP wants nanoseconds (1970 plus half an hour) — stretched a new agent's history over
 * years: learning → enforcing after its first few calls, on a baseline of nothing. Measured from
 * event time, not the clock, so that old telemetry sent on purpose (a replay through the receiver,
 * `chainwatch demo`, a backlog read after chainwatch's own outage) is taken while it is read in
 * order; a collector's backlog older than the bound while chainwatch ran on is refused. Spans are
 * exported when they end, so the end is held to the bound (a long task's start may be far back).
 * Event time 0 (nothing seen yet) bounds nothing: the first spans a fresh state sees set it.
 */
export function dropMisdatedSpans(batch: DecodedBatch, nowMs: number, eventTimeMs: number, window: SpanTimeWindow): Misdated {
  const spans = batch.spans;
  const out: Misdated = { ahead: 0, old: 0 };
  let kept = 0;
  for (let i = 0; i < spans.length; i++) {
    const s = spans[i];
    const dated = misdated(s, nowMs, eventTimeMs, window);
    if (dated === undefined) spans[kept++] = s;
    else {
      out[dated]++;
      rejectSpan(batch, dated === 'ahead'
        ? `span starts or ends more than ${formatDuration(window.maxClockSkewMs)} after this machine's clock (engine.chains.max_clock_skew): check the sender's clock`
        : `span ended more than ${formatDuration(window.maxSpanAgeMs)} before event time, the latest span end seen (engine.chains.max_span_age): check the sender's clock, and that it writes times in nanoseconds`);
    }
  }
  spans.length = kept;
  return out;
}

/** Which way a span is dated outside the window (see dropMisdatedSpans), or undefined when it is inside. */
export function misdated(span: RawSpan, nowMs: number, eventTimeMs: number, window: SpanTimeWindow): keyof Misdated | undefined {
  const latest = nowMs + window.maxClockSkewMs;
  if (span.endMs > latest || span.startMs > latest) return 'ahead';
  if (span.endMs < eventTimeMs - window.maxSpanAgeMs) return 'old';
  return undefined;
}

/**
 * Why a decoded span is unusable, or undefined when it is not: its ids, and its times. A span
 * without times (0: unset) would be a call in 1970 — its agent's history spanning 56 years at once
 * (learning → enforcing on the spot), its hour of the week and decayed counts wrong.
 */
export function spanProblem(span: RawSpan): string | undefined {
  const { traceId, spanId } = span;
  // Compared with the all-zero id only when the first digit is 0: asked for every span.
  if (traceId.length !== 32 || (traceId.charCodeAt(0) === 48 && traceId === ZERO_TRACE)) return 'span with missing or invalid trace_id (want 16 bytes, not all zero)';
  if (spanId.length !== 16 || (spanId.charCodeAt(0) === 48 && spanId === ZERO_SPAN)) return 'span with missing or invalid span_id (want 8 bytes, not all zero)';
  if (!(span.startMs > 0)) return 'span with missing start_time_unix_nano';
  if (!(span.endMs > 0)) return 'span with missing end_time_unix_nano';
  return undefined;
}
