/**
 * A targeted decoder for OTLP ExportTraceServiceRequest (and the identical TracesData written by
 * the Collector's Kafka exporter). It reads only the fields chainwatch uses and only the
 * attributes the KeyFilter wants, skipping the rest by wire type; every varint and length is
 * bounds-checked so garbage cannot make it spin or read past the buffer. A differential test
 * (test/otlp-proto.test.ts) checks it against protobufjs and the OpenTelemetry JS serializer.
 * Measured 5–8× faster than generic libraries (docs/benchmarks.md).
 */
import { OtlpDecodeError } from './errors.js';
import type { KeyFilter } from './attribute-map.js';
import { type AttrValue, Attrs, type DecodedBatch, RawSpan, rejectSpan, spanProblem } from './span.js';
import { sameBytes } from './bytes.js';

/** Char codes of the two hex digits of each byte value. */
const HEX_HI = Uint8Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0').charCodeAt(0));
const HEX_LO = Uint8Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0').charCodeAt(1));
const hexCodes: number[] = new Array<number>(32).fill(0);

/**
 * A span id (eight bytes) as hex: one fromCharCode call with its sixteen arguments written out,
 * a third faster than applying it to an array of them (every span has a new id).
 */
function hex8(b: Buffer, p: number): string {
  return String.fromCharCode(
    HEX_HI[b[p]], HEX_LO[b[p]], HEX_HI[b[p + 1]], HEX_LO[b[p + 1]], HEX_HI[b[p + 2]], HEX_LO[b[p + 2]], HEX_HI[b[p + 3]], HEX_LO[b[p + 3]],
    HEX_HI[b[p + 4]], HEX_LO[b[p + 4]], HEX_HI[b[p + 5]], HEX_LO[b[p + 5]], HEX_HI[b[p + 6]], HEX_LO[b[p + 6]], HEX_HI[b[p + 7]], HEX_LO[b[p + 7]],
  );
}

/** Attribute values longer than this are cut: arguments can be huge and we only need their head. */
export const MAX_VALUE_CHARS = 16_384;

