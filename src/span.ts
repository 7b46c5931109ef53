/** Attribute values as OTLP carries them, after decoding (int64 as number, bytes as base64). */
export type AttrValue = string | number | boolean | null | AttrValue[] | { [key: string]: AttrValue };

/**
 * The attributes of a span that the mapping asks for, keyed by the KeyFilter's index of the
 * attribute name: key/value pairs in one flat array instead of an object with dotted property
 * names (which V8 handles as megamorphic dictionaries on the hot path). The array starts with
 * room for six pairs, about what a span keeps, so filling it allocates no growing backing store.
 */
export class Attrs {
  private kv: AttrValue[] = [-1, null, -1, null, -1, null, -1, null, -1, null, -1, null];
  private n = 0;
  /** Bit per key index present (two words: the mapping has about 55 names); most lookups are for absent keys. */
  private lo = 0;
  private hi = 0;

  set(key: number, value: AttrValue): void {
    if (key < 32) this.lo |= 1 << key;
    else if (key < 64) this.hi |= 1 << (key - 32);
    const kv = this.kv;
    for (let i = 0; i < this.n; i += 2) {
      if (kv[i] === key) {
        kv[i + 1] = value;
        return;
      }
    }
    if (this.n < kv.length) {
      kv[this.n] = key;
      kv[this.n + 1] = value;
    } else kv.push(key, value);
    this.n += 2;
  }

  get(key: number): AttrValue | undefined {
    if (key < 32 ? (this.lo & (1 << key)) === 0 : key < 64 && (this.hi & (1 << (key - 32))) === 0) return undefined;
    const kv = this.kv;
    for (let i = 0; i < this.n; i += 2) if (kv[i] === key) return kv[i + 1];
    return undefined;
  }

  /** As a plain object with attribute names (tests, debugging). */
  toObject(names: readonly string[]): Record<string, AttrValue> {
    const out: Record<string, AttrValue> = {};
    for (let i = 0; i < this.n; i += 2) out[names[this.kv[i] as number]] = this.kv[i + 1];
    return out;
  }
}

/** OTLP span kinds, in the proto's numbering (not @opentelemetry/api's). */
export const SpanKind = { UNSPECIFIED: 0, INTERNAL: 1, SERVER: 2, CLIENT: 3, PRODUCER: 4, CONSUMER: 5 } as const;

/**
 * A span as decoded from OTLP (protobuf or JSON), holding only the attributes the attribute
 * mapping asks for. Times are epoch milliseconds with sub-millisecond fraction.
 */
export interface RawSpan {
  traceId: string;
  spanId: string;
  /** Empty for a root span. */
  parentSpanId: string;
  name: string;
  kind: number;
  startMs: number;
  endMs: number;
  /** OTLP status code: 0 unset, 1 ok, 2 error. */
  statusCode: number;
  attrs: Attrs;
  /** Shared by every span of one ResourceSpans. */
  resource: Attrs;
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

/** Why a span's ids make it unusable, or undefined when they are valid. */
export function idProblem(traceId: string, spanId: string): string | undefined {
  if (traceId.length !== 32 || traceId === ZERO_TRACE) return 'span with missing or invalid trace_id (want 16 bytes, not all zero)';
  if (spanId.length !== 16 || spanId === ZERO_SPAN) return 'span with missing or invalid span_id (want 8 bytes, not all zero)';
  return undefined;
}