class Reader {
  pos = 0;
  /**
   * Mutable so that one Reader serves every span of a scope (no object per span). `view` reads the
   * request's bytes four at a time (one per request, handed to the readers of its parts).
   */
  constructor(readonly buf: Buffer, public end: number, readonly view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength)) {}

  varint(): number {
    const buf = this.buf;
    let result = 0;
    let shift = 0;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.end) throw new OtlpDecodeError('truncated varint', this.pos);
      const b = buf[this.pos++];
      if (shift < 28) result |= (b & 0x7f) << shift;
      else result += (b & 0x7f) * 2 ** shift;
      if (b < 0x80) return shift < 28 ? result >>> 0 : result;
      shift += 7;
    }
    throw new OtlpDecodeError('varint longer than 10 bytes', this.pos);
  }

  /** int64 varint as a JS number (exact below 2^53); negatives arrive as 10-byte two's complement. */
  int64(): number {
    const start = this.pos;
    let result = 0;
    let mul = 1;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.end) throw new OtlpDecodeError('truncated varint', this.pos);
      const b = this.buf[this.pos++];
      result += (b & 0x7f) * mul;
      if (b < 0x80) {
        if (result < 2 ** 63) return result;
        let big = 0n;
        for (let j = this.pos - 1; j >= start; j--) big = (big << 7n) | BigInt(this.buf[j] & 0x7f);
        return Number(BigInt.asIntN(64, big));
      }
      mul *= 128;
    }
    throw new OtlpDecodeError('varint longer than 10 bytes', start);
  }

  length(): number {
    const len = this.varint();
    if (len > this.end - this.pos) throw new OtlpDecodeError(`length ${len} runs past the end of its message`, this.pos);
    return len;
  }

  /**
   * A fixed64 of nanoseconds as milliseconds, into the span's start or end: stored here rather
   * than returned, because decodeSpan does not inline this call, and a double returned from a call
   * is a heap number of its own (two a span, a thirtieth of the hot path's allocation).
   */
  timeInto(span: RawSpan, end: boolean): void {
    if (this.pos + 8 > this.end) throw new OtlpDecodeError('truncated fixed64', this.pos);
    const b = this.buf;
    const p = this.pos;
    const lo = (b[p] | (b[p + 1] << 8) | (b[p + 2] << 16) | (b[p + 3] << 24)) >>> 0;
    const hi = (b[p + 4] | (b[p + 5] << 8) | (b[p + 6] << 16) | (b[p + 7] << 24)) >>> 0;
    this.pos += 8;
    const ms = hi * 4294.967296 + lo / 1e6;
    if (end) span.endMs = ms;
    else span.startMs = ms;
  }

  double(): number {
    if (this.pos + 8 > this.end) throw new OtlpDecodeError('truncated double', this.pos);
    const view = new DataView(this.buf.buffer, this.buf.byteOffset + this.pos, 8);
    this.pos += 8;
    return view.getFloat64(0, true);
  }

  skip(wireType: number): void {
    switch (wireType) {
      case 0:
        this.varint();
        return;
      case 1:
        if (this.pos + 8 > this.end) throw new OtlpDecodeError('truncated fixed64', this.pos);
        this.pos += 8;
        return;
      case 2: {
        const len = this.length(); // read first: `pos += length()` would add to the stale pos
        this.pos += len;
        return;
      }
      case 5:
        if (this.pos + 4 > this.end) throw new OtlpDecodeError('truncated fixed32', this.pos);
        this.pos += 4;
        return;
      default:
        throw new OtlpDecodeError(`unsupported wire type ${wireType}`, this.pos);
    }
  }

  string(len: number): string {
    const s = readString(this.buf, this.view, this.pos, this.pos + len);
    this.pos += len;
    return s;
  }

  /** Lowercase hex of `len` bytes, built flat in one call (ids become Map keys right away). */
  hex(len: number): string {
    const b = this.buf;
    if (len === 8) {
      const s = hex8(b, this.pos);
      this.pos += 8;
      return s;
    }
    if (len === 16) {
      for (let i = 0; i < 16; i++) {
        hexCodes[2 * i] = HEX_HI[b[this.pos + i]];
        hexCodes[2 * i + 1] = HEX_LO[b[this.pos + i]];
      }
      this.pos += len;
      return String.fromCharCode.apply(null, hexCodes);
    }
    const s = b.toString('hex', this.pos, this.pos + len);
    this.pos += len;
    return s;
  }
}

/**
 * Short strings recently decoded, by a hash of their bytes: attribute values repeat (tool names,
 * methods, hosts, agent ids), and returning the string already built allocates nothing. One entry
 * per slot, the last one in wins; the bytes are kept to confirm a hit, so the hash of a string of
 * 8 bytes or more need not read every byte: it samples the length and seven bytes (both ends,
 * where ids and names differ, and the quarters), and a hit costs one pass over the bytes, the
 * compare. Shorter ones (HTTP methods) are hashed whole.
 */
const CACHE_SLOTS = 8192;
const CACHE_WIDTH = 48;
const cacheBytes = new Uint8Array(CACHE_SLOTS * CACHE_WIDTH);
const cacheLength = new Int32Array(CACHE_SLOTS).fill(-1);
const cacheString: string[] = new Array<string>(CACHE_SLOTS).fill('');
const cacheWords = new Uint32Array(cacheBytes.buffer);

function readString(buf: Buffer, view: DataView, start: number, end: number): string {
  if (end - start > MAX_VALUE_CHARS) end = start + MAX_VALUE_CHARS;
  const len = end - start;
  if (len > CACHE_WIDTH) return buf.toString('utf8', start, end);
  let h = Math.imul(len, 0x9e3779b1);
  if (len < 8) {
    for (let i = start; i < end; i++) h = Math.imul(h ^ buf[i], 16777619);
  } else {
    h ^= buf[start] ^ (buf[start + 1] << 8) ^ (buf[start + (len >> 2)] << 16) ^ (buf[start + (len >> 1)] << 24);
    h = Math.imul(h ^ (h >>> 15), 0x85ebca6b) ^ buf[end - 1] ^ (buf[end - 2] << 8) ^ (buf[end - 3] << 16) ^ (buf[start + ((3 * len) >> 2)] << 24);
  }
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  const slot = (h ^ (h >>> 16)) & (CACHE_SLOTS - 1);
  const base = slot * CACHE_WIDTH;
  // A hit is confirmed four bytes at a time (slots start on a word: CACHE_WIDTH is a multiple of 4).
  if (cacheLength[slot] === len && sameBytes(cacheWords, cacheBytes, base, buf, view, start, len)) return cacheString[slot];
  // Equal bytes decode to equal strings, so any string may be cached (UTF-8 included).
  const s = buf.toString('utf8', start, end);
  for (let i = 0; i < len; i++) cacheBytes[base + i] = buf[start + i];
  cacheLength[slot] = len;
  cacheString[slot] = s;
  return s;
}

/**
 * The error for a field of the wrong wire type. Callers test the type themselves and throw this:
 * a check inside a called function was a call for every field decoded (decodeSpan, with its
 * inlining budget spent, did not inline it).
 */
function wireError(actual: number, wanted: number, field: string, pos: number): OtlpDecodeError {
  return new OtlpDecodeError(`field ${field} has wire type ${actual}, expected ${wanted}`, pos);
}

/**
 * Decode one ExportTraceServiceRequest. Structural damage (truncation, bad lengths, wrong wire
 * types) throws OtlpDecodeError; spans that decode but are unusable (bad ids) are counted as
 * rejected so the receiver can answer with a partial success.
 */
export function decodeTraceRequest(buf: Uint8Array, filter: KeyFilter): DecodedBatch {
  const batch: DecodedBatch = { spans: [], rejected: 0, reasons: [] };
  const r = new Reader(Buffer.isBuffer(buf) ? buf : Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength), buf.length);
  while (r.pos < r.end) {
    const tag = r.varint();
    if (tag >>> 3 === 1) {
      if ((tag & 7) !== 2) throw wireError(tag & 7, 2, 'resource_spans', r.pos);
      const len = r.length();
      decodeResourceSpans(new Reader(r.buf, r.pos + len, r.view), r.pos, filter, batch);
      r.pos += len;
    } else r.skip(tag & 7);
  }
  return batch;
}

function decodeResourceSpans(r: Reader, start: number, filter: KeyFilter, batch: DecodedBatch): void {
  r.pos = start;
  const resource = new Attrs();
  const scopes: [number, number][] = [];
  while (r.pos < r.end) {
    const tag = r.varint();
    const field = tag >>> 3;
    if (field === 1) {
      if ((tag & 7) !== 2) throw wireError(tag & 7, 2, 'resource', r.pos);
      const len = r.length();
      decodeResource(r, len, filter, resource);
      r.pos += len;
    } else if (field === 2) {
      if ((tag & 7) !== 2) throw wireError(tag & 7, 2, 'scope_spans', r.pos);
      const len = r.length();
      scopes.push([r.pos, r.pos + len]);
      r.pos += len;
    } else r.skip(tag & 7);
  }
  // Resource may follow its spans on the wire; spans need it, so scopes are decoded after.
  const spanReader = new Reader(r.buf, 0, r.view);
  for (const [s, e] of scopes) {
    const sr = new Reader(r.buf, e, r.view);
    sr.pos = s;
    while (sr.pos < sr.end) {
      const tag = sr.varint();
      if (tag >>> 3 === 2) {
        if ((tag & 7) !== 2) throw wireError(tag & 7, 2, 'spans', sr.pos);
        const len = sr.length();
        spanReader.end = sr.pos + len;
        const span = decodeSpan(spanReader, sr.pos, filter, resource);
        sr.pos += len;
        const problem = spanProblem(span);
        if (problem) rejectSpan(batch, problem);
        else batch.spans.push(span);
      } else sr.skip(tag & 7);
    }
  }
}

/** The wanted attributes of the Resource at the reader's position, `len` bytes long (the reader stays where it was). */
function decodeResource(r: Reader, len: number, filter: KeyFilter, into: Attrs): void {
  const sub = new Reader(r.buf, r.pos + len, r.view);
  sub.pos = r.pos;
  while (sub.pos < sub.end) {
    const t = sub.varint();
    if (t >>> 3 === 1) {
      if ((t & 7) !== 2) throw wireError(t & 7, 2, 'resource.attributes', sub.pos);
      decodeKeyValue(sub, sub.length(), filter, into);
    } else sub.skip(t & 7);
  }
}

const lastTraceBytes = new Uint8Array(16);
const lastTraceWords = new Uint32Array(lastTraceBytes.buffer);
let lastTraceHex = '';

function decodeSpan(r: Reader, start: number, filter: KeyFilter, resource: Attrs): RawSpan {
  r.pos = start;
  const span = new RawSpan(resource);
  const buf = r.buf;
  while (r.pos < r.end) {
    // A field numbered under 16 (all a span has but flags) has a one-byte tag, read here without a call.
    const tag = buf[r.pos] < 0x80 ? buf[r.pos++] : r.varint();
    const wire = tag & 7;
    switch (tag >>> 3) {
      case 1: {
        if (wire !== 2) throw wireError(wire, 2, 'trace_id', r.pos);
        const len = r.length();
        span.traceId = len === 16 ? traceHex(r) : r.hex(len);
        break;
      }
      case 2: {
        if (wire !== 2) throw wireError(wire, 2, 'span_id', r.pos);
        const len = r.length();
        span.spanId = len === 8 ? spanHex(r) : r.hex(len);
        break;
      }
      case 4: {
        if (wire !== 2) throw wireError(wire, 2, 'parent_span_id', r.pos);
        const len = r.length();
        span.parentSpanId = len === 8 ? spanHex(r) : r.hex(len);
        break;
      }
      case 5:
        if (wire !== 2) throw wireError(wire, 2, 'name', r.pos);
        span.name = r.string(r.length());
        break;
      case 6:
        if (wire !== 0) throw wireError(wire, 0, 'kind', r.pos);
        span.kind = r.varint();
        break;
      case 7:
        if (wire !== 1) throw wireError(wire, 1, 'start_time_unix_nano', r.pos);
        r.timeInto(span, false);
        break;
      case 8:
        if (wire !== 1) throw wireError(wire, 1, 'end_time_unix_nano', r.pos);
        r.timeInto(span, true);
        break;
      case 9:
        if (wire !== 2) throw wireError(wire, 2, 'attributes', r.pos);
        decodeAttributes(r, filter, span);
        break;
      case 15: {
        if (wire !== 2) throw wireError(wire, 2, 'status', r.pos);
        const len = r.length();
        const end = r.pos + len;
        while (r.pos < end) {
          const t = r.varint();
          if (t >>> 3 === 3 && (t & 7) === 0) span.statusCode = r.varint();
          else r.skip(t & 7);
        }
        if (r.pos !== end) throw new OtlpDecodeError('status overruns its length', r.pos);
        break;
      }
      default:
        r.skip(wire);
    }
  }
  if (r.pos !== r.end) throw new OtlpDecodeError('span overruns its length', r.pos);
  return span;
}

/**
 * Span ids recently decoded, by their bytes: a child's parent_span_id is its parent's span_id
 * (decoded nearby in the same batch), so one string serves both — one allocation fewer per span,
 * and the chain assembler's id comparisons then succeed on identity. Slots keyed by id bytes
 * (random), last one in wins, bytes kept to confirm a hit.
 */
const ID_SLOTS = 1024;
const idBytes = new Uint8Array(ID_SLOTS * 8);
const idWords = new Uint32Array(idBytes.buffer);
const idStrings: string[] = new Array<string>(ID_SLOTS).fill('');

function spanHex(r: Reader): string {
  const b = r.buf;
  const p = r.pos;
  const slot = (b[p] | (b[p + 1] << 8)) & (ID_SLOTS - 1);
  const base = slot * 8;
  if (idStrings[slot] !== '' && sameBytes(idWords, idBytes, base, b, r.view, p, 8)) {
    r.pos += 8;
    return idStrings[slot];
  }
  for (let i = 0; i < 8; i++) idBytes[base + i] = b[p + i];
  const s = r.hex(8);
  idStrings[slot] = s;
  return s;
}

/** Spans of one trace usually sit together in a batch: reuse the last hex string. */
function traceHex(r: Reader): string {
  const b = r.buf;
  const p = r.pos;
  if (lastTraceHex !== '' && sameBytes(lastTraceWords, lastTraceBytes, 0, b, r.view, p, 16)) {
    r.pos += 16;
    return lastTraceHex;
  }
  for (let i = 0; i < 16; i++) lastTraceBytes[i] = b[p + i];
  lastTraceHex = r.hex(16);
  return lastTraceHex;
}

/** The attribute tag (field 9, length-delimited) in its one byte. */
const ATTRIBUTE_TAG = 0x4a;

/**
 * The span attribute at the reader and every one that directly follows it (SDKs write a span's
 * attributes together): one call from decodeSpan for all of them, not one per attribute.
 */
function decodeAttributes(r: Reader, filter: KeyFilter, span: RawSpan): void {
  for (;;) {
    decodeKeyValue(r, r.length(), filter, span);
    if (r.pos >= r.end || r.buf[r.pos] !== ATTRIBUTE_TAG) return;
    r.pos++;
  }
}

function decodeKeyValue(r: Reader, len: number, filter: KeyFilter, into: Attrs): void {
  const end = r.pos + len;
  let key = -1;
  let sawKey = false;
  let value: AttrValue = null;
  // The layout every SDK writes: the key first, its tag and length a byte each. A key the filter
  // does not want ends the attribute there — its value is not read, as an unknown field's is
  // not: instrumentations put twice as many attributes on a span as the mapping reads, and
  // parsing their values was a fifth of decoding spans of twelve attributes.
  const buf = r.buf;
  const p = r.pos;
  if (buf[p] === 0x0a && buf[p + 1] < 0x80 && p + 2 + buf[p + 1] <= end) {
    const keyEnd = p + 2 + buf[p + 1];
    key = filter.match(buf, r.view, p + 2, keyEnd);
    if (key < 0) {
      r.pos = end;
      return;
    }
    sawKey = true;
    r.pos = keyEnd;
  }
  while (r.pos < end) {
    // Key and value are fields 1 and 2: one-byte tags, read in place as decodeSpan reads its own.
    const tag = buf[r.pos] < 0x80 ? buf[r.pos++] : r.varint();
    const field = tag >>> 3;
    if (field === 1 && (tag & 7) === 2) {
      const klen = r.length();
      key = filter.match(r.buf, r.view, r.pos, r.pos + klen);
      sawKey = true;
      r.pos += klen;
    } else if (field === 2 && (tag & 7) === 2) {
      const vlen = r.length();
      // The key normally precedes the value; if it does not, decode the value anyway.
      if (key >= 0) value = stringValue(r, vlen, !filter.isUniqueValued(key)) ?? decodeAnyValue(r, vlen, 0);
      else if (!sawKey) value = decodeAnyValue(r, vlen, 0);
      else r.pos += vlen;
    } else r.skip(tag & 7);
    if (r.pos > end) throw new OtlpDecodeError('attribute overruns its length', r.pos);
  }
  if (key >= 0) into.set(key, value);
}

/**
 * An AnyValue that is exactly one string_value — nearly every wanted attribute — read without
 * decodeAnyValue's loop and switch. `cached`: through readString's cache of recent strings; not for
 * URLs and tool arguments, which are nearly all new, where hashing and storing each one would only
 * evict values that do repeat. Undefined, with the reader where it was, for anything else
 * (decodeAnyValue's job).
 */
function stringValue(r: Reader, len: number, cached: boolean): string | undefined {
  const buf = r.buf;
  const start = r.pos;
  const end = start + len;
  if (len < 2 || buf[start] !== 0x0a) return undefined;
  // A length under 128 is its one byte (read here: the general varint read cost decode 3–5%).
  let slen = buf[start + 1];
  if (slen < 0x80) r.pos = start + 2;
  else {
    r.pos = start + 1;
    slen = r.length();
  }
  if (r.pos + slen !== end) {
    r.pos = start;
    return undefined;
  }
  const s = cached ? readString(buf, r.view, r.pos, end) : buf.toString('utf8', r.pos, slen > MAX_VALUE_CHARS ? r.pos + MAX_VALUE_CHARS : end);
  r.pos = end;
  return s;
}

const MAX_DEPTH = 8;

function decodeAnyValue(r: Reader, len: number, depth: number): AttrValue {
  if (depth > MAX_DEPTH) throw new OtlpDecodeError('attribute value nested deeper than 8 levels', r.pos);
  const end = r.pos + len;
  let value: AttrValue = null;
  while (r.pos < end) {
    const tag = r.varint();
    const wire = tag & 7;
    switch (tag >>> 3) {
      case 1:
        if (wire !== 2) throw wireError(wire, 2, 'string_value', r.pos);
        value = r.string(r.length());
        break;
      case 2:
        if (wire !== 0) throw wireError(wire, 0, 'bool_value', r.pos);
        value = r.varint() !== 0;
        break;
      case 3:
        if (wire !== 0) throw wireError(wire, 0, 'int_value', r.pos);
        value = r.int64();
        break;
      case 4:
        if (wire !== 1) throw wireError(wire, 1, 'double_value', r.pos);
        value = r.double();
        break;
      case 5: {
        if (wire !== 2) throw wireError(wire, 2, 'array_value', r.pos);
        const alen = r.length();
        const aend = r.pos + alen;
        const items: AttrValue[] = [];
        while (r.pos < aend) {
          const t = r.varint();
          if (t >>> 3 === 1 && (t & 7) === 2) items.push(decodeAnyValue(r, r.length(), depth + 1));
          else r.skip(t & 7);
        }
        value = items;
        break;
      }
      case 6: {
        if (wire !== 2) throw wireError(wire, 2, 'kvlist_value', r.pos);
        const klen = r.length();
        const kend = r.pos + klen;
        const obj: { [k: string]: AttrValue } = {};
        while (r.pos < kend) {
          const t = r.varint();
          if (t >>> 3 === 1 && (t & 7) === 2) decodeNestedKeyValue(r, r.length(), depth + 1, obj);
          else r.skip(t & 7);
        }
        value = obj;
        break;
      }
      case 7: {
        if (wire !== 2) throw wireError(wire, 2, 'bytes_value', r.pos);
        const blen = r.length();
        value = r.buf.toString('base64', r.pos, r.pos + blen);
        r.pos += blen;
        break;
      }
      default:
        r.skip(wire);
    }
  }
  if (r.pos !== end) throw new OtlpDecodeError('attribute value overruns its length', r.pos);
  return value;
}

function decodeNestedKeyValue(r: Reader, len: number, depth: number, into: { [k: string]: AttrValue }): void {
  const end = r.pos + len;
  let key = '';
  let value: AttrValue = null;
  while (r.pos < end) {
    const tag = r.varint();
    if (tag >>> 3 === 1 && (tag & 7) === 2) key = r.string(r.length());
    else if (tag >>> 3 === 2 && (tag & 7) === 2) value = decodeAnyValue(r, r.length(), depth);
    else r.skip(tag & 7);
  }
  if (r.pos !== end) throw new OtlpDecodeError('attribute overruns its length', r.pos);
  into[key] = value;
}

// ---- a request's chosen spans, as a request of their own ----

/**
 * The spans `pick` chooses out of an ExportTraceServiceRequest (or TracesData) that decoded
 * before, as a request of their own: each span byte for byte as sent, with its resource and
 * scope (the other fields of its ResourceSpans and ScopeSpans copied as they came); spans not
 * picked are left out, and so are resources and scopes left without spans. A Kafka dead letter
 * for a record partly rejected carries this, so that publishing it again sends only what was
 * rejected, not its good spans a second time.
 */
export function selectSpans(buf: Uint8Array, filter: KeyFilter, pick: (span: RawSpan) => boolean): Buffer {
  const b = Buffer.isBuffer(buf) ? buf : Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  const r = new Reader(b, b.length);
  const out: Buffer[] = [];
  while (r.pos < r.end) {
    const tag = r.varint();
    if (tag >>> 3 === 1 && (tag & 7) === 2) {
      const len = r.length();
      const rs = selectResourceSpans(b, r.pos, r.pos + len, filter, pick);
      if (rs !== undefined) out.push(lengthDelimited(1, rs));
      r.pos += len;
    } else r.skip(tag & 7);
  }
  return Buffer.concat(out);
}

function selectResourceSpans(b: Buffer, start: number, end: number, filter: KeyFilter, pick: (span: RawSpan) => boolean): Buffer | undefined {
  const resource = new Attrs();
  const r = new Reader(b, end);
  r.pos = start;
  // The resource first, wherever it sits: the spans handed to `pick` carry it, as decoded.
  while (r.pos < r.end) {
    const tag = r.varint();
    if (tag >>> 3 === 1 && (tag & 7) === 2) {
      const len = r.length();
      decodeResource(r, len, filter, resource);
      r.pos += len;
    } else r.skip(tag & 7);
  }
  const out: Buffer[] = [];
  let picked = false;
  r.pos = start;
  while (r.pos < r.end) {
    const at = r.pos;
    const tag = r.varint();
    if (tag >>> 3 === 2 && (tag & 7) === 2) {
      const len = r.length();
      const ss = selectScopeSpans(b, r.pos, r.pos + len, filter, resource, pick);
      if (ss !== undefined) {
        out.push(lengthDelimited(2, ss));
        picked = true;
      }
      r.pos += len;
    } else {
      r.skip(tag & 7);
      out.push(b.subarray(at, r.pos));
    }
  }
  return picked ? Buffer.concat(out) : undefined;
}

function selectScopeSpans(b: Buffer, start: number, end: number, filter: KeyFilter, resource: Attrs, pick: (span: RawSpan) => boolean): Buffer | undefined {
  const r = new Reader(b, end);
  r.pos = start;
  const spanReader = new Reader(b, 0);
  const out: Buffer[] = [];
  let picked = false;
  while (r.pos < r.end) {
    const at = r.pos;
    const tag = r.varint();
    if (tag >>> 3 === 2 && (tag & 7) === 2) {
      const len = r.length();
      spanReader.end = r.pos + len;
      const chosen = pick(decodeSpan(spanReader, r.pos, filter, resource));
      r.pos += len;
      if (!chosen) continue;
      picked = true;
    } else r.skip(tag & 7);
    out.push(b.subarray(at, r.pos));
  }
  return picked ? Buffer.concat(out) : undefined;
}

function lengthDelimited(field: number, body: Buffer): Buffer {
  const head: number[] = [];
  pushVarint(head, (field << 3) | 2);
  pushVarint(head, body.length);
  return Buffer.concat([Buffer.from(head), body]);
}

// ---- responses (tiny, so written by hand) ----

function pushVarint(out: number[], v: number): void {
  while (v > 0x7f) {
    out.push((v & 0x7f) | 0x80);
    v = Math.floor(v / 128);
  }
  out.push(v);
}

function pushString(out: number[], field: number, s: string): void {
  const bytes = Buffer.from(s, 'utf8');
  pushVarint(out, (field << 3) | 2);
  pushVarint(out, bytes.length);
  for (const b of bytes) out.push(b);
}

/** ExportTraceServiceResponse; partial_success only when something was rejected or warned. */
export function encodeExportResponse(rejected: number, message: string): Uint8Array {
  if (rejected === 0 && message === '') return new Uint8Array(0);
  const inner: number[] = [];
  if (rejected > 0) {
    pushVarint(inner, 1 << 3);
    pushVarint(inner, rejected);
  }
  if (message !== '') pushString(inner, 2, message);
  const out: number[] = [];
  pushVarint(out, (1 << 3) | 2);
  pushVarint(out, inner.length);
  return Uint8Array.from([...out, ...inner]);
}

/** google.rpc.Status: a google.rpc.Code (see rpcCode in the receiver) and the message. */
export function encodeRpcStatus(code: number, message: string): Uint8Array {
  const out: number[] = [];
  if (code !== 0) {
    pushVarint(out, 1 << 3);
    pushVarint(out, code);
  }
  pushString(out, 2, message);
  return Uint8Array.from(out);
}
